//! The revision a cycle reconciles, and what a sync remembers between cycles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config;
use crate::render::{self, File, ObjectRef};

/// The revision to reconcile: its id (a commit), the manifests under the
/// sync's path, and where render reads them from.
#[derive(Debug, Clone)]
pub struct Revision {
    /// Commit id, or another stable id for a plain folder.
    pub id: String,
    /// The manifests `render::select` chose under the sync's path, sorted
    /// (paths relative to the revision's top).
    pub selected: Vec<String>,
    /// Where their contents are.
    pub tree: Tree,
    /// Who made the commit and what it says (None for a folder).
    pub commit: Option<crate::history::CommitInfo>,
}

/// Where render reads a revision's files.
#[derive(Debug, Clone)]
pub enum Tree {
    /// In memory: the selected files, and every other file of a Git revision
    /// when a kustomization is among them (it may refer to any folder).
    Files(Vec<File>),
    /// A folder on disk (`plumb render DIR`), read as needed.
    Folder(PathBuf),
}

impl Tree {
    /// The files, as render reads them.
    pub fn fs(&self) -> Box<dyn render::kustomize::Fs + '_> {
        match self {
            Tree::Files(files) => Box::new(render::kustomize::MemFs::new(files)),
            Tree::Folder(root) => Box::new(render::kustomize::DirFs { root: root.clone() }),
        }
    }
}

impl Revision {
    /// Reads what `sync` renders at `commit`.
    pub fn read(
        source: &mut crate::source::GitSource,
        sync: &config::Sync,
        commit: &str,
    ) -> Result<Revision, crate::source::SourceError> {
        let mut files = source.files(commit, &sync.path, &sync.exclude)?;
        let selected: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        if selected
            .iter()
            .any(|p| render::is_kustomization(p) || render::helm::is_chart_file(p))
        {
            let rest = source.other_files(commit, &files)?;
            files.extend(rest);
        }
        Ok(Revision {
            id: commit.to_owned(),
            selected,
            tree: Tree::Files(files),
            commit: source.commit_info(commit),
        })
    }
}

/// What a sync remembers between cycles; kept in memory by the daemon and
/// in `stateDir/syncs/<name>.json` for one-shot runs and restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMemory {
    /// The revision in force.
    #[serde(default)]
    pub applied: Option<String>,
    /// Fingerprint of each object, taken after plumb's own apply or check.
    #[serde(default)]
    pub fingerprints: Vec<(ObjectRef, String)>,
    /// Hash of each object as plumb last applied it, so unchanged ones are not sent again.
    #[serde(default)]
    pub applied_hashes: Vec<(ObjectRef, String)>,
    /// For a revision with charts, the digest of the chart inputs it was applied with
    /// (values read from the cluster, capabilities): a change is applied as a new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_inputs: Option<String>,
}

impl SyncMemory {
    fn path(state_dir: &Path, sync: &str) -> PathBuf {
        state_dir.join("syncs").join(format!("{sync}.json"))
    }

    /// Reads the local state; a missing or unreadable file is an empty memory.
    pub fn load(state_dir: &Path, sync: &str) -> SyncMemory {
        std::fs::read(Self::path(state_dir, sync))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the local state atomically, only when it changed.
    pub fn save(&self, state_dir: &Path, sync: &str) -> std::io::Result<bool> {
        let path = Self::path(state_dir, sync);
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        let bytes = serde_json::to_vec(self).expect("serialisable");
        crate::store::write_if_changed(&path, &bytes)
    }

    pub(super) fn fingerprint_map(&self) -> BTreeMap<ObjectRef, String> {
        self.fingerprints.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trips_and_saves_only_changes() {
        let dir = std::env::temp_dir().join(format!("plumb-mem-{}", std::process::id()));
        let key = ObjectRef {
            group: "".into(),
            kind: "ConfigMap".into(),
            namespace: "a".into(),
            name: "b".into(),
        };
        let memory = SyncMemory {
            applied: Some("abc".into()),
            fingerprints: vec![(key.clone(), "rv1".into())],
            applied_hashes: vec![(key, "h".into())],
            chart_inputs: Some("d".into()),
        };
        assert!(memory.save(&dir, "apps").unwrap());
        assert!(!memory.save(&dir, "apps").unwrap());
        assert_eq!(SyncMemory::load(&dir, "apps"), memory);
        assert_eq!(SyncMemory::load(&dir, "other"), SyncMemory::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
