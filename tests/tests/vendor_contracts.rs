//! Each plugin's `send` against the vendor's own published API contract, served by Stoplight
//! Prism (started by `cargo xtask test`), which rejects any request that breaks the contract.

use switchboard_e2e::server::Setup;
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendor_mock;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_twilio, sendgrid_plugin,
    twilio_plugin, twilio_status,
};

/// `host:port` of a mock URL, for the allow-list.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[tokio::test]
async fn sendgrid_send_meets_the_mail_send_contract_and_is_logged() {
    let mock = vendor_mock("PRISM_SENDGRID_URL");
    let plugin = sendgrid_plugin(&SendGridKey::fixed())
        .config("api_base", &mock)
        .allow_host(&host_of(&mock))
        .private_network();
    let setup = Setup::new(&[plugin]).env("E2E_SENDGRID_API_KEY", "SG.test-key");

    let sent = setup.cli(&[
        "send",
        "--plugin",
        "email-sendgrid",
        "--to",
        "Ana@Example.org",
        "--subject",
        "Your invoice",
        "--text",
        "Hello Ana, your invoice is ready.",
    ]);
    assert!(
        sent.success,
        "stdout: {}\nstderr: {}",
        sent.stdout, sent.stderr
    );
    let report = sent.json();
    assert_eq!(report["recorded"], "email_sent");
    assert!(report["failure"].is_null());

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].kind.as_str(), log[0].outcome.as_str()),
        ("email_sent", "sent")
    );
    assert_eq!(log[0].created_by, "cli");
    assert_eq!(log[0].summary.as_deref(), Some("Your invoice"));
    let contact = log[0].contact_id.unwrap();
    assert_eq!(report["contact_id"], contact);
    assert!(
        db.identities()
            .await
            .contains(&(contact, "email".into(), "ana@example.org".into()))
    );
}

#[tokio::test]
async fn a_request_the_contract_refuses_is_a_typed_failure_in_the_log() {
    let mock = vendor_mock("PRISM_SENDGRID_URL");
    // The contract requires a valid sender address; the mock refuses this one with 400.
    let plugin = sendgrid_plugin(&SendGridKey::fixed())
        .config("api_base", &mock)
        .config("from_email", "not-an-address")
        .allow_host(&host_of(&mock))
        .private_network();
    let setup = Setup::new(&[plugin]).env("E2E_SENDGRID_API_KEY", "SG.test-key");
    let sent = setup.cli(&[
        "send",
        "--plugin",
        "email-sendgrid",
        "--to",
        "ana@example.org",
        "--subject",
        "Hi",
        "--text",
        "Hello",
    ]);
    assert!(!sent.success);
    let report = sent.json();
    assert_eq!(report["recorded"], "email_failed");
    assert_eq!(report["failure"]["kind"], "content_rejected");
    assert_eq!(report["failure"]["retryable"], false);
    assert!(
        report["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("vendor answered 400"),
        "{report}"
    );
    let log = setup.db().await.interactions().await;
    assert_eq!(
        (log[0].kind.as_str(), log[0].outcome.as_str()),
        ("email_failed", "failed")
    );
}

#[tokio::test]
async fn twilio_send_meets_the_messages_contract_and_its_callbacks_join_it() {
    let mock = vendor_mock("PRISM_TWILIO_URL");
    let plugin = twilio_plugin()
        .config("api_base", &mock)
        .allow_host(&host_of(&mock))
        .private_network();
    let setup = Setup::new(&[plugin]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);

    let sent = setup.cli(&[
        "send",
        "--plugin",
        "sms-twilio",
        "--to",
        "+1 415 555 0100",
        "--text",
        "Your appointment is at 3pm.",
    ]);
    assert!(
        sent.success,
        "stdout: {}\nstderr: {}",
        sent.stdout, sent.stderr
    );
    let report = sent.json();
    assert_eq!(report["recorded"], "sms_sent");
    // The contract's example response: the mock answers every create with this sid.
    let sid = report["vendor_message_id"]
        .as_str()
        .expect("Twilio returns the message sid")
        .to_string();
    assert!(sid.starts_with("SM"), "{sid}");

    // Twilio's delivery callback for that message finds the send: same contact, time to action.
    let server = setup.start();
    let delivered = twilio_status(&sid, "delivered", "+14155550100");
    assert_eq!(
        post_twilio(&server, "", &borrowed(&delivered)).await.status,
        200
    );
    let log = setup.db().await.interactions().await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].kind, "sms_sent");
    assert_eq!(log[1].kind, "sms_delivered");
    assert_eq!(log[1].contact_id, log[0].contact_id);
    assert!(
        log[1].time_to_action_ms.is_some_and(|ms| ms >= 0),
        "{:?}",
        log[1]
    );
}

#[tokio::test]
async fn without_its_auth_token_the_twilio_plugin_refuses_to_send() {
    let mock = vendor_mock("PRISM_TWILIO_URL");
    let plugin = twilio_plugin()
        .config("api_base", &mock)
        .allow_host(&host_of(&mock))
        .private_network();
    let setup = Setup::new(&[plugin]);
    let sent = setup.cli(&[
        "send",
        "--plugin",
        "sms-twilio",
        "--to",
        "+14155550100",
        "--text",
        "hi",
    ]);
    assert!(!sent.success);
    let report = sent.json();
    assert_eq!(report["failure"]["kind"], "misconfigured");
    assert!(
        report["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("auth_token"),
        "{report}"
    );
}
