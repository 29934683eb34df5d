//! systemd integration: `READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`
//! sent to `$NOTIFY_SOCKET` (the sd_notify protocol: one datagram each).
//! Without systemd (no `NOTIFY_SOCKET`) every call does nothing; a failed
//! send is logged, never fatal. The protocol is one `sendto`; a crate would
//! add nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends one notification; harmless without systemd.
pub fn send(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = (|| -> std::io::Result<()> {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            socket.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, when systemd set one.
pub fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// What each sync is doing, for the watchdog and `STATUS=`.
#[derive(Default)]
pub struct Liveness {
    syncs: Mutex<BTreeMap<String, SyncLiveness>>,
}

#[derive(Clone)]
struct SyncLiveness {
    /// When the cycle in progress started, if one is.
    cycle_started: Option<Instant>,
    /// How long a cycle may take before it counts as a hang.
    deadline: Duration,
    /// One line: the last cycle's summary.
    summary: String,
}

impl Liveness {
    /// A shared, empty record.
    pub fn new() -> Arc<Liveness> {
        Arc::new(Liveness::default())
    }

    /// A sync starts a cycle that may take up to `deadline`.
    pub fn cycle_started(&self, sync: &str, deadline: Duration) {
        let mut syncs = self.syncs.lock().unwrap();
        let entry = syncs.entry(sync.to_owned()).or_insert(SyncLiveness {
            cycle_started: None,
            deadline,
            summary: format!("{sync}: starting"),
        });
        entry.cycle_started = Some(Instant::now());
        entry.deadline = deadline;
    }

    /// A sync finished a cycle.
    pub fn cycle_finished(&self, sync: &str, summary: String) {
        if let Some(entry) = self.syncs.lock().unwrap().get_mut(sync) {
            entry.cycle_started = None;
            entry.summary = summary;
        }
    }

    /// Forgets every sync (a reload starts anew).
    pub fn clear(&self) {
        self.syncs.lock().unwrap().clear();
    }

    /// Syncs stuck in a cycle past their deadline.
    pub fn stuck(&self) -> Vec<String> {
        self.syncs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.cycle_started.is_some_and(|at| at.elapsed() > s.deadline))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `STATUS=` text: each sync's last summary.
    pub fn status_line(&self) -> String {
        let syncs = self.syncs.lock().unwrap();
        syncs
            .values()
            .map(|s| s.summary.clone())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_past_its_deadline_is_stuck() {
        let l = Liveness::new();
        l.cycle_started("a", Duration::from_secs(3600));
        l.cycle_started("b", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(l.stuck(), ["b"]);
        l.cycle_finished("b", "b: rev 1234567 Ready, 3 objects".into());
        assert!(l.stuck().is_empty());
        assert_eq!(
            l.status_line(),
            "a: starting; b: rev 1234567 Ready, 3 objects"
        );
        l.clear();
        assert_eq!(l.status_line(), "");
    }
}
