//! Kustomize through the binary: an overlay over a base elsewhere in the repository (names
//! and hashes as kubectl's), a broken kustomization, `render: kustomize-external`.

use super::*;

/// A base outside the sync's folder: a Deployment reading a generated ConfigMap.
fn kustomize_base(f: &Fixture, greeting: &str) {
    f.write(
        "../base/kustomization.yaml",
        &format!("resources: [deploy.yaml]\nconfigMapGenerator:\n  - name: web-config\n    literals: [greeting={greeting}]\n"),
    );
    f.write(
        "../base/deploy.yaml",
        &DEPLOYMENT.replace(
            "          ports:",
            "          envFrom:\n            - configMapRef: {name: web-config}\n          ports:",
        ),
    );
}

/// The generated ConfigMap's name and the one the Deployment refers to.
fn generated_names(f: &Fixture) -> (Vec<String>, String) {
    let out = f.kubectl(&["-n", &f.ns, "get", "configmaps", "-o", "name"]);
    let names = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("configmap/"))
        .filter(|n| n.starts_with("prod-web-config-"))
        .map(str::to_owned)
        .collect();
    let deploy = f.get("deployment", "prod-web").expect("prod-web applied");
    let referred = deploy["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
        ["configMapRef"]["name"]
        .as_str()
        .expect("envFrom kept")
        .to_owned();
    (names, referred)
}

/// What `kubectl kustomize` names the generated ConfigMap, for the same tree.
fn kubectl_kustomize_name(f: &Fixture) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(f.work.join("manifests"))
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl kustomize: {}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix("name: "))
        .find(|n| n.starts_with("prod-web-config-"))
        .expect("kubectl kustomize generates the ConfigMap")
        .to_owned()
}

#[test]
fn a_kustomize_overlay_over_a_base_elsewhere_in_the_repository_is_applied_and_rolls() {
    let f = Fixture::new("kustomize", "");
    kustomize_base(&f, "hello");
    f.write(
        "kustomization.yaml",
        "resources: [../base]\nnamePrefix: prod-\ncommonLabels: {tier: web}\n",
    );
    // Beside a kustomization, plain YAML is not read (as with kustomize).
    f.write("stray.yaml", &config_map("stray", "1"));
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("2 applied"), "{out}");
    assert!(
        f.get("configmap", "stray").is_none(),
        "a file beside the kustomization was applied"
    );
    let (names, referred) = generated_names(&f);
    assert_eq!(
        names,
        [kubectl_kustomize_name(&f)],
        "the hash differs from kustomize's"
    );
    assert_eq!(
        referred, names[0],
        "the Deployment does not follow the generated name"
    );
    let deploy = f.get("deployment", "prod-web").unwrap();
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["tier"], "web");
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"]["tier"],
        "web"
    );

    // A new literal: a new name, the Deployment follows, the old one is pruned.
    kustomize_base(&f, "bonjour");
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("1 pruned"), "{out}");
    let (after, referred) = generated_names(&f);
    assert_eq!(after, [kubectl_kustomize_name(&f)]);
    assert_ne!(
        after, names,
        "the generated name did not change with its data"
    );
    assert_eq!(referred, after[0]);
}

#[test]
fn a_broken_kustomization_applies_nothing_and_names_file_and_field() {
    let f = Fixture::new("kustomize-broken", "");
    f.write("kustomization.yaml", "resources: [cm.yaml]\n");
    f.write("cm.yaml", &config_map("first", "1"));
    f.commit();
    f.reconcile_ok();
    f.write("cm.yaml", &config_map("first", "2"));
    f.write(
        "kustomization.yaml",
        "resources: [cm.yaml]\nnamePrefixx: x-\n",
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = text(&out);
    assert!(
        message.contains("manifests/kustomization.yaml") && message.contains("namePrefixx"),
        "{message}"
    );
    assert_eq!(
        f.get("configmap", "first").unwrap()["data"]["key"],
        "1",
        "a broken revision was applied"
    );
}

#[test]
fn render_kustomize_external_runs_the_nodes_kubectl_and_fails_clearly_without_one() {
    let f = Fixture::new("kustomize-external", "    render: kustomize-external\n");
    // `replacements` is outside the built-in set.
    f.write(
        "kustomization.yaml",
        "resources: [cm.yaml]\nreplacements:\n  - source: {kind: ConfigMap, name: source, fieldPath: data.key}\n    targets:\n      - select: {kind: ConfigMap, name: target}\n        fieldPaths: [data.key]\n",
    );
    f.write(
        "cm.yaml",
        &format!(
            "{}---\n{}",
            config_map("source", "from-source"),
            config_map("target", "unset")
        ),
    );
    f.commit();
    let runtime = temp_dir("kustomize-runtime");
    let run = |path: &str| {
        plumb()
            .arg("reconcile")
            .arg("--config")
            .arg(&f.config)
            .env("RUNTIME_DIRECTORY", &runtime)
            .env("PATH", path)
            .output()
            .unwrap()
    };
    // Only git on PATH (file:// needs it): a clear error, nothing applied.
    let only_git = temp_dir("only-git");
    std::os::unix::fs::symlink(
        String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v git"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
        only_git.join("git"),
    )
    .unwrap();
    let out = run(only_git.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("needs `kustomize` or `kubectl` on PATH"),
        "{}",
        text(&out)
    );
    assert!(f.get("configmap", "target").is_none());

    // Hardening defect 4: a program that hangs is stopped at the sync's
    // timeout (here 3 s), with nothing applied.
    let hanging = temp_dir("hanging-kubectl");
    std::fs::write(hanging.join("kubectl"), "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(
        hanging.join("kubectl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink(only_git.join("git"), hanging.join("git")).unwrap();
    let config = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, format!("{config}    timeout: 3s\n")).unwrap();
    let out = run(&format!("{}:/usr/bin:/bin", hanging.display()));
    std::fs::write(&f.config, &config).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("did not finish within 3s"),
        "{}",
        text(&out)
    );
    assert!(f.get("configmap", "target").is_none());

    let out = run(&std::env::var("PATH").unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        f.get("configmap", "target").unwrap()["data"]["key"],
        "from-source"
    );
    // The revision was written out once, under the runtime folder.
    let written: Vec<_> = std::fs::read_dir(runtime.join(&f.sync)).unwrap().collect();
    assert_eq!(written.len(), 1, "{written:?}");
    // Its build is kept: the next cycle of the same revision starts no program.
    let out = run(only_git.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
