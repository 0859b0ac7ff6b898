//! The served OpenAPI document against the running server: Schemathesis (from PyPI, installed by
//! `cargo xtask test`) generates requests from the document, bounded, and checks every answer
//! conforms to it and nothing fails with a server error; and every operation the document lists
//! was exercised, but for the one excluded below.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use switchboard_e2e::api::{ALL_SCOPES, Api};
use switchboard_e2e::server::Setup;

/// The operations the fuzzer leaves alone, each with why.
const EXCLUDED: &[(&str, &str, &str)] = &[(
    "revoke_key",
    "DELETE /api/keys/{id}",
    "revoking keys would revoke the fuzzer's own",
)];

/// `METHOD /path` of every operation in the OpenAPI document.
fn documented_operations(document: &Value) -> BTreeSet<String> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item");
            methods
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect()
}

/// The operations of a Schemathesis NDJSON report for which some phase generated and checked
/// requests (an operation with no examples in its schema is skipped by the examples phase, and
/// exercised by the others).
fn exercised_operations(report: &str) -> BTreeSet<String> {
    report
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|event| {
            let finished = event.get("ScenarioFinished")?;
            let exercised = finished["status"] != "skip" && finished["phase"] != "stateful";
            exercised.then(|| finished["recorder"]["label"].as_str().map(str::to_string))?
        })
        .collect()
}

/// Whether the stateful phase (chains of operations linked by the ids they create) ran a scenario.
fn stateful_phase_ran(report: &str) -> bool {
    report
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|event| event.get("ScenarioFinished").cloned())
        .any(|finished| finished["phase"] == "stateful" && finished["status"] == "success")
}

#[tokio::test]
async fn the_server_answers_as_its_openapi_document_says_for_every_operation() {
    let st = std::env::var("SCHEMATHESIS_BIN").expect(
        "SCHEMATHESIS_BIN is not set: run the tests with `cargo xtask test`, which installs Schemathesis",
    );
    let setup = Setup::new(&[]);
    let token = setup.key("fuzz", ALL_SCOPES);
    let server = setup.start();
    let document = Api::new(&server, &token).get_ok("/api/openapi.json").await;
    // Schemathesis keeps a cache in its working directory: a scratch one, not the repository.
    let scratch = tempfile::tempdir().expect("scratch directory");
    let report_path = scratch.path().join("report.ndjson");
    let mut command = Command::new(st);
    command
        .current_dir(scratch.path())
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Bounded and repeatable: a fixed seed, a fixed number of examples per operation.
        .args([
            "--max-examples",
            "40",
            "--seed",
            "20261123",
            "--workers",
            "2",
            "--no-color",
        ])
        .args(["--checks", "all"])
        // Excluded, with reasons: `ignored_auth` sends no key to see whether it is ignored (the
        // staff_auth test walks that matrix itself); `positive_data_acceptance` expects every
        // schema-valid body accepted, but email and phone syntax, dates and existing ids are
        // checked beyond what a schema says (422 with the field); `ensure_resource_availability`
        // guesses which created id goes in which path parameter and reads a 404 for a missing
        // identity id as a lost contact.
        .args([
            "--exclude-checks",
            "ignored_auth,positive_data_acceptance,ensure_resource_availability",
        ])
        .args(["--report", "ndjson", "--report-ndjson-path"])
        .arg(&report_path);
    for (operation_id, _, _) in EXCLUDED {
        command.args(["--exclude-operation-id", operation_id]);
    }
    let output = command.output().expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // It really exercised the API: every documented operation, but the excluded ones.
    let report = std::fs::read_to_string(&report_path).expect("read the NDJSON report");
    let documented = documented_operations(&document);
    let excluded: BTreeSet<String> = EXCLUDED.iter().map(|(_, op, _)| op.to_string()).collect();
    assert!(
        excluded.is_subset(&documented),
        "an excluded operation is no longer documented: {excluded:?}"
    );
    let expected: BTreeSet<String> = documented.difference(&excluded).cloned().collect();
    assert_eq!(
        exercised_operations(&report),
        expected,
        "the operations exercised are not the documented ones:\n{stdout}"
    );
    assert!(
        stateful_phase_ran(&report),
        "no stateful scenario ran:\n{stdout}"
    );
}
