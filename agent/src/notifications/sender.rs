//! Sending: one thread per notifier, fed through a bounded queue, so a receiver that is
//! down or slow holds up neither the cycles nor the other notifiers. Each notice is sent
//! with retries and backoff ([`retry_after`]), under a rate limit ([`Bucket`]); once
//! delivered, what it told is remembered in the sync's parent (through `remember`). URLs and
//! tokens come from the config or from files (mode 0600) and never reach a log line: a
//! notifier is named by its name.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{decide, message, Notice};
use crate::config::{Endpoint, Notifier, NotifierKind};
use crate::reconcile::CycleReport;

/// How many notices wait per notifier; past that the oldest is dropped (and logged).
const QUEUE: usize = 32;

/// Attempts per notice, the first included: about a minute of backoff in all.
const ATTEMPTS: u32 = 6;

/// The longest wait between two attempts, whatever Retry-After says.
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// Each request, connecting and reading the answer included, ends within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Writes what a notifier was told of a sync into the sync's parent: (sync, data key, value).
pub type Remember = Arc<dyn Fn(&str, &str, &str) -> Result<(), String> + Send + Sync>;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// An answer that another attempt would not change (a 4xx but 408 and 429).
    Refused(u16),
    /// Worth trying again: no answer, a 5xx, 408 or 429 (with its Retry-After).
    Failed {
        /// What went wrong, without the URL.
        why: String,
        /// Retry-After, when the receiver said.
        retry_after: Option<Duration>,
    },
}

/// How long to wait before attempt `attempt + 1` (counting from 0), or None to stop.
pub fn retry_after(attempt: u32, outcome: &Outcome) -> Option<Duration> {
    match outcome {
        Outcome::Delivered | Outcome::Refused(_) => None,
        Outcome::Failed { .. } if attempt + 1 >= ATTEMPTS => None,
        Outcome::Failed { retry_after, .. } => Some(
            retry_after
                .unwrap_or(Duration::from_secs(2u64 << attempt.min(8)))
                .min(LONGEST_WAIT),
        ),
    }
}

/// The outcome an HTTP status says.
pub fn outcome_of(status: u16, retry_after: Option<&str>) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Failed {
            why: format!("HTTP {status}"),
            retry_after: retry_after
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        _ => Outcome::Refused(status),
    }
}

/// A token bucket: at most `capacity` notices at once, then one per `every`.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    every: Duration,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(capacity: u32, every: Duration, now: Instant) -> Bucket {
        Bucket {
            capacity: f64::from(capacity),
            every,
            tokens: f64::from(capacity),
            at: now,
        }
    }

    /// Takes a token at `now`, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let refill =
            now.saturating_duration_since(self.at).as_secs_f64() / self.every.as_secs_f64();
        self.tokens = (self.tokens + refill).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.every.mul_f64(1.0 - self.tokens))
        }
    }
}

/// One notice to send, and what to remember once it is delivered.
struct Job {
    notice: Notice,
    remember: Option<String>,
    txn: String,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
    sending: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// What each notifier was told (or is being told) of each sync, by this process:
/// (notifier, sync) → the value for the parent's `notified-<name>`.
type Told = Arc<Mutex<BTreeMap<(String, String), String>>>;

/// A notifier's receiver, ready to send to.
struct Receiver {
    notifier: Notifier,
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// Every notifier of a config, each on its thread.
pub struct Notifiers {
    workers: Vec<(Notifier, Arc<Shared>)>,
    told: Told,
    /// The uncorrected drift each notifier was told of per sync (in memory: a restart tells
    /// it once more).
    drifts: Mutex<BTreeMap<(String, String), String>>,
    node: String,
    sent: std::sync::atomic::AtomicU64,
}

impl Notifiers {
    /// No notifiers: every call does nothing.
    pub fn none() -> Notifiers {
        Notifiers {
            workers: Vec::new(),
            told: Default::default(),
            drifts: Default::default(),
            node: String::new(),
            sent: Default::default(),
        }
    }

    /// Reads each notifier's URL, token and CA files, as starting them would, and starts
    /// nothing: a reload's check.
    pub fn check(notifiers: &[Notifier]) -> Result<(), String> {
        for n in notifiers {
            receiver(n, "plumb")?;
        }
        Ok(())
    }

    /// Reads each notifier's URL and token files and starts its thread; an error names
    /// the notifier and the file.
    pub fn start(
        notifiers: &[Notifier],
        node: &str,
        user_agent: &str,
        remember: Remember,
    ) -> Result<Notifiers, String> {
        let mut receivers = Vec::new();
        for n in notifiers {
            receivers.push(receiver(n, user_agent)?);
        }
        let told: Told = Default::default();
        let mut workers = Vec::new();
        for receiver in receivers {
            let shared = Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                changed: Condvar::new(),
            });
            let notifier = receiver.notifier.clone();
            let (s, t, r) = (shared.clone(), told.clone(), remember.clone());
            std::thread::Builder::new()
                .name(format!("plumb-notify-{}", notifier.name))
                .stack_size(512 << 10)
                .spawn(move || work(receiver, s, t, r))
                .map_err(|e| {
                    format!("notifier '{}': cannot start its thread: {e}", notifier.name)
                })?;
            workers.push((notifier, shared));
        }
        Ok(Notifiers {
            workers,
            told,
            drifts: Default::default(),
            node: node.to_owned(),
            sent: Default::default(),
        })
    }

    /// Queues what each notifier is to be told after a cycle (never waits for a send).
    pub fn after_cycle(&self, report: &CycleReport) {
        let now = crate::clock::now();
        for (notifier, shared) in &self.workers {
            let told_key = (notifier.name.clone(), report.sync.clone());
            let last = self
                .told
                .lock()
                .unwrap()
                .get(&told_key)
                .cloned()
                .or_else(|| report.notified.get(&notifier.name).cloned());
            let last_drift = self.drifts.lock().unwrap().get(&told_key).cloned();
            if report.drifted.is_empty() {
                // Drift gone: the same drift again is news.
                self.drifts.lock().unwrap().remove(&told_key);
            }
            let decisions = decide(
                notifier,
                last.as_deref(),
                last_drift.as_deref(),
                report,
                &self.node,
                &now,
            );
            for decision in decisions {
                if let Some(value) = &decision.remember {
                    self.told
                        .lock()
                        .unwrap()
                        .insert(told_key.clone(), value.clone());
                }
                if let Some(key) = decision.drift {
                    self.drifts.lock().unwrap().insert(told_key.clone(), key);
                }
                let (notice, txn) = match decision.notice {
                    Some(notice) => {
                        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let txn =
                            format!("plumb-{}-{}-{n}", self.node, crate::clock::unix_millis());
                        (notice, txn)
                    }
                    None if decision.remember.is_some() => {
                        (silent(report, &self.node, &now), String::new())
                    }
                    None => continue,
                };
                let job = Job {
                    notice,
                    remember: decision.remember,
                    txn,
                };
                let mut queue = shared.queue.lock().unwrap();
                if queue.jobs.len() >= QUEUE {
                    let dropped = queue.jobs.pop_front().expect("a full queue");
                    tracing::warn!(notifier = %notifier.name, sync = %dropped.notice.sync, event = dropped.notice.event, "the notifier's queue is full: dropping its oldest notice");
                    forget_told(&self.told, &notifier.name, &dropped);
                }
                queue.jobs.push_back(job);
                shared.changed.notify_all();
            }
        }
    }

    /// Forgets what this process told: a node that leads again reads what was told from
    /// the parents, where another leader may have told more since.
    pub fn forget_told(&self) {
        self.told.lock().unwrap().clear();
        self.drifts.lock().unwrap().clear();
    }

    /// Stops taking notices and waits up to `within` for the queued ones to be sent;
    /// what is left then is dropped with the threads.
    pub fn finish(&self, within: Duration) {
        let deadline = Instant::now() + within;
        for (_, shared) in &self.workers {
            let mut queue = shared.queue.lock().unwrap();
            queue.closed = true;
            shared.changed.notify_all();
            while !queue.jobs.is_empty() || queue.sending {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                queue = shared.changed.wait_timeout(queue, left).unwrap().0;
            }
        }
    }
}

/// A job that only remembers (a failure a recovery-only notifier keeps quiet about).
fn silent(report: &CycleReport, node: &str, now: &str) -> Notice {
    Notice {
        version: 1,
        event: "",
        sync: report.sync.clone(),
        severity: "",
        reason: String::new(),
        message: String::new(),
        revision: report.revision.clone(),
        author: String::new(),
        subject: String::new(),
        node: node.to_owned(),
        at: now.to_owned(),
        objects: Vec::new(),
    }
}

fn receiver(n: &Notifier, user_agent: &str) -> Result<Receiver, String> {
    let url = match &n.url {
        Endpoint::Url(url) => url.clone(),
        Endpoint::File(path) => {
            let url = crate::source::read_secret(path)
                .map_err(|e| format!("notifier '{}': urlFile {}: {e}", n.name, path.display()))?;
            crate::config::check_http_url(url.trim()).map_err(|why| {
                format!("notifier '{}': urlFile {}: {why}", n.name, path.display())
            })?;
            url.trim().to_owned()
        }
    };
    let token = match &n.token_file {
        Some(path) => Some(
            crate::source::read_secret(path)
                .map_err(|e| format!("notifier '{}': tokenFile {}: {e}", n.name, path.display()))?,
        ),
        None => None,
    };
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = &n.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("notifier '{}': caFile {}: {e}", n.name, path.display()))?;
        let certs = crate::tls::parse_certs(&pem)
            .map_err(|e| format!("notifier '{}': caFile {}: {e}", n.name, path.display()))?;
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .user_agent(user_agent)
        .input_buffer_size(16 << 10)
        .output_buffer_size(16 << 10)
        .build()
        .into();
    Ok(Receiver {
        notifier: n.clone(),
        url,
        token,
        agent,
    })
}

/// Forgets that `job` was told, when nothing newer was told since: the next cycle
/// decides again.
fn forget_told(told: &Told, notifier: &str, job: &Job) {
    let Some(value) = &job.remember else { return };
    let mut told = told.lock().unwrap();
    let key = (notifier.to_owned(), job.notice.sync.clone());
    if told.get(&key) == Some(value) {
        told.remove(&key);
    }
}

/// A notifier's thread: takes jobs until the queue is closed and empty.
fn work(receiver: Receiver, shared: Arc<Shared>, told: Told, remember: Remember) {
    let name = receiver.notifier.name.clone();
    let mut bucket = Bucket::new(10, Duration::from_secs(6), Instant::now());
    loop {
        let job = {
            let mut queue = shared.queue.lock().unwrap();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    queue.sending = true;
                    break job;
                }
                if queue.closed {
                    return;
                }
                queue = shared.changed.wait(queue).unwrap();
            }
        };
        let delivered = job.notice.event.is_empty()
            || {
                if let Err(wait) = bucket.take(Instant::now()) {
                    tracing::info!(notifier = %name, wait_secs = wait.as_secs(), "rate limit: waiting before the next notice");
                    std::thread::sleep(wait);
                    let _ = bucket.take(Instant::now());
                }
                send_with_retries(&receiver, &job)
            };
        let key = super::state_key(&name);
        match (&job.remember, delivered) {
            (Some(value), true) => {
                if let Err(e) = remember(&job.notice.sync, &key, value) {
                    tracing::warn!(notifier = %name, sync = %job.notice.sync, error = %e, "could not remember the notice in the parent: another node may send it again");
                }
            }
            // Not told after all: the next cycle decides again.
            (Some(_), false) => forget_told(&told, &name, &job),
            (None, _) => {}
        }
        let mut queue = shared.queue.lock().unwrap();
        queue.sending = false;
        shared.changed.notify_all();
    }
}

/// Sends one notice, retrying as [`retry_after`] says; whether it was delivered.
fn send_with_retries(receiver: &Receiver, job: &Job) -> bool {
    let n = &receiver.notifier;
    let request = message::request(
        n.kind,
        &receiver.url,
        receiver.token.as_deref(),
        n.room.as_deref(),
        &job.notice,
        &job.txn,
    );
    let mut attempt = 0;
    loop {
        let outcome = send(&receiver.agent, &request);
        match (&outcome, retry_after(attempt, &outcome)) {
            (Outcome::Delivered, _) => {
                tracing::info!(notifier = %n.name, sync = %job.notice.sync, event = job.notice.event, "notified");
                return true;
            }
            (Outcome::Refused(status), _) => {
                tracing::warn!(notifier = %n.name, sync = %job.notice.sync, event = job.notice.event, status, "the receiver refused the notice{}", hint(n.kind, *status));
                return false;
            }
            (Outcome::Failed { why, .. }, None) => {
                tracing::warn!(notifier = %n.name, sync = %job.notice.sync, event = job.notice.event, attempts = attempt + 1, error = %why, "giving up on the notice");
                return false;
            }
            (Outcome::Failed { why, .. }, Some(wait)) => {
                tracing::debug!(notifier = %n.name, error = %why, wait_secs = wait.as_secs(), "notice not delivered: trying again");
                std::thread::sleep(wait);
                attempt += 1;
            }
        }
    }
}

fn hint(kind: NotifierKind, status: u16) -> &'static str {
    match (kind, status) {
        (_, 401 | 403) => " (check its token or URL file)",
        (_, 404) => " (check its URL: the receiver has no such hook, topic or room)",
        _ => "",
    }
}

/// One attempt.
fn send(agent: &ureq::Agent, request: &message::Request) -> Outcome {
    let mut builder = ureq::http::Request::builder()
        .method(request.method)
        .uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let Ok(built) = builder.body(request.body.clone()) else {
        return Outcome::Refused(0);
    };
    match agent.run(built) {
        Ok(mut answer) => {
            // Read (a little of) the body so the connection can be reused.
            let _ = answer
                .body_mut()
                .with_config()
                .limit(64 << 10)
                .read_to_vec();
            let retry = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            outcome_of(answer.status().as_u16(), retry.as_deref())
        }
        Err(e) => Outcome::Failed {
            why: describe(&e),
            retry_after: None,
        },
    }
}

/// A transport error in words, never with the URL (which may carry the secret).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::BadUri(_) => "the URL is not valid".into(),
        ureq::Error::Io(io) => format!("{}", io.kind()),
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => {
            let text = other.to_string();
            if text.contains("://") {
                "the request failed".into()
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop() {
        let failed = Outcome::Failed {
            why: "HTTP 503".into(),
            retry_after: None,
        };
        let waits: Vec<Option<Duration>> = (0..ATTEMPTS).map(|a| retry_after(a, &failed)).collect();
        assert_eq!(
            waits,
            [2, 4, 8, 16, 32]
                .map(|s| Some(Duration::from_secs(s)))
                .into_iter()
                .chain([None])
                .collect::<Vec<_>>()
        );
        assert_eq!(retry_after(0, &Outcome::Delivered), None);
        assert_eq!(retry_after(0, &Outcome::Refused(404)), None);
        let told = outcome_of(429, Some("7"));
        assert_eq!(retry_after(0, &told), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(0, &outcome_of(503, Some("86400"))),
            Some(LONGEST_WAIT)
        );
        assert_eq!(outcome_of(204, None), Outcome::Delivered);
        assert_eq!(outcome_of(401, None), Outcome::Refused(401));
        assert!(matches!(outcome_of(408, None), Outcome::Failed { .. }));
    }

    #[test]
    fn the_bucket_lets_a_burst_through_then_one_per_period() {
        let start = Instant::now();
        let mut bucket = Bucket::new(3, Duration::from_secs(6), start);
        for _ in 0..3 {
            assert_eq!(bucket.take(start), Ok(()));
        }
        assert_eq!(bucket.take(start), Err(Duration::from_secs(6)));
        assert_eq!(
            bucket.take(start + Duration::from_secs(3)),
            Err(Duration::from_secs(3))
        );
        assert_eq!(bucket.take(start + Duration::from_secs(6)), Ok(()));
        // Never more than the capacity, however long it was quiet.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(bucket.take(later), Ok(()));
        }
        assert!(bucket.take(later).is_err());
    }

    #[test]
    fn errors_never_carry_the_url() {
        let e = ureq::Error::BadUri("https://hooks.example/T000/SECRET".into());
        assert!(!describe(&e).contains("SECRET"));
    }
}
