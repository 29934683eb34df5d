//! Logs through tracing-subscriber, to stderr: human lines on a terminal,
//! without timestamps of their own under journald (`JOURNAL_STREAM` set),
//! or JSON lines for collectors (`--log-format json`). The level comes from
//! `PLUMB_LOG` (or `RUST_LOG`), for example `info` or `warn,plumb=debug`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber; a second call does nothing.
pub fn init(format: Format) {
    let spec = std::env::var("PLUMB_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let filter = spec
        .parse::<Targets>()
        .ok()
        .filter(|_| !spec.is_empty())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let _ = match format {
        Format::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
        // journald stamps each line itself.
        Format::Human if std::env::var_os("JOURNAL_STREAM").is_some() => {
            registry.with(fmt.without_time()).try_init()
        }
        Format::Human => registry.with(fmt).try_init(),
    };
}
