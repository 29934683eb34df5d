//! Source: a Git repository kept as a bare, depth-1 clone under stateDir.
//!
//! A poll asks the remote for one ref (a single ls-refs); when the commit is
//! the one already fetched, it stops there and writes nothing. A new commit
//! is fetched with depth 1 into the current generation of the repository;
//! when old packs pile up, a fresh generation is cloned beside it and
//! switched to atomically. The revisions syncs applied stay readable through
//! every fetch and switch. A repository that fails to open or verify is set
//! aside and cloned again. The small state (which generation, which commits)
//! is written atomically, and only when it changes.

mod deadline;
pub mod http;
mod local;
mod progress;

use std::collections::BTreeMap;
use std::io::Read;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use base64::Engine;
use gix::bstr::ByteSlice;
use gix::remote::fetch::{Shallow, Tags};
use gix::remote::Direction;
use gix_transport::client::blocking_io::Transport;
use serde::{Deserialize, Serialize};

use crate::config::{self, Auth, GitRef, Transport as Scheme, Username};
use crate::render::File;
use crate::store;
use deadline::{Deadline, DeadlineStream, Interrupter};

/// Why a source could not be polled or read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The remote could not be reached or did not answer as a Git server.
    #[error("source '{name}': cannot fetch from {url}: {cause}")]
    Unreachable {
        name: String,
        url: String,
        cause: String,
    },
    /// The remote refused the credentials (or wanted some).
    #[error("source '{name}': {url} refused access: {cause}")]
    Unauthorized {
        name: String,
        url: String,
        cause: String,
    },
    /// The branch or tag does not exist on the remote.
    #[error("source '{name}': {git_ref} does not exist on {url} (deleted or renamed?); the last good revision stays in force")]
    RefNotFound {
        name: String,
        url: String,
        git_ref: String,
    },
    /// The whole poll took longer than fetchTimeout (a server that paces its bytes).
    #[error("source '{name}': polling {url} took longer than fetchTimeout ({secs}s) though the server kept sending; nothing was kept")]
    FetchTimedOut {
        name: String,
        url: String,
        secs: u64,
    },
    /// The fetch grew past maxFetchSize.
    #[error("source '{name}': fetching {git_ref} from {url} exceeded maxFetchSize ({limit} bytes); nothing was kept")]
    TooBig {
        name: String,
        url: String,
        git_ref: String,
        limit: u64,
    },
    /// The server speaks an old protocol, with which gix cannot fetch shallow.
    #[error("source '{name}': {url} speaks Git protocol {version}, and plumb needs version 2 to fetch a single commit (git 2.18 or later; over ssh the server must accept GIT_PROTOCOL)")]
    OldProtocol {
        name: String,
        url: String,
        version: String,
    },
    /// A credentials file could not be used.
    #[error("source '{name}': credentials file '{path}': {cause}")]
    Credentials {
        name: String,
        path: PathBuf,
        cause: String,
    },
    /// The local repository or state could not be used.
    #[error("source '{name}': local repository {path}: {cause}")]
    Local {
        name: String,
        path: PathBuf,
        cause: String,
    },
    /// A symbolic link plumb will not follow.
    #[error("source '{name}': revision {commit}: {path} is a symbolic link that {why}; plumb reads links only to files inside the repository")]
    BadLink {
        name: String,
        commit: String,
        path: String,
        why: String,
    },
    /// The revision lacks what the sync asks for.
    #[error("source '{name}': revision {commit} has no folder '{path}'")]
    NoSuchPath {
        name: String,
        commit: String,
        path: String,
    },
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// The remote still points at the commit already fetched; nothing was written.
    Unchanged {
        /// The commit.
        commit: String,
    },
    /// A new commit was fetched.
    Updated {
        /// The new commit.
        commit: String,
        /// The commit fetched before, if any.
        previous: Option<String>,
        /// Something worth saying about the move (a tag that moved).
        note: Option<String>,
    },
}

impl Poll {
    /// The commit now current.
    pub fn commit(&self) -> &str {
        match self {
            Poll::Unchanged { commit } | Poll::Updated { commit, .. } => commit,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SourceState {
    /// URL and ref the repository was cloned for; a change starts afresh.
    origin: String,
    /// Which `repo-<n>` folder is current.
    generation: u64,
    /// The last commit fetched and verified.
    fetched: Option<String>,
    /// The commit each sync has in force: kept readable through every switch.
    pins: BTreeMap<String, String>,
    /// Bytes of the current generation right after it was cloned.
    fresh_bytes: u64,
}

/// A repository that has grown past this many times its fresh size is cloned afresh.
const GROWTH_LIMIT: f64 = 1.5;

/// The commit a cycle reconciles, and why the source could not be followed
/// when it is the last good one instead of the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The commit.
    pub commit: String,
    /// The fetch's failure, when this is the last good commit served instead.
    pub failure: Option<String>,
}

/// A Git source and its local clone.
pub struct GitSource {
    settings: config::Source,
    dir: PathBuf,
    state: SourceState,
    user_agent: String,
    /// While a poll runs, when it must have ended (fetchTimeout).
    deadline: Option<Deadline>,
}

/// What the state file remembers of the URL and ref: never a credential.
fn origin_of(settings: &config::Source) -> String {
    format!(
        "{} {}",
        without_credentials(&settings.url),
        settings.git_ref
    )
}

/// The URL without the user and password of an `http(s)://user:TOKEN@host`
/// form (a token may stand alone as the user); other schemes keep their
/// user (`ssh://git@host`), which is no secret.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return url.to_owned();
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The full ref name a branch or tag is advertised under.
fn full_ref(git_ref: &GitRef) -> Option<String> {
    match git_ref {
        GitRef::Branch(b) => Some(format!("refs/heads/{b}")),
        GitRef::Tag(t) => Some(format!("refs/tags/{t}")),
        GitRef::Commit(_) => None,
    }
}

/// One line from a gix error and its causes.
fn chain(err: &gix::Error) -> String {
    let text = format!("{err:?}");
    let mut parts: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line == "Caused by:" {
            continue;
        }
        let line = match line.split_once(": ") {
            Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => line,
        };
        if !parts.iter().any(|p| p == line) {
            parts.push(line.to_owned());
        }
    }
    parts.join(": ")
}

/// Reads a secret file: it must be readable by its owner only, as ssh demands of keys.
pub fn read_secret(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {mode:04o} lets others read it: make it readable by plumb's user only (chmod 600)"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = text.trim_end_matches(['\n', '\r']).to_owned();
    if text.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(text)
}

/// Quotes a path for the shell that runs `core.sshCommand`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

impl GitSource {
    /// Opens (or starts) the local clone of a source; a broken one is set aside.
    pub fn open(
        settings: &config::Source,
        state_dir: &Path,
        user_agent: &str,
    ) -> Result<GitSource, SourceError> {
        let dir = state_dir.join("sources").join(&settings.name);
        let mut source = GitSource {
            settings: settings.clone(),
            dir: dir.clone(),
            state: SourceState::default(),
            user_agent: user_agent.to_owned(),
            deadline: None,
        };
        std::fs::create_dir_all(&dir).map_err(|e| source.local(&dir, e))?;
        let loaded: Option<SourceState> = std::fs::read(source.state_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut forget_credentials = false;
        match loaded {
            Some(state) if state.origin == origin_of(settings) => source.state = state,
            // An older release kept the URL as written, token and all: the
            // same origin, rewritten without it below.
            Some(state) if without_credentials(&state.origin) == origin_of(settings) => {
                source.state = SourceState {
                    origin: origin_of(settings),
                    ..state
                };
                forget_credentials = true;
            }
            Some(state) => {
                tracing::info!(source = %settings.name, "the url or ref changed: starting a fresh clone");
                source.state = SourceState {
                    generation: state.generation + 1,
                    origin: origin_of(settings),
                    ..Default::default()
                };
            }
            None => source.state.origin = origin_of(settings),
        }
        if forget_credentials {
            source.save_state()?;
        }
        source.remove_leftovers();
        source.remove_crash_leftovers(&source.gen_dir(source.state.generation));
        if source.gen_dir(source.state.generation).exists() {
            if let Err(why) = source.open_and_verify() {
                source.set_aside(&why);
            }
        }
        Ok(source)
    }

    fn local(&self, path: &Path, cause: impl std::fmt::Display) -> SourceError {
        SourceError::Local {
            name: self.settings.name.clone(),
            path: path.to_owned(),
            cause: cause.to_string(),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn gen_dir(&self, generation: u64) -> PathBuf {
        self.dir.join(format!("repo-{generation}"))
    }

    fn save_state(&self) -> Result<bool, SourceError> {
        let bytes = serde_json::to_vec_pretty(&self.state).expect("serialisable");
        store::write_if_changed(&self.state_path(), &bytes)
            .map_err(|e| self.local(&self.state_path(), e))
    }

    /// Removes generations other than the current one and half-made clones
    /// (what a crash during a switch leaves behind).
    fn remove_leftovers(&self) {
        let current = format!("repo-{}", self.state.generation);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("repo-") && name != current {
                tracing::info!(source = %self.settings.name, folder = %name, "removing a leftover clone");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Removes what a crash (kill -9, power cut) during a fetch leaves in a
    /// repository: lock files (`shallow.lock` is taken before the pack is
    /// received, `refs/plumb/fetched.lock` after), which gix will not take
    /// over, so every later fetch would fail until someone deleted them by
    /// hand; and the temp files (`.tmp*`) of the pack and index being
    /// written, up to maxFetchSize each. None can be live: only one plumb
    /// uses stateDir, and it opens a source before fetching into it.
    fn remove_crash_leftovers(&self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let in_packs = dir.ends_with("objects/pack");
            match e.file_type() {
                Ok(t) if t.is_dir() => self.remove_crash_leftovers(&path),
                Ok(_) if name.ends_with(".lock") || (in_packs && name.starts_with(".tmp")) => {
                    tracing::warn!(source = %self.settings.name, file = %path.display(), "removing a file left by a crash");
                    let _ = std::fs::remove_file(&path);
                }
                _ => {}
            }
        }
    }

    /// Opens the current generation and checks every commit plumb relies on.
    fn open_and_verify(&mut self) -> Result<(), String> {
        let repo = gix::open_opts(
            self.gen_dir(self.state.generation),
            gix::open::Options::isolated(),
        )
        .map_err(|e| chain(&e))?;
        let mut commits: Vec<&String> = self.state.pins.values().collect();
        commits.extend(self.state.fetched.iter());
        for commit in commits {
            verify(&repo, commit).map_err(|e| format!("commit {commit}: {e}"))?;
        }
        Ok(())
    }

    /// Moves a broken clone aside (keeping one for inspection) and starts afresh.
    fn set_aside(&mut self, why: &str) {
        let from = self.gen_dir(self.state.generation);
        let to = self.dir.join("broken");
        tracing::warn!(source = %self.settings.name, folder = %from.display(), %why, "the local clone is broken: setting it aside and cloning again");
        let _ = std::fs::remove_dir_all(&to);
        let _ = std::fs::rename(&from, &to);
        self.state.fetched = None;
        self.state.fresh_bytes = 0;
    }

    /// The last commit fetched and verified: served while the remote is unreachable.
    pub fn last_good(&self) -> Option<&str> {
        self.state.fetched.as_deref()
    }

    /// The commit a sync last applied from this source, if still recorded.
    pub fn pinned(&self, sync: &str) -> Option<&str> {
        self.state.pins.get(sync).map(String::as_str)
    }

    /// Records the commit a sync has in force, so it stays readable.
    pub fn pin(&mut self, sync: &str, commit: &str) -> Result<(), SourceError> {
        if self.state.pins.get(sync).map(String::as_str) != Some(commit) {
            self.state.pins.insert(sync.to_owned(), commit.to_owned());
            self.save_state()?;
        }
        Ok(())
    }

    /// Opens the current generation (creating it when missing). Opened per
    /// use, not kept: without gix's `parallel` feature a repository handle
    /// cannot move between threads, and opening only reads a few small files.
    fn repo(&self) -> Result<gix::Repository, SourceError> {
        let dir = self.gen_dir(self.state.generation);
        if dir.exists() {
            gix::open_opts(&dir, gix::open::Options::isolated())
        } else {
            gix::ThreadSafeRepository::init_opts(
                &dir,
                gix::create::Kind::Bare,
                gix::create::Options::default(),
                gix::open::Options::isolated(),
            )
            .map(|r| r.to_thread_local())
        }
        .map_err(|e| self.local(&dir, chain(&e)))
    }

    fn unreachable(&self, cause: impl std::fmt::Display) -> SourceError {
        SourceError::Unreachable {
            name: self.settings.name.clone(),
            url: http::redact(&self.settings.url),
            cause: cause.to_string(),
        }
    }

    /// The `Authorization` header for http(s) sources.
    fn authorization(&self) -> Result<Option<String>, SourceError> {
        let name = self.settings.name.clone();
        let read = |path: &Path| {
            read_secret(path).map_err(|cause| SourceError::Credentials {
                name: name.clone(),
                path: path.to_owned(),
                cause,
            })
        };
        let basic = |user: &str, password: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        };
        Ok(match &self.settings.auth {
            Some(Auth::Basic {
                username,
                password_file,
            }) => {
                let user = match username {
                    Username::Literal(u) => u.clone(),
                    Username::File(f) => read(f)?,
                };
                Some(basic(&user, &read(password_file)?))
            }
            Some(Auth::Token { token_file }) => Some(basic("git", &read(token_file)?)),
            Some(Auth::Bearer { token_file }) => Some(format!("Bearer {}", read(token_file)?)),
            _ => None,
        })
    }

    /// A connection to the remote, for the URL's transport, with timeouts.
    fn transport(&self) -> Result<Box<dyn Transport + Send>, SourceError> {
        use gix_transport::client::blocking_io as io;
        use gix_transport::Protocol;
        let settings = &self.settings;
        let url = gix::url::parse(settings.url.as_bytes().as_bstr())
            .map_err(|e| self.unreachable(format!("not a Git URL: {e}")))?;
        let scheme = Scheme::of(&settings.url).map_err(|e| self.unreachable(e))?;
        let timeout = settings.timeout;
        Ok(match scheme {
            Scheme::Https | Scheme::Http => {
                let ca = match &settings.ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        self.unreachable(format!("cannot read caFile '{}': {e}", path.display()))
                    })?),
                    None => None,
                };
                let mut http = http::UreqHttp::new(
                    ca.as_deref(),
                    timeout,
                    &self.user_agent,
                    self.authorization()?,
                )
                .map_err(|e| self.unreachable(format!("caFile: {e}")))?;
                if let Some(deadline) = self.deadline {
                    http = http.with_deadline(deadline);
                }
                Box::new(io::http::connect_http(http, url, Protocol::V2, false))
            }
            Scheme::Git => {
                // Our own socket: gix's git:// connection has no read timeout.
                let host = url.host().unwrap_or("localhost").to_owned();
                let port = url.port.unwrap_or(9418);
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                    .map_err(|e| self.unreachable(e))?
                    .next()
                    .ok_or_else(|| self.unreachable(format!("{host} has no address")))?;
                let socket = std::net::TcpStream::connect_timeout(&addr, timeout)
                    .map_err(|e| self.unreachable(e))?;
                let deadline = self
                    .deadline
                    .unwrap_or_else(|| Deadline::after(settings.fetch_timeout));
                let socket = DeadlineStream::new(socket, deadline, timeout);
                let write = socket.try_clone().map_err(|e| self.unreachable(e))?;
                Box::new(gix_transport::client::git::blocking_io::Connection::new(
                    socket,
                    write,
                    Protocol::V2,
                    url.path.clone(),
                    Some((host, Some(port))),
                    gix_transport::client::git::ConnectMode::Daemon,
                    false,
                ))
            }
            Scheme::Ssh => {
                let command = self.ssh_command()?;
                let options = io::ssh::connect::Options {
                    command: Some(command.into()),
                    disallow_shell: false,
                    kind: Some(io::ssh::ProgramKind::Ssh),
                };
                Box::new(
                    io::ssh::connect(url, Protocol::V2, options, false)
                        .map_err(|e| self.unreachable(e))?,
                )
            }
            Scheme::File => local::connect(Path::new(
                url.path.to_os_str().map_err(|e| self.unreachable(e))?,
            ))
            .map_err(|e| self.unreachable(e))?,
        })
    }

    /// The ssh command line (gix appends the port, host and remote command).
    fn ssh_command(&self) -> Result<String, SourceError> {
        let settings = &self.settings;
        let secs = settings.timeout.as_secs().max(1);
        let mut command = format!(
            "ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout={secs} -o ServerAliveInterval={secs} -o ServerAliveCountMax=2 -o StrictHostKeyChecking=yes"
        );
        match &settings.auth {
            Some(Auth::Ssh {
                key_file,
                known_hosts_file,
            }) => {
                read_secret(key_file).map_err(|cause| SourceError::Credentials {
                    name: settings.name.clone(),
                    path: key_file.clone(),
                    cause,
                })?;
                command.push_str(&format!(
                    " -o IdentitiesOnly=yes -i {} -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
                    shell_quote(key_file),
                    shell_quote(known_hosts_file)
                ));
            }
            _ => command.push_str(" -o UserKnownHostsFile=/dev/null"),
        }
        Ok(command)
    }

    /// Classifies a failed network step.
    fn network_error(&self, err: &gix::Error, interrupted: bool) -> SourceError {
        let name = self.settings.name.clone();
        let url = http::redact(&self.settings.url);
        if self.deadline.is_some_and(|d| d.passed()) {
            return SourceError::FetchTimedOut {
                name,
                url,
                secs: self.settings.fetch_timeout.as_secs(),
            };
        }
        if interrupted {
            return SourceError::TooBig {
                name,
                url,
                git_ref: self.settings.git_ref.to_string(),
                limit: self.settings.max_fetch_size,
            };
        }
        // http::to_io hands ureq's I/O errors to gix bare, so a TLS failure
        // arrives as the rustls::Error inside an io::Error, not as a ureq::Error.
        if let Some(tls) = err
            .downcast_any_ref::<ureq::Error>()
            .and_then(crate::tls::rustls_error)
            .or_else(|| err.downcast_any_ref::<rustls::Error>())
        {
            let ca = match &self.settings.ca_file {
                Some(path) => format!("caFile '{}'", path.display()),
                None => "the public roots (set caFile for a private CA)".into(),
            };
            return SourceError::Unreachable {
                name,
                url,
                cause: format!("TLS failed: {}", crate::tls::describe(tls, &ca)),
            };
        }
        let text = chain(err);
        let denied = err.classify().is_unauthenticated()
            || text.contains("Permission denied")
            || text.contains("AuthenticationRequired")
            || text.contains("authentication required");
        if denied {
            let cause = match &self.settings.auth {
                None if without_credentials(&self.settings.url) != self.settings.url => {
                    "the server refused the credentials in the URL".to_owned()
                }
                None => "the server wants credentials: give the source an auth".to_owned(),
                // gix's own words here speak of credential helpers, which plumb never runs.
                Some(Auth::Ssh { .. }) => format!("the server rejected the deploy key ({text})"),
                Some(_) => "the server rejected the credentials (HTTP 401): check the auth files"
                    .to_owned(),
            };
            return SourceError::Unauthorized { name, url, cause };
        }
        if text.contains("Host key verification failed")
            || text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            return SourceError::Unauthorized {
                name,
                url,
                cause: format!("the server's ssh host key is not the one in knownHostsFile: refusing to connect ({text})"),
            };
        }
        // ssh tells of a refused host key only on its stderr, which gix copies
        // to ours instead of into the error (it turns only "Permission denied"
        // and failed connections into errors; this one reads "failed to fill
        // whole buffer"). So ask ssh once more, authenticating with nothing.
        if Scheme::of(&self.settings.url) == Ok(Scheme::Ssh)
            && !text.contains("connect to host")
            && !text.contains("resolve hostname")
        {
            if let Some(verdict) = self.ssh_host_key_refusal() {
                return SourceError::Unauthorized {
                    name,
                    url,
                    cause: format!("the server's ssh host key is not the one in knownHostsFile: refusing to connect ({verdict})"),
                };
            }
        }
        // A socket read past its timeout surfaces as EAGAIN ("Resource
        // temporarily unavailable"), which names neither the wait nor the step.
        let cause =
            if text.contains("os error 11") || text.contains("Resource temporarily unavailable") {
                format!(
                    "timed out: the server sent nothing for {}s (the source's timeout) ({text})",
                    self.settings.timeout.as_secs()
                )
            } else {
                text
            };
        SourceError::Unreachable { name, url, cause }
    }

    /// Connects to an ssh source without authenticating, to learn whether ssh
    /// refuses the server's host key; returns what ssh said about it.
    fn ssh_host_key_refusal(&self) -> Option<String> {
        use std::process::Stdio;
        let url = gix::url::parse(self.settings.url.as_bytes().as_bstr()).ok()?;
        let host = url.host_argument_safe()?;
        let target = match url.user() {
            Some(_) => format!("{}@{host}", url.user_argument_safe()?),
            None => host.to_owned(),
        };
        let script = format!(
            "{} -T -o PreferredAuthentications=none \"$@\"",
            self.ssh_command().ok()?
        );
        let mut probe = std::process::Command::new("sh");
        probe.arg("-c").arg(script).arg("ssh");
        if let Some(port) = url.port {
            probe.arg("-p").arg(port.to_string());
        }
        let out = probe
            .arg("--")
            .arg(target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .ok()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("Host key verification failed") {
            return None;
        }
        let said: Vec<&str> = stderr
            .lines()
            .map(|l| l.trim_matches(|c: char| c == '@' || c.is_whitespace()))
            .filter(|l| {
                [
                    "IDENTIFICATION HAS CHANGED",
                    "Host key for",
                    "host key is known",
                    "Host key verification failed",
                ]
                .iter()
                .any(|s| l.contains(s))
            })
            .collect();
        Some(said.join(" "))
    }

    /// Asks the remote which commit the ref points at (one ls-refs, nothing written).
    pub fn remote_commit(&mut self) -> Result<String, SourceError> {
        let Some(full) = full_ref(&self.settings.git_ref) else {
            let GitRef::Commit(c) = &self.settings.git_ref else {
                unreachable!()
            };
            return Ok(c.clone());
        };
        let transport = self.transport()?;
        let url = self.settings.url.clone();
        let repo = self.repo()?;
        let remote = repo
            .remote_at(url.as_str())
            .and_then(|r| {
                r.with_fetch_tags(Tags::None)
                    .with_refspecs([full.as_str()], Direction::Fetch)
            })
            .map_err(|e| self.unreachable(chain(&e)))?;
        let (map, handshake) = remote
            .to_connection_with_transport(transport)
            .with_credentials(|_| Ok(None))
            .ref_map(gix::progress::Discard, Default::default())
            .map_err(|e| self.network_error(&e, false))?;
        if handshake.server_protocol_version != gix_transport::Protocol::V2 {
            return Err(SourceError::OldProtocol {
                name: self.settings.name.clone(),
                url: http::redact(&self.settings.url),
                version: format!("{:?}", handshake.server_protocol_version),
            });
        }
        use gix::protocol::handshake::Ref;
        for r in &map.remote_refs {
            let (name, peeled) = match r {
                Ref::Direct {
                    full_ref_name,
                    object,
                } => (full_ref_name, object),
                Ref::Peeled {
                    full_ref_name,
                    object,
                    ..
                } => (full_ref_name, object),
                Ref::Symbolic {
                    full_ref_name,
                    object,
                    ..
                } => (full_ref_name, object),
                Ref::Unborn { .. } => continue,
            };
            if name.as_bstr() == full.as_bytes().as_bstr() {
                return Ok(peeled.to_string());
            }
        }
        Err(SourceError::RefNotFound {
            name: self.settings.name.clone(),
            url: http::redact(&self.settings.url),
            git_ref: self.settings.git_ref.to_string(),
        })
    }

    /// Fetches `refspecs` with depth 1 into `repo`, capped at maxFetchSize.
    fn fetch_into(&self, repo: &gix::Repository, refspecs: &[String]) -> Result<(), SourceError> {
        let remote = repo
            .remote_at(self.settings.url.as_str())
            .and_then(|r| {
                r.with_fetch_tags(Tags::None)
                    .with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch)
            })
            .map_err(|e| self.unreachable(chain(&e)))?;
        let interrupt = Arc::new(AtomicBool::new(false));
        let cap = progress::CapProgress::new(self.settings.max_fetch_size, interrupt.clone());
        // gix checks the flag while it reads the pack, whatever the transport (ssh's too).
        let _timer = self.deadline.map(|d| Interrupter::at(d, interrupt.clone()));
        let outcome = remote
            .to_connection_with_transport(self.transport()?)
            .with_credentials(|_| Ok(None))
            .prepare_fetch(gix::progress::Discard, Default::default())
            .and_then(|p| {
                p.with_shallow(Shallow::DepthAtRemote(NonZeroU32::new(1).expect("1 > 0")))
                    .receive(cap, &interrupt)
            })
            .map_err(|e| {
                self.network_error(&e, interrupt.load(std::sync::atomic::Ordering::Relaxed))
            })?;
        use gix::remote::fetch::{refs::update::Mode, Status};
        let (Status::Change { update_refs, .. } | Status::NoPackReceived { update_refs, .. }) =
            &outcome.status;
        for u in &update_refs.updates {
            if !matches!(
                u.mode,
                Mode::New | Mode::NoChangeNeeded | Mode::FastForward | Mode::Forced
            ) {
                return Err(
                    self.unreachable(format!("the fetched ref was not updated ({:?})", u.mode))
                );
            }
        }
        Ok(())
    }

    /// Polls the remote: unchanged (nothing written) or a new commit fetched.
    pub fn poll(&mut self) -> Result<Poll, SourceError> {
        self.deadline = Some(Deadline::after(self.settings.fetch_timeout));
        let polled = self.poll_within();
        self.deadline = None;
        polled
    }

    fn poll_within(&mut self) -> Result<Poll, SourceError> {
        let commit = self.remote_commit()?;
        if self.state.fetched.as_deref() == Some(commit.as_str()) {
            return Ok(Poll::Unchanged { commit });
        }
        let previous = self.state.fetched.clone();
        let source = match full_ref(&self.settings.git_ref) {
            Some(full) => full,
            None => commit.clone(),
        };
        let mut refspecs = vec![format!("+{source}:refs/plumb/fetched")];
        if full_ref(&self.settings.git_ref).is_none() {
            // A SHA alone would make the server list every ref; a prefix that matches nothing keeps ls-refs small.
            refspecs.push("refs/plumb-no-such-ref".into());
        }
        let repo = self.repo()?;
        self.fetch_into(&repo, &refspecs)?;
        let fetched = repo
            .find_reference("refs/plumb/fetched")
            .map_err(|e| self.local(repo.git_dir(), e))?
            .into_fully_peeled_id()
            .map_err(|e| self.local(repo.git_dir(), e))?
            .detach()
            .to_string();
        verify(&repo, &fetched).map_err(|e| {
            self.local(
                repo.git_dir(),
                format!("the fetched commit does not verify: {e}"),
            )
        })?;
        let note = match (&self.settings.git_ref, &previous) {
            (GitRef::Tag(t), Some(old)) => Some(format!("tag '{t}' moved from {old} to {fetched}")),
            _ => None,
        };
        self.state.fetched = Some(fetched.clone());
        self.save_state()?;
        self.compact_if_grown()?;
        Ok(Poll::Updated {
            commit: fetched,
            previous,
            note,
        })
    }

    /// The commit to reconcile: the newest from the remote, or, when the
    /// remote fails, the last good one (the failure goes into `warnings`).
    pub fn newest_or_last_good(
        &mut self,
        warnings: &mut Vec<String>,
    ) -> Result<Fetched, SourceError> {
        match self.poll() {
            Ok(poll) => {
                if let Poll::Updated {
                    note: Some(note), ..
                } = &poll
                {
                    warnings.push(note.clone());
                }
                Ok(Fetched {
                    commit: poll.commit().to_owned(),
                    failure: None,
                })
            }
            Err(e) => match self.last_good() {
                Some(last) => {
                    let failure = format!(
                        "{e}; serving the last good revision {}",
                        crate::report::short(last)
                    );
                    warnings.push(failure.clone());
                    Ok(Fetched {
                        commit: last.to_owned(),
                        failure: Some(failure),
                    })
                }
                None => Err(e),
            },
        }
    }

    /// Clones a fresh generation when the current one has grown well past its
    /// fresh size (gix has no gc), keeping the fetched and pinned commits.
    fn compact_if_grown(&mut self) -> Result<(), SourceError> {
        let dir = self.gen_dir(self.state.generation);
        let size = store::disk_usage(&dir).map_err(|e| self.local(&dir, e))?;
        if self.state.fresh_bytes == 0 {
            self.state.fresh_bytes = size;
            self.save_state()?;
            return Ok(());
        }
        if (size as f64) <= self.state.fresh_bytes as f64 * GROWTH_LIMIT {
            return Ok(());
        }
        tracing::info!(source = %self.settings.name, size, fresh = self.state.fresh_bytes, "the clone has grown: cloning a fresh one beside it");
        if let Err(e) = self.switch_generation() {
            // Not fatal: the current clone still serves; try again after the next fetch.
            tracing::warn!(source = %self.settings.name, error = %e, "could not clone a fresh generation");
        }
        Ok(())
    }

    fn switch_generation(&mut self) -> Result<(), SourceError> {
        let next = self.state.generation + 1;
        let tmp = self.dir.join(format!("repo-{next}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        let repo = gix::ThreadSafeRepository::init_opts(
            &tmp,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            gix::open::Options::isolated(),
        )
        .map_err(|e| self.local(&tmp, chain(&e)))?
        .to_thread_local();
        let mut refspecs = Vec::new();
        if let Some(f) = &self.state.fetched {
            refspecs.push(format!("+{f}:refs/plumb/fetched"));
        }
        for (sync, commit) in &self.state.pins {
            refspecs.push(format!("+{commit}:refs/plumb/applied/{sync}"));
        }
        refspecs.push("refs/plumb-no-such-ref".into());
        self.fetch_into(&repo, &refspecs)?;
        for commit in self.state.pins.values().chain(self.state.fetched.iter()) {
            verify(&repo, commit).map_err(|e| self.local(&tmp, e))?;
        }
        drop(repo);
        let final_dir = self.gen_dir(next);
        std::fs::rename(&tmp, &final_dir).map_err(|e| self.local(&final_dir, e))?;
        store::sync_dir(&self.dir).map_err(|e| self.local(&self.dir, e))?;
        let old = self.gen_dir(self.state.generation);
        self.state.generation = next;
        self.state.fresh_bytes =
            store::disk_usage(&final_dir).map_err(|e| self.local(&final_dir, e))?;
        self.save_state()?;
        let _ = std::fs::remove_dir_all(old);
        Ok(())
    }

    /// The repository and the id of `commit`'s tree.
    fn tree_of(&self, commit: &str) -> Result<(gix::Repository, gix::ObjectId), SourceError> {
        let repo = self.repo()?;
        let tree = gix::ObjectId::from_hex(commit.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|id| repo.find_commit(id).map_err(|e| e.to_string()))
            .and_then(|c| c.tree_id().map(|t| t.detach()).map_err(|e| e.to_string()))
            .map_err(|cause| self.local(repo.git_dir(), cause))?;
        Ok((repo, tree))
    }

    /// The files a sync reads at `commit`: under `path`, selected by
    /// `.plumbignore` and `exclude`, with paths relative to the repository.
    pub fn files(
        &mut self,
        commit: &str,
        path: &str,
        exclude: &[String],
    ) -> Result<Vec<File>, SourceError> {
        let (repo, root) = self.tree_of(commit)?;
        let local = |e: &dyn std::fmt::Display| self.local(repo.git_dir(), e);
        let mut tree = repo.find_tree(root).map_err(|e| local(&e))?;
        if !path.is_empty() {
            let entry = tree.lookup_entry_by_path(path).map_err(|e| local(&e))?;
            let Some(entry) = entry.filter(|e| e.mode().is_tree()) else {
                return Err(SourceError::NoSuchPath {
                    name: self.settings.name.clone(),
                    commit: commit.to_owned(),
                    path: path.to_owned(),
                });
            };
            tree = entry.object().map_err(|e| local(&e))?.into_tree();
        }
        let entries = tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(|e| local(&e))?;
        let mut blobs = BTreeMap::new();
        for e in entries {
            let relative = e.filepath.to_str_lossy().into_owned();
            if e.mode.is_blob() {
                blobs.insert(relative, e.oid);
            } else if e.mode.is_link() {
                let full = if path.is_empty() {
                    relative.clone()
                } else {
                    format!("{path}/{relative}")
                };
                let target = self.link_target(&repo, root, commit, &full, e.oid)?;
                blobs.insert(relative, target);
            }
        }
        let read = |oid: &gix::ObjectId| -> Result<Vec<u8>, SourceError> {
            Ok(repo.find_blob(*oid).map_err(|e| local(&e))?.data.clone())
        };
        let ignore = match blobs.get(".plumbignore") {
            Some(oid) => Some(read(oid)?),
            None => None,
        };
        let paths: Vec<String> = blobs.keys().cloned().collect();
        let mut files = Vec::new();
        for p in crate::render::select(&paths, ignore.as_deref(), exclude) {
            let bytes = read(&blobs[&p])?;
            let full = if path.is_empty() {
                p
            } else {
                format!("{path}/{p}")
            };
            files.push(File { path: full, bytes });
        }
        Ok(files)
    }

    /// Every file of the revision at `commit` except those in `skip` (paths
    /// relative to the repository): what a kustomization may refer to
    /// outside the sync's folder.
    pub fn other_files(&mut self, commit: &str, skip: &[File]) -> Result<Vec<File>, SourceError> {
        let (repo, root) = self.tree_of(commit)?;
        let local = |e: &dyn std::fmt::Display| self.local(repo.git_dir(), e);
        let tree = repo.find_tree(root).map_err(|e| local(&e))?;
        let skip: std::collections::HashSet<&str> = skip.iter().map(|f| f.path.as_str()).collect();
        let mut files = Vec::new();
        for e in tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(|e| local(&e))?
        {
            let path = e.filepath.to_str_lossy();
            if skip.contains(path.as_ref()) || !(e.mode.is_blob() || e.mode.is_link()) {
                continue;
            }
            let oid = if e.mode.is_link() {
                self.link_target(&repo, root, commit, &path, e.oid)?
            } else {
                e.oid
            };
            let bytes = repo.find_blob(oid).map_err(|e| local(&e))?.data.clone();
            files.push(File {
                path: path.into_owned(),
                bytes,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The blob a symbolic link at `path` (relative to the repository)
    /// stands for, as kubectl kustomize reads one: its target, resolved
    /// from the link's folder, must be a file inside the repository (links
    /// to links are followed a few times); anything else is an error.
    fn link_target(
        &self,
        repo: &gix::Repository,
        root: gix::ObjectId,
        commit: &str,
        path: &str,
        link: gix::ObjectId,
    ) -> Result<gix::ObjectId, SourceError> {
        let bad = |why: String| SourceError::BadLink {
            name: self.settings.name.clone(),
            commit: commit.to_owned(),
            path: path.to_owned(),
            why,
        };
        let local = |e: &dyn std::fmt::Display| self.local(repo.git_dir(), e);
        let (mut at, mut oid) = (path.to_owned(), link);
        for _ in 0..8 {
            let target = repo.find_blob(oid).map_err(|e| local(&e))?.data.clone();
            let target = String::from_utf8_lossy(&target).into_owned();
            let resolved = resolve_link(&at, &target)
                .ok_or_else(|| bad(format!("points to '{target}', outside the repository")))?;
            let tree = repo.find_tree(root).map_err(|e| local(&e))?;
            let entry = tree
                .lookup_entry_by_path(&resolved)
                .map_err(|e| local(&e))?
                .ok_or_else(|| {
                    bad(format!(
                        "points to '{target}', which is not in the revision"
                    ))
                })?;
            let mode = entry.mode();
            if mode.is_blob() {
                return Ok(entry.object_id());
            }
            if !mode.is_link() {
                return Err(bad(format!("points to '{target}', a folder")));
            }
            (at, oid) = (resolved, entry.object_id());
        }
        Err(bad("leads through more than 8 links".into()))
    }

    /// Bytes the local clone takes on disk.
    pub fn disk_usage(&self) -> u64 {
        store::disk_usage(&self.dir).unwrap_or(0)
    }
}

/// The repository path a link at `link` (a repository path) to `target`
/// names, or None when it leaves the repository (absolute, or too many `..`).
fn resolve_link(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

/// Checks that a commit and every blob of its tree are present, decompress
/// and hash to their ids.
fn verify(repo: &gix::Repository, commit: &str) -> Result<(), String> {
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| e.to_string())?;
    let tree = repo
        .find_commit(id)
        .map_err(|e| e.to_string())?
        .tree()
        .map_err(|e| e.to_string())?;
    for e in tree
        .traverse()
        .breadthfirst
        .files()
        .map_err(|e| e.to_string())?
    {
        if e.mode.is_blob() || e.mode.is_link() {
            let blob = repo
                .find_blob(e.oid)
                .map_err(|err| format!("{}: {err}", e.filepath))?;
            let actual = gix::objs::compute_hash(e.oid.kind(), gix::objs::Kind::Blob, &blob.data)
                .map_err(|err| err.to_string())?;
            if actual != e.oid {
                return Err(format!("{} is corrupt (hashes to {actual})", e.filepath));
            }
        }
    }
    Ok(())
}

/// The manifests of a plain folder, relative to it (selected as in a
/// revision): `plumb render DIR` and `plumb validate DIR`. A symbolic link
/// is read as its target when that is a file inside `repository` (the work
/// tree holding DIR), as in a revision; any other link is an error naming it.
pub fn manifests_in_dir(
    dir: &Path,
    repository: &Path,
    exclude: &[String],
) -> std::io::Result<Vec<String>> {
    fn walk(root: &Path, top: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let mut kind = entry.file_type()?;
            if kind.is_symlink() {
                let refuse = |why: &str| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} is a symbolic link that {why}; plumb reads links only to files inside the repository",
                            path.display()
                        ),
                    )
                };
                let target = std::fs::canonicalize(&path).map_err(|_| refuse("points nowhere"))?;
                if !target.starts_with(top) {
                    return Err(refuse(&format!(
                        "points to {}, outside the repository",
                        target.display()
                    )));
                }
                kind = std::fs::metadata(&target)?.file_type();
                if kind.is_dir() {
                    return Err(refuse("points to a folder"));
                }
            }
            if kind.is_dir() {
                walk(root, top, &path, out)?;
            } else if kind.is_file() {
                out.push(
                    path.strip_prefix(root)
                        .expect("under root")
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    let top = std::fs::canonicalize(repository)?;
    walk(dir, &top, dir, &mut paths)?;
    let ignore = match std::fs::File::open(dir.join(".plumbignore")) {
        Ok(mut f) => {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            Some(bytes)
        }
        Err(_) => None,
    };
    Ok(crate::render::select(&paths, ignore.as_deref(), exclude))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_no_credentials() {
        for (url, kept) in [
            (
                "https://git:TOKEN@example.com/me/repo.git",
                "https://example.com/me/repo.git",
            ),
            (
                "https://TOKEN@example.com/repo.git",
                "https://example.com/repo.git",
            ),
            ("HTTP://u:p%40ss@h:8080/r", "HTTP://h:8080/r"),
            (
                "https://example.com/a@b/repo.git",
                "https://example.com/a@b/repo.git",
            ),
            (
                "ssh://git@example.com/repo.git",
                "ssh://git@example.com/repo.git",
            ),
            ("git@example.com:me/repo.git", "git@example.com:me/repo.git"),
            ("file:///srv/repo.git", "file:///srv/repo.git"),
        ] {
            assert_eq!(without_credentials(url), kept, "{url}");
        }
    }

    #[test]
    fn refs_and_errors_read_well() {
        assert_eq!(
            full_ref(&GitRef::Branch("main".into())).as_deref(),
            Some("refs/heads/main")
        );
        assert_eq!(
            full_ref(&GitRef::Tag("v1".into())).as_deref(),
            Some("refs/tags/v1")
        );
        assert_eq!(shell_quote(Path::new("/a b/it's")), "'/a b/it'\\''s'");
    }

    #[test]
    fn secrets_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("plumb-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret(&path).unwrap_err();
        assert!(
            err.contains("chmod 600") && !err.contains("s3cret"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret(&path).unwrap(), "s3cret");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
