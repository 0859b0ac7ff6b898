//! The attribution engine against the `mta` package (PyPI) on its example data set
//! (ChannelAttribution's 10,000 paths, 88,387 journeys, 19,785 conversions), through the real
//! binary's `switchboard analytics attribute`.
//!
//! Tolerances: mta rounds its shares to six decimals, so the rule-based models and the Shapley
//! value must agree within 1e-6; the Markov removal effects are compared with the exact solution
//! of mta's own transition matrix (numpy, `tests/fixtures/attribution/mta_reference.py`), and
//! must agree within 1e-9.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use switchboard_e2e::{repo_root, switchboard_bin};

/// mta's shares per model, and the data set as a plain CSV file.
fn reference(
    dir: &std::path::Path,
) -> (BTreeMap<String, BTreeMap<String, f64>>, std::path::PathBuf) {
    let python = std::env::var("TEST_PYTHON").expect(
        "TEST_PYTHON is not set: run the tests with `cargo xtask test`, which installs mta",
    );
    let csv = dir.join("paths.csv");
    let script = repo_root().join("tests/fixtures/attribution/mta_reference.py");
    let output = Command::new(python)
        .arg(script)
        .arg(&csv)
        .output()
        .expect("run the mta reference");
    assert!(
        output.status.success(),
        "mta reference failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        serde_json::from_slice(&output.stdout).expect("the reference prints JSON"),
        csv,
    )
}

/// Switchboard's shares for `model` on the paths in `csv`.
fn ours(csv: &std::path::Path, model: &str) -> BTreeMap<String, f64> {
    let output = Command::new(switchboard_bin())
        .args([
            "analytics",
            "attribute",
            "--resamples",
            "0",
            "--model",
            model,
            "--paths",
        ])
        .arg(csv)
        .output()
        .expect("run switchboard analytics attribute");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    result["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap().to_string(),
                c["share"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_model_matches_the_mta_package_on_its_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, csv) = reference(dir.path());
    for (model, tolerance) in [
        ("first_touch", 1e-6),
        ("last_touch", 1e-6),
        ("linear", 1e-6),
        ("position_based", 1e-6),
        ("shapley", 1e-6),
        ("markov", 1e-9),
    ] {
        let expected = &reference[model];
        let got = ours(&csv, model);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{model}: the same channels"
        );
        for (channel, share) in expected {
            let difference = (got[channel] - share).abs();
            assert!(
                difference <= tolerance,
                "{model} {channel}: {} against mta's {share}",
                got[channel]
            );
        }
    }
}
