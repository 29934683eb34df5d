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
mod generations;
pub mod http;
mod local;
mod progress;
mod transport;
mod tree;

use generations::verify;
pub use transport::read_secret;
pub use tree::manifests_in_dir;

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
    /// A revision to go back to is neither in the clone nor on the remote.
    #[error("source '{name}': revision {commit} is not in the local clone and could not be fetched by its id ({cause}); a commit this node never applied can only come from the remote")]
    NotKept {
        name: String,
        commit: String,
        cause: String,
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
    /// The commits each sync applied before, newest first: kept readable through every
    /// switch (copied from the old generation, so a force-push loses none), so that
    /// `plumb rollback` can go back to them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    applied: BTreeMap<String, Vec<String>>,
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

    /// The last commit fetched and verified: served while the remote is unreachable.
    pub fn last_good(&self) -> Option<&str> {
        self.state.fetched.as_deref()
    }

    /// The commit a sync last applied from this source, if still recorded.
    pub fn in_force(&self, sync: &str) -> Option<&str> {
        self.state.pins.get(sync).map(String::as_str)
    }

    /// Records the commit a sync has in force, so it stays readable, and keeps the
    /// `keep` commits it applied last readable too (a rollback's choices).
    pub fn record_in_force(
        &mut self,
        sync: &str,
        commit: &str,
        keep: usize,
    ) -> Result<(), SourceError> {
        if self.state.pins.get(sync).map(String::as_str) == Some(commit) {
            return Ok(());
        }
        self.state.pins.insert(sync.to_owned(), commit.to_owned());
        let applied = self.state.applied.entry(sync.to_owned()).or_default();
        applied.retain(|c| c != commit);
        applied.insert(0, commit.to_owned());
        applied.truncate(keep.max(1));
        self.save_state()?;
        Ok(())
    }

    /// Makes sure `commit` can be read: from the clone when it holds it (a revision
    /// applied before, even one a force-push took off the branch), else fetched by its id
    /// (a revision another node applied: a rollback after a failover).
    pub fn ensure_commit(&mut self, commit: &str) -> Result<(), SourceError> {
        let repo = self.repo()?;
        let id = gix::ObjectId::from_hex(commit.as_bytes())
            .map_err(|e| self.local(repo.git_dir(), format!("'{commit}': {e}")))?;
        if repo.has_object(id) && verify(&repo, commit).is_ok() {
            return Ok(());
        }
        self.deadline = Some(Deadline::after(self.settings.fetch_timeout));
        let fetched = self.fetch_into(
            &repo,
            &[
                format!("+{commit}:refs/plumb/kept/{commit}"),
                "refs/plumb-no-such-ref".into(),
            ],
        );
        self.deadline = None;
        fetched.map_err(|e| SourceError::NotKept {
            name: self.settings.name.clone(),
            commit: commit.to_owned(),
            cause: e.to_string(),
        })?;
        verify(&repo, commit).map_err(|e| {
            self.local(
                repo.git_dir(),
                format!("the fetched commit {commit} does not verify: {e}"),
            )
        })
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
}

#[cfg(test)]
mod tests {
    use super::transport::shell_quote;
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
