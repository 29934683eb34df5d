//! SOPS with age (the `sops` crate and render's decryption), against the real tools: files encrypted by the real `sops`
//! (v3.13, built by `tests/tools/build.sh sops`) for keys made by `age-keygen`
//! (Debian's `age`), decrypted by plumb's `sops` crate and compared with
//! `sops -d`; altered, truncated and foreign files refused with the file's
//! error; and end to end, a sync that applies encrypted Secrets (as Flux's
//! homelab template encrypts them) and applies nothing of a revision with one
//! bad file. A missing tool is a failure, never a skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::fixture::*;
use common::{built_tool, plumb, temp_dir, text};
use serde::Deserialize;

/// The pinned `sops`.
fn sops_bin() -> &'static Path {
    static SOPS: OnceLock<PathBuf> = OnceLock::new();
    SOPS.get_or_init(|| built_tool("sops", "sops"))
}

/// A key made by `age-keygen`, mode 0600: (key file, recipient).
fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let file = dir.join(format!("{name}.key"));
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&file)
        .output()
        .expect("age-keygen (Debian's age package; tests/run installs it)");
    assert!(out.status.success(), "age-keygen: {}", text(&out));
    let content = std::fs::read_to_string(&file).unwrap();
    let recipient = content
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_owned();
    (file, recipient)
}

fn sops(dir: &Path, args: &[&str], key_file: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new(sops_bin());
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY");
    if let Some(key) = key_file {
        cmd.env("SOPS_AGE_KEY_FILE", key);
    }
    cmd.output().unwrap()
}

/// `sops encrypt ARGS FILE` in `dir`: the encrypted text.
fn encrypt(dir: &Path, file: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["encrypt"];
    all.extend_from_slice(args);
    all.push(file);
    let out = sops(dir, &all, None);
    assert!(
        out.status.success(),
        "sops encrypt {args:?}: {}",
        text(&out)
    );
    out.stdout
}

/// `sops decrypt` of `encrypted` (written as `name`), with `key`.
fn reference(dir: &Path, name: &str, encrypted: &[u8], key: &Path, args: &[&str]) -> Vec<u8> {
    let path = dir.join(format!("enc-{name}"));
    std::fs::write(&path, encrypted).unwrap();
    let mut all = vec!["decrypt"];
    all.extend_from_slice(args);
    let path_text = path.to_str().unwrap().to_owned();
    all.push(&path_text);
    let out = sops(dir, &all, Some(key));
    assert!(out.status.success(), "sops decrypt: {}", text(&out));
    out.stdout
}

fn identities(files: &[&Path]) -> Vec<sops::Identity> {
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    sops::parse_identities(&text).unwrap()
}

fn yaml_docs(bytes: &[u8]) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_slice(bytes)
        .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  labels: {app: db}
type: Opaque
stringData:
  password: correct-horse-battery-staple
  url: postgres://app@db:5432/app
  flag: 'yes'
  mode: '0755'
data:
  token: c2VjcmV0LXRva2Vu
";

const VALUES: &str = "# a comment sops encrypts
name: web
replicas: 3
ratio: 0.25
big: 1.5e+30
enabled: true
disabled: false
nothing: null
empty: ''
multi: |
  line one
  line two
unicode: héllo ✓
words: ['yes', 'on', '0755', '1_000', '2001-12-14']
list:
  - a
  - 2
  - {nested: deep, n: 7}
map:
  inner:
    key: value
    other_unencrypted: stays plain
";

/// One file through both: ours equals `sops -d`, the same values in the same order.
/// `rules` are the keys of a `.sops.yaml` creation rule (`mac_only_encrypted: true`),
/// in a folder of the file's own.
fn same_as_sops(dir: &Path, name: &str, plain: &str, rules: &[&str]) -> sops::Decrypted {
    let dir = &dir.join(format!("case-{name}"));
    std::fs::create_dir_all(dir).unwrap();
    let (key, recipient) = age_key(dir, "k");
    let rule: String = rules.iter().map(|r| format!("    {r}\n")).collect();
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {recipient}\n{rule}"),
    )
    .unwrap();
    std::fs::write(dir.join(name), plain).unwrap();
    let args = rules;
    let encrypted = encrypt(dir, name, &[]);
    let format = sops::Format::of_path(name);
    assert!(
        sops::is_encrypted(format, &encrypted),
        "{name} seen as encrypted"
    );
    let ours = sops::decrypt(format, &encrypted, &identities(&[&key]))
        .unwrap_or_else(|e| panic!("{name} {args:?}: {e}"));
    let theirs = reference(dir, name, &encrypted, &key, &[]);
    match format {
        sops::Format::Yaml | sops::Format::Json => {
            assert_eq!(yaml_docs(&ours.text), yaml_docs(&theirs), "{name} {args:?}")
        }
        _ => assert_eq!(
            String::from_utf8_lossy(&ours.text),
            String::from_utf8_lossy(&theirs),
            "{name} {args:?}"
        ),
    }
    ours
}

#[test]
fn yaml_files_decrypt_as_sops_decrypts_them() {
    let dir = temp_dir("sops-yaml");
    let d = same_as_sops(&dir, "values.yaml", VALUES, &[]);
    assert!(d.secrets.contains(&"line one\nline two\n".to_owned()));
    // The `_unencrypted` suffix leaves a value plain: it is no secret.
    assert!(!d.secrets.contains(&"stays plain".to_owned()));
    // As Flux's homelab template encrypts Secrets.
    let d = same_as_sops(
        &dir,
        "secret.yaml",
        SECRET,
        &[
            "encrypted_regex: ^(data|stringData)$",
            "mac_only_encrypted: true",
        ],
    );
    assert!(d
        .secrets
        .contains(&"correct-horse-battery-staple".to_owned()));
    assert!(!d.secrets.contains(&"db".to_owned()));
    same_as_sops(
        &dir,
        "regex.yaml",
        SECRET,
        &["encrypted_regex: ^(data|stringData)$"],
    );
    same_as_sops(
        &dir,
        "unregex.yaml",
        VALUES,
        &["unencrypted_regex: ^(name|list)$"],
    );
    same_as_sops(&dir, "suffix.yaml", VALUES, &["encrypted_suffix: _secret"]);
    same_as_sops(
        &dir,
        "unsuffix.yaml",
        VALUES,
        &["unencrypted_suffix: ratio"],
    );
    same_as_sops(
        &dir,
        "maconly.yaml",
        VALUES,
        &[
            "unencrypted_suffix: _unencrypted",
            "mac_only_encrypted: true",
        ],
    );
    same_as_sops(
        &dir,
        "comment.yaml",
        "a: 1\n# sops:enc\nb: secret\nc: plain\n",
        &["encrypted_comment_regex: sops:enc"],
    );
    same_as_sops(
        &dir,
        "multi.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{a: b}}\n---\n{SECRET}"
        ),
        &[],
    );
}

#[test]
fn json_dotenv_ini_and_binary_files_decrypt_as_sops_decrypts_them() {
    let dir = temp_dir("sops-formats");
    same_as_sops(
        &dir,
        "secret.json",
        r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"}, "stringData": {"a": "b", "n": 5, "f": 1.5, "t": true, "l": ["x", 1]}}"#,
        &[],
    );
    let d = same_as_sops(
        &dir,
        "app.env",
        "# database\nDB_USER=app\nDB_PASSWORD=hunter2\nMULTI=a\\nb\nEMPTY=\n",
        &[],
    );
    assert!(d.secrets.contains(&"hunter2".to_owned()));
    same_as_sops(
        &dir,
        "app.ini",
        "[database]\nuser = app\npassword = hunter2\n\n[cache]\nsize = 10\n",
        &[],
    );
    let d = same_as_sops(
        &dir,
        "tls.key",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
        &[],
    );
    assert_eq!(d.secrets.len(), 1);
}

#[test]
fn every_recipient_and_enough_key_groups_open_a_file() {
    let dir = temp_dir("sops-groups");
    let (k1, r1) = age_key(&dir, "one");
    let (k2, r2) = age_key(&dir, "two");
    let (k3, r3) = age_key(&dir, "three");
    std::fs::write(dir.join("s.yaml"), SECRET).unwrap();
    let both = encrypt(&dir, "s.yaml", &["--age", &format!("{r1},{r2}")]);
    for key in [&k1, &k2] {
        let d = sops::decrypt(sops::Format::Yaml, &both, &identities(&[key])).unwrap();
        assert_eq!(yaml_docs(&d.text), yaml_docs(SECRET.as_bytes()));
    }
    // Three key groups, any two of which recover the data key (Shamir).
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{r1}]\n      - age: [{r2}]\n      - age: [{r3}]\n"),
    )
    .unwrap();
    let shared = encrypt(&dir, "s.yaml", &[]);
    assert!(String::from_utf8_lossy(&shared).contains("shamir_threshold: 2"));
    for pair in [[&k1, &k2], [&k2, &k3], [&k1, &k3]] {
        let pair: Vec<&Path> = pair.iter().map(|p| p.as_path()).collect();
        let d = sops::decrypt(sops::Format::Yaml, &shared, &identities(&pair)).unwrap();
        assert_eq!(yaml_docs(&d.text), yaml_docs(SECRET.as_bytes()));
    }
    let err = sops::decrypt(sops::Format::Yaml, &shared, &identities(&[&k1])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 of its 3 key groups could be opened, and 2 are needed"
    );
}

/// An encrypted value with one character of its ciphertext changed.
fn flipped(value: &str) -> String {
    let at = value.find("data:").unwrap() + 6;
    let c = if &value[at..at + 1] == "A" { "B" } else { "A" };
    let mut out = value.to_owned();
    out.replace_range(at..at + 1, c);
    out
}

/// Replaces the first occurrence of `from` (which must be there).
fn altered(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} in:\n{text}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn altered_foreign_and_broken_files_are_refused_without_plaintext() {
    let dir = temp_dir("sops-bad");
    let (key, recipient) = age_key(&dir, "mine");
    let (other, _) = age_key(&dir, "theirs");
    std::fs::write(dir.join("s.yaml"), SECRET).unwrap();
    let enc = encrypt(
        &dir,
        "s.yaml",
        &[
            "--age",
            &recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
        ],
    );
    let ids = identities(&[&key]);
    let decrypt = |bytes: &[u8]| sops::decrypt(sops::Format::Yaml, bytes, &ids);
    decrypt(&enc).expect("the file as sops wrote it");
    let check = |err: sops::SopsError, want: &str| {
        let message = err.to_string();
        assert!(message.contains(want), "{want:?} in {message:?}");
        for plain in ["correct-horse", "postgres://", "c2VjcmV0LXRva2Vu"] {
            assert!(!message.contains(plain), "{message}");
        }
    };
    // A plain value changed: the MAC, which covers it, no longer matches.
    check(
        decrypt(&altered(&enc, "name: db", "name: evil")).unwrap_err(),
        "MAC does not match",
    );
    // An encrypted value moved to another key: its additional data is the key path.
    let text = String::from_utf8(enc.clone()).unwrap();
    let password = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap()
        .to_owned();
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("url: "))
        .unwrap()
        .to_owned();
    let swapped = altered(&altered(&enc, &password, "SWAP"), &url, &password);
    let swapped = altered(&swapped, "SWAP", &url);
    check(
        decrypt(&swapped).unwrap_err(),
        "the value at 'stringData.password' does not decrypt",
    );
    // One character of the ciphertext.
    check(
        decrypt(&altered(&enc, &password, &flipped(&password))).unwrap_err(),
        "does not decrypt",
    );
    // The MAC itself.
    let mac = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("mac: "))
        .unwrap();
    check(
        decrypt(&altered(&enc, mac, &password)).unwrap_err(),
        "MAC does not match",
    );
    // Another key holder's file: the error names the file's recipients.
    let foreign = sops::decrypt(sops::Format::Yaml, &enc, &identities(&[&other])).unwrap_err();
    check(foreign, &recipient);
    // A file for PGP only.
    let start = text.find("    age:").unwrap();
    let end = text.find("    lastmodified:").unwrap();
    let pgp = format!(
        "{}    pgp:\n        - created_at: \"2026-01-01T00:00:00Z\"\n          enc: x\n          fp: 0123456789ABCDEF\n{}",
        &text[..start],
        &text[end..]
    );
    check(
        decrypt(pgp.as_bytes()).unwrap_err(),
        "only for PGP, not for age",
    );
    // Truncated anywhere: an error, never a panic.
    for cut in (0..enc.len()).step_by(97) {
        let _ = decrypt(&enc[..cut]);
    }
    assert!(decrypt(&enc[..enc.len() / 2]).is_err());
}

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: MODE\n";

/// Encrypts `plain` as `manifests/<name>` of the fixture's work tree, by its `.sops.yaml`.
fn put_encrypted(f: &Fixture, name: &str, plain: &str) {
    let dir = f.work.join("manifests");
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, plain).unwrap();
    let enc = encrypt(&dir, name, &[]);
    std::fs::write(&path, enc).unwrap();
}

#[test]
fn a_sync_applies_encrypted_secrets_and_nothing_of_a_revision_with_a_bad_one() {
    let keys = temp_dir("sops-keys");
    let (key, recipient) = age_key(&keys, "node");
    let f = Fixture::new(
        "sops",
        &format!(
            "    decryption: {{provider: sops, ageKeyFile: {}}}\n",
            key.display()
        ),
    );
    std::fs::write(
        f.work.join("manifests/.sops.yaml"),
        format!("creation_rules:\n  - path_regex: secret\\.yaml$\n    age: {recipient}\n    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n  - age: {recipient}\n"),
    )
    .unwrap();
    put_encrypted(&f, "secret.yaml", SECRET);
    // A kustomization whose secretGenerator reads an encrypted dotenv file.
    f.write("app/kustomization.yaml", "resources: [settings.yaml]\nsecretGenerator:\n  - name: app-env\n    envs: [app.env]\n    options: {disableNameSuffixHash: true}\n");
    f.write("app/settings.yaml", &CONFIG_MAP.replace("MODE", "one"));
    put_encrypted(&f, "app/app.env", "DB_PASSWORD=hunter2\nDB_USER=app\n");
    f.commit();
    let out = f.reconcile_ok();
    for plain in ["correct-horse", "hunter2"] {
        assert!(!out.contains(plain), "plaintext in plumb's output:\n{out}");
    }
    let secret = f
        .get("secret", "db")
        .expect("the decrypted Secret is applied");
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    assert_eq!(
        secret["data"]["password"],
        b64("correct-horse-battery-staple")
    );
    assert_eq!(secret["data"]["token"], "c2VjcmV0LXRva2Vu");
    // Strings YAML 1.1 would read as a boolean or a number stay strings.
    assert_eq!(secret["data"]["flag"], b64("yes"));
    assert_eq!(secret["data"]["mode"], b64("0755"));
    let env = f.get("secret", "app-env").expect("the generated Secret");
    assert_eq!(env["data"]["DB_PASSWORD"], b64("hunter2"));
    // Nothing decrypted reaches stateDir (its Git clone holds the encrypted files).
    let state = f.config.parent().unwrap().join("state");
    let out = Command::new("grep")
        .args(["-rlaF", "-e", "correct-horse", "-e", "hunter2"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "plaintext in stateDir: {}",
        text(&out)
    );

    // `plumb check` reads the key file as render does.
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "ageKeyFile {}: 1 identity(ies), for {recipient}",
            key.display()
        )),
        "{said}"
    );

    // `plumb render` masks what it decrypted, and prints it with --show-secrets.
    let render = |show: bool| {
        let mut cmd = plumb();
        cmd.args(["render", "--config"])
            .arg(&f.config)
            .args(["--sync", &f.sync]);
        if show {
            cmd.arg("--show-secrets");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let masked = render(false);
    assert!(masked.contains("decrypted from SOPS"), "{masked}");
    for plain in [
        "correct-horse",
        &b64("correct-horse-battery-staple"),
        &b64("hunter2"),
    ] {
        assert!(!masked.contains(plain), "{plain} in:\n{masked}");
    }
    assert!(render(true).contains("correct-horse-battery-staple"));

    // One altered file: nothing of the revision is applied, the status names the file.
    let path = f.work.join("manifests/secret.yaml");
    let enc = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
    let password = enc
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap()
        .to_owned();
    std::fs::write(&path, enc.replacen(&password, &flipped(&password), 1)).unwrap();
    f.write("app/settings.yaml", &CONFIG_MAP.replace("MODE", "two"));
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("manifests/secret.yaml: cannot be decrypted: the value at 'stringData.password' does not decrypt"),
        "{said}"
    );
    assert_eq!(
        f.get("configmap", "settings").unwrap()["data"]["mode"],
        "one",
        "nothing of the bad revision is applied"
    );
    assert!(f.get("secret", "db").is_some(), "nothing is pruned");
    let status = f.status().to_string();
    assert!(status.contains("cannot be decrypted"), "{status}");
    assert!(!status.contains("correct-horse") && !said.contains("correct-horse"));
}

#[test]
fn an_encrypted_file_without_decryption_or_with_a_bad_key_file_is_an_error() {
    let keys = temp_dir("sops-nokey");
    let (key, recipient) = age_key(&keys, "k");
    let dir = temp_dir("sops-render");
    std::fs::write(dir.join("secret.yaml"), SECRET).unwrap();
    let enc = encrypt(&dir, "secret.yaml", &["--age", &recipient]);
    std::fs::write(dir.join("secret.yaml"), &enc).unwrap();
    let render = |key_file: Option<&Path>| {
        let mut cmd = plumb();
        cmd.arg("render").arg(&dir);
        if let Some(k) = key_file {
            cmd.env("SOPS_AGE_KEY_FILE", k);
        }
        cmd.output().unwrap()
    };
    let out = render(None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("secret.yaml: cannot be decrypted: it is encrypted with SOPS, and the sync has no decryption"), "{}", text(&out));
    let out = render(Some(&key));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = render(Some(&key));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("lets others read it"), "{}", text(&out));
}

#[test]
fn a_secret_holding_an_encrypted_file_in_its_data_is_decrypted_as_flux_does() {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let dir = temp_dir("sops-data");
    let (key, recipient) = age_key(&dir, "k");
    let plain = "DB_PASSWORD=hunter2\nDB_USER=app\n";
    std::fs::write(dir.join("app.env"), plain).unwrap();
    let enc = encrypt(&dir, "app.env", &["--age", &recipient]);
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("secret.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: env}}\ndata:\n  app.env: {}\n  plain: {}\n",
            b64.encode(&enc),
            b64.encode("not encrypted")
        ),
    )
    .unwrap();
    let out = plumb()
        .arg("render")
        .arg(&manifests)
        .arg("--show-secrets")
        .env("SOPS_AGE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let docs = yaml_docs(&out.stdout);
    let data = &docs[0]["data"];
    let decoded = b64.decode(data["app.env"].as_str().unwrap()).unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), plain);
    assert_eq!(data["plain"].as_str().unwrap(), b64.encode("not encrypted"));
}
