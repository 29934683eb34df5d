//! The clone on disk: its generations (a fresh one cloned beside and switched to
//! atomically when packs pile up), its small state file, crash leftovers, and the check
//! that every commit plumb relies on is whole (a broken clone is set aside).

use std::collections::BTreeSet;

use super::*;

impl GitSource {
    pub(super) fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub(super) fn gen_dir(&self, generation: u64) -> PathBuf {
        self.dir.join(format!("repo-{generation}"))
    }

    pub(super) fn save_state(&self) -> Result<bool, SourceError> {
        let bytes = serde_json::to_vec_pretty(&self.state).expect("serialisable");
        store::write_if_changed(&self.state_path(), &bytes)
            .map_err(|e| self.local(&self.state_path(), e))
    }

    /// Removes generations other than the current one and half-made clones
    /// (what a crash during a switch leaves behind).
    pub(super) fn remove_leftovers(&self) {
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
    pub(super) fn remove_crash_leftovers(&self, dir: &Path) {
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
    pub(super) fn open_and_verify(&mut self) -> Result<(), String> {
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
    pub(super) fn set_aside(&mut self, why: &str) {
        let from = self.gen_dir(self.state.generation);
        let to = self.dir.join("broken");
        tracing::warn!(source = %self.settings.name, folder = %from.display(), %why, "the local clone is broken: setting it aside and cloning again");
        let _ = std::fs::remove_dir_all(&to);
        let _ = std::fs::rename(&from, &to);
        self.state.fetched = None;
        self.state.fresh_bytes = 0;
    }

    /// Clones a fresh generation when the current one has grown well past its
    /// fresh size (gix has no gc), keeping the fetched and pinned commits.
    pub(super) fn compact_if_grown(&mut self) -> Result<(), SourceError> {
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

    pub(super) fn switch_generation(&mut self) -> Result<(), SourceError> {
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
        refspecs.push("refs/plumb-no-such-ref".into());
        self.fetch_into(&repo, &refspecs)?;
        // Every other commit plumb relies on comes from the old generation, not the remote:
        // a force-push may have taken it off the branch.
        let old_repo = self.repo()?;
        let kept: BTreeSet<&String> = self
            .state
            .pins
            .values()
            .chain(self.state.applied.values().flatten())
            .collect();
        for commit in &kept {
            let Err(e) = copy_commit(&old_repo, &repo, commit) else {
                continue;
            };
            if self.state.pins.values().any(|p| p == *commit) {
                // The old clone lacks it (set aside and cloned again): the remote may have it.
                self.fetch_into(
                    &repo,
                    &[
                        format!("+{commit}:refs/plumb/kept/{commit}"),
                        "refs/plumb-no-such-ref".into(),
                    ],
                )
                .map_err(|fetch| {
                    self.local(
                        &tmp,
                        format!("commit {commit}: {e}; and from the remote: {fetch}"),
                    )
                })?;
            } else {
                // An older revision neither clone has: not one to go back to.
                tracing::warn!(source = %self.settings.name, %commit, error = %e, "an earlier revision could not be kept");
            }
        }
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

    /// Bytes the local clone takes on disk.
    pub fn disk_usage(&self) -> u64 {
        store::disk_usage(&self.dir).unwrap_or(0)
    }
}

/// Copies a commit, its tree and its blobs from one repository to another, writing only
/// the objects the other lacks (as loose objects: a switch keeps a few revisions, which
/// mostly share their blobs with the fetched one). Each object is written after what it
/// refers to, so one that is there is whole, and what is there is not read again.
fn copy_commit(from: &gix::Repository, to: &gix::Repository, commit: &str) -> Result<(), String> {
    use gix::objs::Write as _;
    enum Step {
        Visit(gix::ObjectId),
        Write(gix::objs::Kind, Vec<u8>),
    }
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| e.to_string())?;
    let hash = from.object_hash();
    let mut steps = vec![Step::Visit(id)];
    while let Some(step) = steps.pop() {
        let id = match step {
            Step::Write(kind, data) => {
                to.objects
                    .write_buf(kind, &data)
                    .map_err(|e| e.to_string())?;
                continue;
            }
            Step::Visit(id) if to.has_object(id) => continue,
            Step::Visit(id) => id,
        };
        let object = from.find_object(id).map_err(|e| e.to_string())?.detach();
        let mut children = Vec::new();
        match object.kind {
            gix::objs::Kind::Commit => children.push(
                gix::objs::CommitRef::from_bytes(&object.data, hash)
                    .map_err(|e| e.to_string())?
                    .tree(),
            ),
            gix::objs::Kind::Tree => {
                let tree = gix::objs::TreeRef::from_bytes(&object.data, hash)
                    .map_err(|e| e.to_string())?;
                // A submodule's commit is not in this repository.
                children.extend(
                    tree.entries
                        .iter()
                        .filter(|e| !e.mode.is_commit())
                        .map(|e| e.oid.to_owned()),
                );
            }
            _ => {}
        }
        steps.push(Step::Write(object.kind, object.data));
        steps.extend(children.into_iter().map(Step::Visit));
    }
    Ok(())
}

/// Checks that a commit and every blob of its tree are present, decompress
/// and hash to their ids.
pub(super) fn verify(repo: &gix::Repository, commit: &str) -> Result<(), String> {
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
