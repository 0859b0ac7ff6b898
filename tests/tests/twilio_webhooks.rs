//! Twilio's message status callbacks and inbound messages through the real binary and plugin.
//!
//! What every vendor plugin promises (redeliveries logged once, refusals of bad signatures and
//! malformed events, a missing secret, our contact id, sending) is in `every_vendor_webhooks.rs` and
//! `every_vendor_sends.rs`, run for this plugin with the others.

use switchboard_e2e::server::Setup;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_twilio, twilio_inbound, twilio_plugin,
    twilio_status,
};

fn setup() -> Setup {
    Setup::new(&[twilio_plugin()]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN)
}

#[tokio::test]
async fn status_callbacks_follow_one_message_to_one_contact() {
    let setup = setup();
    let server = setup.start();
    for status in ["queued", "sent", "delivered"] {
        let params = twilio_status("SM0001", status, "+1 (415) 555-0100");
        let reply = post_twilio(&server, "", &borrowed(&params)).await;
        assert_eq!(reply.status, 200, "{status}: {}", reply.text());
    }
    let mut undelivered = twilio_status("SM0002", "undelivered", "+14155550199");
    undelivered.push(("ErrorCode", "30006".into()));
    assert_eq!(
        post_twilio(&server, "", &borrowed(&undelivered))
            .await
            .status,
        200
    );

    let db = setup.db().await;
    let log = db.interactions().await;
    let kinds: Vec<(&str, &str)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.outcome.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("sms_queued", "queued"),
            ("sms_dispatched", "sent"),
            ("sms_delivered", "delivered"),
            ("sms_undelivered", "bounced"),
        ]
    );
    let contact = log[0].contact_id.unwrap();
    assert!(log[..3].iter().all(|i| i.contact_id == Some(contact)));
    assert_ne!(log[3].contact_id, Some(contact));
    assert_eq!(log[0].time_to_action_ms, None);
    assert!(log[2].time_to_action_ms.is_some_and(|ms| ms >= 0));
    assert_eq!(log[2].vendor_event_id.as_deref(), Some("SM0001:delivered"));
    assert_eq!(
        log[3].summary.as_deref(),
        Some("undelivered: Twilio error 30006")
    );
    assert_eq!(log[3].metadata["error_code"], "30006");
    assert!(
        db.identities()
            .await
            .contains(&(contact, "phone".into(), "+14155550100".into()))
    );
}

#[tokio::test]
async fn inbound_keywords_record_consent_and_get_empty_twiml() {
    let setup = setup();
    let server = setup.start();
    let messages = [
        ("SMin1", "Sure, Tuesday works"),
        ("SMin2", " stop "),
        ("SMin3", "START"),
        ("SMin4", "UNSUBSCRIBE"),
        ("SMin5", "unstop"),
    ];
    for (sid, body) in messages {
        let params = twilio_inbound(sid, "+14155550123", body);
        let reply = post_twilio(&server, "", &borrowed(&params)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.headers["content-type"], "text/xml");
        assert_eq!(
            reply.text(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
        );
    }
    let log = setup.db().await.interactions().await;
    let kinds: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.outcome.as_str(), i.direction.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("sms_replied", "replied", "inbound"),
            ("sms_opted_out", "opted_out", "inbound"),
            ("sms_opted_in", "opted_in", "inbound"),
            ("sms_opted_out", "opted_out", "inbound"),
            ("sms_opted_in", "opted_in", "inbound"),
        ]
    );
    assert_eq!(log[0].summary.as_deref(), Some("Sure, Tuesday works"));
    assert_eq!(log[1].metadata["keyword"], "opt_out");
    let contact = log[0].contact_id;
    assert!(contact.is_some() && log.iter().all(|i| i.contact_id == contact));
}
