//! Notifications end to end: the `plumb` binary tells real HTTP receivers on loopback of
//! failures (once), recoveries, drift and applied revisions, with each receiver's body and
//! headers; a receiver that fails first is retried, one that never answers or is down holds
//! no cycle up, and no URL or token reaches a log.

use std::time::Duration;

use super::*;
use common::git::{closed_port, secret_file};
use common::receiver::{Answer, Receiver};

fn add_to_config(f: &Fixture, text: &str) {
    let mut config = std::fs::read_to_string(&f.config).unwrap();
    config.push_str(text);
    std::fs::write(&f.config, config).unwrap();
}

fn events_of(received: &[common::receiver::Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn failures_recoveries_drift_and_applied_revisions_are_told_once_each() {
    let hook = Receiver::start(Answer::Ok);
    let flaky = Receiver::start(Answer::FailFirst(2));
    let f = Fixture::new("notify", "");
    let dir = f.config.parent().unwrap().to_owned();
    let token = secret_file(&dir, "hook.token", "hook-s3cret\n");
    let url_file = secret_file(&dir, "phone.url", &flaky.url("/plumb-topic"));
    add_to_config(
        &f,
        &format!(
            "notify:\n  - {{name: hook, type: webhook, url: '{}', tokenFile: {}, events: [failure, recovery, drift, applied]}}\n  - {{name: phone, type: ntfy, urlFile: {}}}\n",
            hook.url("/hook"),
            token.display(),
            url_file.display()
        ),
    );
    f.write("a.yaml", &config_map("a", "1"));
    f.commit_by("Ada <ada@example.com>", "Add a");
    f.reconcile_ok();
    assert_eq!(events_of(&hook.at("/hook")), ["applied"]);
    let applied = hook.at("/hook")[0].json();
    assert_eq!(applied["sync"], f.sync.as_str());
    assert_eq!(
        applied["objects"][0],
        format!("applied ConfigMap {}/a", f.ns)
    );
    assert!(
        flaky.received().is_empty(),
        "ntfy is told of failures and recoveries only"
    );

    // A failure: told to both, the flaky receiver after two 503s.
    f.write(
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
    );
    f.commit_by("Ada <ada@example.com>", "Break it");
    let broken = f.head();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(events_of(&hook.at("/hook")), ["applied", "failure"]);
    let failure = &hook.at("/hook")[1];
    assert_eq!(failure.method, "POST");
    assert_eq!(failure.header("authorization"), Some("Bearer hook-s3cret"));
    assert_eq!(failure.header("content-type"), Some("application/json"));
    let body = failure.json();
    assert_eq!(
        (
            body["version"].as_u64(),
            body["severity"].as_str(),
            body["reason"].as_str()
        ),
        (Some(1), Some("error"), Some("RenderFailed"))
    );
    assert_eq!(body["revision"], broken.as_str());
    assert_eq!(body["author"], "Ada <ada@example.com>");
    assert_eq!(body["subject"], "Break it");
    assert_eq!(body["node"], f.node.as_str());
    assert!(
        body["message"].as_str().unwrap().contains("b.yaml"),
        "{body}"
    );
    let phone = flaky.at("/plumb-topic");
    assert_eq!(phone.len(), 3, "two 503s, then delivered: {phone:?}");
    assert!(
        phone.iter().all(|r| r.body == phone[0].body),
        "a retry sends the same"
    );
    let told = &phone[2];
    assert_eq!(
        told.header("title"),
        Some(format!("plumb: {} failed", f.sync).as_str())
    );
    assert_eq!(told.header("priority"), Some("high"));
    assert!(told.text().contains("Break it"), "{}", told.text());
    let parent = f.system_config_map(&format!("plumb-{}", f.sync)).unwrap();
    for key in ["notified-hook", "notified-phone"] {
        assert!(
            parent["data"][key]
                .as_str()
                .unwrap()
                .starts_with("failure RenderFailed"),
            "{key}: {}",
            parent["data"]
        );
    }

    // The same failure again tells nothing.
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(hook.at("/hook").len(), 2);
    assert_eq!(flaky.at("/plumb-topic").len(), 3);

    // Fixed: a recovery to both (nothing was applied: the objects were as Git says).
    f.remove("b.yaml");
    f.commit_by("Ada <ada@example.com>", "Fix it");
    f.reconcile_ok();
    assert_eq!(
        events_of(&hook.at("/hook")),
        ["applied", "failure", "recovery"]
    );
    let phone = flaky.at("/plumb-topic");
    assert_eq!(phone.len(), 4);
    assert_eq!(phone[3].header("tags"), Some("white_check_mark"));
    let parent = f.system_config_map(&format!("plumb-{}", f.sync)).unwrap();
    assert_eq!(parent["data"]["notified-hook"], "ready");

    // Drift, corrected, with the field and its manager.
    f.edit_config_map("a", "edited");
    f.reconcile_ok();
    let told = hook.at("/hook");
    assert_eq!(
        events_of(&told),
        ["applied", "failure", "recovery", "drift"]
    );
    let drift = told[3].json();
    assert_eq!(drift["severity"], "warning");
    let named = drift["objects"][0].as_str().unwrap();
    assert!(
        named.starts_with(&format!("drifted ConfigMap {}/a", f.ns)) && named.contains("data"),
        "{named}"
    );
}

#[test]
fn a_receiver_that_never_answers_or_is_down_holds_no_cycle_up_and_no_url_is_logged() {
    let stuck = Receiver::start(Answer::Never);
    let f = Fixture::new("notify-down", "");
    let config = std::fs::read_to_string(&f.config).unwrap().replacen(
        "sources:",
        "interval: 1s\nsources:",
        1,
    );
    std::fs::write(&f.config, config).unwrap();
    add_to_config(
        &f,
        &format!(
            "notify:\n  - {{name: stuck, type: slack, url: '{}', events: [applied, drift]}}\n  - {{name: down, type: discord, url: 'http://127.0.0.1:{}/api/webhooks/1/DOWNSECRET', events: [applied, drift]}}\n",
            stuck.url("/services/T0/STUCKSECRET"),
            closed_port()
        ),
    );
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let log = f.config.with_extension("log");
    let mut daemon = KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&f.config)
            .env("PLUMB_LOG", "debug")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    eventually("the first apply", || f.get("configmap", "a").is_some());
    eventually("the stuck receiver to be sent to", || {
        !stuck.received().is_empty()
    });
    // While one receiver holds its request and the other refuses connections, cycles go on.
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    eventually("the change, with the receivers stuck", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "2"
    });
    f.edit_config_map("a", "edited");
    eventually("drift corrected, with the receivers stuck", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "2"
    });
    let slack = stuck.received()[0].json();
    assert!(
        slack["text"].as_str().unwrap().contains("applied"),
        "{slack}"
    );
    signal(&daemon.0, "TERM");
    let stopped = std::time::Instant::now();
    let mut code = None;
    eventually("the daemon to stop", || {
        code = daemon.0.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    // Generous: it only catches a stop that waits on the receivers.
    assert!(
        stopped.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(code.unwrap(), Some(0));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("notifier"),
        "nothing was logged of the notifiers: {logged}"
    );
    assert!(
        !logged.contains("STUCKSECRET") && !logged.contains("DOWNSECRET"),
        "a notifier's URL reached the log:\n{logged}"
    );
}

#[test]
fn a_notifier_file_others_can_read_is_refused_before_anything_runs() {
    let f = Fixture::new("notify-mode", "");
    let dir = f.config.parent().unwrap().to_owned();
    let url_file = dir.join("open.url");
    std::fs::write(&url_file, "https://hooks.example/SECRET\n").unwrap();
    add_to_config(
        &f,
        &format!(
            "notify:\n  - {{name: open, type: slack, urlFile: {}}}\n",
            url_file.display()
        ),
    );
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("notifier 'open': urlFile") && text(&out).contains("chmod 600"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("SECRET"), "{}", text(&out));
    assert!(f.get("configmap", "a").is_none(), "something was applied");
}
