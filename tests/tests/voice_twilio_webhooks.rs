//! Twilio Voice through the real binary and plugin: call status callbacks into phone rows, and
//! placing a call through the Calls API against Twilio's own published contract (Prism).

use serde_json::json;
use switchboard_e2e::interface_version;
use switchboard_e2e::server::{Setup, post};
use switchboard_e2e::sign::{form_body, twilio_signature};
use switchboard_e2e::vendor_mock;
use switchboard_e2e::vendors::{TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed};
use switchboard_e2e::voice::{
    VOICE_NUMBER, VOICE_WEBHOOK_URL, call_status, post_voice, post_voice_signed_with, voice_plugin,
};

fn setup() -> Setup {
    Setup::new(&[voice_plugin()]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN)
}

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

/// `host:port` of a mock URL, for the allow-list.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
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
        assert_eq!(i.external_system.as_deref(), Some("twilio"));
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

#[tokio::test]
async fn a_known_number_and_the_contact_id_on_our_callback_url_name_the_contact() {
    let setup = setup();
    let server = setup.start();
    let at = now_secs() - 60;
    let inbound = call_status("CA0031", "completed", "inbound", "+14155550123", at);
    assert_eq!(
        post_voice(&server, "", &borrowed(&inbound)).await.status,
        200
    );
    let contact = setup.db().await.interactions().await[0].contact_id.unwrap();

    // We call the same person back: their number finds them.
    let callback = call_status("CA0032", "completed", "outbound-api", "+14155550123", at);
    assert_eq!(
        post_voice(&server, "", &borrowed(&callback)).await.status,
        200
    );
    // A call to a number we did not know, on the callback URL our send set (it carries the contact
    // id, and is part of what Twilio signs).
    let query = format!("switchboard_contact_id={contact}");
    let other_number = call_status("CA0033", "ringing", "outbound-api", "+14155550777", at);
    let reply = post_voice(&server, &query, &borrowed(&other_number)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 3);
    assert!(
        log.iter().all(|i| i.contact_id == Some(contact)),
        "{log:#?}"
    );
    assert_eq!(db.contact_count().await, 1);
    // The contact id attributes the event but links no new number to the contact: a webhook
    // adds identities only to a contact it creates.
    assert_eq!(
        db.identities().await,
        [(contact, "phone".into(), "+14155550123".into())]
    );
}

#[tokio::test]
async fn a_repeated_callback_is_logged_once() {
    let setup = setup();
    let server = setup.start();
    let mut params = call_status(
        "CA0041",
        "completed",
        "outbound-api",
        "+14155550100",
        now_secs(),
    );
    params.push(("CallDuration", "61".into()));
    for _ in 0..2 {
        let reply = post_voice(&server, "", &borrowed(&params)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let db = setup.db().await;
    assert_eq!(db.interaction_count().await, 1);
    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), 2, "every delivery is kept");
    let counts: Vec<(i64, i64)> = raw.iter().map(|r| (r.interactions, r.duplicates)).collect();
    assert_eq!(counts, [(1, 0), (0, 1)]);
}

#[tokio::test]
async fn a_wrong_token_or_a_changed_request_is_refused() {
    let setup = setup();
    let server = setup.start();
    let params = call_status(
        "CA0051",
        "completed",
        "outbound-api",
        "+14155550100",
        now_secs(),
    );

    let wrong_token =
        post_voice_signed_with(&server, "not-the-token", "", &borrowed(&params)).await;
    assert_eq!(wrong_token.status, 401);
    assert_eq!(wrong_token.error_code(), "bad_signature");
    assert!(
        wrong_token.error_message().contains(VOICE_WEBHOOK_URL),
        "the refusal names the signed URL: {}",
        wrong_token.text()
    );

    // Signed for one contact id, delivered with another: the URL is part of what is signed.
    let signed_url = format!("{VOICE_WEBHOOK_URL}?switchboard_contact_id=1");
    let signature = twilio_signature(TWILIO_AUTH_TOKEN, &signed_url, &borrowed(&params));
    let headers = vec![("X-Twilio-Signature".to_string(), signature)];
    let body = form_body(&borrowed(&params));
    let moved = post(
        &server.url("/webhooks/voice-twilio?switchboard_contact_id=2"),
        &headers,
        body.clone(),
    )
    .await;
    assert_eq!(moved.status, 401);

    let unsigned = post(&server.url("/webhooks/voice-twilio"), &[], body).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(
        unsigned.error_message(),
        "missing x-twilio-signature header"
    );

    setup.db().await.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_malformed_callback_is_rejected_naming_the_parameter_and_kept() {
    let setup = setup();
    let server = setup.start();
    let mut no_sid = call_status(
        "CA0061",
        "completed",
        "outbound-api",
        "+14155550100",
        now_secs(),
    );
    no_sid.retain(|(name, _)| *name != "CallSid");
    let reply = post_voice(&server, "", &borrowed(&no_sid)).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.error_code(), "malformed_webhook");
    assert_eq!(reply.error_message(), "status callback without CallSid");

    let mut bad_duration = call_status(
        "CA0062",
        "completed",
        "outbound-api",
        "+14155550100",
        now_secs(),
    );
    bad_duration.push(("CallDuration", "5m".into()));
    let reply = post_voice(&server, "", &borrowed(&bad_duration)).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.error_message(),
        "CallDuration is not a whole number of seconds: \"5m\""
    );

    let db = setup.db().await;
    assert!(db.interactions().await.is_empty());
    let raw = db.raw_webhooks().await;
    let statuses: Vec<&str> = raw.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, ["rejected", "rejected"]);
    assert_eq!(
        raw[0].error.as_deref(),
        Some("status callback without CallSid")
    );
}

#[test]
fn the_plugin_describes_itself_as_twilio_on_the_phone_channel() {
    let setup = setup();
    let listed = setup.cli(&["plugins", "list", "--json"]);
    assert!(listed.success, "{}", listed.stderr);
    let voice = &listed.json()[0];
    assert_eq!(voice["id"], "voice-twilio");
    assert_eq!(voice["describe"]["name"], "voice-twilio");
    assert_eq!(voice["describe"]["vendor"], "twilio");
    assert_eq!(voice["describe"]["channels"], json!(["phone"]));
    assert_eq!(voice["describe"]["interface_version"], interface_version());
    assert_eq!(voice["unset_secrets"], json!([]));
}

#[tokio::test]
async fn a_placed_call_meets_the_calls_contract_and_its_callbacks_join_it() {
    let mock = vendor_mock("PRISM_TWILIO_URL");
    let plugin = voice_plugin()
        .config("api_base", &mock)
        // Prism cannot check a list in a form: Twilio's contract gives `StatusCallbackEvent` no
        // `encoding`, so Prism keeps one of the repeated values and refuses it as not an array.
        // Without the events the request is otherwise the same; their form (the parameter
        // repeated, as Twilio documents) is covered by the plugin's unit tests.
        .config("status_callback_events", "")
        .allow_host(&host_of(&mock))
        .private_network();
    let setup = Setup::new(&[plugin]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);

    let sent = setup.cli(&[
        "send",
        "--plugin",
        "voice-twilio",
        "--to",
        "+1 415 555 0100",
        "--text",
        "Your appointment is at 3pm & it is in room <4>.",
    ]);
    assert!(
        sent.success,
        "stdout: {}\nstderr: {}",
        sent.stdout, sent.stderr
    );
    let report = sent.json();
    assert_eq!(report["recorded"], "phone_sent");
    assert_eq!(report["channel"], "phone");
    assert!(report["failure"].is_null());
    // The contract's example response: the mock answers every create with this sid.
    let sid = report["vendor_message_id"]
        .as_str()
        .expect("Twilio returns the call sid")
        .to_string();
    assert!(sid.starts_with("CA"), "{sid}");

    // Twilio's callback for that call, on the callback URL the send set, finds the send.
    let server = setup.start();
    let query = format!("switchboard_contact_id={}", report["contact_id"]);
    let mut completed = call_status(
        &sid,
        "completed",
        "outbound-api",
        "+14155550100",
        now_secs() + 1,
    );
    completed.push(("CallDuration", "75".into()));
    let reply = post_voice(&server, &query, &borrowed(&completed)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let log = setup.db().await.interactions().await;
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].kind.as_str(), log[0].channel.as_str()),
        ("phone_sent", "phone")
    );
    assert_eq!(log[0].created_by, "cli");
    assert_eq!(log[0].vendor_message_id.as_deref(), Some(sid.as_str()));
    assert_eq!(log[1].kind, "phone_completed");
    assert_eq!(log[1].summary.as_deref(), Some("Call completed (1m 15s)"));
    assert_eq!(log[1].contact_id, log[0].contact_id);
    assert_eq!(
        Some(report["contact_id"].as_i64().unwrap()),
        log[0].contact_id
    );
    assert!(
        log[1].time_to_action_ms.is_some_and(|ms| ms >= 0),
        "{:?}",
        log[1]
    );
}

#[tokio::test]
async fn a_call_the_contract_refuses_is_a_typed_failure_in_the_log() {
    let mock = vendor_mock("PRISM_TWILIO_URL");
    // The contract requires `Url` to be a URI; the mock refuses this one with 422.
    let plugin = voice_plugin()
        .config("api_base", &mock)
        .config("status_callback_events", "")
        .config("twiml_url", "not a url")
        .allow_host(&host_of(&mock))
        .private_network();
    let setup = Setup::new(&[plugin]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    let sent = setup.cli(&["send", "--plugin", "voice-twilio", "--to", "+14155550100"]);
    assert!(!sent.success);
    let report = sent.json();
    assert_eq!(report["recorded"], "phone_failed");
    assert_eq!(report["failure"]["kind"], "content_rejected");
    assert_eq!(report["failure"]["retryable"], false);
    assert!(
        report["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("vendor answered 422"),
        "{report}"
    );
    let log = setup.db().await.interactions().await;
    assert_eq!(
        (log[0].kind.as_str(), log[0].outcome.as_str()),
        ("phone_failed", "failed")
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
