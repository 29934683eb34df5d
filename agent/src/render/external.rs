//! `render: kustomize-external`: a kustomization folder built by the node's
//! own `kustomize` or `kubectl`, for features outside the built-in set.
//!
//! The source keeps no worktree, so the revision's files are written out
//! once per revision under the runtime folder (tmpfs under systemd, so the
//! SD card sees no writes); later cycles of the same revision reuse them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::File;

/// Programs tried in order, with the arguments that build a folder.
const PROGRAMS: &[(&str, &[&str])] = &[("kustomize", &["build"]), ("kubectl", &["kustomize"])];

/// Marks a revision's folder as completely written.
const COMPLETE: &str = ".plumb-complete";

/// Prefix of a kept build's file in a revision's folder.
const BUILT: &str = ".plumb-built-";

/// Why an external build failed.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// Neither program is on PATH.
    #[error("render: kustomize-external needs `kustomize` or `kubectl` on PATH, and neither is there (PATH={path})")]
    NoProgram { path: String },
    /// The revision could not be written out.
    #[error("cannot write the revision to {}: {cause}", path.display())]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The program ran past the sync's timeout and was killed.
    #[error("`{command}` did not finish within {}s (the sync's timeout) and was stopped", timeout.as_secs())]
    TimedOut {
        command: String,
        timeout: std::time::Duration,
    },
    /// The program failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

/// Where revisions are written: systemd's `$RUNTIME_DIRECTORY`, else
/// `/run/plumb` when it can be made, else the temporary folder.
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may list several, separated by ':'.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_owned();
        return PathBuf::from(first);
    }
    let run = PathBuf::from("/run/plumb");
    if std::fs::create_dir_all(&run).is_ok() {
        return run;
    }
    std::env::temp_dir().join("plumb")
}

/// Builds `dir` (relative to the revision's top) of revision `id` of
/// `sync`, whose files are `files`: writes them out under `base` and runs
/// the program there, once per revision (a revision's build never changes,
/// and a daemon's cycles would otherwise start the program every interval).
pub fn build_revision<'a>(
    base: &Path,
    sync: &str,
    id: &str,
    files: impl IntoIterator<Item = &'a File>,
    dir: &str,
    timeout: std::time::Duration,
) -> Result<File, ExternalError> {
    let kept = base
        .join(sync)
        .join(id)
        .join(format!("{BUILT}{}", dir.replace('/', "%")));
    if let Some((path, yaml)) = std::fs::read(&kept).ok().as_deref().and_then(split_record) {
        return Ok(File { path, bytes: yaml });
    }
    find_program()?;
    let top = write_revision(&base.join(sync), id, files)?;
    let built = build_folder(&top, dir, timeout)?;
    let mut record = format!("{}\n", built.path).into_bytes();
    record.extend_from_slice(&built.bytes);
    // Only a cache: a failed write means the next cycle builds again.
    let _ = std::fs::write(&kept, record);
    Ok(built)
}

/// A kept build: its label on the first line, then the program's output.
fn split_record(record: &[u8]) -> Option<(String, Vec<u8>)> {
    let at = record.iter().position(|b| *b == b'\n')?;
    let label = String::from_utf8(record[..at].to_vec()).ok()?;
    Some((label, record[at + 1..].to_vec()))
}

/// Builds `dir` under the folder `top` with the node's kustomize or
/// kubectl; the output comes back as a file to parse, its path naming the
/// command (for origins and errors).
pub fn build_folder(
    top: &Path,
    dir: &str,
    timeout: std::time::Duration,
) -> Result<File, ExternalError> {
    let (program, args) = find_program()?;
    let shown = if dir.is_empty() { "." } else { dir };
    let command = format!("{program} {} {shown}", args.join(" "));
    let not_started = |e: std::io::Error| ExternalError::Failed {
        command: command.clone(),
        status: "not started".into(),
        stderr: e.to_string(),
    };
    let mut child = Command::new(program)
        .args(args)
        .arg(top.join(dir))
        .current_dir(top)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(not_started)?;
    // Read both pipes while waiting, so a program that writes a lot never
    // blocks on a full pipe before the deadline.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait().map_err(not_started)? {
            Some(status) => break status,
            None if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExternalError::TimedOut { command, timeout });
            }
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(ExternalError::Failed {
            command,
            status: status.to_string(),
            stderr: String::from_utf8_lossy(&stderr)
                .trim()
                .replace(&format!("{}/", top.display()), ""),
        });
    }
    Ok(File {
        path: format!("{shown} ({command})"),
        bytes: stdout,
    })
}

fn find_program() -> Result<(&'static str, &'static [&'static str]), ExternalError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for (program, args) in PROGRAMS {
        if std::env::split_paths(&path).any(|d| is_executable(&d.join(program))) {
            return Ok((program, args));
        }
    }
    Err(ExternalError::NoProgram {
        path: path.to_string_lossy().into_owned(),
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Writes the revision under `sync_dir/<id>` unless it is there already,
/// and removes the sync's older revisions.
fn write_revision<'a>(
    sync_dir: &Path,
    id: &str,
    files: impl IntoIterator<Item = &'a File>,
) -> Result<PathBuf, ExternalError> {
    let top = sync_dir.join(id);
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |cause| ExternalError::Write { path, cause }
    };
    if !top.join(COMPLETE).exists() {
        let _ = std::fs::remove_dir_all(&top);
        for file in files {
            // Paths come from the Git tree, which has no `..`; refuse anyway.
            if file.path.split('/').any(|p| p == ".." || p.is_empty()) {
                continue;
            }
            let path = top.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write_err(parent))?;
            }
            std::fs::write(&path, &file.bytes).map_err(write_err(&path))?;
        }
        std::fs::create_dir_all(&top).map_err(write_err(&top))?;
        std::fs::write(top.join(COMPLETE), b"").map_err(write_err(&top))?;
    }
    if let Ok(entries) = std::fs::read_dir(sync_dir) {
        for entry in entries.flatten() {
            if entry.file_name() != id {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_is_written_once_and_older_ones_go() {
        let base = std::env::temp_dir().join(format!("plumb-external-{}", std::process::id()));
        let file = File {
            path: "apps/cm.yaml".into(),
            bytes: b"a: 1\n".to_vec(),
        };
        let top = write_revision(&base, "one", [&file]).unwrap();
        assert_eq!(std::fs::read(top.join("apps/cm.yaml")).unwrap(), b"a: 1\n");
        let written = std::fs::metadata(top.join("apps/cm.yaml"))
            .unwrap()
            .modified()
            .unwrap();
        // The same revision again: nothing rewritten.
        write_revision(&base, "one", [&file]).unwrap();
        let again = std::fs::metadata(top.join("apps/cm.yaml"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(written, again);
        write_revision(&base, "two", [&file]).unwrap();
        assert!(!base.join("one").exists());
        assert!(base.join("two/apps/cm.yaml").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
