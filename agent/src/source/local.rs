//! file:// remotes: `git upload-pack` as a child process.
//!
//! gix's own file transport silences git's stderr and strips the variables
//! that could mark the repository safe, so a repository owned by another
//! user (the usual case for a node-local repository and the `plumb` user)
//! failed with "failed to fill whole buffer". Here the path is trusted for
//! this one command (the operator named it in the config), and what git
//! says on stderr becomes the error.

use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use gix_transport::client::blocking_io::Transport;
use gix_transport::client::git::{blocking_io::Connection, ConnectMode};
use gix_transport::Protocol;

/// At most this much of git's stderr is kept for the error message.
const STDERR_LIMIT: u64 = 4096;

/// Starts `git upload-pack` on `path`, speaking protocol v2.
pub fn connect(path: &Path) -> io::Result<Box<dyn Transport + Send>> {
    let mut safe = std::ffi::OsString::from("safe.directory=");
    safe.push(path);
    let mut child = Command::new("git")
        .arg("-c")
        .arg(safe)
        .arg("upload-pack")
        .arg(path)
        .env("GIT_PROTOCOL", "version=2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run git upload-pack: {e}")))?;
    let stdin = child.stdin.take().expect("piped above");
    let stdout = child.stdout.take().expect("piped above");
    let mut stderr = child.stderr.take().expect("piped above");
    let said = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&said);
    let reader = std::thread::Builder::new()
        .name("git upload-pack stderr".into())
        .spawn(move || {
            let mut text = String::new();
            let _ = (&mut stderr).take(STDERR_LIMIT).read_to_string(&mut text);
            // Drain the rest so git never blocks on a full pipe.
            let _ = io::copy(&mut stderr, &mut io::sink());
            *sink.lock().unwrap_or_else(|p| p.into_inner()) = text;
        })?;
    let output = ChildOutput {
        stdout,
        child,
        said,
        reader: Some(reader),
    };
    Ok(Box::new(Connection::new(
        output,
        stdin,
        Protocol::V2,
        path.to_string_lossy().into_owned(),
        None::<(String, Option<u16>)>,
        ConnectMode::Process,
        false,
    )))
}

/// The child's stdout; at its end, git's stderr (if it said anything)
/// becomes the error, and the child is reaped on drop.
struct ChildOutput {
    stdout: ChildStdout,
    child: Child,
    said: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ChildOutput {
    /// What git wrote on stderr, once it has exited.
    fn stderr(&mut self) -> String {
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.said
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .trim()
            .to_owned()
    }
}

impl Read for ChildOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.stdout.read(buf);
        match result {
            Ok(0) if !buf.is_empty() => match self.stderr() {
                said if said.is_empty() => Ok(0),
                said => Err(io::Error::other(format!("git upload-pack: {said}"))),
            },
            Err(e) => match self.stderr() {
                said if said.is_empty() => Err(e),
                said => Err(io::Error::other(format!("git upload-pack: {said}"))),
            },
            ok => ok,
        }
    }
}

impl Drop for ChildOutput {
    fn drop(&mut self) {
        // upload-pack waits for more requests until stdin closes; the
        // connection is done with it by now.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
