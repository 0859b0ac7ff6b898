//! Swapping the email vendor is an edit of `plugins.toml` alone: the same story told by SendGrid
//! and then by Mailgun, under the same plugin id (so the same webhook URL), logs the same rows for
//! the same people.

use std::collections::BTreeMap;

use serde_json::Value;
use switchboard_e2e::db::Logged;
use switchboard_e2e::mailgun;
use switchboard_e2e::server::{Server, Setup, post};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{sendgrid_event, sendgrid_plugin};

/// The plugin id both vendors are installed under: webhooks arrive at `/webhooks/email`.
const ID: &str = "email";
const ANA: &str = "ana@example.org";
const BEN: &str = "ben@example.net";

/// One step of the story: who, seconds after the start, SendGrid's event and Mailgun's.
struct Step {
    who: &'static str,
    after_secs: i64,
    sendgrid: &'static str,
    mailgun: &'static str,
}

/// Ana's message is delivered, opened and clicked, and she unsubscribes; Ben's bounces.
const STORY: [Step; 7] = [
    step(ANA, 0, "processed", "accepted"),
    step(BEN, 0, "processed", "accepted"),
    step(ANA, 2, "delivered", "delivered"),
    step(BEN, 5, "bounce", "failed"),
    step(ANA, 60, "open", "opened"),
    step(ANA, 120, "click", "clicked"),
    step(ANA, 180, "unsubscribe", "unsubscribed"),
];

const fn step(
    who: &'static str,
    after_secs: i64,
    sendgrid: &'static str,
    mailgun: &'static str,
) -> Step {
    Step {
        who,
        after_secs,
        sendgrid,
        mailgun,
    }
}

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

/// The story as one SendGrid Event Webhook batch, message ids `sg-<who>`.
fn sendgrid_story(t0: i64) -> Vec<Value> {
    STORY
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let message = format!("sg-{}", s.who);
            let id = format!("sg-ev-{n}");
            let mut event = sendgrid_event(s.sendgrid, s.who, t0 + s.after_secs, &message, &id);
            match s.sendgrid {
                "bounce" => {
                    event["type"] = "bounce".into();
                    event["reason"] = "550 5.1.1 The email account does not exist".into();
                }
                "click" => event["url"] = "https://example.org/pay".into(),
                _ => {}
            }
            event
        })
        .collect()
}

/// The story as Mailgun's events, message ids `mg-<who>@mg.example.org`.
fn mailgun_story(t0: i64) -> Vec<Value> {
    STORY
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let message = format!("mg-{}@{}", s.who, mailgun::DOMAIN);
            let id = format!("mg-ev-{n}");
            let at = (t0 + s.after_secs) as f64;
            match s.mailgun {
                "failed" => mailgun::failed(
                    "permanent",
                    s.who,
                    at,
                    &message,
                    &id,
                    550,
                    "5.1.1 The email account does not exist",
                ),
                word => {
                    let mut event = mailgun::event(word, s.who, at, &message, &id);
                    if word == "clicked" {
                        event["url"] = "https://example.org/pay".into();
                    }
                    event
                }
            }
        })
        .collect()
}

/// POSTs a SendGrid batch to `/webhooks/email`, signed now.
async fn post_sendgrid_batch(server: &Server, key: &SendGridKey, events: &[Value]) -> u16 {
    let body = serde_json::to_vec(events).expect("serialize events");
    let mut headers = key.headers(now_secs(), &body);
    headers.push(("Content-Type".into(), "application/json".into()));
    let reply = post(&server.url(&format!("/webhooks/{ID}")), &headers, body).await;
    assert!(
        reply.status == 200 || reply.status == 401,
        "{}",
        reply.text()
    );
    reply.status
}

/// What a report reads from a row: what happened, on which channel, how long after the send.
fn what_happened(i: &Logged) -> (String, String, String, String, Option<i64>) {
    (
        i.kind.clone(),
        i.outcome.clone(),
        i.channel.clone(),
        i.direction.clone(),
        i.time_to_action_ms,
    )
}

#[tokio::test]
async fn swapping_sendgrid_for_mailgun_is_an_edit_of_plugins_toml() {
    let key = SendGridKey::fixed();
    let mut sendgrid = sendgrid_plugin(&key);
    sendgrid.id = ID.to_string();
    let setup = mailgun::with_secrets(Setup::new(&[sendgrid]));

    let mut server = setup.start();
    let t0 = now_secs() - 3600;
    let status = post_sendgrid_batch(&server, &key, &sendgrid_story(t0)).await;
    assert_eq!(status, 200);
    server.kill();
    drop(server);

    // The operator replaces the table, keeping its id, and restarts.
    setup.write_plugins(&[mailgun::plugin(ID)]);
    let server = setup.start();
    for event in mailgun_story(t0 + 600) {
        let reply = mailgun::post_event(&server, ID, &event).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // The URL is Mailgun's now: SendGrid's signed batches no longer get in.
    let status = post_sendgrid_batch(&server, &key, &sendgrid_story(now_secs())).await;
    assert_eq!(status, 401);

    let db = setup.db().await;
    let log = db.interactions().await;
    let told_by = |vendor: &str| -> Vec<Logged> {
        log.iter()
            .filter(|i| i.vendor.as_deref() == Some(vendor))
            .cloned()
            .collect()
    };
    let (by_sendgrid, by_mailgun) = (told_by("sendgrid"), told_by("mailgun"));
    assert_eq!(by_sendgrid.len(), STORY.len(), "{log:#?}");
    assert_eq!(by_mailgun.len(), STORY.len(), "{log:#?}");
    assert!(log.iter().all(|i| i.plugin_id.as_deref() == Some(ID)));

    let sendgrid_rows: Vec<_> = by_sendgrid.iter().map(what_happened).collect();
    let mailgun_rows: Vec<_> = by_mailgun.iter().map(what_happened).collect();
    assert_eq!(sendgrid_rows, mailgun_rows);
    let kinds: Vec<&str> = sendgrid_rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "email_processed",
            "email_processed",
            "email_delivered",
            "email_bounced",
            "email_opened",
            "email_clicked",
            "email_unsubscribed",
        ]
    );

    // Both stories are about the same two people, found by their addresses.
    let contacts =
        |rows: &[Logged]| -> Vec<Option<i64>> { rows.iter().map(|i| i.contact_id).collect() };
    assert_eq!(contacts(&by_sendgrid), contacts(&by_mailgun));
    let mut people = BTreeMap::new();
    for (s, i) in STORY.iter().zip(&by_mailgun) {
        let contact = i.contact_id.expect("every event finds its person");
        assert_eq!(
            *people.entry(s.who).or_insert(contact),
            contact,
            "{}",
            s.who
        );
    }
    assert_eq!(people.len(), 2);
    assert_eq!(db.contact_count().await, 2);
    let summaries = |rows: &[Logged]| -> Vec<Option<String>> {
        rows.iter().map(|i| i.summary.clone()).collect()
    };
    assert_eq!(summaries(&by_sendgrid), summaries(&by_mailgun));
}
