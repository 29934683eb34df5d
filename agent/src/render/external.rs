//! `render: kustomize-external`: a kustomization folder built by the node's
//! own `kustomize` or `kubectl`, for features outside the built-in set; and
//! `render: helm-external`: a chart rendered by the node's `helm template`.
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
    /// `render: helm-external` and no `helm` on PATH.
    #[error("render: helm-external needs `helm` on PATH to run `helm template`, and it is not there (PATH={path})")]
    NoHelm { path: String },
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
    let mut argv: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    argv.push(top.join(dir).into_os_string());
    let prefix = format!("{}/", top.display());
    let stdout = run_program(program, &argv, top, &command, timeout, &[(&prefix, "")])?;
    Ok(File {
        path: format!("{shown} ({command})"),
        bytes: stdout,
    })
}

/// Runs `program` with `args` in `cwd`, stopped after `timeout`; its standard output, or
/// an error naming `command` and holding its standard error (with each `(from, to)` of
/// `rewrite` replaced, so that a temporary folder reads as the revision's path).
fn run_program(
    program: &str,
    args: &[std::ffi::OsString],
    cwd: &Path,
    command: &str,
    timeout: std::time::Duration,
    rewrite: &[(&str, &str)],
) -> Result<Vec<u8>, ExternalError> {
    let not_started = |e: std::io::Error| ExternalError::Failed {
        command: command.to_owned(),
        status: "not started".into(),
        stderr: e.to_string(),
    };
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
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
                return Err(ExternalError::TimedOut {
                    command: command.to_owned(),
                    timeout,
                });
            }
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let mut stderr = String::from_utf8_lossy(&stderr).trim().to_owned();
        for (from, to) in rewrite {
            stderr = stderr.replace(from, to);
        }
        return Err(ExternalError::Failed {
            command: command.to_owned(),
            status: status.to_string(),
            stderr,
        });
    }
    Ok(stdout)
}

/// What `helm template` is given for one chart (`render: helm-external`).
#[derive(Debug, Clone)]
pub struct HelmTemplate {
    /// The chart's folder in the revision ("" for its top), for the command shown in errors.
    pub root: String,
    /// The chart's files, relative to its folder.
    pub files: Vec<(String, Vec<u8>)>,
    /// `.Release.Name`.
    pub release: String,
    /// `--namespace`.
    pub namespace: String,
    /// The user values, one YAML document, passed as a `--values` file (never on the
    /// command line: they may hold secrets).
    pub values: String,
    /// `--kube-version`.
    pub kube_version: Option<String>,
    /// `--api-versions`, each.
    pub api_versions: Vec<String>,
}

impl HelmTemplate {
    /// The arguments, with the chart at `chart` and the values file at `values`.
    pub fn args(&self, chart: &Path, values: &Path) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "template".into(),
            self.release.clone().into(),
            chart.into(),
            "--namespace".into(),
            self.namespace.clone().into(),
            "--include-crds".into(),
            "--skip-tests".into(),
            "--values".into(),
            values.into(),
        ];
        if let Some(v) = &self.kube_version {
            args.push("--kube-version".into());
            args.push(v.clone().into());
        }
        for v in &self.api_versions {
            args.push("--api-versions".into());
            args.push(v.clone().into());
        }
        args
    }

    /// The command as errors show it: the chart's folder in the revision, the API versions
    /// counted rather than listed.
    pub fn shown(&self) -> String {
        let mut shown = format!(
            "{HELM} template {} {} --namespace {} --include-crds --skip-tests --values <the merged values>",
            self.release,
            if self.root.is_empty() { "." } else { &self.root },
            self.namespace
        );
        if let Some(v) = &self.kube_version {
            shown.push_str(&format!(" --kube-version {v}"));
        }
        if !self.api_versions.is_empty() {
            shown.push_str(&format!(
                " --api-versions ({} of them)",
                self.api_versions.len()
            ));
        }
        shown
    }
}

/// The program `render: helm-external` runs.
pub const HELM: &str = "helm";

/// Runs the node's `helm template` on one chart: writes its files and the values under a
/// folder of its own in `base` (0700, files 0600), runs helm there within `timeout`,
/// removes the folder, and returns helm's output.
pub fn helm_template(
    base: &Path,
    chart: &HelmTemplate,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, ExternalError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|d| is_executable(&d.join(HELM))) {
        return Err(ExternalError::NoHelm {
            path: path.to_string_lossy().into_owned(),
        });
    }
    let work = WorkDir::new(base)?;
    let top = work.0.join("chart");
    for (name, bytes) in &chart.files {
        // Paths come from the Git tree or a folder walk, which have no `..`; refuse anyway.
        if name.split('/').any(|p| p == ".." || p.is_empty()) {
            continue;
        }
        write_private(&top.join(name), bytes)?;
    }
    let values = work.0.join("values.yaml");
    write_private(&values, chart.values.as_bytes())?;
    let shown_root = if chart.root.is_empty() {
        "."
    } else {
        &chart.root
    };
    let chart_prefix = format!("{}", top.display());
    let work_prefix = format!("{}/", work.0.display());
    run_program(
        HELM,
        &chart.args(Path::new("chart"), Path::new("values.yaml")),
        &work.0,
        &chart.shown(),
        timeout,
        &[(&chart_prefix, shown_root), (&work_prefix, "")],
    )
}

/// A private folder under the runtime folder, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(base: &Path) -> Result<WorkDir, ExternalError> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |cause| ExternalError::Write { path, cause }
        };
        std::fs::create_dir_all(base).map_err(write_err(base))?;
        let dir = base.join(format!(
            "helm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier process with the same id.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(write_err(&dir))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a file only its owner can read, making its folders.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ExternalError> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |cause| ExternalError::Write { path, cause }
    };
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(write_err(parent))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(write_err(path))
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

    #[test]
    fn a_work_folder_is_private_and_goes_when_dropped() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("plumb-helm-work-{}", std::process::id()));
        let work = WorkDir::new(&base).unwrap();
        let file = work.0.join("chart/templates/a.yaml");
        write_private(&file, b"a: 1\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&work.0), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"a: 1\n");
        let dir = work.0.clone();
        drop(work);
        assert!(!dir.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn helm_template_is_given_the_values_as_a_file() {
        let chart = HelmTemplate {
            root: "apps/web".into(),
            files: Vec::new(),
            release: "web".into(),
            namespace: "shop".into(),
            values: "password: hunter2\n".into(),
            kube_version: Some("v1.31.0".into()),
            api_versions: vec!["a/v1".into(), "b/v1".into()],
        };
        let args: Vec<String> = chart
            .args(Path::new("chart"), Path::new("values.yaml"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "template",
                "web",
                "chart",
                "--namespace",
                "shop",
                "--include-crds",
                "--skip-tests",
                "--values",
                "values.yaml",
                "--kube-version",
                "v1.31.0",
                "--api-versions",
                "a/v1",
                "--api-versions",
                "b/v1"
            ]
        );
        assert!(!args.iter().any(|a| a.contains("hunter2")));
        assert_eq!(
            chart.shown(),
            "helm template web apps/web --namespace shop --include-crds --skip-tests --values <the merged values> --kube-version v1.31.0 --api-versions (2 of them)"
        );
    }
}
