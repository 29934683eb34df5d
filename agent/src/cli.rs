//! Command line: parsing (no I/O) into [`Args`], then running the command.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, Settings};
use crate::error::{exit_code, Error, Verdict};
use crate::kube::{self, Client};
use crate::reconcile::{self, Context, Revision, SyncMemory};
use crate::render;
use crate::source::{self, GitSource};

const HELP: &str = "\
plumb keeps a Kubernetes cluster in the state declared in Git.

Usage: plumb [OPTIONS] <COMMAND>

Commands:
  run         Run as a daemon: every sync on its interval (SIGHUP reloads, SIGUSR1 reconciles now)
  reconcile   Run one cycle for every sync (or --sync NAME): fetch, validate, apply, prune
  render      Print the objects a sync (--sync NAME) or a folder (DIR) renders to, as YAML
  validate    Check a folder (DIR) or a sync (--sync NAME) without a cluster; alone, the config
  diff        Show what reconcile would change, as a unified diff (exit 1 when something would)
  status      Show each sync's revision, conditions, counts and unhealthy objects, from the
              cluster (--watch: again every 2 s)
  history     Show each sync's last applied revisions: commit, author, result, what changed
  rollback    Pin a sync (--sync NAME) to an earlier applied revision (REVISION, or the one
              before the revision in force); --release follows the branch again
  forget      Delete the objects of a sync removed from the config (--sync NAME), and its status
  check       Check the config, the cluster connection, permissions and stateDir
  version     Print plumb's version

Options:
  -c, --config <FILE>    Config file [env: PLUMB_CONFIG] [default: /etc/plumb/plumb.yaml]
      --context <NAME>   kubeconfig context, instead of the config's or the current one
      --sync <NAME>      Only this sync
  -f, --values <FILE>    render/validate DIR: a values file over its charts' defaults, as
                         `helm template --values` (repeatable; later files win)
      --log-format <F>   human (default) or json
  -o, --output <F>       status, history, diff: text (default) or json, for scripts
      --watch            status: show it again every 2 seconds, until interrupted
      --release          rollback: remove the pin; the sync follows its branch again
      --show-secrets     render: print the values decrypted from SOPS files (masked otherwise)
  -h, --help             Print this help

Exit codes: 0 yes (synced, valid, all checks passed, every sync Ready),
            1 no (a reconcile or check failed, problems found, a sync not Ready),
            2 could not run (bad flags, bad config, unreadable files).
Docs: docs/configuration.md, docs/operations.md
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print help.
    Help,
    /// Print the version.
    Version,
    /// Validate the config file only.
    ValidateConfig,
    /// Validate a folder or a sync's revision, offline.
    Validate,
    /// Print rendered objects.
    Render,
    /// The daemon.
    Run,
    /// One cycle per sync.
    Reconcile,
    /// Print what would change.
    Diff,
    /// Print the syncs' status.
    Status,
    /// Run the operator's checklist.
    Check,
    /// Delete a removed sync's objects and parent.
    Forget,
    /// Print the syncs' revision history.
    History,
    /// Pin a sync to an earlier revision, or release it.
    Rollback,
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
    /// `--sync`, if given.
    pub sync: Option<String>,
    /// A folder to render or validate instead of a sync.
    pub dir: Option<PathBuf>,
    /// `--values`: values files over the folder's charts' defaults, in order.
    pub values: Vec<PathBuf>,
    /// How log lines look.
    pub log_format: crate::logging::Format,
    /// `--output`: what status, history and diff print.
    pub output: Output,
    /// `--watch`: status again and again.
    pub watch: bool,
    /// rollback's REVISION, if given.
    pub revision: Option<String>,
    /// rollback's `--release`.
    pub release: bool,
    /// render's `--show-secrets`.
    pub show_secrets: bool,
}

/// What status, history and diff print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

/// Parses arguments (without the program name). Pure: no I/O.
pub fn parse(args: Vec<OsString>) -> Result<Args, Error> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Option<String> = None;
    let (mut config, mut context, mut sync, mut dir) = (None, None, None, None);
    let mut help = false;
    let mut values = Vec::new();
    let mut log_format = crate::logging::Format::Human;
    let mut output = Output::Text;
    let mut watch = false;
    let (mut revision, mut release) = (None, false);
    let mut show_secrets = false;
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('h') | Long("help") => help = true,
            Short('c') | Long("config") => {
                config = Some(PathBuf::from(parser.value().map_err(usage)?))
            }
            Long("context") => {
                context = Some(parser.value().map_err(usage)?.string().map_err(usage)?)
            }
            Long("sync") => sync = Some(parser.value().map_err(usage)?.string().map_err(usage)?),
            Short('f') | Long("values") => {
                values.push(PathBuf::from(parser.value().map_err(usage)?))
            }
            Long("log-format") => {
                log_format = match parser
                    .value()
                    .map_err(usage)?
                    .string()
                    .map_err(usage)?
                    .as_str()
                {
                    "human" => crate::logging::Format::Human,
                    "json" => crate::logging::Format::Json,
                    other => {
                        return Err(Error::Usage(format!(
                            "--log-format '{other}': use human or json"
                        )))
                    }
                }
            }
            Short('o') | Long("output") => {
                output = match parser
                    .value()
                    .map_err(usage)?
                    .string()
                    .map_err(usage)?
                    .as_str()
                {
                    "text" => Output::Text,
                    "json" => Output::Json,
                    other => {
                        return Err(Error::Usage(format!(
                            "--output '{other}': use text or json"
                        )))
                    }
                }
            }
            Long("watch") => watch = true,
            Long("release") => release = true,
            Long("show-secrets") => show_secrets = true,
            Short('V') | Long("version") if command.is_none() => command = Some("version".into()),
            Value(v) if command.is_none() => command = Some(v.string().map_err(usage)?),
            Value(v)
                if dir.is_none() && matches!(command.as_deref(), Some("render" | "validate")) =>
            {
                dir = Some(PathBuf::from(v))
            }
            Value(v) if revision.is_none() && command.as_deref() == Some("rollback") => {
                revision = Some(v.string().map_err(usage)?)
            }
            Value(v) => {
                return Err(Error::Usage(format!(
                    "unexpected argument '{}'",
                    v.to_string_lossy()
                )))
            }
            other => return Err(usage(other.unexpected())),
        }
    }
    if dir.is_some() && sync.is_some() {
        return Err(Error::Usage("give a folder or --sync, not both".into()));
    }
    if !values.is_empty() && !help && dir.is_none() {
        return Err(Error::Usage(
            "--values goes with `plumb render DIR` or `plumb validate DIR` (a sync's values are in its helm block)".into(),
        ));
    }
    if watch && !help && command.as_deref() != Some("status") {
        return Err(Error::Usage("--watch goes with `plumb status`".into()));
    }
    if release && !help && command.as_deref() != Some("rollback") {
        return Err(Error::Usage("--release goes with `plumb rollback`".into()));
    }
    if show_secrets && !help && command.as_deref() != Some("render") {
        return Err(Error::Usage(
            "--show-secrets goes with `plumb render`".into(),
        ));
    }
    if release && revision.is_some() {
        return Err(Error::Usage(
            "rollback: give a REVISION to pin, or --release, not both".into(),
        ));
    }
    if output == Output::Json
        && !help
        && !matches!(command.as_deref(), Some("status" | "history" | "diff"))
    {
        return Err(Error::Usage(
            "--output goes with `plumb status`, `plumb history` or `plumb diff`".into(),
        ));
    }
    let command = match (help, command.as_deref()) {
        (true, _) | (false, None) | (_, Some("help")) => Command::Help,
        (false, Some("version")) => Command::Version,
        (false, Some("check")) => Command::Check,
        (false, Some("status")) => Command::Status,
        (false, Some("history")) => Command::History,
        (false, Some("diff")) => Command::Diff,
        (false, Some("reconcile")) => Command::Reconcile,
        (false, Some("run")) => Command::Run,
        (false, Some("forget")) if sync.is_none() => {
            return Err(Error::Usage("forget needs --sync NAME".into()))
        }
        (false, Some("forget")) => Command::Forget,
        (false, Some("rollback")) if sync.is_none() => {
            return Err(Error::Usage("rollback needs --sync NAME".into()))
        }
        (false, Some("rollback")) => Command::Rollback,
        (false, Some("validate")) if dir.is_none() && sync.is_none() => Command::ValidateConfig,
        (false, Some("validate")) => Command::Validate,
        (false, Some("render")) if dir.is_none() && sync.is_none() => {
            return Err(Error::Usage("render needs a folder or --sync NAME".into()))
        }
        (false, Some("render")) => Command::Render,
        (false, Some(other)) => return Err(Error::Usage(format!("unknown command '{other}'"))),
    };
    Ok(Args {
        command,
        config,
        context,
        sync,
        dir,
        values,
        log_format,
        output,
        watch,
        revision,
        release,
        show_secrets,
    })
}

/// Entry point of the binary: parse, run, map to an exit code.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args = parse(args);
    crate::logging::init(args.as_ref().map(|a| a.log_format).unwrap_or_default());
    exit_code(args.and_then(run))
}

/// The config path: `--config`, then `$PLUMB_CONFIG`, then the default.
pub fn config_path(args: &Args) -> PathBuf {
    args.config
        .clone()
        .or_else(|| std::env::var_os("PLUMB_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
}

/// Whether a write to standard output went through: a reader that went
/// away (`plumb render | head -1`) ends the output quietly, any other
/// failure is an error.
fn written(result: std::io::Result<()>) -> Result<bool, Error> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::Io {
            doing: "write to",
            path: PathBuf::from("standard output"),
            source: e,
        }),
    }
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
        Command::Validate | Command::Render => render_or_validate(&args),
        Command::Reconcile => reconcile_command(&args),
        Command::Forget => forget_command(&args),
        Command::Rollback => rollback_command(&args),
        Command::Run => crate::daemon::run(config_path(&args), args.context.clone()),
        Command::Status => status_command(&args),
        Command::History => history_command(&args),
        Command::Diff => diff_command(&args),
    }
}

/// The sync settings a folder is rendered with, when no sync is named.
fn folder_sync() -> config::Sync {
    config::Sync {
        name: "folder".into(),
        source: String::new(),
        path: String::new(),
        namespace: "default".into(),
        prune: false,
        allow_empty: false,
        self_heal: true,
        wait: false,
        timeout: std::time::Duration::from_secs(120),
        interval: std::time::Duration::from_secs(60),
        suspend: false,
        exclude: Vec::new(),
        render: config::Render::Auto,
        helm: None,
        depends_on: Vec::new(),
        health_checks: Vec::new(),
        health_check_conditions: Vec::new(),
        substitution: None,
        history_limit: 0,
        // As sops itself finds the key on a workstation.
        decryption: std::env::var_os("SOPS_AGE_KEY_FILE").map(|file| config::Decryption {
            age_key_file: PathBuf::from(file),
        }),
    }
}

fn render_or_validate(args: &Args) -> Result<Verdict, Error> {
    let (sync, revision, label) = match &args.dir {
        Some(dir) => {
            let io = |source| Error::Io {
                doing: "read the folder",
                path: dir.clone(),
                source,
            };
            let (root, below) = folder_root(dir).map_err(io)?;
            let selected = source::manifests_in_dir(dir, &root, &[])
                .map_err(io)?
                .into_iter()
                .map(|p| {
                    if below.is_empty() {
                        p
                    } else {
                        format!("{below}/{p}")
                    }
                })
                .collect();
            let revision = Revision {
                id: String::new(),
                selected,
                tree: reconcile::Tree::Folder(root),
                commit: None,
            };
            if !args.values.is_empty() && render::helm::chart_roots(&revision.selected).is_empty() {
                return Err(Error::Usage(format!(
                    "--values: {} holds no chart (no Chart.yaml in it)",
                    dir.display()
                )));
            }
            (folder_sync(), revision, dir.display().to_string())
        }
        None => {
            let settings = Settings::load(&config_path(args))?;
            let sync = find_sync(
                &settings,
                args.sync.as_deref().expect("parse ensures a sync"),
            )?
            .clone();
            let revision = fetch_revision(&settings, &sync, &mut BTreeMap::new())?;
            let label = format!(
                "sync '{}' at {}",
                args.sync.as_deref().unwrap_or_default(),
                crate::report::short(&revision.id)
            );
            (sync, revision, label)
        }
    };
    let values = values_layers(&args.values)?;
    let result = reconcile::render_revision_with(
        None,
        &sync,
        &revision,
        reconcile::ChartKey::Offline,
        &values,
    );
    match (args.command == Command::Render, result) {
        (true, Ok(shown)) => {
            for w in shown.warnings {
                eprintln!("warning: {w}");
            }
            let mut out = std::io::stdout().lock();
            let secrets = render::output::Secrets::new(&shown.secrets);
            for mut m in shown.manifests {
                if let Some(namespace) = m.dropped_namespace.take() {
                    m.object["metadata"]["namespace"] = serde_json::Value::String(namespace);
                }
                if !args.show_secrets {
                    secrets.mask(&mut m.object);
                }
                let yaml = crate::render::output::to_yaml(&m.object);
                if !written(writeln!(out, "---\n{}", yaml.trim_end()))? {
                    break;
                }
            }
            written(out.flush())?;
            Ok(Verdict::Yes)
        }
        (false, Ok(shown)) => {
            for w in &shown.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{label}: valid ({} objects from {} files)",
                shown.manifests.len(),
                revision.selected.len()
            );
            Ok(Verdict::Yes)
        }
        (_, Err(errors)) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("{label}: {} problem(s)", errors.len());
            Ok(Verdict::No)
        }
    }
}

/// `--values` files, read, as values layers in order.
fn values_layers(files: &[PathBuf]) -> Result<Vec<render::helm::ValuesLayer>, Error> {
    files
        .iter()
        .map(|path| {
            let io = |source| Error::Io {
                doing: "read the values file",
                path: path.clone(),
                source,
            };
            let bytes = std::fs::read(path).map_err(io)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not UTF-8",
                ))
            })?;
            Ok(render::helm::ValuesLayer::Yaml {
                origin: format!("--values {}", path.display()),
                text,
            })
        })
        .collect()
}

fn find_sync<'a>(settings: &'a Settings, name: &str) -> Result<&'a config::Sync, Error> {
    settings
        .syncs
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = settings.syncs.iter().map(|s| s.name.as_str()).collect();
            Error::Usage(format!(
                "no sync named '{name}' in the config (syncs: {})",
                names.join(", ")
            ))
        })
}

/// The syncs a command is about, in the config's order: the one `--sync` names (a usage
/// error when the config has none of that name), or every one.
fn chosen<'a>(settings: &'a Settings, args: &Args) -> Result<Vec<&'a config::Sync>, Error> {
    match &args.sync {
        Some(name) => Ok(vec![find_sync(settings, name)?]),
        None => Ok(settings.syncs.iter().collect()),
    }
}

/// Opens (once) the source a sync reads from.
fn source_for<'a>(
    settings: &Settings,
    sync: &config::Sync,
    sources: &'a mut BTreeMap<String, GitSource>,
) -> Result<&'a mut GitSource, source::SourceError> {
    if !sources.contains_key(&sync.source) {
        let settings_source = settings
            .sources
            .iter()
            .find(|s| s.name == sync.source)
            .expect("config validates references");
        let opened = GitSource::open(
            settings_source,
            &settings.state_dir,
            &kube::user_agent(&settings.node_name),
        )?;
        sources.insert(sync.source.clone(), opened);
    }
    Ok(sources.get_mut(&sync.source).expect("inserted above"))
}

/// Polls a sync's source and reads what it renders at the newest commit.
fn fetch_revision(
    settings: &Settings,
    sync: &config::Sync,
    sources: &mut BTreeMap<String, GitSource>,
) -> Result<Revision, Error> {
    let src = source_for(settings, sync, sources)?;
    let commit = src.poll()?.commit().to_owned();
    Ok(Revision::read(src, sync, &commit)?)
}

/// What `plumb render DIR` reads paths relative to: the top of the Git work
/// tree holding DIR (a kustomization may refer to folders beside DIR, as in
/// a sync), else DIR itself; and DIR's path from there.
fn folder_root(dir: &Path) -> std::io::Result<(PathBuf, String)> {
    let dir = dir.canonicalize()?;
    let root = dir
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(&dir)
        .to_owned();
    let below = dir
        .strip_prefix(&root)
        .expect("an ancestor")
        .to_string_lossy()
        .into_owned();
    Ok((root, below))
}

/// Connects to the cluster the config names.
pub fn connect(settings: &Settings, context: Option<&str>) -> Result<Client, Error> {
    let context = context.or(settings.context.as_deref());
    Ok(kube::connect(
        settings.kubeconfig.as_deref(),
        context,
        &settings.node_name,
    )?)
}

fn reconcile_command(args: &Args) -> Result<Verdict, Error> {
    let settings = Settings::load(&config_path(args))?;
    if let Some(name) = &args.sync {
        find_sync(&settings, name)?;
    }
    let client = connect(&settings, args.context.as_deref())?;
    let _lock = crate::store::lock_state_dir(&settings.state_dir)?;
    let (client, _renewer) = lead(&settings, client)?;
    let node = settings.node_name.clone();
    let notifiers = crate::notifications::Notifiers::start(
        &settings.notify,
        &node,
        &kube::user_agent(&node),
        crate::notifications::remember_in(client.clone()),
    )
    .map_err(Error::Usage)?;
    let mut sources = BTreeMap::new();
    let mut all_ready = true;
    // Dependencies first: a dependant then finds them Ready at this run's revision.
    for sync in config::dependency_order(&settings.syncs)
        .into_iter()
        .filter(|s| args.sync.as_deref().is_none_or(|n| n == s.name))
    {
        let report = reconcile_sync(&settings, sync, &client, &node, &mut sources);
        for w in &report.warnings {
            eprintln!("warning: {}: {w}", sync.name);
        }
        for (object, why) in &report.kept {
            eprintln!("{}: kept {object}: {why}", sync.name);
        }
        println!("{}", report.summary());
        notifiers.after_cycle(&report);
        all_ready &= report.is_ready();
    }
    // A one-shot run tells what it found too, waiting a little for the receivers.
    notifiers.finish(std::time::Duration::from_secs(20));
    Ok(if all_ready { Verdict::Yes } else { Verdict::No })
}

/// `plumb forget --sync NAME`: a sync removed from the config leaves its objects and its
/// parent in the cluster (nothing runs it any more); this deletes them on purpose, with a
/// prune's care (objects first, CRDs and Namespaces last, and none that holds what is not
/// the sync's). A sync still in the config is refused: its next cycle would apply it again.
fn forget_command(args: &Args) -> Result<Verdict, Error> {
    let settings = Settings::load(&config_path(args))?;
    let name = args.sync.as_deref().expect("parse ensures a sync");
    if settings.syncs.iter().any(|s| s.name == name) {
        return Err(Error::Usage(format!(
            "sync '{name}' is in the config: remove it from {} first (else its next cycle applies it again)",
            config_path(args).display()
        )));
    }
    let client = connect(&settings, args.context.as_deref())?;
    let _lock = crate::store::lock_state_dir(&settings.state_dir)?;
    let (client, _renewer) = lead(&settings, client)?;
    let forgotten = reconcile::forget(&*client, name)?;
    for object in &forgotten.deleted {
        println!("deleted {object}");
    }
    for (object, why) in &forgotten.kept {
        eprintln!("kept {object}: {why}");
    }
    if forgotten.parent_deleted {
        println!(
            "sync '{name}' forgotten: {} deleted, {} kept",
            forgotten.deleted.len(),
            forgotten.kept.len()
        );
        Ok(Verdict::Yes)
    } else {
        println!(
            "sync '{name}': {} deleted, {} still held (they stay in its inventory: run forget again once what holds them is gone)",
            forgotten.deleted.len(),
            forgotten.held
        );
        Ok(Verdict::No)
    }
}

/// `plumb rollback --sync NAME [REVISION] [--release]`: writes (or removes) the pin in the
/// sync's parent, where every node's daemon reads it, then runs the sync's cycle at once
/// when no daemon holds this node's stateDir (else the daemon's next cycle applies it).
fn rollback_command(args: &Args) -> Result<Verdict, Error> {
    use crate::report::short;
    use crate::rollback::{self, Pin};
    let settings = Settings::load(&config_path(args))?;
    let name = args.sync.as_deref().expect("parse ensures a sync");
    let sync = find_sync(&settings, name)?;
    let client = connect(&settings, args.context.as_deref())?;
    let Some(parent) = crate::report::get_parent(&client, name)? else {
        return Err(Error::Usage(format!(
            "sync '{name}' has never been reconciled: there is no revision to go back to"
        )));
    };
    let unreadable = |source| Error::UnreadableStatus {
        sync: name.to_owned(),
        source,
    };
    let (_, status) = crate::report::read_parent(Some(&parent)).map_err(unreadable)?;
    let pinned = rollback::read(Some(&parent)).map_err(|e| {
        Error::Usage(format!(
            "sync '{name}': {e} (remove it with `kubectl -n {} edit configmap {}`)",
            crate::prune::SYSTEM_NAMESPACE,
            crate::prune::parent_name(name)
        ))
    })?;
    if args.release {
        let Some(pin) = pinned else {
            println!("sync '{name}' is not pinned: it follows its branch");
            return Ok(Verdict::Yes);
        };
        rollback::write(&client, name, None)?;
        println!(
            "sync '{name}' released from {}: it follows its branch again",
            short(&pin.revision)
        );
    } else {
        let history = crate::history::read(&client, name)?;
        let revision = rollback::choose(
            &history,
            status.revision.as_deref(),
            args.revision.as_deref(),
        )
        .map_err(|why| Error::Usage(format!("sync '{name}': {why}")))?;
        let pin = Pin {
            by: rollback::whoami(&client),
            host: settings.node_name.clone(),
            at: crate::clock::now(),
            revision,
        };
        rollback::write(&client, name, Some(&pin))?;
        let subject = history
            .iter()
            .find(|e| e.revision == pin.revision && !e.subject.is_empty())
            .map(|e| format!(" ({})", e.subject))
            .unwrap_or_default();
        println!(
            "sync '{name}' pinned to {}{subject} by {}",
            short(&pin.revision),
            pin.by
        );
    }
    let free_now = std::time::Duration::ZERO;
    let _lock = match crate::store::lock_state_dir_within(&settings.state_dir, free_now) {
        Ok(lock) => lock,
        Err(Error::Busy(_)) => {
            println!(
                "the daemon on this node holds its state folder: its next cycle of '{name}' applies it (within {}s; `systemctl kill -s USR1 plumb` runs it now)",
                sync.interval.as_secs()
            );
            return Ok(Verdict::Yes);
        }
        Err(e) => return Err(e),
    };
    let (client, _renewer) = match lead(&settings, client) {
        Ok(led) => led,
        Err(Error::Busy(holder)) => {
            println!("{holder}; the leader applies it in its next cycle of '{name}'");
            return Ok(Verdict::Yes);
        }
        Err(e) => return Err(e),
    };
    let mut sources = BTreeMap::new();
    let node = settings.node_name.clone();
    let report = reconcile_sync(&settings, sync, &client, &node, &mut sources);
    for w in &report.warnings {
        eprintln!("warning: {name}: {w}");
    }
    println!("{}", report.summary());
    Ok(if report.is_ready() {
        Verdict::Yes
    } else {
        Verdict::No
    })
}

/// One cycle of one sync: poll its source (serving the last good commit when
/// the remote fails) and reconcile.
pub fn reconcile_sync(
    settings: &Settings,
    sync: &config::Sync,
    client: &Client,
    node: &str,
    sources: &mut BTreeMap<String, GitSource>,
) -> reconcile::CycleReport {
    let mut ctx = Context {
        client,
        sync,
        node,
        state_dir: &settings.state_dir,
        refused: None,
        source_failure: None,
    };
    let src = match source_for(settings, sync, sources) {
        Ok(s) => s,
        Err(e) => {
            let why = e.to_string();
            let ctx = Context {
                source_failure: Some(&why),
                ..ctx
            };
            return reconcile::report_failure(&ctx, reconcile::Reason::SourceFailed, why.clone());
        }
    };
    let mut warnings = Vec::new();
    let fetched = src.newest_or_last_good(&mut warnings);
    let source_failure = fetched.as_ref().ok().and_then(|f| f.failure.clone());
    ctx.source_failure = source_failure.as_deref();
    let mut memory = SyncMemory::load(&settings.state_dir, &sync.name);
    let commit = fetched.map(|f| f.commit);
    let mut report = reconcile::sync_cycle(&ctx, src, commit, &mut memory);
    warnings.append(&mut report.warnings);
    report.warnings = warnings;
    report
}

/// The client a one-shot run writes with: behind the leader Lease (taken, and renewed for
/// as long as the renewer lives) when leader election is on.
fn lead(
    settings: &Settings,
    client: Client,
) -> Result<(std::sync::Arc<Client>, Option<crate::lease::Renewer>), Error> {
    if !settings.leader_election.enabled {
        return Ok((std::sync::Arc::new(client), None));
    }
    let (client, elector) = take_lease(settings, client)?;
    let client = std::sync::Arc::new(client);
    let renewer = crate::lease::Renewer::spawn(
        elector,
        client.clone(),
        settings.leader_election.renew_every,
    );
    Ok((client, Some(renewer)))
}

/// A one-shot run takes the Lease when it is free or this node's; when
/// another node holds it, it watches for one lease duration (expiry is judged
/// by this node's clock, as the daemon does) and gives up naming the holder.
/// Waits for the leader lease; returns the client whose writes it gates and
/// the elector that must keep renewing it.
fn take_lease(
    settings: &Settings,
    client: Client,
) -> Result<(Client, crate::lease::Elector), Error> {
    let election = &settings.leader_election;
    // The Lease lives in plumb-system, which must exist before anyone leads.
    crate::report::ensure_system_namespace(&client)?;
    let gate = crate::lease::Gate::new();
    let client = client.with_write_gate(gate.clone());
    let mut elector =
        crate::lease::Elector::new(&settings.node_name, election.lease_duration, gate);
    let started = std::time::Instant::now();
    loop {
        match elector.step(&client)? {
            crate::lease::Standing::Leader => return Ok((client, elector)),
            crate::lease::Standing::Standby { holder }
                if started.elapsed() > election.lease_duration + election.renew_every =>
            {
                return Err(Error::Busy(format!(
                    "node '{holder}' holds the leader lease (plumb-system/{}) and renews it: it is reconciling, so this run does not",
                    crate::lease::LEASE_NAME
                )));
            }
            crate::lease::Standing::Standby { .. } => {
                std::thread::sleep(election.renew_every.min(std::time::Duration::from_secs(2)))
            }
        }
    }
}

fn diff_command(args: &Args) -> Result<Verdict, Error> {
    let settings = Settings::load(&config_path(args))?;
    let syncs = chosen(&settings, args)?;
    let client = connect(&settings, args.context.as_deref())?;
    let mut sources = BTreeMap::new();
    let mut changes = 0;
    let mut diffs = Vec::new();
    for sync in &syncs {
        // A pinned sync's reconcile applies its pin, not the branch: show that.
        let pin = crate::report::get_parent(&client, &sync.name)?
            .and_then(|parent| crate::rollback::read(Some(&parent)).ok().flatten());
        let revision = match pin {
            Some(pin) => {
                eprintln!(
                    "{}: pinned to {} by plumb rollback: comparing with that revision",
                    sync.name,
                    crate::report::short(&pin.revision)
                );
                let src = source_for(&settings, sync, &mut sources)?;
                src.ensure_commit(&pin.revision)?;
                Revision::read(src, sync, &pin.revision)?
            }
            None => fetch_revision(&settings, sync, &mut sources)?,
        };
        let problems = |problems| Error::Revision {
            sync: sync.name.clone(),
            problems,
        };
        let ctx = Context {
            client: &client,
            sync,
            node: &settings.node_name,
            state_dir: &settings.state_dir,
            refused: None,
            source_failure: None,
        };
        let found = reconcile::preview(&ctx, &revision).map_err(problems)?;
        changes += found.diffs.len();
        if args.output == Output::Json {
            diffs.push(serde_json::json!({
                "sync": sync.name,
                "changes": found.diffs,
                "kept": found.kept,
            }));
            continue;
        }
        let mut out = std::io::stdout().lock();
        for d in &found.diffs {
            if !written(write!(out, "{d}"))? {
                break;
            }
        }
        written(out.flush())?;
        for line in &found.kept {
            eprintln!("{}: {line}", sync.name);
        }
    }
    if args.output == Output::Json {
        let mut out = std::io::stdout().lock();
        let text = format!("{}\n", serde_json::Value::Array(diffs));
        written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    }
    Ok(if changes == 0 {
        Verdict::Yes
    } else {
        Verdict::No
    })
}

fn history_command(args: &Args) -> Result<Verdict, Error> {
    let settings = Settings::load(&config_path(args))?;
    let syncs = chosen(&settings, args)?;
    let client = connect(&settings, args.context.as_deref())?;
    let mut text = String::new();
    let mut json = Vec::new();
    for sync in &syncs {
        let entries = crate::history::read(&client, &sync.name)?;
        match args.output {
            Output::Text => text.push_str(&crate::history::text(&sync.name, &entries)),
            Output::Json => json.push(serde_json::json!({"sync": sync.name, "history": entries})),
        }
    }
    if args.output == Output::Json {
        text = format!("{}\n", serde_json::Value::Array(json));
    }
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    Ok(Verdict::Yes)
}

fn status_command(args: &Args) -> Result<Verdict, Error> {
    let settings = Settings::load(&config_path(args))?;
    let syncs = chosen(&settings, args)?;
    let client = connect(&settings, args.context.as_deref())?;
    let terminal = std::io::stdout().is_terminal();
    let style = crate::view::Style {
        colour: terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    loop {
        let mut all_ready = true;
        let mut text = String::new();
        let mut json = Vec::new();
        for sync in &syncs {
            let parent = crate::report::get_parent(&client, &sync.name)?;
            let (_, status) = crate::report::read_parent(parent.as_ref()).map_err(|source| {
                Error::UnreadableStatus {
                    sync: sync.name.clone(),
                    source,
                }
            })?;
            all_ready &= status
                .condition("Ready")
                .is_some_and(|c| c.status == "True");
            match args.output {
                Output::Text => {
                    text.push_str(&crate::view::status_text(&sync.name, &status, style))
                }
                Output::Json => json.push(crate::view::status_json(&sync.name, &status)),
            }
        }
        if args.output == Output::Json {
            // One line per look, so that a script reading --watch takes a line at a time.
            text = serde_json::Value::Array(json).to_string();
            text.push('\n');
        }
        let mut out = std::io::stdout().lock();
        if args.watch && terminal && args.output == Output::Text {
            // Home and clear: the next look replaces the last.
            text.insert_str(0, "\x1b[H\x1b[2J");
        }
        if !written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))? {
            return Ok(Verdict::Yes);
        }
        if !args.watch {
            return Ok(if all_ready { Verdict::Yes } else { Verdict::No });
        }
        drop(out);
        std::thread::sleep(std::time::Duration::from_secs(2));
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
        assert_eq!(
            args(&["-c", "y.yaml", "validate"]).unwrap().command,
            Command::ValidateConfig
        );
        assert_eq!(
            args(&["validate", "--config=z"]).unwrap().command,
            Command::ValidateConfig
        );
        let a = args(&["validate", "some/dir"]).unwrap();
        assert_eq!(
            (a.command, a.dir),
            (Command::Validate, Some(PathBuf::from("some/dir")))
        );
        let a = args(&["render", "--sync", "apps"]).unwrap();
        assert_eq!(
            (a.command, a.sync.as_deref()),
            (Command::Render, Some("apps"))
        );
        assert_eq!(
            args(&["reconcile", "--sync", "apps"]).unwrap().command,
            Command::Reconcile
        );
        assert_eq!(args(&["status"]).unwrap().command, Command::Status);
        let a = args(&["rollback", "--sync", "web", "abc1234"]).unwrap();
        assert_eq!(
            (a.command, a.revision.as_deref(), a.release),
            (Command::Rollback, Some("abc1234"), false)
        );
        let a = args(&["rollback", "--sync", "web", "--release"]).unwrap();
        assert_eq!((a.revision, a.release), (None, true));
    }

    #[test]
    fn values_files_go_with_a_folder_in_order() {
        let a = args(&[
            "render",
            "chart",
            "--values",
            "a.yaml",
            "-f",
            "b.yaml",
            "--values=c.yaml",
        ])
        .unwrap();
        assert_eq!(a.command, Command::Render);
        assert_eq!(a.dir, Some(PathBuf::from("chart")));
        assert_eq!(
            a.values,
            ["a.yaml", "b.yaml", "c.yaml"].map(PathBuf::from).to_vec()
        );
        // Before the folder, and with validate.
        let a = args(&["validate", "--values", "a.yaml", "chart"]).unwrap();
        assert_eq!(
            (a.command, a.dir, a.values),
            (
                Command::Validate,
                Some(PathBuf::from("chart")),
                vec![PathBuf::from("a.yaml")]
            )
        );
        assert!(args(&["render", "chart"]).unwrap().values.is_empty());
        let Err(Error::Usage(why)) = args(&["render", "--sync", "s", "-f", "v.yaml"]) else {
            panic!("--values with --sync was accepted");
        };
        assert!(why.contains("--values goes with"), "{why}");
    }

    #[test]
    fn status_history_and_diff_speak_json_and_status_watches() {
        let status = args(&["status", "--watch", "-o", "json"]).unwrap();
        assert_eq!(
            (status.command, status.output, status.watch),
            (Command::Status, Output::Json, true)
        );
        let history = args(&["history", "--sync", "web"]).unwrap();
        assert_eq!(
            (history.command, history.output),
            (Command::History, Output::Text)
        );
        assert_eq!(
            args(&["diff", "--output", "json"]).unwrap().output,
            Output::Json
        );
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for bad in [
            &["frobnicate"][..],
            &["check", "--bogus"],
            &["check", "extra"],
            &["render"],
            &["render", "a", "--sync", "b"],
            &["check", "--config"],
            &["render", "--sync", "a", "--values", "v.yaml"],
            &["reconcile", "--values", "v.yaml"],
            &["render", "dir", "--values"],
            &["reconcile", "--watch"],
            &["render", "dir", "--output", "json"],
            &["status", "-o", "yaml"],
            &["rollback", "abc1234"],
            &["rollback", "--sync", "web", "abc1234", "--release"],
            &["rollback", "--sync", "web", "abc1234", "def5678"],
            &["status", "--release"],
        ] {
            assert!(matches!(args(bad), Err(Error::Usage(_))), "{bad:?}");
        }
    }
}
