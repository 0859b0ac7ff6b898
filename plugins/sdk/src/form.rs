//! `application/x-www-form-urlencoded` bodies, as Twilio and many older vendors post them.

/// The parameters of a form body, in the order they appear.
pub fn parse(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The value of the first parameter called `name`.
pub fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Encodes parameters as a form body.
pub fn encode<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_encodes_in_order() {
        let params = parse(b"To=%2B14155550123&Body=hello+there&Body=again");
        assert_eq!(get(&params, "To"), Some("+14155550123"));
        assert_eq!(get(&params, "Body"), Some("hello there"));
        assert_eq!(params.len(), 3);
        assert_eq!(
            encode([("To", "+1 415"), ("Body", "a&b")]),
            "To=%2B1+415&Body=a%26b"
        );
    }
}

/// Bounded fuzzing: 256 cases per property here; for a longer run,
/// `PROPTEST_CASES=100000 cargo test --manifest-path plugins/Cargo.toml -p switchboard-plugin-sdk fuzz`.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_parse_as_a_form_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let params = parse(&body);
            prop_assert!(params.len() <= body.len() + 1);
        }

        #[test]
        fn an_encoded_form_parses_back(params in proptest::collection::vec((".{0,12}", ".{0,12}"), 0..8)) {
            let encoded = encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            prop_assert_eq!(parse(encoded.as_bytes()), params);
        }
    }
}
