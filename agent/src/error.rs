//! The one place where errors become messages and exit codes.

use std::process::ExitCode;

/// A command's answer when it ran: the exit-code table's 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Synced, nothing would change, no problems, every check passed.
    Yes,
    /// A reconcile failed, changes found, problems found, a check failed.
    No,
}

/// Why a command could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or arguments.
    #[error("{0}\nRun 'plumb --help' for usage.")]
    Usage(String),
    /// The config file is missing or invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// No usable kubeconfig.
    #[error(transparent)]
    Kubeconfig(#[from] crate::kube::kubeconfig::KubeconfigError),
    /// The API server failed a request.
    #[error(transparent)]
    Kube(#[from] crate::kube::Error),
    /// The cluster could not be connected to.
    #[error(transparent)]
    Connect(#[from] crate::kube::ConnectError),
    /// A Git source failed.
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// A file or folder could not be read or written.
    #[error("cannot {doing} {}: {source}", path.display())]
    Io {
        /// What plumb was doing: "create the state folder", "read the folder", …
        doing: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The process could not set itself up (its runtime, its signal handlers).
    #[error("cannot {doing}: {source}")]
    Setup {
        doing: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A sync's revision cannot be rendered or compared.
    #[error("sync '{sync}': {}", problems.join("\n"))]
    Revision { sync: String, problems: Vec<String> },
    /// A sync's status in the cluster cannot be read.
    #[error(
        "sync '{sync}': the status in {}/plumb-{sync} cannot be read: {source}",
        crate::model::SYSTEM_NAMESPACE
    )]
    UnreadableStatus {
        sync: String,
        #[source]
        source: crate::report::UnreadableParent,
    },
    /// Another plumb holds stateDir's lock.
    #[error("{0}")]
    Busy(String),
}

/// Exit code for a command's result; errors print once, as a chain.
pub fn exit_code(result: Result<Verdict, Error>) -> ExitCode {
    match result {
        Ok(Verdict::Yes) => ExitCode::from(0),
        Ok(Verdict::No) => ExitCode::from(1),
        // Busy is an answer ("not now"), not a failure to run.
        Err(Error::Busy(message)) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
        Err(err) => {
            let mut text = format!("error: {err}");
            let mut source = std::error::Error::source(&err);
            // `transparent` variants share their source's message; skip repeats.
            while let Some(cause) = source {
                let line = cause.to_string();
                if !text.contains(&line) {
                    text.push_str(&format!("\n  caused by: {line}"));
                }
                source = cause.source();
            }
            eprintln!("{text}");
            ExitCode::from(2)
        }
    }
}
