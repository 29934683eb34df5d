//! The Git source against real servers on loopback: git daemon, https
//! (basic, token and bearer auth, a private CA), plain http and ssh, all
//! started by `tests/git-servers.sh up`. Each test makes its own repository
//! with the git CLI and keeps its own stateDir, so the tests run in parallel.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::git::{
    closed_port, files_ending, main_branch, random_bytes, secret_file, snapshot, snapshot_diff,
    source, source_dir, Proxy, Remote, Servers, USER_AGENT,
};
use common::temp_dir;
use plumb::config::{Auth, GitRef, Settings, Source};
use plumb::render::File;
use plumb::source::{GitSource, Poll, SourceError};

fn open(settings: &Source, state_dir: &Path) -> GitSource {
    GitSource::open(settings, state_dir, USER_AGENT)
        .unwrap_or_else(|e| panic!("opening source '{}': {e}", settings.name))
}

fn poll(source: &mut GitSource) -> Poll {
    source.poll().unwrap_or_else(|e| panic!("poll failed: {e}"))
}

fn poll_err(source: &mut GitSource) -> SourceError {
    match source.poll() {
        Ok(p) => panic!("the poll should have failed, but gave {p:?}"),
        Err(e) => {
            eprintln!("the poll failed, as it should: {e}");
            e
        }
    }
}

fn updated(commit: &str, previous: Option<&str>) -> Poll {
    Poll::Updated {
        commit: commit.to_owned(),
        previous: previous.map(str::to_owned),
        note: None,
    }
}

fn unchanged(commit: &str) -> Poll {
    Poll::Unchanged {
        commit: commit.to_owned(),
    }
}

fn files(source: &mut GitSource, commit: &str, path: &str) -> Vec<File> {
    source
        .files(commit, path, &[])
        .unwrap_or_else(|e| panic!("reading {commit} at '{path}': {e}"))
}

fn paths(files: &[File]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

fn content<'a>(files: &'a [File], path: &str) -> &'a str {
    let file = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is not among {:?}", paths(files)));
    std::str::from_utf8(&file.bytes).unwrap()
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A small repository: two manifests under apps/, one commit pushed to main.
fn small_repo(servers: &Servers, prefix: &str) -> (Remote, String) {
    let remote = Remote::create(servers, prefix);
    remote
        .write("apps/web.yaml", config_map("web", "1"))
        .write("apps/db.yaml", config_map("db", "1"));
    let commit = remote.commit_and_push("first");
    (remote, commit)
}

/// Pushes a second commit that changes apps/web.yaml and checks that the
/// source moves to it and reads the new content; returns its id.
fn follows_a_new_commit(src: &mut GitSource, remote: &Remote, first: &str) -> String {
    remote.write("apps/web.yaml", config_map("web", "2"));
    let second = remote.commit_and_push("second");
    assert_eq!(poll(src), updated(&second, Some(first)));
    assert_eq!(
        content(&files(src, &second, "apps"), "apps/web.yaml"),
        config_map("web", "2")
    );
    second
}

/// The repository folders (`repo-<n>`) a source keeps.
fn generations(state_dir: &Path, name: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(source_dir(state_dir, name))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("repo-"))
        .collect();
    out.sort();
    out
}

#[test]
fn first_clone_over_git_daemon_reads_the_manifests_under_a_path() {
    let servers = Servers::get();
    let remote = Remote::create(&servers, "first-clone");
    remote.write("apps/web.yaml", config_map("web", "old"));
    let parent = remote.commit_and_push("the parent");
    remote
        .write("apps/web.yaml", config_map("web", "1"))
        .write("apps/db.yml", config_map("db", "1"))
        .write("apps/README.md", "# not a manifest\n")
        .write("apps/draft.yaml", config_map("draft", "1"))
        .write("apps/notes/todo.yaml", config_map("todo", "1"))
        .write("apps/.hidden.yaml", config_map("hidden", "1"))
        .write("apps/.plumbignore", "# not yet\ndraft.yaml\nnotes/\n")
        .write("other/x.yaml", config_map("x", "1"));
    let commit = remote.commit_and_push("manifests");
    let state = temp_dir("git-first-clone");
    let settings = source("first", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(src.last_good(), None);

    assert_eq!(poll(&mut src), updated(&commit, None));
    assert_eq!(src.last_good(), Some(commit.as_str()));

    // .plumbignore (at the top of the sync's folder) and hidden files leave files out.
    let apps = files(&mut src, &commit, "apps");
    assert_eq!(paths(&apps), ["apps/db.yml", "apps/web.yaml"]);
    assert_eq!(content(&apps, "apps/web.yaml"), config_map("web", "1"));
    let only_web = src.files(&commit, "apps", &["db.yml".to_owned()]).unwrap();
    assert_eq!(paths(&only_web), ["apps/web.yaml"]);
    // From the top, apps/.plumbignore is not the folder's: only hidden files go.
    let top = files(&mut src, &commit, "");
    assert_eq!(
        paths(&top),
        [
            "apps/db.yml",
            "apps/draft.yaml",
            "apps/notes/todo.yaml",
            "apps/web.yaml",
            "other/x.yaml"
        ]
    );
    match src.files(&commit, "nope", &[]) {
        Err(SourceError::NoSuchPath { path, .. }) => assert_eq!(path, "nope"),
        other => panic!("expected NoSuchPath, got {:?}", other.map(|f| f.len())),
    }
    // A depth-1 clone: the parent commit was never fetched.
    assert!(
        src.files(&parent, "apps", &[]).is_err(),
        "the parent of a depth-1 clone should be absent"
    );
}

#[test]
fn a_poll_with_nothing_new_writes_nothing() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "noop");
    let state = temp_dir("git-noop");
    let settings = source("noop", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    src.record_in_force("apps", &commit, 20).unwrap();

    let before = snapshot(&state);
    assert!(before.len() > 5, "{before:?}");
    assert_eq!(poll(&mut src), unchanged(&commit));
    src.record_in_force("apps", &commit, 20).unwrap();
    assert_eq!(files(&mut src, &commit, "apps").len(), 2);
    let after = snapshot(&state);
    assert!(
        before == after,
        "a poll with nothing new wrote: {:#?}",
        snapshot_diff(&before, &after)
    );

    // Nor does a restart: open (with its verification) and poll again.
    drop(src);
    let mut src = open(&settings, &state);
    assert_eq!(src.last_good(), Some(commit.as_str()));
    assert_eq!(src.in_force("apps"), Some(commit.as_str()));
    assert_eq!(poll(&mut src), unchanged(&commit));
    let after = snapshot(&state);
    assert!(
        before == after,
        "open + poll with nothing new wrote: {:#?}",
        snapshot_diff(&before, &after)
    );
}

#[test]
fn a_new_commit_is_fetched_and_the_applied_one_stays_readable() {
    let servers = Servers::get();
    let (remote, old) = small_repo(&servers, "update");
    let state = temp_dir("git-update");
    let settings = source("update", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&old, None));
    src.record_in_force("apps", &old, 20).unwrap();

    remote
        .write("apps/web.yaml", config_map("web", "2"))
        .remove("apps/db.yaml")
        .write("apps/cache.yaml", config_map("cache", "1"));
    let new = remote.commit_and_push("second");
    assert_eq!(poll(&mut src), updated(&new, Some(&old)));
    assert_eq!(src.last_good(), Some(new.as_str()));

    let now = files(&mut src, &new, "apps");
    assert_eq!(paths(&now), ["apps/cache.yaml", "apps/web.yaml"]);
    assert_eq!(content(&now, "apps/web.yaml"), config_map("web", "2"));
    // The revision the sync has in force is still there.
    let then = files(&mut src, &old, "apps");
    assert_eq!(paths(&then), ["apps/db.yaml", "apps/web.yaml"]);
    assert_eq!(content(&then, "apps/web.yaml"), config_map("web", "1"));

    assert_eq!(poll(&mut src), unchanged(&new));
}

#[test]
fn a_force_push_moves_to_the_new_tip() {
    let servers = Servers::get();
    let (remote, first) = small_repo(&servers, "force");
    remote.write("apps/web.yaml", config_map("web", "2"));
    let second = remote.commit_and_push("second");
    let state = temp_dir("git-force");
    let settings = source("force", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&second, None));

    // Rewrite the last commit: the new tip does not descend from the old one.
    remote.git(&["reset", "-q", "--hard", &first]);
    remote.write("apps/web.yaml", config_map("web", "rewritten"));
    let rewritten = remote.commit_and_push("second, rewritten");
    assert_ne!(rewritten, second);
    assert_eq!(remote.remote_rev("main"), rewritten);
    assert_eq!(poll(&mut src), updated(&rewritten, Some(&second)));
    let now = files(&mut src, &rewritten, "apps");
    assert_eq!(
        content(&now, "apps/web.yaml"),
        config_map("web", "rewritten")
    );

    // A history with nothing in common.
    remote.git(&["checkout", "-q", "--orphan", "fresh"]);
    remote.git(&["rm", "-rfq", "."]);
    remote.write("apps/new.yaml", config_map("new", "1"));
    let unrelated = remote.commit("a new history");
    remote.push_to("main");
    assert_eq!(poll(&mut src), updated(&unrelated, Some(&rewritten)));
    assert_eq!(
        paths(&files(&mut src, &unrelated, "apps")),
        ["apps/new.yaml"]
    );
    assert_eq!(poll(&mut src), unchanged(&unrelated));
}

#[test]
fn tag_and_commit_pins() {
    let servers = Servers::get();
    let (remote, first) = small_repo(&servers, "pins");
    remote.git(&["tag", "-a", "v1", "-m", "release 1"]);
    remote.git(&["push", "-q", "origin", "refs/tags/v1"]);
    let tag_object = remote.remote_rev("refs/tags/v1");
    assert_ne!(
        tag_object, first,
        "an annotated tag is an object of its own"
    );
    assert_eq!(remote.remote_rev("refs/tags/v1^{commit}"), first);

    let state = temp_dir("git-pins");
    let by_tag = source(
        "tagged",
        &servers.git_url(&remote),
        GitRef::Tag("v1".into()),
    );
    let mut src = open(&by_tag, &state);
    assert_eq!(
        poll(&mut src),
        updated(&first, None),
        "the tag is peeled to its commit"
    );

    // main moves on; the tag does not.
    remote.write("apps/web.yaml", config_map("web", "2"));
    let second = remote.commit_and_push("second");
    assert_eq!(poll(&mut src), unchanged(&first));

    // The tag is moved (force-pushed) to the new commit.
    remote.git(&["tag", "-f", "-a", "v1", "-m", "release 1, again"]);
    remote.git(&["push", "-q", "--force", "origin", "refs/tags/v1"]);
    match poll(&mut src) {
        Poll::Updated {
            commit,
            previous,
            note,
        } => {
            assert_eq!(commit, second);
            assert_eq!(previous.as_deref(), Some(first.as_str()));
            let note = note.expect("a moved tag is noted");
            assert!(
                note.contains("moved") && note.contains(&first) && note.contains(&second),
                "{note}"
            );
        }
        other => panic!("expected an update, got {other:?}"),
    }
    assert_eq!(
        content(&files(&mut src, &second, "apps"), "apps/web.yaml"),
        config_map("web", "2")
    );

    // A commit pin fetches exactly that commit, though it is no longer a tip.
    let by_commit = source(
        "pinned",
        &servers.git_url(&remote),
        GitRef::Commit(first.clone()),
    );
    let mut pinned = open(&by_commit, &state);
    assert_eq!(poll(&mut pinned), updated(&first, None));
    assert_eq!(
        content(&files(&mut pinned, &first, "apps"), "apps/web.yaml"),
        config_map("web", "1")
    );
    assert_eq!(poll(&mut pinned), unchanged(&first));

    // A commit the server does not have fails, and leaves nothing in force.
    let missing = source(
        "missing",
        &servers.git_url(&remote),
        GitRef::Commit("1111111111111111111111111111111111111111".into()),
    );
    let mut missing = open(&missing, &state);
    let err = poll_err(&mut missing);
    assert!(err.to_string().contains("missing"), "{err}");
    assert_eq!(missing.last_good(), None);
}

/// A folder with 0600 copies of the servers' secrets.
struct Secrets {
    dir: PathBuf,
    password: String,
    token: String,
}

impl Secrets {
    fn new(servers: &Servers, prefix: &str) -> Secrets {
        let dir = temp_dir(prefix);
        let password = std::fs::read_to_string(servers.path("GIT_HTTP_PASSWORD_FILE"))
            .unwrap()
            .trim()
            .to_owned();
        let token = std::fs::read_to_string(servers.path("GIT_HTTP_TOKEN_FILE"))
            .unwrap()
            .trim()
            .to_owned();
        Secrets {
            dir,
            password,
            token,
        }
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        secret_file(&self.dir, name, &format!("{content}\n"))
    }
}

#[test]
fn https_with_the_test_ca_and_basic_auth_or_a_token() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "https-basic");
    let secrets = Secrets::new(&servers, "git-https-basic-secrets");
    let password = secrets.file("password", &secrets.password);
    let user = secrets.file("user", servers.var("GIT_HTTP_USER"));
    let state = temp_dir("git-https-basic");
    let url = servers.https_url(&remote);
    let ca = servers.var("GIT_CA");
    // Through the config, as a user writes it.
    let yaml = format!(
        "stateDir: {state}
sources:
  - name: basic
    url: {url}
    ref: {{branch: main}}
    caFile: {ca}
    timeout: 30s
    auth: {{username: {user_name}, passwordFile: {password}}}
  - name: user-file
    url: {url}
    ref: {{branch: main}}
    caFile: {ca}
    timeout: 30s
    auth: {{usernameFile: {user}, passwordFile: {password}}}
  - name: token
    url: {url}
    ref: {{branch: main}}
    caFile: {ca}
    timeout: 30s
    auth: {{tokenFile: {token}}}
",
        state = state.display(),
        user_name = servers.var("GIT_HTTP_USER"),
        password = password.display(),
        user = user.display(),
        // A token is sent as the password of user "git".
        token = secrets.file("token", &secrets.password).display(),
    );
    let settings = Settings::from_yaml(&yaml, Path::new("plumb.yaml")).unwrap();
    assert_eq!(settings.sources.len(), 3);
    assert!(matches!(settings.sources[2].auth, Some(Auth::Token { .. })));
    for s in &settings.sources {
        let mut src = open(s, &settings.state_dir);
        assert_eq!(poll(&mut src), updated(&commit, None), "source {}", s.name);
        assert_eq!(
            paths(&files(&mut src, &commit, "apps")),
            ["apps/db.yaml", "apps/web.yaml"]
        );
        assert_eq!(poll(&mut src), unchanged(&commit), "source {}", s.name);
    }
}

/// Hostile input 8: a token in the source URL was stored in clear in
/// stateDir (`state.json`'s origin), mode 0644 outside the unit. No state
/// file holds a credential, each is 0600, and a state file an older release
/// wrote with the token is rewritten without it (the clone kept).
#[test]
fn a_token_in_the_url_never_reaches_the_state_dir() {
    use std::os::unix::fs::PermissionsExt;
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "url-token");
    let secrets = Secrets::new(&servers, "git-url-token-secrets");
    let url = servers.https_url(&remote).replacen(
        "https://",
        &format!(
            "https://{}:{}@",
            servers.var("GIT_HTTP_USER"),
            secrets.password
        ),
        1,
    );
    let state = temp_dir("git-url-token");
    let mut settings = source("token-url", &url, main_branch());
    settings.ca_file = Some(PathBuf::from(servers.var("GIT_CA")));
    let no_secret_anywhere = || {
        for (path, _) in snapshot(&source_dir(&state, "token-url")) {
            let full = source_dir(&state, "token-url").join(&path);
            if full.is_file() {
                let bytes = std::fs::read(&full).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(&secrets.password),
                    "{} holds the password",
                    full.display()
                );
            }
        }
    };
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    drop(src);
    no_secret_anywhere();
    let state_file = source_dir(&state, "token-url").join("state.json");
    let mode = std::fs::metadata(&state_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "state.json is {mode:o}");

    // As an older release left it: the origin with the token, mode 0644.
    let text = std::fs::read_to_string(&state_file).unwrap();
    let redacted = servers.https_url(&remote);
    assert!(text.contains(&redacted), "{text}");
    std::fs::write(&state_file, text.replace(&redacted, &url)).unwrap();
    std::fs::set_permissions(&state_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), unchanged(&commit), "the clone was not kept");
    no_secret_anywhere();
    let mode = std::fs::metadata(&state_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "state.json is {mode:o}");
}

/// Hostile input 21: a git:// server that never answers ended in "Resource
/// temporarily unavailable (os error 11)"; credentials in the URL that the
/// server refused were reported as "the server wants credentials".
#[test]
fn a_silent_server_times_out_and_refused_url_credentials_say_so() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // Accepts, then never says a word.
    let held = std::thread::spawn(move || silent.accept().map(|(conn, _)| conn));
    let state = temp_dir("git-silent");
    let mut settings = source(
        "silent",
        &format!("git://127.0.0.1:{port}/repo.git"),
        main_branch(),
    );
    settings.timeout = std::time::Duration::from_secs(2);
    let err = poll_err(&mut open(&settings, &state)).to_string();
    assert!(
        err.contains("timed out: the server sent nothing for 2s"),
        "{err}"
    );
    drop(held);

    let servers = Servers::get();
    let (remote, _) = small_repo(&servers, "url-refused");
    let url = servers
        .https_url(&remote)
        .replacen("https://", "https://git:not-the-password@", 1);
    let mut settings = source("refused", &url, main_branch());
    settings.ca_file = Some(PathBuf::from(servers.var("GIT_CA")));
    let err = poll_err(&mut open(&settings, &temp_dir("git-url-refused"))).to_string();
    assert!(err.contains("refused the credentials in the URL"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
}

#[test]
fn https_with_a_bearer_token_and_anonymous() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "https-bearer");
    let secrets = Secrets::new(&servers, "git-https-bearer-secrets");
    let state = temp_dir("git-https-bearer");
    let mut bearer = source("bearer", &servers.https_bearer_url(&remote), main_branch());
    bearer.ca_file = Some(servers.path("GIT_CA"));
    bearer.auth = Some(Auth::Bearer {
        token_file: secrets.file("bearer", &secrets.token),
    });
    let mut src = open(&bearer, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    assert_eq!(files(&mut src, &commit, "apps").len(), 2);

    // The wrong token is refused.
    let mut wrong = bearer.clone();
    wrong.name = "bearer-wrong".into();
    wrong.auth = Some(Auth::Bearer {
        token_file: secrets.file("wrong-bearer", "not-the-token"),
    });
    let err = poll_err(&mut open(&wrong, &state));
    assert!(matches!(err, SourceError::Unauthorized { .. }), "{err:?}");

    let mut anon = source("anon", &servers.https_anon_url(&remote), main_branch());
    anon.ca_file = Some(servers.path("GIT_CA"));
    let mut src = open(&anon, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
}

#[test]
fn plain_http_anonymous() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "http-anon");
    let state = temp_dir("git-http-anon");
    let settings = source("plain", &servers.http_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    let second = follows_a_new_commit(&mut src, &remote, &commit);
    assert_eq!(poll(&mut src), unchanged(&second));
}

#[test]
fn https_with_the_wrong_ca_is_refused() {
    let servers = Servers::get();
    let (remote, _) = small_repo(&servers, "wrong-ca");
    let secrets = Secrets::new(&servers, "git-wrong-ca-secrets");
    let state = temp_dir("git-wrong-ca");
    let mut settings = source("wrong-ca", &servers.https_url(&remote), main_branch());
    settings.auth = Some(Auth::Token {
        token_file: secrets.file("token", &secrets.password),
    });
    settings.ca_file = Some(servers.path("GIT_WRONG_CA"));
    let mut src = open(&settings, &state);
    let err = poll_err(&mut src);
    let text = err.to_string();
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert!(
        text.contains("not signed by") && text.contains(servers.var("GIT_WRONG_CA")),
        "{text}"
    );
    assert_eq!(src.last_good(), None);

    // Without caFile, only the public roots are trusted.
    settings.ca_file = None;
    settings.name = "no-ca".into();
    let err = poll_err(&mut open(&settings, &state));
    let text = err.to_string();
    assert!(
        text.contains("not signed by") && text.contains("public roots"),
        "{text}"
    );
}

/// Set in the child process of the test below.
const CA_CHILD: &str = "PLUMB_TEST_GIT_CA_CHILD";

// The machine's CA variables (GIT_SSL_CAINFO, SSL_CERT_FILE, …) must not
// change whom plumb trusts: a child process gets them all pointing at the
// test CA, and a source without caFile must still refuse the server.
#[test]
fn https_ignores_the_ca_variables_of_the_environment() {
    let servers = Servers::get();
    if std::env::var_os(CA_CHILD).is_some() {
        let (remote, _) = small_repo(&servers, "ca-env");
        let state = temp_dir("git-ca-env");
        let settings = source("ca-env", &servers.https_anon_url(&remote), main_branch());
        let err = poll_err(&mut open(&settings, &state));
        let text = err.to_string();
        assert!(
            text.contains("not signed by") && text.contains("public roots"),
            "{text}"
        );
        return;
    }
    let ca = servers.path("GIT_CA");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "https_ignores_the_ca_variables_of_the_environment",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CA_CHILD, "1")
        .env("GIT_SSL_CAINFO", &ca)
        .env("SSL_CERT_FILE", &ca)
        .env("SSL_CERT_DIR", ca.parent().unwrap())
        .env("CURL_CA_BUNDLE", &ca)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("NIX_SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the child failed: {text}"
    );
}

#[test]
fn https_with_the_wrong_password_is_unauthorized_and_never_shows_it() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "wrong-password");
    let secrets = Secrets::new(&servers, "git-wrong-password-secrets");
    let state = temp_dir("git-wrong-password");
    let wrong = "Sw0rdfish-not-the-password";
    let mut settings = source("wrong-pw", &servers.https_url(&remote), main_branch());
    settings.ca_file = Some(servers.path("GIT_CA"));
    settings.auth = Some(Auth::Basic {
        username: plumb::config::Username::Literal("git".into()),
        password_file: secrets.file("wrong", wrong),
    });
    let mut src = open(&settings, &state);
    let err = poll_err(&mut src);
    let text = format!("{err} {err:?}");
    assert!(matches!(err, SourceError::Unauthorized { .. }), "{err:?}");
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("git:{wrong}"));
    assert!(
        !text.contains(wrong) && !text.contains(&encoded) && !text.contains(&secrets.password),
        "the error shows the secret: {text}"
    );
    assert_eq!(src.last_good(), None);

    // No credentials at all: the message says to give some.
    let mut none = settings.clone();
    none.name = "no-auth".into();
    none.auth = None;
    let err = poll_err(&mut open(&none, &state));
    assert!(
        matches!(err, SourceError::Unauthorized { .. }) && err.to_string().contains("credentials"),
        "{err:?}"
    );

    // A password file others can read is refused before anything is sent.
    let loose = secrets.dir.join("loose");
    std::fs::write(&loose, format!("{}\n", secrets.password)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut loose_settings = settings.clone();
    loose_settings.name = "loose".into();
    loose_settings.auth = Some(Auth::Basic {
        username: plumb::config::Username::Literal("git".into()),
        password_file: loose,
    });
    let err = poll_err(&mut open(&loose_settings, &state));
    assert!(
        matches!(err, SourceError::Credentials { .. }) && err.to_string().contains("chmod 600"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&secrets.password), "{err}");

    // The right password, for contrast.
    settings.name = "right-pw".into();
    settings.auth = Some(Auth::Basic {
        username: plumb::config::Username::Literal("git".into()),
        password_file: secrets.file("right", &secrets.password),
    });
    assert_eq!(poll(&mut open(&settings, &state)), updated(&commit, None));
}

/// A 0600 copy of one of the servers' ssh files.
fn ssh_file(servers: &Servers, dir: &Path, key: &str) -> PathBuf {
    let text = std::fs::read_to_string(servers.path(key)).unwrap();
    secret_file(dir, &key.to_ascii_lowercase(), &text)
}

#[test]
fn ssh_with_a_deploy_key_and_known_hosts() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "ssh");
    let keys = temp_dir("git-ssh-keys");
    let state = temp_dir("git-ssh");
    let url = servers.ssh_url(&remote);
    assert!(url.starts_with("ssh://root@127.0.0.1:"), "{url}");
    let mut settings = source("ssh", &url, main_branch());
    settings.auth = Some(Auth::Ssh {
        key_file: ssh_file(&servers, &keys, "GIT_SSH_KEY"),
        known_hosts_file: ssh_file(&servers, &keys, "GIT_SSH_KNOWN_HOSTS"),
    });
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    let second = follows_a_new_commit(&mut src, &remote, &commit);
    assert_eq!(poll(&mut src), unchanged(&second));
}

#[test]
fn ssh_refuses_an_unknown_host_key_and_a_wrong_key() {
    let servers = Servers::get();
    let (remote, _) = small_repo(&servers, "ssh-wrong");
    let keys = temp_dir("git-ssh-wrong-keys");
    let state = temp_dir("git-ssh-wrong");
    let key = ssh_file(&servers, &keys, "GIT_SSH_KEY");
    let mut settings = source("ssh-host", &servers.ssh_url(&remote), main_branch());
    settings.auth = Some(Auth::Ssh {
        key_file: key.clone(),
        known_hosts_file: ssh_file(&servers, &keys, "GIT_SSH_WRONG_KNOWN_HOSTS"),
    });
    let mut src = open(&settings, &state);
    let err = poll_err(&mut src);
    assert!(
        matches!(err, SourceError::Unauthorized { .. }) && err.to_string().contains("host key"),
        "{err:?}"
    );
    assert_eq!(src.last_good(), None);

    // A known_hosts without the server at all.
    settings.name = "ssh-unknown-host".into();
    settings.auth = Some(Auth::Ssh {
        key_file: key,
        known_hosts_file: secret_file(&keys, "empty_known_hosts", ""),
    });
    let err = poll_err(&mut open(&settings, &state));
    assert!(
        matches!(err, SourceError::Unauthorized { .. }) && err.to_string().contains("host key"),
        "{err:?}"
    );

    settings.name = "ssh-key".into();
    settings.auth = Some(Auth::Ssh {
        key_file: ssh_file(&servers, &keys, "GIT_SSH_WRONG_KEY"),
        known_hosts_file: ssh_file(&servers, &keys, "GIT_SSH_KNOWN_HOSTS"),
    });
    let err = poll_err(&mut open(&settings, &state));
    assert!(matches!(err, SourceError::Unauthorized { .. }), "{err:?}");
}

#[test]
fn an_unreachable_remote_keeps_the_last_good_revision() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "down");
    let state = temp_dir("git-down");
    let settings = source("down", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));

    // The repository disappears from the server.
    let moved = remote.bare.with_extension("moved");
    std::fs::rename(&remote.bare, &moved).unwrap();
    let err = poll_err(&mut src);
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert_eq!(src.last_good(), Some(commit.as_str()));
    assert_eq!(files(&mut src, &commit, "apps").len(), 2);
    // A restart meanwhile changes nothing.
    drop(src);
    let mut src = open(&settings, &state);
    assert_eq!(src.last_good(), Some(commit.as_str()));
    assert_eq!(files(&mut src, &commit, "apps").len(), 2);

    // Back again.
    std::fs::rename(&moved, &remote.bare).unwrap();
    assert_eq!(poll(&mut src), unchanged(&commit));
    remote.write("apps/web.yaml", config_map("web", "2"));
    let second = remote.commit_and_push("second");
    assert_eq!(poll(&mut src), updated(&second, Some(&commit)));

    // Nothing listens at all.
    let port = closed_port();
    let nowhere = source(
        "nowhere",
        &format!("git://127.0.0.1:{port}/x.git"),
        main_branch(),
    );
    let mut src = open(&nowhere, &state);
    let err = poll_err(&mut src);
    assert!(
        matches!(err, SourceError::Unreachable { .. })
            && err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err:?}"
    );
    assert_eq!(src.last_good(), None);
}

#[test]
fn a_corrupt_pack_is_set_aside_and_cloned_again() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "corrupt");
    let state = temp_dir("git-corrupt");
    let settings = source("corrupt", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    drop(src);

    let dir = source_dir(&state, "corrupt");
    let packs = files_ending(&dir, ".pack");
    assert!(!packs.is_empty(), "no pack under {}", dir.display());
    for pack in &packs {
        // Every object's bytes, between the 12-byte header and the 20-byte checksum.
        let mut bytes = std::fs::read(pack).unwrap();
        let end = bytes.len() - 20;
        for b in &mut bytes[12..end] {
            *b ^= 0x5a;
        }
        std::fs::write(pack, bytes).unwrap();
    }

    let mut src = open(&settings, &state);
    assert!(
        dir.join("broken").is_dir(),
        "the broken clone was not set aside"
    );
    assert_eq!(src.last_good(), None);
    assert_eq!(poll(&mut src), updated(&commit, None));
    assert_eq!(
        content(&files(&mut src, &commit, "apps"), "apps/web.yaml"),
        config_map("web", "1")
    );
    // The next restart finds a healthy clone.
    drop(src);
    let src = open(&settings, &state);
    assert_eq!(src.last_good(), Some(commit.as_str()));
}

#[test]
fn a_garbage_state_file_does_not_prevent_open() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "garbage-state");
    let state = temp_dir("git-garbage-state");
    let settings = source("garbage", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    drop(src);
    let state_file = source_dir(&state, "garbage").join("state.json");
    let good = std::fs::read(&state_file).unwrap();
    for garbage in [
        good[..good.len() / 2].to_vec(),
        Vec::new(),
        b"\0\0\0\xff\xfe not json".to_vec(),
        b"{\"origin\": 42}".to_vec(),
    ] {
        std::fs::write(&state_file, &garbage).unwrap();
        let mut src = GitSource::open(&settings, &state, USER_AGENT).unwrap_or_else(|e| {
            panic!(
                "open failed on state {:?}: {e}",
                String::from_utf8_lossy(&garbage)
            )
        });
        assert_eq!(poll(&mut src).commit(), commit);
        assert_eq!(src.last_good(), Some(commit.as_str()));
        assert_eq!(files(&mut src, &commit, "apps").len(), 2);
    }
}

// What a crash in the middle of a fetch or a switch leaves behind.
#[test]
fn crash_remnants_do_not_wedge_the_source() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "remnants");
    let state = temp_dir("git-remnants");
    let settings = source("remnants", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    drop(src);

    let dir = source_dir(&state, "remnants");
    let [current] = &generations(&state, "remnants")[..] else {
        panic!("one generation expected")
    };
    let repo = dir.join(current);
    // A half-made next generation, as a crash during a switch leaves it.
    std::fs::create_dir_all(dir.join("repo-7.tmp/objects/pack")).unwrap();
    std::fs::write(dir.join("repo-7.tmp/objects/pack/tmp_pack_x"), [0u8; 4096]).unwrap();
    // The locks a fetch holds while it updates the shallow file and the ref.
    std::fs::write(repo.join("shallow.lock"), b"").unwrap();
    std::fs::create_dir_all(repo.join("refs/plumb")).unwrap();
    std::fs::write(repo.join("refs/plumb/fetched.lock"), b"").unwrap();
    // The temp files (gix's names) of a pack and index being written.
    let temp_pack = repo.join("objects/pack/.tmpCr4sh1");
    std::fs::write(&temp_pack, random_bytes(4096, 7)).unwrap();

    let mut src = open(&settings, &state);
    assert_eq!(src.last_good(), Some(commit.as_str()));
    for gone in [
        dir.join("repo-7.tmp"),
        repo.join("shallow.lock"),
        repo.join("refs/plumb/fetched.lock"),
        temp_pack,
    ] {
        assert!(!gone.exists(), "{} survived the restart", gone.display());
    }
    follows_a_new_commit(&mut src, &remote, &commit);
}

/// Set in the child process the test below kills: "<url>\n<stateDir>".
const KILL_CHILD: &str = "PLUMB_TEST_GIT_KILL_CHILD";

// A real kill -9 in the middle of receiving a pack: a child process
// (this test binary again) polls through a proxy that holds back the rest of
// the pack, and is killed there.
#[test]
fn killed_during_a_fetch_then_recovers() {
    if let Some(spec) = std::env::var_os(KILL_CHILD) {
        let spec = spec.into_string().unwrap();
        let (url, state) = spec.split_once('\n').unwrap();
        let mut src = open(&source("killed", url, main_branch()), Path::new(state));
        let outcome = src.poll();
        panic!("the poll ended before the kill: {outcome:?}");
    }
    let servers = Servers::get();
    let (remote, first) = small_repo(&servers, "killed");
    let proxy = Proxy::start(servers.daemon_addr());
    let url = format!("git://127.0.0.1:{}/{}.git", proxy.port, remote.name);
    let state = temp_dir("git-killed");
    let settings = source("killed", &url, main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&first, None));
    drop(src);

    remote.write("apps/blob.bin", random_bytes(4 << 20, 9));
    remote.write("apps/web.yaml", config_map("web", "big"));
    let big = remote.commit_and_push("a 4 MiB blob");
    let before = snapshot(&state);
    proxy.stall_after(1 << 20);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "killed_during_a_fetch_then_recovers",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_CHILD, format!("{url}\n{}", state.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if !proxy.wait_stalled(std::time::Duration::from_secs(120)) {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "the child never got 1 MiB into the fetch: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    proxy.release();
    let left = snapshot_diff(&before, &snapshot(&state));
    eprintln!("the kill left: {left:#?}");

    // gix takes `shallow.lock` before it asks for the pack, so a kill while
    // the pack arrives leaves it behind (and often the pack's temp files).
    let created: Vec<PathBuf> = snapshot(&state)
        .into_keys()
        .filter(|p| !before.contains_key(p))
        .collect();
    assert!(
        created.iter().any(|p| p.ends_with("shallow.lock")),
        "the kill was meant to leave the fetch's lock: {left:#?}"
    );

    let mut src = open(&settings, &state);
    assert_eq!(src.last_good(), Some(first.as_str()));
    for p in &created {
        assert!(!p.exists(), "{} survived the restart", p.display());
    }
    assert_eq!(poll(&mut src), updated(&big, Some(&first)));
    assert_eq!(
        content(&files(&mut src, &big, "apps"), "apps/web.yaml"),
        config_map("web", "big")
    );
}

#[test]
fn a_hundred_updates_keep_the_disk_bounded() {
    let servers = Servers::get();
    let remote = Remote::create(&servers, "hundred");
    for i in 0..300 {
        remote.write(
            &format!("apps/app-{i:03}.yaml"),
            config_map(
                &format!("app-{i:03}"),
                &format!("value {i} of a few hundred small manifests"),
            ),
        );
    }
    remote.write("apps/counter.yaml", config_map("counter", "0"));
    let first = remote.commit_and_push("three hundred manifests");
    let state = temp_dir("git-hundred");
    let settings = source("hundred", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&first, None));
    // One sync lags behind at the first commit: it must stay readable throughout.
    src.record_in_force("slow", &first, 20).unwrap();
    src.record_in_force("apps", &first, 20).unwrap();
    let fresh = src.disk_usage();
    // The 20 revisions "apps" applied last are kept for rollbacks: the disk fills while
    // they accumulate, then stays bounded.
    let (mut max, mut max_once_full) = (fresh, 0);
    let mut applied = Vec::new();
    let mut generations_seen = std::collections::BTreeSet::new();
    let mut previous = first.clone();
    let started = Instant::now();
    let mut polling = std::time::Duration::ZERO;
    for i in 1..=100 {
        remote.write("apps/counter.yaml", config_map("counter", &i.to_string()));
        let commit = remote.commit_and_push(&format!("update {i}"));
        let t = Instant::now();
        assert_eq!(
            poll(&mut src),
            updated(&commit, Some(&previous)),
            "update {i}"
        );
        polling += t.elapsed();
        src.record_in_force("apps", &commit, 20).unwrap();
        applied.push(commit.clone());
        if i <= 40 {
            max = max.max(src.disk_usage());
        } else {
            max_once_full = max_once_full.max(src.disk_usage());
        }
        generations_seen.extend(generations(&state, "hundred"));
        previous = commit;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "100 updates: fresh clone {fresh} bytes, max {max} bytes over the first 40 ({:.2}x), {max_once_full} over the last 60 ({:.2}x), {} fresh clones beside the first, {:.1}s in all, {:.1}s polling",
        max as f64 / fresh as f64,
        max_once_full as f64 / fresh as f64,
        generations_seen.len() - 1,
        elapsed.as_secs_f64(),
        polling.as_secs_f64()
    );
    assert!(
        (max_once_full as f64) < 1.5 * max as f64,
        "disk grew to {max_once_full} bytes after the first 40 updates' {max} (fresh {fresh})"
    );
    // Each of a rollback's choices is whole.
    for commit in &applied[applied.len() - 20..] {
        assert_eq!(files(&mut src, commit, "apps").len(), 301, "{commit}");
    }
    let last = files(&mut src, &previous, "apps");
    assert_eq!(last.len(), 301);
    assert_eq!(
        content(&last, "apps/counter.yaml"),
        config_map("counter", "100")
    );
    let then = files(&mut src, &first, "apps");
    assert_eq!(
        content(&then, "apps/counter.yaml"),
        config_map("counter", "0")
    );
    drop(src);
    let src = open(&settings, &state);
    assert_eq!(src.last_good(), Some(previous.as_str()));
}

#[test]
fn a_fetch_past_max_fetch_size_is_refused() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "too-big");
    let state = temp_dir("git-too-big");
    let mut settings = source("too-big", &servers.git_url(&remote), main_branch());
    settings.max_fetch_size = plumb::config::parse_size("1Mi").unwrap();
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));
    let before = src.disk_usage();

    remote.write("apps/blob.bin", random_bytes(2 << 20, 42));
    let big = remote.commit_and_push("a 2 MiB blob");
    for _ in 0..2 {
        let err = poll_err(&mut src);
        match &err {
            SourceError::TooBig { limit, .. } => assert_eq!(*limit, 1 << 20),
            other => panic!("expected TooBig, got {other:?}"),
        }
        assert!(err.to_string().contains("maxFetchSize"), "{err}");
        assert_eq!(src.last_good(), Some(commit.as_str()));
        assert_eq!(files(&mut src, &commit, "apps").len(), 2);
        let after = src.disk_usage();
        assert!(
            after < before + (64 << 10),
            "the refused fetch left {} bytes behind",
            after - before
        );
    }
    assert!(src.files(&big, "apps", &[]).is_err());

    // Once the blob is gone, the source moves on.
    remote.remove("apps/blob.bin");
    let small = remote.commit_and_push("without the blob");
    assert_eq!(poll(&mut src), updated(&small, Some(&commit)));
    assert_eq!(files(&mut src, &small, "apps").len(), 2);
}

#[test]
fn a_deleted_branch_is_ref_not_found_and_the_last_good_stays() {
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "deleted");
    remote.push_to("feature");
    let state = temp_dir("git-deleted");
    let settings = source(
        "deleted",
        &servers.git_url(&remote),
        GitRef::Branch("feature".into()),
    );
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&commit, None));

    remote.git(&["push", "-q", "origin", ":refs/heads/feature"]);
    let err = poll_err(&mut src);
    let text = err.to_string();
    assert!(matches!(err, SourceError::RefNotFound { .. }), "{err:?}");
    assert!(
        text.contains("branch 'feature'")
            && text.contains("does not exist")
            && text.contains(&servers.git_url(&remote)),
        "{text}"
    );
    assert_eq!(src.last_good(), Some(commit.as_str()));
    assert_eq!(files(&mut src, &commit, "apps").len(), 2);

    remote.push_to("feature");
    assert_eq!(poll(&mut src), unchanged(&commit));
}

#[test]
fn a_local_repository_owned_by_another_user_is_read() {
    // git refuses "dubious ownership" unless told the path is safe; a node's
    // file:// repository is usually not owned by the plumb user.
    let servers = Servers::get();
    let (remote, commit) = small_repo(&servers, "foreign");
    let owner = |uid: &str| {
        let out = Command::new("chown")
            .args(["-R", uid])
            .arg(&remote.bare)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown: {out:?}");
    };
    owner("65534:65534");
    let state = temp_dir("foreign-state");
    let url = format!("file://{}", remote.bare.display());
    let mut src = open(&source("foreign", &url, main_branch()), &state);
    let polled = src.poll();
    owner("0:0");
    assert_eq!(
        polled.unwrap_or_else(|e| panic!("{e}")),
        updated(&commit, None)
    );
    assert_eq!(
        paths(&files(&mut src, &commit, "apps")),
        ["apps/db.yaml", "apps/web.yaml"]
    );

    // A work tree rather than a bare repository: git finds its .git.
    let url = format!("file://{}", remote.work.display());
    let mut src = open(
        &source("worktree", &url, main_branch()),
        &temp_dir("worktree-state"),
    );
    assert_eq!(poll(&mut src), updated(&commit, None));
}

#[test]
fn a_local_path_that_is_no_repository_says_what_git_said() {
    let state = temp_dir("not-a-repo-state");
    let empty = temp_dir("not-a-repo");
    let url = format!("file://{}", empty.display());
    let mut src = open(&source("nothing", &url, main_branch()), &state);
    let message = poll_err(&mut src).to_string();
    assert!(
        message.contains("does not appear to be a git repository")
            || message.contains("not a git repository"),
        "git's own words are missing: {message}"
    );
}

/// A poll through a proxy that trickles the server's answer (a byte every 200 ms past
/// `after` bytes) ends with FetchTimedOut once fetchTimeout passes, though no single read
/// waits longer than the source's timeout; nothing is kept, and once the server answers
/// normally again the poll succeeds.
fn a_trickling_server_is_cut_off_at_fetch_timeout(scheme: &str, after: u64) {
    let servers = Servers::get();
    let prefix = format!("trickle-{scheme}");
    let (remote, first) = small_repo(&servers, &prefix);
    let (target, path) = match scheme {
        "git" => (servers.daemon_addr(), format!("{}.git", remote.name)),
        "ssh" => {
            let url = servers.ssh_url(&remote);
            let rest = url.strip_prefix("ssh://root@").unwrap();
            let (authority, path) = rest.split_once('/').unwrap();
            (authority.parse().unwrap(), path.to_owned())
        }
        _ => {
            let url = servers.http_url(&remote);
            let rest = url.strip_prefix("http://").unwrap();
            let (authority, path) = rest.split_once('/').unwrap();
            (authority.parse().unwrap(), path.to_owned())
        }
    };
    let proxy = Proxy::start(target);
    let user = if scheme == "ssh" { "root@" } else { "" };
    let url = format!("{scheme}://{user}127.0.0.1:{}/{path}", proxy.port);
    let state = temp_dir(&prefix);
    let mut settings = source(&prefix, &url, main_branch());
    if scheme == "ssh" {
        // The server's host keys, known under the proxy's port.
        let keys = temp_dir("trickle-ssh-keys");
        let known = std::fs::read_to_string(servers.path("GIT_SSH_KNOWN_HOSTS"))
            .unwrap()
            .replace(
                &format!(":{} ", target.port()),
                &format!(":{} ", proxy.port),
            )
            .replace(
                &format!(":{},", target.port()),
                &format!(":{},", proxy.port),
            );
        settings.auth = Some(Auth::Ssh {
            key_file: ssh_file(&servers, &keys, "GIT_SSH_KEY"),
            known_hosts_file: secret_file(&keys, "known_hosts", &known),
        });
    }
    // ssh ends a silent session after 2 × timeout (ServerAliveInterval): long enough here
    // that only fetchTimeout can end the poll within the wait below.
    settings.timeout = Duration::from_secs(if scheme == "ssh" { 90 } else { 5 });
    settings.fetch_timeout = Duration::from_secs(3);
    let mut src = open(&settings, &state);
    assert_eq!(poll(&mut src), updated(&first, None));

    remote.write("apps/blob.bin", random_bytes(2 << 20, 7));
    let second = remote.commit_and_push("a 2 MiB blob");
    proxy.trickle_after(after, Duration::from_millis(200));
    // In a thread: without a deadline the poll would never end.
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = src.poll();
        let _ = done.send((result, src));
    });
    let (result, mut src) = outcome
        .recv_timeout(Duration::from_secs(120))
        .expect("the trickled poll never ended");
    match result {
        Err(e @ SourceError::FetchTimedOut { .. }) => {
            let text = e.to_string();
            assert!(text.contains("fetchTimeout (3s)"), "{text}");
            assert!(
                text.contains(&format!("127.0.0.1:{}", proxy.port)),
                "{text}"
            );
        }
        other => panic!("want FetchTimedOut, got {other:?}"),
    }
    assert_eq!(
        src.last_good(),
        Some(first.as_str()),
        "the cut-off poll kept something"
    );
    proxy.release();
    assert_eq!(poll(&mut src), updated(&second, Some(&first)));
}

#[test]
fn a_git_daemon_trickling_its_pack_is_cut_off_at_fetch_timeout() {
    a_trickling_server_is_cut_off_at_fetch_timeout("git", 64 << 10);
}

#[test]
fn an_http_server_trickling_its_ref_advertisement_is_cut_off_at_fetch_timeout() {
    a_trickling_server_is_cut_off_at_fetch_timeout("http", 0);
}

/// ssh has no deadline over a whole session: a server pacing its bytes from the first one
/// (the handshake, then the ref advertisement) kept a poll going past fetchTimeout.
#[test]
fn an_ssh_server_trickling_from_its_first_byte_is_cut_off_at_fetch_timeout() {
    a_trickling_server_is_cut_off_at_fetch_timeout("ssh", 0);
}

#[test]
fn a_fresh_generation_keeps_the_revisions_applied_even_after_a_force_push() {
    let servers = Servers::get();
    let remote = Remote::create(&servers, "rewritten");
    remote.write("apps/web.yaml", config_map("web", "1"));
    let first = remote.commit_and_push("first");
    remote.write("apps/web.yaml", config_map("web", "2"));
    let second = remote.commit_and_push("second");
    let state = temp_dir("git-rewritten");
    let settings = source("rewritten", &servers.git_url(&remote), main_branch());
    let mut src = open(&settings, &state);
    // The sync applied the first commit, fetched by its id (a rollback from another node),
    // then the second.
    src.ensure_commit(&first).unwrap();
    src.record_in_force("apps", &first, 20).unwrap();
    assert_eq!(poll(&mut src), updated(&second, None));
    src.record_in_force("apps", &second, 20).unwrap();
    let before = generations(&state, "rewritten");

    // History rewritten, with a large blob: the clone outgrows its fresh size and is
    // cloned afresh, while neither applied commit is on the remote any more.
    remote.git(&["checkout", "-q", "--orphan", "rewritten"]);
    remote.write("apps/web.yaml", config_map("web", "3"));
    remote.write("apps/blob.bin", random_bytes(256 << 10, 7));
    let rewritten = remote.commit_and_push("rewritten");
    // The server keeps no trace of the old commits (Git's protocol v2 would serve any
    // object it still has).
    common::git::git_in(&remote.bare, &["reflog", "expire", "--expire=now", "--all"]);
    common::git::git_in(&remote.bare, &["gc", "-q", "--prune=now"]);
    assert_eq!(poll(&mut src), updated(&rewritten, Some(&second)));
    let after = generations(&state, "rewritten");
    assert_ne!(before, after, "no fresh generation was cloned");
    for (commit, value) in [(&first, "1"), (&second, "2"), (&rewritten, "3")] {
        assert_eq!(
            content(&files(&mut src, commit, "apps"), "apps/web.yaml"),
            config_map("web", value),
            "{commit}"
        );
    }
    // And through a restart, with the commit in force verified on opening.
    drop(src);
    let mut src = open(&settings, &state);
    src.ensure_commit(&first).unwrap();
    assert_eq!(files(&mut src, &first, "apps").len(), 1);
    // A commit neither here nor on the remote is a clear error naming it.
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let err = src.ensure_commit(unknown).unwrap_err().to_string();
    assert!(
        err.contains(unknown) && err.contains("not in the local clone"),
        "{err}"
    );
}
