//! Command line: parsing (no I/O) into a [`Command`], then running it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{self, Settings};
use crate::error::{exit_code, Error, Verdict};

const HELP: &str = "\
plumb keeps a Kubernetes cluster in the state declared in Git.

Usage: plumb [OPTIONS] <COMMAND>

Commands:
  check       Check the config, the cluster connection, permissions and stateDir
  validate    Validate the config file (--config)
  version     Print plumb's version

Options:
  -c, --config <FILE>    Config file [env: PLUMB_CONFIG] [default: /etc/plumb/plumb.yaml]
      --context <NAME>   kubeconfig context, instead of the config's or the current one
  -h, --help             Print this help

Exit codes: 0 yes (all passed), 1 no (a check or validation failed), 2 could not run.
Docs: docs/configuration.md, docs/operations.md
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print help.
    Help,
    /// Print the version.
    Version,
    /// Validate the config file.
    ValidateConfig,
    /// Run the operator's checklist.
    Check,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The subcommand.
    pub command: Command,
    /// `--config`, if given.
    pub config: Option<PathBuf>,
    /// `--context`, if given.
    pub context: Option<String>,
}

/// Parses arguments (without the program name). Pure: no I/O.
pub fn parse(args: Vec<OsString>) -> Result<Args, Error> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Option<String> = None;
    let mut config = None;
    let mut context = None;
    let mut validate_config = false;
    let mut help = false;
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('h') | Long("help") => help = true,
            Short('c') | Long("config") => {
                config = Some(PathBuf::from(parser.value().map_err(usage)?));
                // `validate --config FILE` names the file to validate.
                if command.as_deref() == Some("validate") {
                    validate_config = true;
                }
            }
            Long("context") => {
                context = Some(parser.value().map_err(usage)?.string().map_err(usage)?)
            }
            Short('V') | Long("version") if command.is_none() => command = Some("version".into()),
            Value(v) if command.is_none() => command = Some(v.string().map_err(usage)?),
            Value(v) => {
                return Err(Error::Usage(format!(
                    "unexpected argument '{}'",
                    v.to_string_lossy()
                )))
            }
            other => return Err(usage(other.unexpected())),
        }
    }
    let command = match (help, command.as_deref()) {
        (true, _) | (false, None) | (_, Some("help")) => Command::Help,
        (false, Some("version")) => Command::Version,
        (false, Some("check")) => Command::Check,
        (false, Some("validate")) if validate_config || config.is_some() => Command::ValidateConfig,
        (false, Some("validate")) => return Err(Error::Usage(
            "validate needs --config FILE (validating manifests comes with the reconcile feature)"
                .into(),
        )),
        (false, Some(other)) => return Err(Error::Usage(format!("unknown command '{other}'"))),
    };
    Ok(Args {
        command,
        config,
        context,
    })
}

/// Entry point of the binary: parse, run, map to an exit code.
pub fn main(args: Vec<OsString>) -> ExitCode {
    crate::logging::init();
    exit_code(parse(args).and_then(run))
}

/// The config path: `--config`, then `$PLUMB_CONFIG`, then the default.
pub fn config_path(args: &Args) -> PathBuf {
    args.config
        .clone()
        .or_else(|| std::env::var_os("PLUMB_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
}

fn run(args: Args) -> Result<Verdict, Error> {
    match args.command {
        Command::Help => {
            print!("{HELP}");
            Ok(Verdict::Yes)
        }
        Command::Version => {
            println!(
                "plumb {} ({}-{})",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH,
                std::env::consts::OS
            );
            Ok(Verdict::Yes)
        }
        Command::ValidateConfig => {
            let path = config_path(&args);
            let settings = Settings::load(&path)?;
            println!(
                "{}: valid ({} source(s), {} sync(s))",
                path.display(),
                settings.sources.len(),
                settings.syncs.len()
            );
            Ok(Verdict::Yes)
        }
        Command::Check => {
            let path = config_path(&args);
            let settings = Settings::load(&path)?;
            let report = crate::check::run(&path, &settings, args.context.as_deref());
            print!("{}", report.render());
            Ok(if report.passed() {
                Verdict::Yes
            } else {
                Verdict::No
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, Error> {
        parse(list.iter().map(OsString::from).collect())
    }

    #[test]
    fn commands_and_options() {
        assert_eq!(args(&[]).unwrap().command, Command::Help);
        assert_eq!(args(&["--help"]).unwrap().command, Command::Help);
        assert_eq!(args(&["version"]).unwrap().command, Command::Version);
        let a = args(&["check", "--config", "x.yaml", "--context", "k3s"]).unwrap();
        assert_eq!(a.command, Command::Check);
        assert_eq!(a.config, Some(PathBuf::from("x.yaml")));
        assert_eq!(a.context.as_deref(), Some("k3s"));
        let a = args(&["-c", "y.yaml", "validate"]).unwrap();
        assert_eq!(a.command, Command::ValidateConfig);
        assert_eq!(
            args(&["validate", "--config=z"]).unwrap().command,
            Command::ValidateConfig
        );
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for bad in [
            &["frobnicate"][..],
            &["check", "--bogus"],
            &["check", "extra"],
            &["validate"],
            &["check", "--config"],
        ] {
            assert!(matches!(args(bad), Err(Error::Usage(_))), "{bad:?}");
        }
    }
}
