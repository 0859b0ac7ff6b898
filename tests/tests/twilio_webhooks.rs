//! Twilio's message status callbacks and inbound messages through the real binary and plugin.

use switchboard_e2e::server::Setup;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_twilio, post_twilio_signed_with,
    twilio_inbound, twilio_plugin, twilio_status,
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

#[tokio::test]
async fn the_contact_id_on_our_status_callback_url_names_the_contact() {
    let setup = setup();
    let server = setup.start();
    let first = twilio_inbound("SMa", "+14155550123", "hello");
    assert_eq!(
        post_twilio(&server, "", &borrowed(&first)).await.status,
        200
    );
    let contact = setup.db().await.interactions().await[0].contact_id.unwrap();

    // A status callback about a message to a number we did not know, on the callback URL our send
    // set (it carries the contact id, and is part of what Twilio signs).
    let query = format!("switchboard_contact_id={contact}");
    let status = twilio_status("SMb", "delivered", "+14155550777");
    let reply = post_twilio(&server, &query, &borrowed(&status)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let db = setup.db().await;
    assert_eq!(db.interactions().await[1].contact_id, Some(contact));
    // The contact id attributes the event but links no new number to the contact: a webhook
    // adds identities only to a contact it creates.
    assert_eq!(
        db.identities().await,
        [(contact, "phone".into(), "+14155550123".into())]
    );
}

#[tokio::test]
async fn a_wrong_token_or_a_changed_request_is_refused() {
    let setup = setup();
    let server = setup.start();
    let params = twilio_status("SM9", "delivered", "+14155550100");

    let wrong_token =
        post_twilio_signed_with(&server, "not-the-token", "", &borrowed(&params)).await;
    assert_eq!(wrong_token.status, 401);
    assert_eq!(wrong_token.error_code(), "bad_signature");

    // Signed for one query string, delivered with another: the URL is part of what is signed.
    let signed_url = format!("{}?a=1", switchboard_e2e::vendors::TWILIO_WEBHOOK_URL);
    let signature =
        switchboard_e2e::sign::twilio_signature(TWILIO_AUTH_TOKEN, &signed_url, &borrowed(&params));
    let headers = vec![("X-Twilio-Signature".to_string(), signature)];
    let body = switchboard_e2e::sign::form_body(&borrowed(&params));
    let moved =
        switchboard_e2e::server::post(&server.url("/webhooks/sms-twilio?a=2"), &headers, body)
            .await;
    assert_eq!(moved.status, 401);

    setup.db().await.assert_nothing_stored().await;
}

#[tokio::test]
async fn without_its_auth_token_the_plugin_keeps_webhooks_for_replay() {
    // The operator forgot to set the auth token: nothing can be verified, so nothing is trusted,
    // but nothing is lost either.
    let setup = Setup::new(&[twilio_plugin()]);
    let server = setup.start();
    let params = twilio_inbound("SMx", "+14155550123", "hello");
    let reply = post_twilio(&server, "", &borrowed(&params)).await;
    reply.assert_refused(503, "plugin_misconfigured", "auth_token");

    let db = setup.db().await;
    assert!(db.interactions().await.is_empty());
    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].status, "failed");

    // Once the token is set, a replay records the message.
    drop(server);
    let fixed = setup.env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    let report = fixed.cli(&["replay"]);
    assert!(report.success, "{}", report.stderr);
    assert_eq!(report.json()["processed"], 1);
    let log = fixed.db().await.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "sms_replied");
}
