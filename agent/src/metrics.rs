//! Metrics (prometheus-client) and the `/metrics`, `/healthz` and `/readyz`
//! endpoints (hyper), served by `plumb run` on `listen`, with the status page (`/` and
//! `/sync/NAME`, from [`crate::page`]) behind its [`Access`] rule.
//!
//! Metrics are declared here, beside the one function that records each
//! kind of event; the recording calls are cheap (atomics under a lock-free
//! read path), so the idle cycle stays nearly free.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::notify::Liveness;
use crate::reconcile::{CycleReport, Verdict};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every metric plumb exports.
pub struct Metrics {
    registry: Registry,
    reconcile_duration: Family<Labels, Histogram, fn() -> Histogram>,
    reconciles: Family<Labels, Counter>,
    revision: Family<Labels, Gauge>,
    revisions_shown: Mutex<Vec<Labels>>,
    last_success: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    managed: Family<Labels, Gauge>,
    applied: Family<Labels, Counter>,
    pruned: Family<Labels, Counter>,
    drifted: Family<Labels, Counter>,
    chart_renders: Family<Labels, Counter>,
    fetch_duration: Family<Labels, Histogram, fn() -> Histogram>,
    fetched_bytes: Family<Labels, Counter>,
    api_requests: Family<Labels, Counter>,
    leader: Family<Labels, Gauge>,
    source_ready: Family<Labels, Gauge>,
    resident: Gauge,
    /// The cluster answered at least once (for /readyz).
    pub cluster_reached: AtomicBool,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

impl crate::kube::client::RequestObserver for Metrics {
    fn api_request(&self, verb: &str, code: Option<u16>) {
        Metrics::api_request(self, verb, code)
    }
}

impl Metrics {
    /// A registry with every metric declared.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("plumb");
        let m = Metrics {
            reconcile_duration: Family::new_with_constructor(duration_histogram),
            reconciles: Family::default(),
            revision: Family::default(),
            revisions_shown: Mutex::new(Vec::new()),
            last_success: Family::default(),
            managed: Family::default(),
            applied: Family::default(),
            pruned: Family::default(),
            drifted: Family::default(),
            chart_renders: Family::default(),
            fetch_duration: Family::new_with_constructor(duration_histogram),
            fetched_bytes: Family::default(),
            api_requests: Family::default(),
            leader: Family::default(),
            source_ready: Family::default(),
            resident: Gauge::default(),
            cluster_reached: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one sync's cycle",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "reconciles",
            "Cycles by sync and result (ready, stalled, failed, suspended)",
            m.reconciles.clone(),
        );
        registry.register(
            "applied_revision_info",
            "The revision in force, by sync",
            m.revision.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When each sync last ended Ready (Unix time)",
            m.last_success.clone(),
        );
        registry.register(
            "objects_managed",
            "Objects each sync manages",
            m.managed.clone(),
        );
        registry.register(
            "objects_applied",
            "Objects created or changed, by sync",
            m.applied.clone(),
        );
        registry.register(
            "objects_pruned",
            "Objects deleted, by sync",
            m.pruned.clone(),
        );
        registry.register(
            "objects_drifted",
            "Objects found drifted, by sync",
            m.drifted.clone(),
        );
        registry.register(
            "chart_renders",
            "Renders of a sync's charts (once per change of revision, values or capabilities), by sync",
            m.chart_renders.clone(),
        );
        registry.register(
            "source_fetch_duration_seconds",
            "Duration of a source's poll (and fetch), by source",
            m.fetch_duration.clone(),
        );
        registry.register(
            "source_fetched_bytes",
            "Bytes a source's clone grew by, by source",
            m.fetched_bytes.clone(),
        );
        registry.register(
            "api_requests",
            "Kubernetes API requests by verb and status code",
            m.api_requests.clone(),
        );
        registry.register(
            "leader",
            "1 when this node leads (reconciles) the sync, else 0",
            m.leader.clone(),
        );
        registry.register(
            "source_ready",
            "1 when the sync's source could be followed in its last cycle, 0 when the last good revision was served instead",
            m.source_ready.clone(),
        );
        registry.register(
            "resident_memory_bytes",
            "The process's resident memory",
            m.resident.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// Records a finished cycle.
    pub fn cycle(&self, report: &CycleReport, seconds: f64) {
        let sync = report.sync.as_str();
        let result = match &report.verdict {
            Verdict::Ready => "ready",
            Verdict::Stalled(_) => "stalled",
            Verdict::Failed { .. } => "failed",
            Verdict::Suspended => "suspended",
        };
        let s = labels(&[("sync", sync)]);
        self.reconcile_duration.get_or_create(&s).observe(seconds);
        self.reconciles
            .get_or_create(&labels(&[("sync", sync), ("result", result)]))
            .inc();
        self.applied
            .get_or_create(&s)
            .inc_by(report.applied.len() as u64);
        self.pruned
            .get_or_create(&s)
            .inc_by(report.pruned.len() as u64);
        self.drifted
            .get_or_create(&s)
            .inc_by(report.drifted.len() as u64);
        if report.rendered_charts {
            self.chart_renders.get_or_create(&s).inc();
        }
        self.managed
            .get_or_create(&s)
            .set(report.status.counts.managed as i64);
        self.source_ready
            .get_or_create(&s)
            .set(i64::from(report.source_failure.is_none()));
        if let Some(revision) = &report.status.revision {
            let info = labels(&[("sync", sync), ("revision", revision)]);
            let mut shown = self.revisions_shown.lock().unwrap();
            // One series per sync: drop the previous revision's.
            shown.retain(|old| {
                let same_sync = old.iter().any(|(k, v)| k == "sync" && v == sync);
                if same_sync && *old != info {
                    self.revision.remove(old);
                }
                !same_sync
            });
            self.revision.get_or_create(&info).set(1);
            shown.push(info);
        }
        if report.verdict == Verdict::Ready {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            self.last_success.get_or_create(&s).set(now.as_secs_f64());
        }
    }

    /// Records a source's poll.
    pub fn fetch(&self, source: &str, seconds: f64, grew_by: u64) {
        let s = labels(&[("source", source)]);
        self.fetch_duration.get_or_create(&s).observe(seconds);
        self.fetched_bytes.get_or_create(&s).inc_by(grew_by);
    }

    /// Records one API request; `code` is `None` when no response came.
    pub fn api_request(&self, verb: &str, code: Option<u16>) {
        let code = code.map(|c| c.to_string()).unwrap_or_else(|| "none".into());
        self.api_requests
            .get_or_create(&labels(&[("verb", verb), ("code", &code)]))
            .inc();
        if code != "none" {
            self.cluster_reached.store(true, Ordering::Relaxed);
        }
    }

    /// Records whether this node leads a sync.
    pub fn leading(&self, sync: &str, leads: bool) {
        self.leader
            .get_or_create(&labels(&[("sync", sync)]))
            .set(i64::from(leads));
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        self.resident.set(resident_bytes() as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Resident memory, from VmRSS in /proc/self/status: in kB whatever the page
/// size (a Pi 5's kernel uses 16 KiB pages, so counting pages × 4096 is wrong).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| vm_rss_bytes(&s))
        .unwrap_or(0)
}

fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Serves `/metrics`, `/healthz` and `/readyz` until the task is dropped.
/// Who may read the status page (the metrics and health endpoints are open as ever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches the address: loopback, or `listenPublic: true`.
    Open,
    /// `Authorization` must be exactly this (`Bearer …` or `Basic …`).
    Header(String),
    /// A non-loopback address without `listenAuth` or `listenPublic`: the page is off.
    Refused,
}

impl Access {
    /// The rule the config sets for the page on `addr`; reads the auth file (mode 0600).
    pub fn of(settings: &crate::config::Settings, addr: SocketAddr) -> Result<Access, String> {
        use crate::config::ListenAuth;
        match &settings.listen_auth {
            Some(ListenAuth::BearerTokenFile(path)) => crate::source::read_secret(path)
                .map(|token| Access::Header(format!("Bearer {}", token.trim())))
                .map_err(|e| format!("listenAuth bearerTokenFile {}: {e}", path.display())),
            Some(ListenAuth::BasicAuthFile(path)) => {
                use base64::Engine as _;
                let pair = crate::source::read_secret(path)
                    .map_err(|e| format!("listenAuth basicAuthFile {}: {e}", path.display()))?;
                if !pair.contains(':') {
                    return Err(format!(
                        "listenAuth basicAuthFile {}: write it as user:password",
                        path.display()
                    ));
                }
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair.trim());
                Ok(Access::Header(format!("Basic {encoded}")))
            }
            None if addr.ip().is_loopback() || settings.listen_public => Ok(Access::Open),
            None => Ok(Access::Refused),
        }
    }

    /// Whether a request with this `Authorization` may read the page.
    fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match self {
            Access::Open => true,
            Access::Refused => false,
            Access::Header(wanted) => {
                authorization.is_some_and(|given| constant_time_eq(given, wanted.as_bytes()))
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the status page is made from; swapped at each configuration (reload).
pub struct Site {
    /// The syncs as the daemon holds them.
    pub board: Arc<crate::board::Board>,
    /// For a standby's reads and histories not yet read.
    pub client: Arc<crate::kube::Client>,
    /// Who may read it.
    pub access: Access,
}

/// The current [`Site`], if the daemon has one yet.
pub type SiteSlot = Arc<Mutex<Option<Arc<Site>>>>;

/// The page's answer: status, content type, extra headers, body.
async fn page(
    site: Option<Arc<Site>>,
    path: &str,
    authorization: Option<Vec<u8>>,
) -> (u16, &'static str, Vec<(&'static str, &'static str)>, String) {
    const HTML: &str = "text/html; charset=utf-8";
    const TEXT: &str = "text/plain; charset=utf-8";
    let Some(site) = site else {
        return (503, TEXT, vec![], "plumb is starting\n".into());
    };
    match &site.access {
        Access::Refused => {
            return (
                403,
                TEXT,
                vec![],
                "the status page is off on this address: listen is not loopback, and neither listenAuth nor listenPublic is set (docs/operations.md)\n".into(),
            )
        }
        access if !access.allows(authorization.as_deref()) => {
            let challenge = if matches!(access, Access::Header(h) if h.starts_with("Basic ")) {
                vec![("www-authenticate", "Basic realm=\"plumb\", charset=\"UTF-8\"")]
            } else {
                vec![("www-authenticate", "Bearer")]
            };
            return (401, TEXT, challenge, "the status page needs listenAuth's credentials\n".into());
        }
        _ => {}
    }
    if site.board.needs_reading() {
        let site = site.clone();
        let _ = tokio::task::spawn_blocking(move || site.board.read(&*site.client)).await;
    }
    let board = site.board.snapshot();
    let html = match path {
        "/" => Some(crate::page::overview(&board)),
        _ => path
            .strip_prefix("/sync/")
            .and_then(|name| crate::page::sync_page(&board, name)),
    };
    match html {
        Some(html) => (200, HTML, vec![], html),
        None => (404, TEXT, vec![], "no such sync\n".into()),
    }
}

/// Serves `/metrics`, `/healthz`, `/readyz` and the status page on `addr` until the task
/// is dropped.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    liveness: Arc<Liveness>,
    site: SiteSlot,
) -> std::io::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Response, StatusCode};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz and the status page");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (metrics, liveness, site) = (metrics.clone(), liveness.clone(), site.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let (metrics, liveness) = (metrics.clone(), liveness.clone());
                    let site = site.lock().unwrap().clone();
                    let path = req.uri().path().to_owned();
                    let authorization = req
                        .headers()
                        .get("authorization")
                        .map(|v| v.as_bytes().to_vec());
                    async move {
                        let (status, content_type, extra, body) = match path.as_str() {
                            "/metrics" => (
                                200,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                vec![],
                                metrics.render(),
                            ),
                            "/healthz" => match liveness.stuck() {
                                stuck if stuck.is_empty() => {
                                    (200, "text/plain; charset=utf-8", vec![], "ok\n".to_owned())
                                }
                                stuck => (
                                    503,
                                    "text/plain; charset=utf-8",
                                    vec![],
                                    format!("stuck past their deadline: {}\n", stuck.join(", ")),
                                ),
                            },
                            "/readyz" if metrics.cluster_reached.load(Ordering::Relaxed) => {
                                (200, "text/plain; charset=utf-8", vec![], "ok\n".to_owned())
                            }
                            "/readyz" => (
                                503,
                                "text/plain; charset=utf-8",
                                vec![],
                                "the cluster has not answered yet\n".to_owned(),
                            ),
                            p if p == "/" || p.starts_with("/sync/") => {
                                page(site, p, authorization).await
                            }
                            _ => (
                                404,
                                "text/plain; charset=utf-8",
                                vec![],
                                "not found: try /, /metrics, /healthz or /readyz\n".to_owned(),
                            ),
                        };
                        let mut response = Response::builder()
                            .status(StatusCode::from_u16(status).expect("a status"))
                            .header("content-type", content_type)
                            .header("cache-control", "no-store")
                            .header("x-content-type-options", "nosniff");
                        if content_type.starts_with("text/html") {
                            response = response
                                .header(
                                    "content-security-policy",
                                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                                )
                                .header("referrer-policy", "no-referrer");
                        }
                        for (name, value) in extra {
                            response = response.header(name, value);
                        }
                        let response = response
                            .body(Full::new(Bytes::from(body)))
                            .expect("a valid response");
                        Ok::<_, std::convert::Infallible>(response)
                    }
                },
            );
            let io = hyper_util::rt::TokioIo::new(stream);
            // A client that sends its headers slowly, or never, is let go.
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SyncStatus;

    fn report(sync: &str, revision: &str, verdict: Verdict) -> CycleReport {
        let mut status = SyncStatus {
            revision: Some(revision.into()),
            ..Default::default()
        };
        status.counts.managed = 3;
        CycleReport {
            sync: sync.into(),
            revision: revision.into(),
            verdict,
            applied: vec![],
            unchanged: 3,
            pruned: vec![],
            kept: vec![],
            drifted: vec![],
            conflicts: Default::default(),
            warnings: vec![],
            wrote: false,
            rendered_charts: true,
            source_failure: None,
            status,
            commit: None,
            notified: Default::default(),
            history: None,
            inventory: None,
        }
    }

    #[test]
    fn resident_memory_is_vm_rss_in_bytes() {
        let status = "Name:\tplumb\nVmHWM:\t   9000 kB\nVmRSS:\t   8812 kB\nRssAnon:\t 2000 kB\n";
        assert_eq!(vm_rss_bytes(status), Some(8812 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tx\n"), None);
        assert!(resident_bytes() > 0);
    }

    #[test]
    fn metrics_follow_conventions_and_keep_one_revision_per_sync() {
        let m = Metrics::new();
        m.cycle(&report("apps", "aaa", Verdict::Ready), 0.2);
        m.cycle(
            &report(
                "apps",
                "bbb",
                Verdict::Failed {
                    reason: crate::reconcile::Reason::ApplyFailed,
                    message: "x".into(),
                },
            ),
            0.1,
        );
        m.api_request("patch", Some(200));
        m.fetch("repo", 0.5, 1024);
        m.leading("apps", true);
        let text = m.render();
        for line in [
            "plumb_reconciles_total{sync=\"apps\",result=\"ready\"} 1",
            "plumb_reconciles_total{sync=\"apps\",result=\"failed\"} 1",
            "plumb_applied_revision_info{sync=\"apps\",revision=\"bbb\"} 1",
            "plumb_objects_managed{sync=\"apps\"} 3",
            "plumb_api_requests_total{verb=\"patch\",code=\"200\"} 1",
            "plumb_source_fetched_bytes_total{source=\"repo\"} 1024",
            "plumb_leader{sync=\"apps\"} 1",
            "plumb_reconcile_duration_seconds_count{sync=\"apps\"} 2",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("revision=\"aaa\""), "{text}");
        assert!(text.contains("plumb_resident_memory_bytes "), "{text}");
        assert!(m.cluster_reached.load(Ordering::Relaxed));
    }
}
