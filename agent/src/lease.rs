//! Leader election over one coordination.k8s.io/v1 Lease (`plumb` in
//! `plumb-system`) for the whole installation, so that of several Pis only
//! one polls Git, applies and prunes.
//!
//! Expiry is judged as client-go does: by this node's monotonic clock since
//! it last saw the Lease change, never by comparing wall-clock timestamps (a
//! Pi has no hardware clock). A holder that fails to renew in time closes its
//! [`Gate`] at once, and the Kubernetes client refuses writes through a
//! closed gate. The decision is [`decide`], a pure function.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

use crate::kube::{ApiResource, Client, Error};
use crate::prune::SYSTEM_NAMESPACE;

/// The Lease's name.
pub const LEASE_NAME: &str = "plumb";

/// Whether this node may write, and until when.
#[derive(Debug, Default)]
pub struct Gate {
    valid_until: Mutex<Option<Instant>>,
}

impl crate::kube::client::WriteGate for Gate {
    fn is_open(&self) -> bool {
        Gate::is_open(self)
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// True while this node holds a Lease it renewed recently enough.
    pub fn is_open(&self) -> bool {
        self.valid_until
            .lock()
            .unwrap()
            .is_some_and(|until| Instant::now() < until)
    }

    fn open_until(&self, until: Instant) {
        *self.valid_until.lock().unwrap() = Some(until);
    }

    fn close(&self) {
        *self.valid_until.lock().unwrap() = None;
    }
}

/// What this node last saw of the Lease, by its own clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The Lease's resourceVersion (it changes on every renewal).
    pub resource_version: String,
    /// When this node first saw that version.
    pub since: Instant,
}

/// What to do with the Lease now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew.
    Renew,
    /// Free, or its holder stopped renewing: take it.
    Acquire,
    /// Someone else holds it and renews: wait (and remember this version).
    Wait {
        /// The holder, for messages.
        holder: String,
    },
}

/// Decides from the Lease as read now and what was seen before.
pub fn decide(
    me: &str,
    holder: Option<&str>,
    resource_version: &str,
    seen: Option<&Observation>,
    duration: Duration,
    now: Instant,
) -> Decision {
    match holder {
        Some(h) if h == me => Decision::Renew,
        None | Some("") => Decision::Acquire,
        Some(h) => match seen {
            Some(o)
                if o.resource_version == resource_version
                    && now.duration_since(o.since) >= duration =>
            {
                Decision::Acquire
            }
            _ => Decision::Wait {
                holder: h.to_owned(),
            },
        },
    }
}

/// Renews the lease on a thread of its own while a one-shot run works, so a
/// `plumb reconcile` longer than the lease keeps its right to write; stops
/// (and joins the thread) when dropped.
pub struct Renewer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Renewer {
    /// Steps `elector` every `every` until dropped.
    pub fn spawn(mut elector: Elector, client: Arc<Client>, every: Duration) -> Renewer {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("plumb-lease".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    match elector.step(&client) {
                        Ok(Standing::Leader) => {}
                        Ok(Standing::Standby { holder }) => {
                            tracing::warn!(%holder, "another node took the leader lease: this run stops writing")
                        }
                        Err(e) => tracing::warn!(error = %e, "renewing the leader lease failed"),
                    }
                }
            });
        match thread {
            Ok(thread) => Renewer {
                stop: Some(stop),
                thread: Some(thread),
            },
            // Without a thread the gate runs out after one lease, as before.
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the lease renewal thread");
                Renewer {
                    stop: None,
                    thread: None,
                }
            }
        }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Takes part in the election for one node.
pub struct Elector {
    me: String,
    duration: Duration,
    seen: Option<Observation>,
    gate: Arc<Gate>,
}

/// The outcome of one election step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// This node leads.
    Leader,
    /// Another node leads.
    Standby {
        /// Who.
        holder: String,
    },
}

impl Elector {
    /// An elector for node `me`, with the given lease duration, opening `gate` while leading.
    pub fn new(me: &str, duration: Duration, gate: Arc<Gate>) -> Elector {
        Elector {
            me: me.to_owned(),
            duration,
            seen: None,
            gate,
        }
    }

    /// One step: read the Lease, then renew, take or wait. Errors while
    /// leading close the gate only once the last renewal has run out.
    pub fn step(&mut self, client: &Client) -> Result<Standing, Error> {
        let started = Instant::now();
        let result = self.step_inner(client, started);
        match &result {
            Ok(Standing::Leader) => self.gate.open_until(started + self.duration),
            Ok(Standing::Standby { .. }) => self.gate.close(),
            // The gate runs out by itself: a holder that cannot renew stops writing in time.
            Err(_) => {}
        }
        result
    }

    fn step_inner(&mut self, client: &Client, now: Instant) -> Result<Standing, Error> {
        let resource = ApiResource::lease();
        let Some(lease) =
            client.get_typed::<Lease>(&resource, Some(SYSTEM_NAMESPACE), LEASE_NAME)?
        else {
            client.create(&resource, Some(SYSTEM_NAMESPACE), &self.lease(None, 0))?;
            tracing::info!(node = %self.me, "took the lease (new)");
            return Ok(Standing::Leader);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        // The holder's own duration decides how long its silence must last.
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(s.max(1) as u64))
            .unwrap_or(self.duration);
        let decision = decide(
            &self.me,
            spec.holder_identity.as_deref(),
            &rv,
            self.seen.as_ref(),
            duration,
            now,
        );
        match decision {
            Decision::Renew | Decision::Acquire => {
                let transitions =
                    spec.lease_transitions.unwrap_or(0) + i32::from(decision == Decision::Acquire);
                let mut next = self.lease(Some(rv.clone()), transitions);
                if decision == Decision::Renew {
                    next.spec.as_mut().expect("set").acquire_time = spec.acquire_time.clone();
                }
                match client.update(&resource, Some(SYSTEM_NAMESPACE), LEASE_NAME, &next) {
                    Ok(_) => {
                        if decision == Decision::Acquire {
                            tracing::info!(node = %self.me, previous = ?spec.holder_identity, "took the lease");
                        }
                        self.seen = None;
                        Ok(Standing::Leader)
                    }
                    // Someone else changed it first: they lead.
                    Err(Error::Conflict { .. }) => {
                        self.gate.close();
                        self.seen = None;
                        Ok(Standing::Standby {
                            holder: "another node".into(),
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            Decision::Wait { holder } => {
                if self.seen.as_ref().map(|o| &o.resource_version) != Some(&rv) {
                    self.seen = Some(Observation {
                        resource_version: rv,
                        since: now,
                    });
                }
                Ok(Standing::Standby { holder })
            }
        }
    }

    fn lease(&self, resource_version: Option<String>, transitions: i32) -> Lease {
        let now = MicroTime(crate::clock::timestamp());
        Lease {
            metadata: ObjectMeta {
                name: Some(LEASE_NAME.into()),
                namespace: Some(SYSTEM_NAMESPACE.into()),
                resource_version,
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.me.clone()),
                lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(transitions),
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_local_clock() {
        let d = Duration::from_secs(60);
        let t0 = Instant::now();
        assert_eq!(decide("a", Some("a"), "1", None, d, t0), Decision::Renew);
        assert_eq!(decide("a", None, "1", None, d, t0), Decision::Acquire);
        assert_eq!(decide("a", Some(""), "1", None, d, t0), Decision::Acquire);
        // First sight of b's lease: wait, whatever its timestamps say.
        assert_eq!(
            decide("a", Some("b"), "1", None, d, t0),
            Decision::Wait { holder: "b".into() }
        );
        let seen = Observation {
            resource_version: "1".into(),
            since: t0,
        };
        assert_eq!(
            decide(
                "a",
                Some("b"),
                "1",
                Some(&seen),
                d,
                t0 + Duration::from_secs(30)
            ),
            Decision::Wait { holder: "b".into() }
        );
        // Unchanged for a whole duration by our clock: b is gone.
        assert_eq!(
            decide("a", Some("b"), "1", Some(&seen), d, t0 + d),
            Decision::Acquire
        );
        // b renewed (a new version): wait again.
        assert_eq!(
            decide("a", Some("b"), "2", Some(&seen), d, t0 + d),
            Decision::Wait { holder: "b".into() }
        );
    }

    #[test]
    fn a_gate_runs_out_by_itself() {
        let gate = Gate::new();
        assert!(!gate.is_open());
        gate.open_until(Instant::now() + Duration::from_secs(60));
        assert!(gate.is_open());
        gate.open_until(Instant::now());
        assert!(!gate.is_open());
    }
}
