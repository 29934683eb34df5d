//! Flux's post-build substitution through the binary: variables from a ConfigMap, a Secret
//! and the sync itself, substituted after kustomize; a change of the ConfigMap under the
//! same commit is applied (and prunes) as a new commit would be; an unset variable applies
//! nothing and names the file and field, and a Secret's value is never printed.

use super::*;

/// Creates or replaces an object in plumb-system.
fn apply_in_system(f: &Fixture, manifest: &str) {
    let out = f
        .cluster
        .kubectl_stdin(&["-n", "plumb-system", "apply", "-f", "-"], Some(manifest));
    assert!(out.status.success(), "{}", text(&out));
}

fn variables(f: &Fixture, name: &str, app: &str, replicas: &str) {
    apply_in_system(
        f,
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  APP: {app}\n  REPLICAS: \"{replicas}\"\n  DOMAIN: from-config-map.example\n"),
    );
}

#[test]
fn variables_from_the_cluster_and_the_sync_are_substituted_and_their_change_applied() {
    let vars = unique("vars");
    let secret = unique("secret");
    let f = Fixture::new(
        "substitute",
        &format!("    substitute: {{DOMAIN: pi.example, TIER: web}}\n    substituteFrom:\n      - {{kind: ConfigMap, name: {vars}}}\n      - {{kind: Secret, name: {secret}}}\n      - {{kind: ConfigMap, name: {vars}-absent, optional: true}}\n"),
    );
    variables(&f, &vars, "shop", "2");
    apply_in_system(
        &f,
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}\nstringData:\n  TOKEN: s3cret\n"),
    );
    f.write(
        "kustomization.yaml",
        "resources: [app.yaml]\ncommonAnnotations: {tier: '${TIER}'}\n",
    );
    f.write(
        "app.yaml",
        &format!(
            "{}---\n{}---\n{}",
            DEPLOYMENT
                .replace("name: web\n", "name: ${APP}\n")
                .replace("replicas: 2", "replicas: ${REPLICAS}"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${APP}-settings\ndata:\n  url: https://${APP}.${DOMAIN}/\n  token: ${TOKEN}\n  literal: $${APP}\n  default: ${MISSING:=fallback}\n  upper: ${APP^^}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: untouched\n  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}\ndata:\n  kept: ${APP}\n",
        ),
    );
    f.commit();
    f.reconcile_ok();
    let deploy = f
        .get("deployment", "shop")
        .expect("the Deployment named by ${APP}");
    assert_eq!(
        deploy["spec"]["replicas"], 2,
        "\"2\" read as the number it is"
    );
    assert_eq!(deploy["metadata"]["annotations"]["tier"], "web");
    let settings = f.get("configmap", "shop-settings").unwrap();
    assert_eq!(
        settings["data"],
        serde_json::json!({
            "url": "https://shop.pi.example/", "token": "s3cret", "literal": "${APP}",
            "default": "fallback", "upper": "SHOP",
        }),
        "the sync's DOMAIN wins over the ConfigMap's"
    );
    let untouched = f.get("configmap", "untouched").unwrap();
    assert_eq!(untouched["data"]["kept"], "${APP}");
    assert_eq!(untouched["metadata"]["annotations"]["tier"], "${TIER}");

    // Idle: the same variables and commit write nothing.
    let writes_before = f.writes().len();
    f.reconcile_ok();
    assert_eq!(
        f.writes().len(),
        writes_before,
        "an idle cycle wrote: {:?}",
        f.writes()
    );

    // The ConfigMap changes under the same commit: applied as a new commit would be, the
    // objects of the old name pruned.
    variables(&f, &vars, "store", "1");
    let out = f.reconcile_ok();
    assert!(out.contains("pruned"), "{out}");
    assert_eq!(f.get("deployment", "store").unwrap()["spec"]["replicas"], 1);
    assert!(
        f.get("deployment", "shop").is_none(),
        "the old name was not pruned"
    );
    assert!(f.get("configmap", "shop-settings").is_none());
    assert_eq!(
        f.get("configmap", "store-settings").unwrap()["data"]["url"],
        "https://store.pi.example/"
    );
}

#[test]
fn an_unset_variable_applies_nothing_and_names_file_and_field_never_a_secret() {
    let secret = unique("secret");
    let f = Fixture::new(
        "substitute-strict",
        &format!("    substituteFrom: [{{kind: Secret, name: {secret}}}]\n"),
    );
    apply_in_system(
        &f,
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}\nstringData:\n  PASSWORD: 'hunter2: not yaml'\n"),
    );
    f.write("first.yaml", &config_map("first", "1"));
    f.write(
        "second.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\ndata:\n  url: http://${HOST}/\n",
    );
    f.write(
        "third.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: third\ndata:\n  password: ${PASSWORD}\n",
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = text(&out);
    assert!(
        message.contains("manifests/second.yaml:1")
            && message.contains("data.url")
            && message.contains("variable not set (strict mode): \"HOST\""),
        "{message}"
    );
    assert!(
        message.contains("manifests/third.yaml:1") && message.contains("data.password"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "a Secret's value was printed: {message}"
    );
    assert!(
        f.get("configmap", "first").is_none(),
        "a revision that does not render was partly applied"
    );
    let ready = f.condition("Ready");
    assert_eq!(ready["reason"], "RenderFailed", "{ready}");
    assert!(!ready.to_string().contains("hunter2"), "{ready}");

    // Flux's old behaviour, asked for: an unset variable is empty. The Secret's value,
    // which would read as YAML structure, is still refused.
    let config = std::fs::read_to_string(&f.config).unwrap().replace(
        "    substituteFrom:",
        "    substituteStrict: false\n    substituteFrom:",
    );
    std::fs::write(&f.config, config).unwrap();
    f.remove("third.yaml");
    f.commit();
    f.reconcile_ok();
    assert_eq!(
        f.get("configmap", "second").unwrap()["data"]["url"],
        "http:///"
    );
}
