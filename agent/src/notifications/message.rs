//! Each receiver's request for a notice (pure): method, URL, headers and body.
//!
//! Strings from Git and the cluster (commit subjects, messages) go only into bodies, escaped
//! as each receiver needs (JSON everywhere; Slack's `&`, `<`, `>`; no mentions on Discord);
//! headers carry nothing but the sync's name and the event.

use serde_json::json;

use super::Notice;
use crate::config::NotifierKind;
use crate::report::short;

/// An HTTP request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// POST or PUT.
    pub method: &'static str,
    /// Where.
    pub url: String,
    /// Headers, the token among them.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The title: the sync and what happened (ASCII: it may go into a header).
pub fn title(notice: &Notice) -> String {
    let what = match notice.event {
        "failure" => "failed",
        "recovery" => "recovered",
        "drift" => "drifted",
        _ => "applied a revision",
    };
    format!("plumb: {} {what}", notice.sync)
}

/// The notice for people, as chat receivers show it.
pub fn text(notice: &Notice) -> String {
    let mut text = format!(
        "{}: {} ({}) at {} on {}",
        notice.sync,
        match notice.event {
            "failure" => "failed",
            "recovery" => "is Ready again",
            "drift" => "drifted",
            _ => "applied",
        },
        notice.reason,
        short(&notice.revision),
        notice.node
    );
    if !notice.author.is_empty() || !notice.subject.is_empty() {
        text.push_str(&format!(
            "\ncommit {} by {}: {}",
            short(&notice.revision),
            notice.author,
            notice.subject
        ));
    }
    if !notice.message.is_empty() {
        text.push('\n');
        text.push_str(&notice.message);
    }
    for object in &notice.objects {
        text.push_str("\n- ");
        text.push_str(object);
    }
    text
}

/// Slack's escaping: its markup starts with `<` (`<!channel>` would ping everyone).
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Every byte but the unreserved ones percent-encoded, for a path segment.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The request `kind` sends for `notice` to `url`; `txn` makes a Matrix message's
/// transaction id (the same on a retry, so the homeserver keeps one).
pub fn request(
    kind: NotifierKind,
    url: &str,
    token: Option<&str>,
    room: Option<&str>,
    notice: &Notice,
    txn: &str,
) -> Request {
    let json_body = |value: serde_json::Value| serde_json::to_vec(&value).expect("JSON");
    let bearer = token.map(|t| ("Authorization", format!("Bearer {t}")));
    let json_type = ("Content-Type", "application/json".to_owned());
    let failure = notice.event == "failure";
    match kind {
        NotifierKind::Webhook => Request {
            method: "POST",
            url: url.to_owned(),
            headers: std::iter::once(json_type).chain(bearer).collect(),
            body: serde_json::to_vec(notice).expect("JSON"),
        },
        NotifierKind::Slack => Request {
            method: "POST",
            url: url.to_owned(),
            headers: vec![json_type],
            body: json_body(json!({
                "text": slack_escaped(&format!("*{}*\n{}", title(notice), text(notice)))
            })),
        },
        NotifierKind::Discord => {
            // Discord takes 2,000 characters.
            let content: String = format!("**{}**\n{}", title(notice), text(notice))
                .chars()
                .take(1990)
                .collect();
            Request {
                method: "POST",
                url: url.to_owned(),
                headers: vec![json_type],
                body: json_body(json!({"content": content, "allowed_mentions": {"parse": []}})),
            }
        }
        NotifierKind::Ntfy => Request {
            method: "POST",
            url: url.to_owned(),
            headers: [
                ("Title", title(notice)),
                ("Priority", if failure { "high" } else { "default" }.into()),
                (
                    "Tags",
                    match notice.event {
                        "failure" => "rotating_light",
                        "recovery" => "white_check_mark",
                        "drift" => "warning",
                        _ => "package",
                    }
                    .into(),
                ),
                ("Content-Type", "text/plain; charset=utf-8".into()),
            ]
            .into_iter()
            .chain(bearer)
            .collect(),
            body: text(notice).into_bytes(),
        },
        NotifierKind::Gotify => Request {
            method: "POST",
            url: format!("{}/message", url.trim_end_matches('/')),
            headers: vec![
                json_type,
                ("X-Gotify-Key", token.unwrap_or_default().to_owned()),
            ],
            body: json_body(json!({
                "title": title(notice),
                "message": text(notice),
                "priority": if failure { 8 } else { 4 },
            })),
        },
        NotifierKind::Matrix => Request {
            method: "PUT",
            url: format!(
                "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                url.trim_end_matches('/'),
                path_segment(room.unwrap_or_default()),
                path_segment(txn)
            ),
            headers: std::iter::once(json_type).chain(bearer).collect(),
            body: json_body(json!({
                "msgtype": "m.text",
                "body": format!("{}\n{}", title(notice), text(notice)),
            })),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            version: 1,
            event: "failure",
            sync: "shop".into(),
            severity: "error",
            reason: "ApplyFailed".into(),
            message: "Deployment shop/web: <!channel> & \"quotes\"".into(),
            revision: "1a2b3c4d5e".repeat(4),
            author: "Ada <ada@example.com>".into(),
            subject: "@everyone <script>alert(1)</script>".into(),
            node: "pi-1".into(),
            at: "2026-12-04T01:00:00Z".into(),
            objects: vec!["Deployment shop/web: waiting".into()],
        }
    }

    fn body(r: &Request) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn the_webhook_body_is_the_notice() {
        let r = request(
            NotifierKind::Webhook,
            "https://hook/x",
            Some("tok"),
            None,
            &notice(),
            "t",
        );
        let b = body(&r);
        assert_eq!(b["version"], 1);
        assert_eq!(b["event"], "failure");
        assert_eq!(b["subject"], "@everyone <script>alert(1)</script>");
        assert_eq!(b["objects"][0], "Deployment shop/web: waiting");
        assert!(r
            .headers
            .contains(&("Authorization", "Bearer tok".to_owned())));
    }

    #[test]
    fn chat_receivers_get_text_escaped_as_each_needs() {
        let slack = body(&request(
            NotifierKind::Slack,
            "https://hooks/x",
            None,
            None,
            &notice(),
            "t",
        ));
        let text = slack["text"].as_str().unwrap();
        assert!(text.contains("&lt;!channel&gt; &amp;"), "{text}");
        assert!(!text.contains('<'), "{text}");
        let discord = body(&request(
            NotifierKind::Discord,
            "https://discord/x",
            None,
            None,
            &notice(),
            "t",
        ));
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        assert!(discord["content"]
            .as_str()
            .unwrap()
            .starts_with("**plumb: shop failed**\nshop: failed (ApplyFailed) at 1a2b3c4 on pi-1\ncommit 1a2b3c4 by Ada <ada@example.com>: @everyone"));
    }

    #[test]
    fn ntfy_gotify_and_matrix_as_their_apis_say() {
        let ntfy = request(
            NotifierKind::Ntfy,
            "https://ntfy/topic",
            Some("tk"),
            None,
            &notice(),
            "t",
        );
        assert_eq!(ntfy.url, "https://ntfy/topic");
        assert!(ntfy
            .headers
            .contains(&("Title", "plumb: shop failed".to_owned())));
        assert!(ntfy.headers.contains(&("Priority", "high".to_owned())));
        assert!(ntfy
            .headers
            .contains(&("Authorization", "Bearer tk".to_owned())));
        assert!(String::from_utf8(ntfy.body).unwrap().contains("<!channel>"));
        let gotify = request(
            NotifierKind::Gotify,
            "https://gotify/",
            Some("app"),
            None,
            &notice(),
            "t",
        );
        assert_eq!(gotify.url, "https://gotify/message");
        assert!(gotify.headers.contains(&("X-Gotify-Key", "app".to_owned())));
        assert_eq!(body(&gotify)["priority"], 8);
        let matrix = request(
            NotifierKind::Matrix,
            "https://m.example",
            Some("at"),
            Some("!room:m.example"),
            &notice(),
            "pi-1 7",
        );
        assert_eq!(matrix.method, "PUT");
        assert_eq!(
            matrix.url,
            "https://m.example/_matrix/client/v3/rooms/%21room%3Am.example/send/m.room.message/pi-1%207"
        );
        assert_eq!(body(&matrix)["msgtype"], "m.text");
    }
}
