//! What the daemon holds for the status page: each sync's status, history, inventory and
//! last drift, kept from its cycles' reports, so that a page view sends no request to the
//! API server. A standby node runs no cycles: it reads the parents and histories when the
//! page is looked at, at most once per interval. The history of a sync whose cycles have
//! not written it since plumb started is read once, on the first view.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::kube::Cluster;
use crate::page::{self, SyncView};
use crate::reconcile::CycleReport;

/// The page's memory of the syncs.
pub struct Board {
    node: String,
    /// How long a standby's reads stay good: the shortest sync interval.
    stale_after: Duration,
    inner: Mutex<Inner>,
    /// Held while reading: a view that finds a read under way shows what is there.
    reading: Mutex<()>,
}

#[derive(Default)]
struct Inner {
    /// None while leading; the holder (or "") while standing by.
    standby_for: Option<String>,
    order: Vec<String>,
    syncs: BTreeMap<String, Held>,
    /// When a standby last read the parents.
    read_at: Option<Instant>,
}

#[derive(Default, Clone)]
struct Held {
    view: SyncView,
    /// The inventory `view.objects` was made from: an idle cycle's is the same, and is not
    /// turned into text again.
    inventory: std::collections::BTreeSet<crate::render::ObjectRef>,
    /// The history is the one in the cluster (written by a cycle, or read).
    history_known: bool,
}

impl Board {
    /// A board for these syncs, nothing known yet.
    pub fn new(node: &str, syncs: &[crate::config::Sync]) -> Board {
        let inner = Inner {
            standby_for: None,
            order: syncs.iter().map(|s| s.name.clone()).collect(),
            syncs: syncs
                .iter()
                .map(|s| {
                    let held = Held {
                        view: SyncView {
                            name: s.name.clone(),
                            unknown: true,
                            ..Default::default()
                        },
                        history_known: s.history_limit == 0,
                        inventory: Default::default(),
                    };
                    (s.name.clone(), held)
                })
                .collect(),
            read_at: None,
        };
        Board {
            node: node.to_owned(),
            stale_after: syncs
                .iter()
                .map(|s| s.interval)
                .min()
                .unwrap_or(Duration::from_secs(60)),
            inner: Mutex::new(inner),
            reading: Mutex::new(()),
        }
    }

    /// Keeps what a cycle reported.
    pub fn after_cycle(&self, report: &CycleReport) {
        let mut inner = self.inner.lock().unwrap();
        let Some(held) = inner.syncs.get_mut(&report.sync) else {
            return;
        };
        match &report.inventory {
            Some(inventory) if *inventory != held.inventory || held.view.unknown => {
                held.view.objects = inventory.iter().map(|o| o.to_string()).collect();
                held.inventory = inventory.clone();
            }
            _ => {}
        }
        let view = &mut held.view;
        view.unknown = false;
        view.status = report.status.clone();
        if let Some(history) = &report.history {
            view.history = history.clone();
            held.history_known = true;
        }
        if !report.drifted.is_empty() {
            let lines = report.drifted.iter().map(|d| d.describe()).collect();
            view.last_drift = Some((crate::clock::now(), lines));
        }
    }

    /// Whether this node leads; when not, who does (as the Lease says).
    pub fn leading(&self, leading: bool, holder: Option<&str>) {
        let mut inner = self.inner.lock().unwrap();
        inner.standby_for = if leading {
            None
        } else {
            Some(holder.unwrap_or_default().to_owned())
        };
    }

    /// What the page needs read from the cluster first, if anything: a standby's stale
    /// parents, or histories never read.
    pub fn needs_reading(&self) -> bool {
        let inner = self.inner.lock().unwrap();
        let standby_stale = inner.standby_for.is_some()
            && inner
                .read_at
                .is_none_or(|at| at.elapsed() >= self.stale_after);
        standby_stale || inner.syncs.values().any(|h| !h.history_known)
    }

    /// Reads what [`Board::needs_reading`] said (blocking: a few GETs); one read at a time.
    pub fn read(&self, client: &dyn Cluster) {
        let Ok(_reading) = self.reading.try_lock() else {
            return;
        };
        let (standby, names): (bool, Vec<(String, bool)>) = {
            let inner = self.inner.lock().unwrap();
            let standby = inner.standby_for.is_some()
                && inner
                    .read_at
                    .is_none_or(|at| at.elapsed() >= self.stale_after);
            (
                standby,
                inner
                    .order
                    .iter()
                    .map(|n| (n.clone(), inner.syncs[n].history_known))
                    .collect(),
            )
        };
        for (name, history_known) in names {
            let parent = if standby {
                match crate::report::get_parent(client, &name) {
                    Ok(parent) => parent
                        .as_ref()
                        .and_then(|p| crate::report::read_parent(Some(p)).ok()),
                    Err(e) => {
                        tracing::debug!(sync = %name, error = %e, "the status page could not read the parent");
                        None
                    }
                }
            } else {
                None
            };
            let history = (standby || !history_known).then(|| {
                crate::history::read(client, &name).unwrap_or_else(|e| {
                    // Not tried again on every view: a cycle that writes it brings it.
                    tracing::debug!(sync = %name, error = %e, "the status page could not read the history");
                    Vec::new()
                })
            });
            let mut inner = self.inner.lock().unwrap();
            let held = inner.syncs.get_mut(&name).expect("a sync of the board");
            if let Some((inventory, status)) = parent {
                held.view.unknown = false;
                held.view.status = status;
                held.view.objects = inventory.members.iter().map(|o| o.to_string()).collect();
                held.inventory = inventory.members;
            }
            if let Some(history) = history {
                held.view.history = history;
                held.history_known = true;
            }
        }
        if standby {
            self.inner.lock().unwrap().read_at = Some(Instant::now());
        }
    }

    /// The board as the page renders it, now.
    pub fn snapshot(&self) -> page::Board {
        let inner = self.inner.lock().unwrap();
        page::Board {
            node: self.node.clone(),
            standby_for: inner.standby_for.clone(),
            syncs: inner
                .order
                .iter()
                .map(|n| inner.syncs[n].view.clone())
                .collect(),
            now: crate::clock::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::memory::MemoryCluster;

    fn sync() -> crate::config::Sync {
        let text = "sources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs: [{name: web, source: a}]\n";
        crate::config::Settings::from_yaml(text, std::path::Path::new("plumb.yaml"))
            .unwrap()
            .syncs
            .remove(0)
    }

    fn gets(cluster: &MemoryCluster) -> Vec<String> {
        cluster
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.verb, r.name))
            .collect()
    }

    #[test]
    fn a_leader_reads_a_history_once_and_a_standby_at_most_once_per_interval() {
        let board = Board::new("pi-1", &[sync()]);
        let cluster = MemoryCluster::default();
        assert!(board.needs_reading(), "the history was never read");
        board.read(&cluster);
        assert_eq!(gets(&cluster), ["get plumb-web-history"]);
        assert!(!board.needs_reading(), "a leader holds the rest");
        assert!(board.snapshot().syncs[0].unknown, "no cycle ran yet");

        board.leading(false, Some("pi-2"));
        assert!(board.needs_reading());
        cluster.forget_requests();
        board.read(&cluster);
        assert_eq!(gets(&cluster), ["get plumb-web", "get plumb-web-history"]);
        assert!(!board.needs_reading(), "read again within the interval");
        assert_eq!(board.snapshot().standby_for.as_deref(), Some("pi-2"));
    }

    #[test]
    fn a_cycle_fills_what_the_page_shows() {
        let board = Board::new("pi-1", &[sync()]);
        let mut report = CycleReport::new("web", &"a".repeat(40));
        let object = crate::render::ObjectRef {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "apps".into(),
            name: "a".into(),
        };
        report.inventory = Some([object.clone()].into());
        report.history = Some(vec![crate::history::Entry::default()]);
        report.drifted = vec![crate::drift::Drift {
            object,
            fields: vec!["data.key".into()],
            managers: vec!["kubectl-edit".into()],
        }];
        board.after_cycle(&report);
        assert!(!board.needs_reading(), "the cycle wrote the history");
        let view = &board.snapshot().syncs[0];
        assert!(!view.unknown);
        assert_eq!(view.objects, ["ConfigMap apps/a"]);
        assert_eq!(
            view.last_drift.as_ref().unwrap().1,
            ["ConfigMap apps/a: data.key by kubectl-edit"]
        );
        // A cycle that opened no parent leaves the objects as they were.
        board.after_cycle(&CycleReport::new("web", ""));
        assert_eq!(board.snapshot().syncs[0].objects.len(), 1);
    }
}
