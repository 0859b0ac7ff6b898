//! Inputs for fuzzing webhook parsers natively with `proptest` (feature `fuzz`, which a plugin
//! turns on in its dev-dependencies only; it never reaches a wasm build).
//!
//! Each plugin's `fuzz` tests feed its parser arbitrary bytes, JSON-ish text built from JSON's
//! tokens and the vendor's field names, well-formed JSON whose values are of every type, and form
//! bodies, and check that it parses or refuses without panicking. They run a few hundred cases
//! per property by default; for a longer run, set `PROPTEST_CASES`:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --manifest-path plugins/Cargo.toml fuzz
//! ```

use proptest::prelude::*;
use serde_json::{Map, Value};

/// The default number of cases per property: enough to catch the easy panics while the whole
/// workspace's tests stay fast. `PROPTEST_CASES` overrides it.
pub const DEFAULT_CASES: u32 = 256;

/// The proptest configuration every plugin's fuzz tests use: [`DEFAULT_CASES`], or
/// `PROPTEST_CASES` when set; no failure persistence files written into the source tree.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any bytes, up to 2 KiB.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

/// JSON's tokens and troublemakers, and the vendor's `keys` as strings, in any order: text that
/// almost parses, to reach the parser's error paths.
pub fn json_ish(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "null",
        "true",
        "false",
        "0",
        "-1",
        "1.5",
        "1e400",
        "-0",
        "18446744073709551616",
        "1700000000",
        "1700000000000",
        "\"\"",
        "\"x\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\\"\"",
        "\"é\"",
        "\"\u{1F600}\"",
        "\\",
        "\"",
    ];
    let key = proptest::sample::select(keys).prop_map(|k| format!("\"{k}\""));
    let token = proptest::sample::select(TOKENS).prop_map(str::to_string);
    proptest::collection::vec(prop_oneof![3 => token, 1 => key], 0..64)
        .prop_map(|pieces| pieces.concat().into_bytes())
}

/// Well-formed JSON whose objects use the vendor's `keys` (and others), with values of every
/// type at every depth up to 4: the parser's field checks, reached past the syntax.
pub fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (1_600_000_000i64..1_800_000_000).prop_map(Value::from),
        (1_600_000_000_000i64..1_800_000_000_000).prop_map(Value::from),
        text(keys).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(keys), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object whose every key is one of the vendor's, each present or not, holding any
/// value: the shape a parser expects, with each field possibly wrong.
pub fn json_object(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    proptest::collection::vec((proptest::sample::select(keys), json_value(keys)), 0..12).prop_map(
        |fields| {
            Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        },
    )
}

/// A string: one of the vendor's words, or arbitrary text (control characters, non-ASCII).
pub fn text(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(words).prop_map(str::to_string),
        ".{0,24}",
        "[0-9]{1,12}",
        "[a-z_.@+:-]{0,16}",
    ]
}

/// A key of an object: one of the vendor's, or any text.
fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(keys).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

/// A form body (`application/x-www-form-urlencoded`) with the vendor's parameter `names` (and
/// others), values arbitrary, sometimes repeated, sometimes with broken percent-escapes.
pub fn form(names: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![text(names), "%[0-9A-Fa-fG-Z]{0,2}", "[=&%+]{0,4}"];
    let pair = (key(names), value).prop_map(|(name, value)| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair(&name, &value)
            .finish()
    });
    let raw = "[=&%+a-zA-Z0-9]{0,8}".prop_map(|s: String| s);
    proptest::collection::vec(prop_oneof![4 => pair, 1 => raw], 0..12)
        .prop_map(|pairs| pairs.join("&").into_bytes())
}

/// A header value: printable ASCII mostly, as a header carries, sometimes anything.
pub fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[ -~]{0,160}", 1 => ".{0,80}"]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn the_generators_make_what_they_say() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..32 {
            let value = json_object(&["event"])
                .new_tree(&mut runner)
                .unwrap()
                .current();
            assert!(value.is_object());
            let body = form(&["To"]).new_tree(&mut runner).unwrap().current();
            assert!(std::str::from_utf8(&body).is_ok());
        }
    }
}
