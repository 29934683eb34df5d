//! `plumb run`: every sync on its own jittered interval, until SIGTERM.
//!
//! Signals: SIGTERM and SIGINT stop (state files are written atomically, so
//! stopping mid-cycle leaves nothing half-written); SIGHUP reloads the config
//! (a broken one is refused and the old one keeps running); SIGUSR1 makes
//! every sync reconcile now. The next wait is [`next_wait`], a pure function.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{watch, Notify};

use crate::config::{self, Settings};
use crate::error::{Error, Verdict};
use crate::kube::Client;
use crate::lease::{Elector, Gate, Standing};
use crate::metrics::Metrics;
use crate::notify::{self, Liveness};
use crate::reconcile::{self, Context, SyncMemory};
use crate::source::{self, GitSource};

/// The longest wait after repeated failures.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// How long to wait before a sync's next cycle: the interval × (1 ± jitter)
/// after a success; after `failures` failures in a row, full-jitter
/// exponential backoff from 5 s, capped at [`BACKOFF_CAP`] and at the
/// interval. `random` is uniform in [0, 1).
pub fn next_wait(interval: Duration, jitter: f64, failures: u32, random: f64) -> Duration {
    if failures == 0 {
        let factor = 1.0 + jitter * (2.0 * random - 1.0);
        return interval.mul_f64(factor.max(0.0));
    }
    let ceiling = Duration::from_secs(5)
        .saturating_mul(1u32 << (failures - 1).min(16))
        .min(BACKOFF_CAP)
        .min(interval.max(Duration::from_secs(5)));
    ceiling.mul_f64(random)
}

static RELEASE_MEMORY: OnceLock<fn()> = OnceLock::new();

/// Sets what returns the allocator's free memory to the OS, run on a cycle's
/// thread when the cycle is over. The binary sets it, as it chooses the
/// allocator: mimalloc otherwise keeps much of a cycle's peak resident
/// through the idle wait that follows (measured: 3.5 MB more per idle daemon).
pub fn release_memory_with(release: fn()) {
    let _ = RELEASE_MEMORY.set(release);
}

/// Whether a source whose last poll began `since` ago is due again. A sync on the
/// source's own interval wakes interval × (1 − jitter) after its last cycle at the
/// soonest, so a poll that began that long ago is due: were it not, such a sync would
/// poll every other cycle, and a new commit would wait up to twice the interval.
fn poll_due(since: Option<Duration>, interval: Duration, jitter: f64) -> bool {
    since.is_none_or(|since| since >= interval.mul_f64((1.0 - jitter).max(0.0)))
}

/// A source shared by the syncs that read it, polled at most once per its interval
/// (less its jitter).
struct SharedSource {
    name: String,
    source: GitSource,
    interval: Duration,
    jitter: f64,
    /// When the last good poll began, and what it found.
    last_poll: Option<(Instant, source::Fetched)>,
    metrics: Arc<Metrics>,
}

impl SharedSource {
    /// The commit to reconcile: polls when the last poll is due (or `force`),
    /// serves the last good one on failure.
    fn commit(
        &mut self,
        force: bool,
        warnings: &mut Vec<String>,
    ) -> Result<source::Fetched, source::SourceError> {
        if let Some((at, fetched)) = &self.last_poll {
            if !force && !poll_due(Some(at.elapsed()), self.interval, self.jitter) {
                return Ok(fetched.clone());
            }
        }
        let (started, size_before) = (Instant::now(), self.source.disk_usage());
        let commit = self.source.newest_or_last_good(warnings);
        let grew = self.source.disk_usage().saturating_sub(size_before);
        self.metrics
            .fetch(&self.name, started.elapsed().as_secs_f64(), grew);
        let commit = commit?;
        self.last_poll = Some((started, commit.clone()));
        Ok(commit)
    }
}

/// The files the config names beyond sources' credentials, read as the daemon will: the
/// status page's auth file, the notifiers' URL, token and CA files.
fn check_files(settings: &Settings) -> Result<(), Error> {
    crate::notifications::Notifiers::check(&settings.notify).map_err(Error::Usage)?;
    if let Some(addr) = settings.listen {
        crate::metrics::Access::of(settings, addr).map_err(Error::Usage)?;
    }
    Ok(())
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config_path: PathBuf, context: Option<String>) -> Result<Verdict, Error> {
    let settings = Settings::load(&config_path)?;
    check_files(&settings)?;
    let _lock = crate::store::lock_state_dir(&settings.state_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
        .map_err(|e| Error::Setup {
            doing: "start the async runtime",
            source: e,
        })?;
    let result = runtime.block_on(supervise(config_path, context, settings));
    // Cycles in flight are abandoned: every file plumb writes is atomic.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn supervise(
    config_path: PathBuf,
    context: Option<String>,
    mut settings: Settings,
) -> Result<Verdict, Error> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::Setup {
        doing: "handle SIGTERM",
        source: e,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Setup {
        doing: "handle SIGINT",
        source: e,
    })?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| Error::Setup {
        doing: "handle SIGHUP",
        source: e,
    })?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(|e| Error::Setup {
        doing: "handle SIGUSR1",
        source: e,
    })?;
    let liveness = Liveness::new();
    if let Some(period) = notify::watchdog_period() {
        tokio::spawn(watchdog(liveness.clone(), period));
    }
    let metrics = Metrics::new();
    let site: crate::metrics::SiteSlot = Default::default();
    let mut server = settings.listen.map(|addr| {
        tokio::spawn(serve_logged(
            addr,
            metrics.clone(),
            liveness.clone(),
            site.clone(),
        ))
    });
    let mut serving = settings.listen;
    let mut connected = crate::cli::connect(&settings, context.as_deref())?;
    loop {
        let election = &settings.leader_election;
        let gate = Gate::new();
        if settings.listen != serving {
            // A reload moved the listener.
            if let Some(old) = server.take() {
                old.abort();
            }
            server = settings.listen.map(|addr| {
                tokio::spawn(serve_logged(
                    addr,
                    metrics.clone(),
                    liveness.clone(),
                    site.clone(),
                ))
            });
            serving = settings.listen;
        }
        let mut client = connected.with_observer(metrics.clone());
        if election.enabled {
            // The Lease lives in plumb-system, which must exist before anyone leads.
            if let Err(e) = crate::report::ensure_system_namespace(&client) {
                tracing::warn!(error = %e, "could not make sure plumb-system exists");
            }
            client = client.with_write_gate(gate.clone());
        }
        let client = Arc::new(client);
        // Checked before the first generation and before a reload is taken: a file that
        // changed since is logged, and that part goes without.
        let notifiers = Arc::new(
            crate::notifications::Notifiers::start(
                &settings.notify,
                &settings.node_name,
                &crate::kube::user_agent(&settings.node_name),
                crate::notifications::remember_in(client.clone()),
            )
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "the notifiers cannot start: nothing will be notified");
                crate::notifications::Notifiers::none()
            }),
        );
        let board = Arc::new(crate::board::Board::new(
            &settings.node_name,
            &settings.syncs,
        ));
        if election.enabled {
            // Until the first election step says otherwise.
            board.leading(false, None);
        }
        if let Some(addr) = settings.listen {
            let access = crate::metrics::Access::of(&settings, addr).unwrap_or_else(|e| {
                tracing::error!(error = %e, "the status page is off");
                crate::metrics::Access::Refused
            });
            if access == crate::metrics::Access::Refused {
                tracing::warn!(%addr, "the status page is off: listen is not a loopback address and neither listenAuth nor listenPublic is set");
            }
            *site.lock().unwrap() = Some(Arc::new(crate::metrics::Site {
                board: board.clone(),
                client: client.clone(),
                access,
            }));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let now = Arc::new(Notify::new());
        // Without election this node always leads.
        let (leading_tx, leading_rx) = watch::channel(!election.enabled);
        let wiring = Wiring {
            board: board.clone(),
            notifiers: notifiers.clone(),
            client: client.clone(),
            stop: stop_rx.clone(),
            now: now.clone(),
            liveness: liveness.clone(),
            metrics: metrics.clone(),
            leading: leading_rx,
        };
        let mut tasks = start(&settings, &wiring)?;
        if election.enabled {
            let elector = Elector::new(&settings.node_name, election.lease_duration, gate.clone());
            let syncs: Vec<String> = settings.syncs.iter().map(|s| s.name.clone()).collect();
            tasks.push(tokio::spawn(elect(
                elector,
                wiring,
                gate,
                election.renew_every,
                leading_tx,
                syncs,
            )));
        } else {
            for sync in &settings.syncs {
                metrics.leading(&sync.name, true);
            }
        }
        tracing::info!(syncs = settings.syncs.len(), "plumb is running");
        notify::send("READY=1");
        let reload = loop {
            tokio::select! {
                _ = term.recv() => break None,
                _ = int.recv() => break None,
                _ = usr1.recv() => {
                    tracing::info!("SIGUSR1: reconciling every sync now");
                    now.notify_waiters();
                }
                // A reload is checked whole (config and kubeconfig) before it
                // replaces the running one: a broken kubeconfig keeps the old.
                _ = hup.recv() => match Settings::load(&config_path).map_err(Error::from).and_then(|new| {
                    check_files(&new)?;
                    let client = crate::cli::connect(&new, context.as_deref())?;
                    Ok((new, client))
                }) {
                    Ok((new, client)) => {
                        tracing::info!("SIGHUP: configuration reloaded");
                        settings = new;
                        break Some(client);
                    }
                    Err(e) => tracing::error!(error = %e, "SIGHUP: the new configuration is refused; the old one keeps running"),
                },
            }
        };
        let _ = stop_tx.send(true);
        // What is queued goes out, briefly (a stop or reload waits for no receiver), off the
        // runtime's one thread.
        let drain = |notifiers: Arc<crate::notifications::Notifiers>| {
            tokio::task::spawn_blocking(move || notifiers.finish(Duration::from_secs(2)))
        };
        let Some(client) = reload else {
            tracing::info!("stopping");
            notify::send("STOPPING=1");
            let _ = drain(notifiers).await;
            return Ok(Verdict::Yes);
        };
        connected = client;
        notify::send("RELOADING=1");
        // Let the syncs finish the cycle they are in (and queue what it tells) before the
        // new config takes over.
        for task in tasks {
            let _ = task.await;
        }
        let _ = drain(notifiers).await;
        liveness.clear();
    }
}

async fn serve_logged(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    liveness: Arc<Liveness>,
    site: crate::metrics::SiteSlot,
) {
    if let Err(e) = crate::metrics::serve(addr, metrics, liveness, site).await {
        tracing::error!(%addr, error = %e, "cannot serve /metrics, /healthz and /readyz");
    }
}

/// Takes part in the election every `renew_every` (renewing while leading,
/// watching the Lease while standing by) and tells the syncs whether to work.
async fn elect(
    elector: Elector,
    wiring: Wiring,
    gate: Arc<Gate>,
    renew_every: Duration,
    leading: watch::Sender<bool>,
    syncs: Vec<String>,
) {
    let elector = Arc::new(Mutex::new(elector));
    let mut stop = wiring.stop.clone();
    loop {
        // A thread of its own, not tokio's blocking pool: cycles that sleep
        // through health waits fill that pool and would starve renewals.
        let (e, c) = (elector.clone(), wiring.client.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("plumb-lease".into())
            .spawn(move || {
                let _ = tx.send(e.lock().unwrap().step(&c));
            });
        if let Err(e) = &spawned {
            tracing::warn!(error = %e, "cannot start the leader election thread");
        }
        match rx.await {
            Ok(Ok(Standing::Leader)) => {
                if !*leading.borrow() {
                    tracing::info!("this node leads: reconciling");
                    wiring.notifiers.forget_told();
                }
                wiring.board.leading(true, None);
            }
            Ok(Ok(Standing::Standby { holder })) => {
                if *leading.borrow() || gate.is_open() {
                    tracing::warn!(%holder, "this node no longer leads: standing by");
                }
                wiring.board.leading(false, Some(&holder));
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election step failed"),
            Err(_) => {}
        }
        let _ = leading.send_if_modified(|was| {
            let now = gate.is_open();
            std::mem::replace(was, now) != now
        });
        for sync in &syncs {
            wiring.metrics.leading(sync, gate.is_open());
        }
        tokio::select! {
            _ = tokio::time::sleep(renew_every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Pings systemd's watchdog while no sync is stuck in a cycle past its
/// deadline; a real hang stops the pings and gets the service restarted.
async fn watchdog(liveness: Arc<Liveness>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let stuck = liveness.stuck();
        if stuck.is_empty() {
            notify::send("WATCHDOG=1");
        } else {
            tracing::error!(syncs = ?stuck, "syncs are stuck past their deadline: not pinging the watchdog");
        }
    }
}

/// What the tasks of one configuration share.
#[derive(Clone)]
struct Wiring {
    board: Arc<crate::board::Board>,
    client: Arc<Client>,
    notifiers: Arc<crate::notifications::Notifiers>,
    stop: watch::Receiver<bool>,
    now: Arc<Notify>,
    liveness: Arc<Liveness>,
    metrics: Arc<Metrics>,
    leading: watch::Receiver<bool>,
}

fn start(settings: &Settings, wiring: &Wiring) -> Result<Vec<tokio::task::JoinHandle<()>>, Error> {
    let user_agent = crate::kube::user_agent(&settings.node_name);
    let mut sources: BTreeMap<String, Arc<Mutex<SharedSource>>> = BTreeMap::new();
    for s in &settings.sources {
        let source = GitSource::open(s, &settings.state_dir, &user_agent)?;
        sources.insert(
            s.name.clone(),
            Arc::new(Mutex::new(SharedSource {
                name: s.name.clone(),
                source,
                interval: s.interval,
                jitter: settings.jitter,
                last_poll: None,
                metrics: wiring.metrics.clone(),
            })),
        );
    }
    // Each sync's wake-up, which its dependencies ring when they end a cycle Ready, so that
    // a dependant follows at once rather than an interval later.
    let wakes: BTreeMap<&str, Arc<Notify>> = settings
        .syncs
        .iter()
        .map(|s| (s.name.as_str(), Arc::new(Notify::new())))
        .collect();
    let mut tasks = Vec::new();
    for sync in &settings.syncs {
        let dependants = settings
            .syncs
            .iter()
            .filter(|d| d.depends_on.iter().any(|dep| dep.name == sync.name))
            .map(|d| wakes[d.name.as_str()].clone())
            .collect();
        let job = SyncJob {
            wake: wakes[sync.name.as_str()].clone(),
            dependants,
            sync: sync.clone(),
            source: sources[&sync.source].clone(),
            client: wiring.client.clone(),
            notifiers: wiring.notifiers.clone(),
            board: wiring.board.clone(),
            node: settings.node_name.clone(),
            state_dir: settings.state_dir.clone(),
            jitter: settings.jitter,
            deadline: cycle_deadline(sync, &settings.sources),
            liveness: wiring.liveness.clone(),
            metrics: wiring.metrics.clone(),
        };
        let w = wiring.clone();
        tasks.push(tokio::spawn(job.run(w.stop, w.now, w.leading)));
    }
    Ok(tasks)
}

/// A shared source, locked for each step a cycle takes with it.
struct Locked<'a>(&'a Mutex<SharedSource>);

impl reconcile::SourceAccess for Locked<'_> {
    fn with<R>(&mut self, step: impl FnOnce(&mut GitSource) -> R) -> R {
        step(&mut self.0.lock().unwrap().source)
    }
}

struct SyncJob {
    sync: config::Sync,
    source: Arc<Mutex<SharedSource>>,
    client: Arc<Client>,
    notifiers: Arc<crate::notifications::Notifiers>,
    board: Arc<crate::board::Board>,
    node: String,
    state_dir: PathBuf,
    jitter: f64,
    deadline: Duration,
    liveness: Arc<Liveness>,
    metrics: Arc<Metrics>,
    /// Rung by a dependency that ended a cycle Ready with a change.
    wake: Arc<Notify>,
    /// The wake-ups of the syncs that depend on this one.
    dependants: Vec<Arc<Notify>>,
}

/// How a daemon's cycle ended, for what it does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Ready or suspended.
    Ready,
    /// Held back by a dependency that is not Ready.
    Waiting,
    /// Anything else not Ready: backed off from.
    Failed,
}

/// How long one cycle may take before the watchdog calls it a hang: the
/// health wait, the source's whole poll (fetchTimeout, or a few network steps
/// when those are longer), and a margin.
pub fn cycle_deadline(sync: &config::Sync, sources: &[config::Source]) -> Duration {
    let network = sources
        .iter()
        .find(|s| s.name == sync.source)
        .map(|s| (s.timeout * 4).max(s.fetch_timeout))
        .unwrap_or(Duration::from_secs(240));
    let health = if sync.wait {
        sync.timeout
    } else {
        Duration::ZERO
    };
    health + network + Duration::from_secs(120)
}

impl SyncJob {
    async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        now: Arc<Notify>,
        mut leading: watch::Receiver<bool>,
    ) {
        let job = Arc::new(self);
        let memory = Arc::new(Mutex::new(SyncMemory::load(&job.state_dir, &job.sync.name)));
        let mut failures = 0u32;
        let mut force_poll = true;
        loop {
            // A standby neither polls Git nor reads the cluster: it waits to lead.
            while !*leading.borrow_and_update() {
                tokio::select! {
                    changed = leading.changed() => if changed.is_err() { return },
                    _ = stop.changed() => return,
                }
            }
            let cycle_job = job.clone();
            let cycle_memory = memory.clone();
            job.liveness.cycle_started(&job.sync.name, job.deadline);
            let (ended, wrote) = tokio::task::spawn_blocking(move || {
                let ended = cycle_job.cycle(&mut cycle_memory.lock().unwrap(), force_poll);
                if let Some(release) = RELEASE_MEMORY.get() {
                    release();
                }
                ended
            })
            .await
            .unwrap_or((Ended::Failed, false));
            // Waiting for a dependency is no failure to back off from: the dependency
            // rings when it is Ready.
            failures = match ended {
                Ended::Ready | Ended::Waiting => 0,
                Ended::Failed => failures.saturating_add(1),
            };
            if ended == Ended::Ready && wrote {
                // Became Ready, or applied a change: the dependants go now. An idle
                // cycle rings nobody.
                for dependant in &job.dependants {
                    dependant.notify_one();
                }
            }
            let wait = next_wait(job.sync.interval, job.jitter, failures, fastrand::f64());
            tracing::debug!(sync = %job.sync.name, ?wait, failures, "next cycle");
            tokio::select! {
                _ = tokio::time::sleep(wait) => force_poll = false,
                _ = now.notified() => force_poll = true,
                _ = job.wake.notified() => force_poll = false,
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One cycle: how it ended, and whether it wrote anything.
    fn cycle(&self, memory: &mut SyncMemory, force_poll: bool) -> (Ended, bool) {
        let started = Instant::now();
        let mut warnings = Vec::new();
        let fetched = self
            .source
            .lock()
            .unwrap()
            .commit(force_poll, &mut warnings);
        let source_failure = fetched.as_ref().ok().and_then(|f| f.failure.clone());
        let ctx = Context {
            client: &*self.client,
            sync: &self.sync,
            node: &self.node,
            state_dir: &self.state_dir,
            refused: None,
            source_failure: source_failure.as_deref(),
        };
        let commit = fetched.map(|f| f.commit);
        let report = reconcile::sync_cycle(&ctx, &mut Locked(&self.source), commit, memory);
        self.notifiers.after_cycle(&report);
        self.board.after_cycle(&report);
        self.metrics.cycle(&report, started.elapsed().as_secs_f64());
        self.liveness.cycle_finished(
            &self.sync.name,
            format!(
                "{}: {}",
                self.sync.name,
                crate::report::summary(&report.status)
            ),
        );
        notify::send(&format!("STATUS={}", self.liveness.status_line()));
        for w in warnings.iter().chain(report.warnings.iter()) {
            tracing::warn!(sync = %self.sync.name, "{w}");
        }
        match &report.verdict {
            reconcile::Verdict::Failed { .. } => {
                tracing::error!(sync = %self.sync.name, "{}", report.summary())
            }
            _ if report.wrote => tracing::info!(sync = %self.sync.name, "{}", report.summary()),
            _ => tracing::debug!(sync = %self.sync.name, "{}", report.summary()),
        }
        let ended = match &report.verdict {
            reconcile::Verdict::Ready | reconcile::Verdict::Suspended => Ended::Ready,
            reconcile::Verdict::Failed {
                reason: reconcile::Reason::DependencyNotReady,
                ..
            } => Ended::Waiting,
            _ => Ended::Failed,
        };
        (ended, report.wrote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_on_its_sources_interval_polls_every_cycle() {
        let interval = Duration::from_secs(30);
        assert!(poll_due(None, interval, 0.2));
        // The soonest a sync on the same interval wakes: 30 s × 0.8 after its last
        // cycle, and the poll began before that cycle ended.
        assert!(poll_due(Some(Duration::from_secs(24)), interval, 0.2));
        assert!(poll_due(Some(Duration::from_secs(30)), interval, 0.0));
        // Another sync of the same source, a few seconds later: the last poll serves.
        assert!(!poll_due(Some(Duration::from_secs(5)), interval, 0.2));
        assert!(!poll_due(
            Some(Duration::from_millis(29_900)),
            interval,
            0.0
        ));
    }

    #[test]
    fn waits_are_jittered_around_the_interval() {
        let i = Duration::from_secs(60);
        assert_eq!(next_wait(i, 0.2, 0, 0.0), Duration::from_secs(48));
        assert_eq!(next_wait(i, 0.2, 0, 0.5), Duration::from_secs(60));
        assert!(next_wait(i, 0.2, 0, 0.999) <= Duration::from_secs(72));
        assert_eq!(next_wait(i, 0.0, 0, 0.9), i);
    }

    #[test]
    fn failures_back_off_with_full_jitter_up_to_a_cap() {
        let i = Duration::from_secs(3600);
        assert_eq!(next_wait(i, 0.2, 1, 0.999_999).as_secs(), 4);
        assert_eq!(next_wait(i, 0.2, 3, 0.5), Duration::from_secs(10));
        assert_eq!(next_wait(i, 0.2, 30, 1.0), BACKOFF_CAP);
        assert_eq!(next_wait(i, 0.2, 3, 0.0), Duration::ZERO);
        // Never longer than the interval itself.
        assert_eq!(
            next_wait(Duration::from_secs(30), 0.2, 10, 1.0),
            Duration::from_secs(30)
        );
    }
}
