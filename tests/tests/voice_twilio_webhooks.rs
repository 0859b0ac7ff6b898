//! Twilio Voice through the real binary and plugin: call status callbacks into phone rows, and a
//! call with nothing to say refused before Twilio is called.
//!
//! What every vendor plugin promises (redeliveries logged once, refusals of bad signatures and
//! malformed events, a missing secret, our contact id, sending) is in `every_vendor_webhooks.rs` and
//! `every_vendor_sends.rs`, run for this plugin with the others.

use switchboard_e2e::server::Setup;
use switchboard_e2e::vendors::{TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed};
use switchboard_e2e::voice::{VOICE_NUMBER, call_status, post_voice, voice_plugin};

fn setup() -> Setup {
    Setup::new(&[voice_plugin()]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN)
}

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

#[tokio::test]
async fn an_outbound_call_s_progress_lands_on_the_callee_with_its_duration() {
    let setup = setup();
    let server = setup.start();
    let t0 = now_secs() - 600;
    for (n, status) in ["initiated", "ringing", "in-progress", "completed"]
        .into_iter()
        .enumerate()
    {
        let mut params = call_status(
            "CA0001",
            status,
            "outbound-api",
            "+1 (415) 555-0100",
            t0 + 10 * n as i64,
        );
        if status == "completed" {
            params.push(("CallDuration", "312".into()));
            params.push(("AnsweredBy", "human".into()));
        }
        let reply = post_voice(&server, "", &borrowed(&params)).await;
        assert_eq!(reply.status, 200, "{status}: {}", reply.text());
        assert!(reply.body.is_empty(), "{}", reply.text());
    }

    let db = setup.db().await;
    let log = db.interactions().await;
    let rows: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.outcome.as_str(), i.summary.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("phone_initiated", "queued", Some("Call initiated")),
            ("phone_ringing", "sent", Some("Ringing")),
            ("phone_answered", "answered", Some("Call answered")),
            (
                "phone_completed",
                "answered",
                Some("Call completed (5m 12s)")
            ),
        ]
    );
    for (n, i) in log.iter().enumerate() {
        assert_eq!(i.channel, "phone");
        assert_eq!(i.direction, "outbound");
        assert_eq!(i.plugin_id.as_deref(), Some("voice-twilio"));
        assert_eq!(i.vendor.as_deref(), Some("twilio"));
        assert_eq!(i.created_by, "plugin:voice-twilio");
        assert_eq!(i.vendor_message_id.as_deref(), Some("CA0001"));
        assert_eq!(
            i.occurred_at,
            (t0 + 10 * n as i64) * 1000,
            "Twilio's Timestamp"
        );
    }
    assert_eq!(log[3].vendor_event_id.as_deref(), Some("CA0001:completed"));
    assert_eq!(log[3].vendor_status.as_deref(), Some("completed"));
    assert_eq!(log[3].metadata["duration_secs"], 312);
    assert_eq!(log[3].metadata["direction"], "outbound-api");
    assert_eq!(log[3].metadata["answered_by"], "human");
    // The call left us when Twilio initiated it; answering and hanging up are measured from then.
    let times: Vec<Option<i64>> = log.iter().map(|i| i.time_to_action_ms).collect();
    assert_eq!(times, [None, None, Some(20_000), Some(30_000)]);

    let contact = log[0].contact_id.expect("the callee is resolved");
    assert!(log.iter().all(|i| i.contact_id == Some(contact)));
    let identities = db.identities().await;
    assert!(identities.contains(&(contact, "phone".into(), "+14155550100".into())));
    assert!(
        !identities.iter().any(|(_, _, value)| value == VOICE_NUMBER),
        "our own number is nobody's identity: {identities:?}"
    );
}

#[tokio::test]
async fn unanswered_calls_and_voicemail_map_to_their_outcomes() {
    let setup = setup();
    let server = setup.start();
    let at = now_secs() - 60;
    let calls = [
        ("CA0011", "busy", None),
        ("CA0012", "no-answer", None),
        ("CA0013", "failed", None),
        ("CA0014", "canceled", None),
        ("CA0015", "completed", Some("machine_end_beep")),
    ];
    for (sid, status, answered_by) in calls {
        let mut params = call_status(sid, status, "outbound-api", "+14155550100", at);
        if let Some(answered_by) = answered_by {
            params.push(("AnsweredBy", answered_by.into()));
            params.push(("CallDuration", "32".into()));
        }
        let reply = post_voice(&server, "", &borrowed(&params)).await;
        assert_eq!(reply.status, 200, "{sid}: {}", reply.text());
    }
    let log = setup.db().await.interactions().await;
    let rows: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.outcome.as_str(), i.summary.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("phone_busy", "busy", Some("Line busy")),
            ("phone_no_answer", "no_answer", Some("No answer")),
            ("phone_failed", "failed", Some("Call failed")),
            ("phone_canceled", "failed", Some("Call canceled")),
            (
                "phone_completed",
                "voicemail",
                Some("Call completed: voicemail (32s)")
            ),
        ]
    );
    assert_eq!(log[4].metadata["answered_by"], "machine_end_beep");
    let contact = log[0].contact_id;
    assert!(contact.is_some() && log.iter().all(|i| i.contact_id == contact));
}

#[tokio::test]
async fn an_inbound_call_is_about_the_caller() {
    let setup = setup();
    let server = setup.start();
    let mut params = call_status(
        "CA0021",
        "completed",
        "inbound",
        "+14155550123",
        now_secs() - 5,
    );
    params.push(("CallDuration", "45".into()));
    let reply = post_voice(&server, "", &borrowed(&params)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].kind.as_str(), log[0].direction.as_str()),
        ("phone_completed", "inbound")
    );
    assert_eq!(log[0].summary.as_deref(), Some("Call completed (45s)"));
    let caller = log[0].contact_id.expect("the caller is resolved");
    assert_eq!(
        db.identities().await,
        [(caller, "phone".to_string(), "+14155550123".to_string())]
    );
}

#[test]
fn a_call_with_nothing_to_say_is_refused_before_twilio_is_called() {
    // No text and no `twiml_url`: nothing is sent (api.twilio.com is never reached from here).
    let setup = setup();
    let sent = setup.cli(&["send", "--plugin", "voice-twilio", "--to", "+14155550100"]);
    assert!(!sent.success);
    let report = sent.json();
    assert_eq!(report["recorded"], "phone_failed");
    assert_eq!(report["failure"]["kind"], "content_rejected");
    assert!(
        report["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("twiml_url"),
        "{report}"
    );
}
