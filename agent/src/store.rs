//! plumb's own files under stateDir, written so that a power cut at any
//! moment leaves either the old content or the new, never a torn file, and
//! written only when their content changes (an SD card wears with writes).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename
/// over the target, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    {
        // 0600: state is plumb's alone, whatever the umask outside the unit.
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?
        };
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    keep_owner(&tmp, dir);
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Gives a new file the owner of its folder, so that a one-shot run as root
/// leaves files the daemon's user can still write. Only root can; for
/// anyone else the file is theirs already.
fn keep_owner(file: &Path, dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let (Ok(f), Ok(d)) = (fs::metadata(file), fs::metadata(dir)) else {
        return;
    };
    if (f.uid(), f.gid()) != (d.uid(), d.gid()) {
        let _ = std::os::unix::fs::chown(file, Some(d.uid()), Some(d.gid()));
    }
}

/// Like [`write_atomic`], but writes nothing when the file already holds
/// `bytes`. Returns whether it wrote.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    match fs::read(path) {
        Ok(existing) if existing == bytes => Ok(false),
        _ => write_atomic(path, bytes).map(|()| true),
    }
}

/// fsyncs a folder, so that a rename or a new entry in it survives power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive lock on stateDir, held while the value lives.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// How long a second plumb waits for the lock before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Takes stateDir's lock (`stateDir/lock`), waiting a bounded time; the
/// error names the holder. Keeps a one-shot `plumb reconcile` from running
/// beside the daemon on the same node.
pub fn lock_state_dir(dir: &Path) -> Result<StateLock, crate::error::Error> {
    lock_state_dir_within(dir, LOCK_WAIT)
}

/// Takes stateDir's lock, waiting at most `wait` (zero: only when it is free now).
pub fn lock_state_dir_within(
    dir: &Path,
    wait: std::time::Duration,
) -> Result<StateLock, crate::error::Error> {
    use crate::error::Error;
    fs::create_dir_all(dir).map_err(|e| Error::Io {
        doing: "create the state folder",
        path: dir.to_owned(),
        source: e,
    })?;
    let path = dir.join("lock");
    let io = |e: io::Error| Error::Io {
        doing: "open the state folder's lock file",
        path: path.clone(),
        source: e,
    };
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                return Err(Error::Busy(format!(
                    "another plumb holds the lock on {} ({}); waited {}s",
                    dir.display(),
                    holder.trim(),
                    wait.as_secs()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    // Who holds it, for the next one's message; the lock file is the one
    // write a one-shot run always makes, and it is a few bytes.
    let me = format!("pid {} on {}", std::process::id(), crate::node::hostname());
    file.set_len(0).map_err(io)?;
    file.write_all(me.as_bytes()).map_err(io)?;
    Ok(StateLock { _file: file })
}

/// Total size in bytes of the regular files under `dir`.
pub fn disk_usage(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += disk_usage(&entry.path())?;
        } else {
            total += meta.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_only_on_change() {
        let dir = std::env::temp_dir().join(format!("plumb-store-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert!(write_if_changed(&path, b"one").unwrap());
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!write_if_changed(&path, b"one").unwrap());
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        assert!(write_if_changed(&path, b"two").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"two");
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        assert_eq!(disk_usage(&dir).unwrap(), 3);
        fs::remove_dir_all(&dir).unwrap();
    }
}
