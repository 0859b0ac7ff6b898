//! What every sending plugin promises, each scenario run for every sender of the table in
//! `switchboard_e2e::scenarios`, through `switchboard send` against the vendor's own published API
//! contract (Stoplight Prism, started by `cargo xtask test`, refuses any request that breaks it) or,
//! for Mailgun, which publishes none, a loopback stand-in that holds the request to its documented
//! format: a send the vendor takes is logged and the vendor's delivery report joins it; a send the
//! vendor refuses is logged as `<channel>_failed` with a typed failure; without its API secret a
//! plugin refuses to send.
//!
//! The CLI is run to completion while the loopback answers it, so these tests need a runtime with
//! worker threads.

use switchboard_e2e::scenarios::Vendor;
use switchboard_e2e::server::{CliOutput, Setup};

fn send(setup: &Setup, vendor: Vendor) -> CliOutput {
    let command = vendor.send_command();
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    setup.cli(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_the_vendor_takes_is_logged_and_the_vendor_s_delivery_report_joins_it() {
    for vendor in Vendor::SENDERS {
        let api = vendor.api_accepting().await;
        let setup = vendor.with_secrets(Setup::new(&[vendor.plugin_sending_to(&api)]));
        let sent = send(&setup, vendor);
        assert!(
            sent.success,
            "{vendor:?}\nstdout: {}\nstderr: {}",
            sent.stdout, sent.stderr
        );
        api.assert_called_once().await;
        let report = sent.json();
        let channel = vendor.channel();
        assert_eq!(report["recorded"], format!("{channel}_sent"), "{vendor:?}");
        assert_eq!(report["channel"], channel, "{vendor:?}");
        assert!(report["failure"].is_null(), "{vendor:?}: {report}");
        let vendor_id = report["vendor_message_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{vendor:?}: the vendor's message id: {report}"))
            .to_string();
        assert!(
            vendor_id.starts_with(vendor.sent_message_id_prefix()),
            "{vendor:?}: {vendor_id}"
        );
        let contact = report["contact_id"].as_i64().expect("the contact");

        let db = setup.db().await;
        let log = db.interactions().await;
        assert_eq!(log.len(), 1, "{vendor:?}");
        let sent = &log[0];
        assert_eq!(
            (sent.kind.as_str(), sent.outcome.as_str()),
            (format!("{channel}_sent").as_str(), "sent"),
            "{vendor:?}"
        );
        assert_eq!(sent.channel, channel, "{vendor:?}");
        assert_eq!(sent.created_by, "cli", "{vendor:?}");
        assert_eq!(sent.plugin_id.as_deref(), Some(vendor.id()), "{vendor:?}");
        let vendor_name = vendor.describes_itself_as().1;
        assert_eq!(sent.vendor.as_deref(), Some(vendor_name), "{vendor:?}");
        assert_eq!(sent.summary.as_deref(), vendor.sent_summary(), "{vendor:?}");
        assert_eq!(sent.contact_id, Some(contact), "{vendor:?}");
        assert_eq!(
            sent.vendor_message_id.as_deref(),
            Some(vendor_id.as_str()),
            "{vendor:?}"
        );
        let (kind, value) = vendor.recipient().1;
        assert_eq!(
            db.identities_of(contact).await,
            [(kind.to_string(), value.to_string())],
            "{vendor:?}: the recipient, normalised, is the contact's"
        );

        // The vendor's report about that message finds the send: the same contact, timed from it.
        let server = setup.start();
        let (delivered, kind, summary) = vendor.delivered(&vendor_id, contact);
        let now = switchboard_e2e::now_ms() / 1000;
        let reply = vendor.signed(&delivered, now).send(&server).await;
        assert_eq!(reply.status, 200, "{vendor:?}: {}", reply.text());
        let log = setup.db().await.interactions().await;
        assert_eq!(log.len(), 2, "{vendor:?}");
        assert_eq!(log[1].kind, kind, "{vendor:?}");
        assert_eq!(log[1].summary.as_deref(), summary, "{vendor:?}");
        assert_eq!(log[1].contact_id, Some(contact), "{vendor:?}");
        assert!(
            log[1].time_to_action_ms.is_some_and(|ms| ms >= 0),
            "{vendor:?}: the report is timed from the send: {:?}",
            log[1]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_the_vendor_refuses_is_logged_as_the_channel_s_failure() {
    for vendor in Vendor::SENDERS {
        let (plugin, api, status) = vendor.api_refusing().await;
        let setup = vendor.with_secrets(Setup::new(&[plugin]));
        let sent = send(&setup, vendor);
        assert!(!sent.success, "{vendor:?}: {}", sent.stdout);
        api.assert_called_once().await;
        let report = sent.json();
        let failed = format!("{}_failed", vendor.channel());
        assert_eq!(report["recorded"], failed, "{vendor:?}");
        let failure = &report["failure"];
        assert_eq!(failure["kind"], "content_rejected", "{vendor:?}: {report}");
        assert_eq!(failure["retryable"], false, "{vendor:?}: {report}");
        assert_eq!(failure["vendor_code"], status.to_string(), "{vendor:?}");
        let message = failure["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("vendor answered {status}: ")),
            "{vendor:?}: {report}"
        );

        let log = setup.db().await.interactions().await;
        assert_eq!(log.len(), 1, "{vendor:?}");
        assert_eq!(
            (log[0].kind.as_str(), log[0].outcome.as_str()),
            (failed.as_str(), "failed"),
            "{vendor:?}"
        );
        assert_eq!(log[0].vendor_message_id, None, "{vendor:?}");
        assert_eq!(log[0].metadata["failure"], *failure, "{vendor:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_its_api_secret_a_plugin_refuses_to_send_and_calls_no_one() {
    for vendor in Vendor::SENDERS {
        let api = vendor.api_accepting().await;
        let setup = Setup::new(&[vendor.plugin_sending_to(&api)]);
        let sent = send(&setup, vendor);
        assert!(!sent.success, "{vendor:?}: {}", sent.stdout);
        let report = sent.json();
        let failed = format!("{}_failed", vendor.channel());
        assert_eq!(report["recorded"], failed, "{vendor:?}");
        let failure = &report["failure"];
        assert_eq!(failure["kind"], "misconfigured", "{vendor:?}: {report}");
        assert_eq!(failure["retryable"], false, "{vendor:?}: {report}");
        assert_eq!(
            failure["message"],
            vendor.says_when_unable_to_send(),
            "{vendor:?}"
        );
        api.assert_not_called();
        let log = setup.db().await.interactions().await;
        let rows: Vec<(&str, &str)> = log
            .iter()
            .map(|i| (i.kind.as_str(), i.outcome.as_str()))
            .collect();
        assert_eq!(rows, [(failed.as_str(), "failed")], "{vendor:?}");
        assert_eq!(log[0].metadata["failure"], *failure, "{vendor:?}");
    }
}
