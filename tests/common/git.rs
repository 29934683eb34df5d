//! Helpers for the Git source tests: the servers that
//! `tests/git-servers.sh up` started, repositories made with the git CLI
//! under the servers' repos folder, sources, secrets and state snapshots.
//!
//! Missing servers are a failure, never a skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use plumb::config::{GitRef, Source};

use super::{repo_root, temp_dir, unique};

/// The user agent the tests give GitSource.
pub const USER_AGENT: &str = "plumb-tests";

/// The servers started by `tests/git-servers.sh up`, as its env file lists them.
pub struct Servers {
    vars: BTreeMap<String, String>,
}

impl Servers {
    /// Reads `${PLUMB_TEST_GIT:-<repo>/target/test-git}/env`; panics with the fix when absent.
    pub fn get() -> Servers {
        let dir = std::env::var_os("PLUMB_TEST_GIT")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/test-git"));
        let path = dir.join("env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no test Git servers: cannot read {} ({e}): start them with `bash tests/git-servers.sh up`",
                path.display()
            )
        });
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Servers { vars }
    }

    /// One of the env file's values.
    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| {
            panic!("the test Git servers' env file has no {key}: restart them with `bash tests/git-servers.sh down && bash tests/git-servers.sh up`")
        })
    }

    /// One of the env file's values, as a path.
    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.var(key))
    }

    /// git://127.0.0.1:PORT/<repo>.git
    pub fn git_url(&self, repo: &Remote) -> String {
        format!("{}/{}.git", self.var("GIT_DAEMON_URL"), repo.name)
    }

    /// The git daemon's address.
    pub fn daemon_addr(&self) -> std::net::SocketAddr {
        let url = self.var("GIT_DAEMON_URL");
        url.trim_start_matches("git://")
            .parse()
            .unwrap_or_else(|e| panic!("GIT_DAEMON_URL {url}: {e}"))
    }

    /// https://…/<repo>.git (basic auth).
    pub fn https_url(&self, repo: &Remote) -> String {
        format!("{}/{}.git", self.var("GIT_HTTPS_URL"), repo.name)
    }

    /// https://…/bearer/<repo>.git (bearer token).
    pub fn https_bearer_url(&self, repo: &Remote) -> String {
        format!("{}/bearer/{}.git", self.var("GIT_HTTPS_URL"), repo.name)
    }

    /// https://…/anon/<repo>.git (no auth).
    pub fn https_anon_url(&self, repo: &Remote) -> String {
        format!("{}/anon/{}.git", self.var("GIT_HTTPS_URL"), repo.name)
    }

    /// http://…/anon/<repo>.git (plain HTTP, no auth).
    pub fn http_url(&self, repo: &Remote) -> String {
        format!("{}/{}.git", self.var("GIT_HTTP_URL"), repo.name)
    }

    /// ssh://root@127.0.0.1:PORT/<absolute path of the bare repo>
    pub fn ssh_url(&self, repo: &Remote) -> String {
        format!("{}{}", self.var("GIT_SSH_URL"), repo.bare.display())
    }
}

/// A git CLI command cut off from the host: no global or system config,
/// none of the machine's GIT_* / SSL_* / CA variables.
pub fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("LANG", "C")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ]);
    cmd
}

/// Runs git in `dir`, asserting success; returns stdout, trimmed.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = git_command()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository the servers serve (a bare repo under GIT_REPOS) and a work
/// tree the test commits in and pushes from.
pub struct Remote {
    /// Unique name: the bare repo is `<GIT_REPOS>/<name>.git`.
    pub name: String,
    /// The bare repository the servers serve.
    pub bare: PathBuf,
    /// The work tree.
    pub work: PathBuf,
}

impl Remote {
    /// A new empty repository served by every server.
    pub fn create(servers: &Servers, prefix: &str) -> Remote {
        let name = unique(prefix);
        let bare = servers.path("GIT_REPOS").join(format!("{name}.git"));
        let repos = servers.path("GIT_REPOS");
        git_in(&repos, &["init", "-q", "--bare", &format!("{name}.git")]);
        let work = temp_dir(&format!("{prefix}-work"));
        git_in(&work, &["init", "-q"]);
        git_in(
            &work,
            &[
                "remote",
                "add",
                "origin",
                bare.to_str().expect("utf-8 path"),
            ],
        );
        Remote { name, bare, work }
    }

    /// Runs git in the work tree.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.work, args)
    }

    /// Writes a file in the work tree (folders made as needed).
    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) -> &Self {
        let full = self.work.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
        self
    }

    /// Deletes a file from the work tree.
    pub fn remove(&self, path: &str) -> &Self {
        std::fs::remove_file(self.work.join(path)).unwrap();
        self
    }

    /// Commits everything in the work tree; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.rev("HEAD")
    }

    /// Pushes the work tree's HEAD to `branch`, forcing.
    pub fn push_to(&self, branch: &str) {
        self.git(&[
            "push",
            "-q",
            "--force",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ]);
    }

    /// Commits everything and pushes it to main; returns the commit id.
    pub fn commit_and_push(&self, message: &str) -> String {
        let commit = self.commit(message);
        self.push_to("main");
        commit
    }

    /// The id a revision names in the work tree.
    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev])
    }

    /// The id a revision names on the server.
    pub fn remote_rev(&self, rev: &str) -> String {
        git_in(&self.bare, &["rev-parse", rev])
    }
}

/// A source with the defaults the config would give, and a short timeout.
pub fn source(name: &str, url: &str, git_ref: GitRef) -> Source {
    Source {
        name: name.to_owned(),
        url: url.to_owned(),
        git_ref,
        auth: None,
        ca_file: None,
        interval: Duration::from_secs(60),
        timeout: Duration::from_secs(30),
        fetch_timeout: Duration::from_secs(600),
        max_fetch_size: 256 << 20,
    }
}

/// `branch: main`
pub fn main_branch() -> GitRef {
    GitRef::Branch("main".into())
}

/// Writes a secret as plumb wants it: readable by its owner only (0600).
pub fn secret_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    f.write_all(content.as_bytes()).unwrap();
    path
}

/// One entry of a state snapshot: size, mtime and whether it is a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub len: u64,
    pub mtime: SystemTime,
    pub is_dir: bool,
}

/// Every file and folder under `dir`, with size and mtime: equal snapshots
/// mean nothing was written, created or removed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            out.insert(
                e.path(),
                Entry {
                    len: meta.len(),
                    mtime: meta.modified().unwrap(),
                    is_dir: meta.is_dir(),
                },
            );
            if meta.is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

/// The differences between two snapshots, for a readable failure.
pub fn snapshot_diff(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, b) in before {
        match after.get(path) {
            None => out.push(format!("removed {}", path.display())),
            Some(a) if a != b => out.push(format!("changed {}: {b:?} -> {a:?}", path.display())),
            _ => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("created {}", path.display()));
    }
    out
}

/// The folder GitSource keeps a source in.
pub fn source_dir(state_dir: &Path, source: &str) -> PathBuf {
    state_dir.join("sources").join(source)
}

/// Every file under `dir` whose name ends with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, e)| !e.is_dir && p.to_string_lossy().ends_with(suffix))
        .map(|(p, _)| p)
        .collect()
}

/// `n` bytes that do not compress (xorshift64*).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP proxy in front of a server that can hold back a connection's
/// answer after some bytes: it stops a fetch half-way, deterministically.
pub struct Proxy {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    limit: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Past the limit: 0 holds the answer back; N sends it a byte every N ms.
    trickle_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stalled: std::sync::mpsc::Receiver<u64>,
    release: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<port> to `target`, everything until told otherwise.
    pub fn start(target: std::net::SocketAddr) -> Proxy {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::{Arc, Condvar, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let limit = Arc::new(AtomicU64::new(u64::MAX));
        let trickle_ms = Arc::new(AtomicU64::new(0));
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let (tell_stalled, stalled) = std::sync::mpsc::channel();
        let (limit2, release2, trickle2) = (limit.clone(), release.clone(), trickle_ms.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let Ok(mut server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let (mut client_r, mut server_w) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client_r, &mut server_w);
                    let _ = server_w.shutdown(std::net::Shutdown::Write);
                });
                let limit = limit2.load(Ordering::SeqCst);
                let trickle = trickle2.load(Ordering::SeqCst);
                let (release, tell_stalled) = (release2.clone(), tell_stalled.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 16 << 10];
                    let mut sent = 0u64;
                    loop {
                        let n = match server.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if sent + n as u64 > limit && trickle > 0 {
                            let part = (limit - sent) as usize;
                            let _ = client.write_all(&buf[..part]);
                            let _ = tell_stalled.send(limit);
                            // The rest, and all that follows, a byte at a time.
                            let mut rest = buf[part..n].to_vec();
                            loop {
                                for b in &rest {
                                    std::thread::sleep(Duration::from_millis(trickle));
                                    if client.write_all(&[*b]).is_err() {
                                        return;
                                    }
                                }
                                match server.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => rest = buf[..n].to_vec(),
                                }
                            }
                            break;
                        }
                        if sent + n as u64 > limit {
                            let part = (limit - sent) as usize;
                            let _ = client.write_all(&buf[..part]);
                            let _ = tell_stalled.send(limit);
                            let (lock, cond) = &*release;
                            let mut released = lock.lock().unwrap();
                            while !*released {
                                released = cond.wait(released).unwrap();
                            }
                            return; // drops both sockets
                        }
                        if client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        sent += n as u64;
                    }
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Proxy {
            port,
            limit,
            trickle_ms,
            stalled,
            release,
        }
    }

    /// New connections get `bytes` of the server's answer, then the rest a byte every
    /// `every`: never silent for long, never done.
    pub fn trickle_after(&self, bytes: u64, every: Duration) {
        self.trickle_ms.store(
            every.as_millis() as u64,
            std::sync::atomic::Ordering::SeqCst,
        );
        self.limit.store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    /// New connections get `bytes` of the server's answer, then nothing.
    pub fn stall_after(&self, bytes: u64) {
        self.limit.store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until a connection has been held back.
    pub fn wait_stalled(&self, timeout: Duration) -> bool {
        self.stalled.recv_timeout(timeout).is_ok()
    }

    /// Closes the held-back connections and forwards everything again.
    pub fn release(&self) {
        self.limit
            .store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
        self.trickle_ms
            .store(0, std::sync::atomic::Ordering::SeqCst);
        let (lock, cond) = &*self.release;
        *lock.lock().unwrap() = true;
        cond.notify_all();
    }
}
