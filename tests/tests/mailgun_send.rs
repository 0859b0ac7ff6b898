//! `switchboard send` through the Mailgun plugin, against a loopback stand-in for the Messages API
//! that holds the request to Mailgun's documented format (Mailgun publishes no API contract for a
//! Prism mock): the form it posts, and a rate limit. What every sending plugin promises (the send
//! logged, the delivery event joining it, a refusal, a missing key) is in `every_vendor_sends.rs`.
//!
//! The CLI is run to completion while the stand-in answers it, so these tests need a runtime with
//! worker threads.

use switchboard_e2e::mailgun::{self, API_KEY, DOMAIN, Loopback, SENT_MESSAGE_ID};
use switchboard_e2e::server::Setup;

const ID: &str = "email";

fn send_to_ana(setup: &Setup) -> switchboard_e2e::server::CliOutput {
    setup.cli(&[
        "send",
        "--plugin",
        ID,
        "--to",
        "Ana@Example.org",
        "--subject",
        "Your invoice",
        "--text",
        "Hello Ana, your invoice is ready.",
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn send_posts_mailguns_form_and_logs_its_message_id_without_brackets() {
    let api = Loopback::start(
        200,
        &[("Content-Type", "application/json")],
        &format!(r#"{{"id": "{SENT_MESSAGE_ID}", "message": "Queued. Thank you."}}"#),
    )
    .await;
    let setup = mailgun::with_secrets(Setup::new(&[mailgun::plugin_at(ID, &api)]));

    let sent = send_to_ana(&setup);
    assert!(
        sent.success,
        "stdout: {}\nstderr: {}",
        sent.stdout, sent.stderr
    );
    let report = sent.json();
    let request = api.request().await;
    assert_eq!(mailgun::check_messages_request(&request), Ok(()));
    assert_eq!(request.path, format!("/v3/{DOMAIN}/messages"));
    assert!(
        request
            .header("authorization")
            .is_some_and(|auth| auth.starts_with("Basic ")),
        "{request:?}"
    );
    assert!(
        !String::from_utf8_lossy(&request.body).contains(API_KEY),
        "the key travels only in the Authorization header"
    );
    let contact = report["contact_id"].as_i64().expect("the contact");
    let fields = request.form();
    let field = |name: &str| {
        request
            .field(name)
            .unwrap_or_else(|| panic!("{name}: {fields:?}"))
    };
    assert_eq!(field("from"), "The Office <office@example.org>");
    assert_eq!(field("to"), "ana@example.org");
    assert_eq!(field("subject"), "Your invoice");
    assert_eq!(field("text"), "Hello Ana, your invoice is ready.");
    assert_eq!(field("v:switchboard_contact_id"), contact.to_string());
    assert_eq!(field("v:switchboard_message_id"), report["message_id"]);
    assert_eq!(request.field("html"), None);

    // Mailgun answers the id with its brackets; its events carry it without.
    let bare_id = SENT_MESSAGE_ID.trim_matches(['<', '>']);
    assert_eq!(report["recorded"], "email_sent");
    assert_eq!(report["vendor_message_id"], bare_id);
    assert!(report["failure"].is_null());
    let log = setup.db().await.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].vendor_message_id.as_deref(), Some(bare_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_is_logged_as_a_retryable_failure() {
    let api = Loopback::start(
        429,
        &[("Content-Type", "application/json"), ("Retry-After", "30")],
        r#"{"message": "Too many requests"}"#,
    )
    .await;
    let setup = mailgun::with_secrets(Setup::new(&[mailgun::plugin_at(ID, &api)]));

    let sent = send_to_ana(&setup);
    assert!(!sent.success, "{}", sent.stdout);
    let request = api.request().await;
    assert_eq!(mailgun::check_messages_request(&request), Ok(()));
    let report = sent.json();
    assert_eq!(report["recorded"], "email_failed");
    let failure = &report["failure"];
    assert_eq!(failure["kind"], "rate_limited");
    assert_eq!(failure["retryable"], true);
    assert_eq!(failure["retry_after_ms"], 30_000);
    assert_eq!(failure["vendor_code"], "429");
    assert_eq!(
        failure["message"], "vendor answered 429: Too many requests",
        "{report}"
    );

    let log = setup.db().await.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].kind.as_str(), log[0].outcome.as_str()),
        ("email_failed", "failed")
    );
    assert_eq!(log[0].vendor_message_id, None);
    assert_eq!(log[0].metadata["failure"]["retryable"], true);
    assert_eq!(log[0].metadata["failure"]["retry_after_ms"], 30_000);
}
