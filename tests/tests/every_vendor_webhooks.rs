//! What every vendor plugin promises about webhooks, each scenario run for every plugin of the
//! table in `switchboard_e2e::scenarios` through the real binary: it describes itself; a delivery
//! and its redeliveries are logged once; our contact id and known addresses find the contact and
//! link nothing new; a badly signed request is refused naming why and stores nothing; a malformed
//! signed event is refused naming the field and kept; and without what verifying needs, a signed
//! webhook is kept unverified, counted, and replayed once the operator fixes it.
//!
//! One installation serves the whole table; each vendor has people, message ids and rows of its
//! own, so the scenarios read back what each plugin did apart from the others.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::interface_version;
use switchboard_e2e::scenarios::{Refusal, Vendor};
use switchboard_e2e::server::Setup;

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

#[test]
fn every_plugin_describes_itself_and_misses_no_secret() {
    let listed = Vendor::install_all().cli(&["plugins", "list", "--json"]);
    assert!(listed.success, "{}", listed.stderr);
    let listed = listed.json();
    let plugins = listed.as_array().expect("a list of plugins");
    assert_eq!(plugins.len(), Vendor::ALL.len(), "{listed:#}");
    for vendor in Vendor::ALL {
        let plugin = plugins
            .iter()
            .find(|p| p["id"] == vendor.id())
            .unwrap_or_else(|| panic!("{} is not listed: {listed:#}", vendor.id()));
        let (name, vendor_name, channels) = vendor.describes_itself_as();
        let describe = &plugin["describe"];
        assert_eq!(describe["name"], name, "{vendor:?}");
        assert_eq!(describe["vendor"], vendor_name, "{vendor:?}");
        assert_eq!(describe["channels"], json!(channels), "{vendor:?}");
        assert_eq!(
            describe["interface_version"],
            interface_version(),
            "{vendor:?}"
        );
        assert_eq!(plugin["unset_secrets"], json!([]), "{vendor:?}");
    }
}

#[tokio::test]
async fn a_delivery_signed_afresh_or_resent_byte_for_byte_is_logged_once() {
    let setup = Vendor::install_all();
    let server = setup.start();
    for vendor in Vendor::ALL {
        let event = vendor.event(1, 1, None);
        let first = vendor.signed(&event, now_secs());
        // The vendor's retry, signed again; then the very first request again, byte for byte
        // (a retry when our answer was lost: for Mailgun the same token, accepted as a repeat).
        let deliveries = [first.clone(), vendor.signed(&event, now_secs()), first];
        let mut answers = Vec::new();
        for delivery in &deliveries {
            let reply = delivery.send(&server).await;
            assert_eq!(reply.status, 200, "{vendor:?}: {}", reply.text());
            answers.push(reply.body);
        }
        let accepted = vendor.accepted_answer();
        assert!(
            answers.iter().all(|a| *a == accepted),
            "{vendor:?}: every delivery is answered as accepted ({:?}): {answers:?}",
            String::from_utf8_lossy(&accepted)
        );

        let db = setup.db().await;
        let kinds: Vec<String> = db
            .interactions_of_plugin(vendor.id())
            .await
            .into_iter()
            .map(|i| i.kind)
            .collect();
        assert_eq!(kinds, vendor.kinds(), "{vendor:?}");
        let counts: Vec<(i64, i64)> = db
            .raw_webhooks_of_plugin(vendor.id())
            .await
            .iter()
            .map(|r| (r.interactions, r.duplicates))
            .collect();
        let n = vendor.kinds().len() as i64;
        assert_eq!(
            counts,
            [(n, 0), (0, n), (0, n)],
            "{vendor:?}: every delivery is kept, its events counted once"
        );
    }
}

#[tokio::test]
async fn our_contact_id_or_a_known_address_finds_the_contact_and_links_no_new_address() {
    let setup = Vendor::install_all();
    let server = setup.start();
    for vendor in Vendor::ALL {
        let post = async |n: u32, person: u32, contact: Option<i64>| {
            let delivery = vendor.signed(&vendor.event(n, person, contact), now_secs());
            let reply = delivery.send(&server).await;
            assert_eq!(reply.status, 200, "{vendor:?} #{n}: {}", reply.text());
            let db = setup.db().await;
            let logged = db.interactions_of_plugin(vendor.id()).await;
            let last = logged.last().expect("the delivery was logged");
            last.contact_id.expect("the delivery found a contact")
        };
        // Ana and Ben, each made known by an event about them.
        let ana = post(1, 1, None).await;
        let ben = post(2, 2, None).await;
        assert_ne!(ana, ben, "{vendor:?}");
        // Ana's known address finds her again.
        assert_eq!(
            post(3, 1, None).await,
            ana,
            "{vendor:?}: by a known address"
        );
        // Our contact id, echoed by the vendor, names Ana: on an event about an address we did
        // not know, and on one about Ben's.
        assert_eq!(
            post(4, 3, Some(ana)).await,
            ana,
            "{vendor:?}: by contact id"
        );
        assert_eq!(
            post(5, 2, Some(ana)).await,
            ana,
            "{vendor:?}: beats an address"
        );

        // The contact id attributes the events but links nothing: a forged event could name any
        // contact id beside an attacker's address. The new address stays unknown, Ben's his.
        let db = setup.db().await;
        let person = |n| {
            let (kind, value) = vendor.person(n);
            (kind.to_string(), value)
        };
        assert_eq!(db.identities_of(ana).await, [person(1)], "{vendor:?}");
        assert_eq!(db.identities_of(ben).await, [person(2)], "{vendor:?}");
        let (kind, unknown) = vendor.person(3);
        assert_eq!(db.owner_of(kind, &unknown).await, None, "{vendor:?}");
        let contacts: Vec<Option<i64>> = db
            .interactions_of_plugin(vendor.id())
            .await
            .iter()
            .map(|i| i.contact_id)
            .collect();
        let per_event = vendor.kinds().len();
        let expected: Vec<Option<i64>> = [ana, ben, ana, ana, ana]
            .iter()
            .flat_map(|c| std::iter::repeat_n(Some(*c), per_event))
            .collect();
        assert_eq!(contacts, expected, "{vendor:?}");
    }
    assert_eq!(
        setup.db().await.contact_count().await,
        2 * Vendor::ALL.len() as i64,
        "Ana and Ben of each vendor, nobody else"
    );
}

#[tokio::test]
async fn a_badly_signed_request_is_refused_naming_why_and_stores_nothing() {
    let setup = Vendor::install_all();
    let server = setup.start();
    for vendor in Vendor::ALL {
        let event = vendor.event(1, 1, None);
        let refusal = |what: &str, delivery, says| Refusal {
            what: what.to_string(),
            delivery,
            says,
        };
        let mut refusals = vec![
            refusal(
                "unsigned",
                vendor.unsigned(&event),
                vendor.says_when_unsigned(),
            ),
            // Another method does not get past the signature either.
            refusal(
                "unsigned GET",
                vendor.unsigned(&event).with_method("GET"),
                vendor.says_when_unsigned(),
            ),
            refusal(
                "signed with another secret",
                vendor.forged(&event),
                vendor.says_when_forged(),
            ),
        ];
        if vendor.signs_the_body() {
            let mut changed = vendor.signed(&event, now_secs());
            changed.body.push(b' ');
            refusals.push(refusal(
                "with a changed body",
                changed,
                vendor.says_when_forged(),
            ));
        }
        if vendor.signs_a_timestamp() {
            refusals.push(refusal(
                "signed an hour ago",
                vendor.signed(&event, now_secs() - 3600),
                vendor.says_when_stale(),
            ));
        }
        refusals.extend(vendor.own_refusals(&event));
        for Refusal {
            what,
            delivery,
            says,
        } in refusals
        {
            let what = format!("{vendor:?} {what}");
            let reply = delivery.send(&server).await;
            assert_eq!(reply.status, 401, "{what}: {}", reply.text());
            assert_eq!(reply.error_code(), "bad_signature", "{what}");
            says.assert(&reply.error_message(), &what);
        }
    }
    setup.db().await.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_malformed_signed_event_is_refused_naming_the_field_and_kept_byte_for_byte() {
    let setup = Vendor::install_all();
    let server = setup.start();
    for vendor in Vendor::ALL {
        let mut sent = Vec::new();
        for (event, says) in vendor.malformed() {
            let delivery = vendor.signed(&event, now_secs());
            let reply = delivery.send(&server).await;
            let what = format!("{vendor:?} {}", String::from_utf8_lossy(&event.body));
            assert_eq!(reply.status, 400, "{what}: {}", reply.text());
            assert_eq!(reply.error_code(), "malformed_webhook", "{what}");
            says.assert(&reply.error_message(), &what);
            let kept = reply.json()["error"]["raw_webhook_id"].clone();
            sent.push((delivery.body, reply.error_message(), kept));
        }

        let db = setup.db().await;
        assert!(
            db.interactions_of_plugin(vendor.id()).await.is_empty(),
            "{vendor:?}: one bad event fails its whole delivery"
        );
        let raw = db.raw_webhooks_of_plugin(vendor.id()).await;
        assert_eq!(raw.len(), sent.len(), "{vendor:?}");
        for (raw, (body, message, kept)) in raw.iter().zip(sent) {
            assert_eq!(
                (raw.status.as_str(), raw.verified),
                ("rejected", true),
                "{vendor:?}"
            );
            assert_eq!(raw.body, body, "{vendor:?}: kept byte for byte");
            assert_eq!(raw.error.as_deref(), Some(message.as_str()), "{vendor:?}");
            assert_eq!(
                kept,
                json!(raw.id),
                "{vendor:?}: the answer names what was kept"
            );
        }
    }
}

#[tokio::test]
async fn without_what_verifying_needs_a_signed_webhook_is_kept_unverified_and_replayed_after_the_fix()
 {
    let plugins: Vec<_> = Vendor::ALL
        .iter()
        .map(|v| v.unverifiable_plugin())
        .collect();
    let setup = Setup::new(&plugins);
    let scraper = setup.key("prometheus", &["metrics"]);
    let server = setup.start();

    for vendor in Vendor::ALL {
        // Our own configuration error does not make an unsigned request storable.
        let event = vendor.event(1, 1, None);
        let unsigned = vendor.unsigned(&event).send(&server).await;
        assert_eq!(unsigned.status, 401, "{vendor:?}: {}", unsigned.text());
        assert_eq!(unsigned.error_code(), "bad_signature", "{vendor:?}");
        vendor
            .says_when_unsigned()
            .assert(&unsigned.error_message(), &format!("{vendor:?} unsigned"));
    }
    setup.db().await.assert_nothing_stored().await;

    for vendor in Vendor::ALL {
        let event = vendor.event(1, 1, None);
        let reply = vendor.signed(&event, now_secs()).send(&server).await;
        vendor
            .says_when_unverifiable()
            .assert(&reply.error_message(), &format!("{vendor:?}"));
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (503, "plugin_misconfigured"),
            "{vendor:?}: {}",
            reply.text()
        );
        assert_eq!(
            reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("30"),
            "{vendor:?}"
        );
        let kept = reply.json()["error"]["raw_webhook_id"].clone();

        let db = setup.db().await;
        let raw = db.raw_webhooks_of_plugin(vendor.id()).await;
        assert_eq!(raw.len(), 1, "{vendor:?}");
        assert_eq!(
            (json!(raw[0].id), raw[0].status.as_str(), raw[0].verified),
            (kept, "failed", false),
            "{vendor:?}: kept for replay, marked as never verified"
        );
    }
    assert!(setup.db().await.interactions().await.is_empty());
    let metrics = Api::new(&server, &scraper).get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for vendor in Vendor::ALL {
        let line = format!(
            r#"switchboard_webhooks_stored_unverified_total{{plugin="{}"}} 1"#,
            vendor.id()
        );
        assert!(
            metrics.text().lines().any(|l| l == line),
            "no {line:?} in:\n{}",
            metrics.text()
        );
    }

    // The operator configures what was missing and replays: each request verifies as of its
    // arrival, and its events land.
    drop(server);
    setup.write_plugins(&Vendor::all_plugins());
    let fixed = Vendor::ALL.iter().fold(setup, |s, v| v.with_secrets(s));
    let replay = fixed.cli(&["replay"]);
    assert!(replay.success, "{}", replay.stderr);
    let report: Value = replay.json();
    assert_eq!(report["processed"], Vendor::ALL.len(), "{report}");
    let db = fixed.db().await;
    for vendor in Vendor::ALL {
        let kinds: Vec<String> = db
            .interactions_of_plugin(vendor.id())
            .await
            .into_iter()
            .map(|i| i.kind)
            .collect();
        assert_eq!(kinds, vendor.kinds(), "{vendor:?}");
        let statuses: Vec<String> = db
            .raw_webhooks_of_plugin(vendor.id())
            .await
            .into_iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, ["processed"], "{vendor:?}");
    }
}
