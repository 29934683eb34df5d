//! Logs through tracing-subscriber, to stderr; the level comes from
//! `PLUMB_LOG` (or `RUST_LOG`), for example `info` or `warn,plumb=debug`.

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Installs the global subscriber; a second call does nothing.
pub fn init() {
    let spec = std::env::var("PLUMB_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let filter = spec
        .parse::<Targets>()
        .ok()
        .filter(|_| !spec.is_empty())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    // journald stamps each line itself.
    let _ = if under_journald {
        registry.with(fmt.without_time()).try_init()
    } else {
        registry.with(fmt).try_init()
    };
}
