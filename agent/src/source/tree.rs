//! Reading a revision from the object database (no work tree): the files under a sync's
//! path, the rest of the revision for kustomizations and charts, links resolved inside the
//! repository only; and a folder's manifests for `plumb render DIR`.

use super::*;

impl GitSource {
    /// The repository and the id of `commit`'s tree.
    pub(super) fn tree_of(
        &self,
        commit: &str,
    ) -> Result<(gix::Repository, gix::ObjectId), SourceError> {
        let repo = self.repo()?;
        let tree = gix::ObjectId::from_hex(commit.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|id| repo.find_commit(id).map_err(|e| e.to_string()))
            .and_then(|c| c.tree_id().map(|t| t.detach()).map_err(|e| e.to_string()))
            .map_err(|cause| self.local(repo.git_dir(), cause))?;
        Ok((repo, tree))
    }

    /// Who made `commit` and what it says; None when it cannot be read (the history and
    /// Events then name the commit alone).
    pub fn commit_info(&self, commit: &str) -> Option<crate::history::CommitInfo> {
        let repo = self.repo().ok()?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).ok()?;
        let found = repo.find_commit(id).ok()?;
        let author = found.author().ok()?;
        let subject = found.message().ok()?.summary().to_string();
        let committed_at = found
            .time()
            .ok()
            .map(|t| crate::clock::rfc3339(t.seconds))
            .unwrap_or_default();
        Some(crate::history::CommitInfo {
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name.trim_ascii()),
                String::from_utf8_lossy(author.email.trim_ascii())
            )
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
            subject: subject
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
            committed_at,
        })
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
    pub(super) fn link_target(
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
}

/// The repository path a link at `link` (a repository path) to `target`
/// names, or None when it leaves the repository (absolute, or too many `..`).
pub(super) fn resolve_link(link: &str, target: &str) -> Option<String> {
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
