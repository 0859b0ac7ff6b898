//! JSON webhook bodies: parse once, then read fields with errors that name where the problem is
//! (`event 2: missing \`id\``), which is what the vendor and the operator need to hear.

use serde_json::{Map, Value};

/// The body as a JSON object, or why it is not one.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body is not a JSON object".to_string()),
        Err(error) => Err(format!("the body is not JSON: {error}")),
    }
}

/// A required string field; `at` names the object in errors (`event 2`).
pub fn str_field<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    at: &str,
) -> Result<&'a str, String> {
    match object.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        None | Some(Value::Null) => Err(format!("{at}: missing `{field}`")),
        Some(_) => Err(format!("{at}: `{field}` must be a non-empty string")),
    }
}

/// An optional string field (`null` and absent are the same).
pub fn opt_str<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    at: &str,
) -> Result<Option<&'a str>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{at}: `{field}` must be a string")),
    }
}

/// A required integer field.
pub fn i64_field(object: &Map<String, Value>, field: &str, at: &str) -> Result<i64, String> {
    match object.get(field) {
        Some(value) => value
            .as_i64()
            .ok_or_else(|| format!("{at}: `{field}` must be an integer")),
        None => Err(format!("{at}: missing `{field}`")),
    }
}

/// A required array field.
pub fn array_field<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    at: &str,
) -> Result<&'a [Value], String> {
    match object.get(field) {
        Some(Value::Array(items)) => Ok(items),
        None | Some(Value::Null) => Err(format!("{at}: missing `{field}`")),
        Some(_) => Err(format!("{at}: `{field}` must be an array")),
    }
}

/// Fields of events read with serde's borrowed `RawValue` (parse only what you use, keep the
/// rest as text): decode one field, with errors that name it.
pub mod raw {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    /// A required field, decoded; `what` says what it must be, for the error.
    pub fn required<'a, T: Deserialize<'a>>(
        raw: Option<&'a RawValue>,
        name: &str,
        what: &str,
    ) -> Result<T, String> {
        optional(raw, name, what)?.ok_or_else(|| format!("missing `{name}`"))
    }

    /// An optional field, decoded; `null` counts as absent (serde reads it as `None`).
    pub fn optional<'a, T: Deserialize<'a>>(
        raw: Option<&'a RawValue>,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, String> {
        raw.map(|raw| {
            serde_json::from_str(raw.get()).map_err(|_| format!("`{name}` must be {what}"))
        })
        .transpose()
    }

    /// A required string that is not blank.
    pub fn required_text(raw: Option<&RawValue>, name: &str) -> Result<String, String> {
        optional_text(raw, name)?.ok_or_else(|| format!("missing `{name}`"))
    }

    /// An optional string; blank counts as absent.
    pub fn optional_text(raw: Option<&RawValue>, name: &str) -> Result<Option<String>, String> {
        let text: Option<String> = optional(raw, name, "a string")?;
        Ok(text.filter(|t| !t.trim().is_empty()))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[derive(serde::Deserialize)]
        struct Fields<'a> {
            #[serde(borrow)]
            id: Option<&'a RawValue>,
            #[serde(borrow)]
            at: Option<&'a RawValue>,
            #[serde(borrow)]
            note: Option<&'a RawValue>,
        }

        #[test]
        fn raw_fields_decode_one_by_one_naming_the_field() {
            let fields: Fields =
                serde_json::from_str(r#"{"id": " ", "at": "x", "note": null}"#).unwrap();
            assert_eq!(required_text(fields.id, "id").unwrap_err(), "missing `id`");
            assert_eq!(
                required::<i64>(fields.at, "at", "an integer").unwrap_err(),
                "`at` must be an integer"
            );
            assert_eq!(optional_text(fields.note, "note").unwrap(), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_with_errors_that_say_where() {
        let body = br#"{"events": [{"id": "e1", "at": 5, "note": null}], "n": "x"}"#;
        let object = object(body).unwrap();
        let events = array_field(&object, "events", "body").unwrap();
        let event = events[0].as_object().unwrap();
        assert_eq!(str_field(event, "id", "event 0").unwrap(), "e1");
        assert_eq!(i64_field(event, "at", "event 0").unwrap(), 5);
        assert_eq!(opt_str(event, "note", "event 0").unwrap(), None);
        assert_eq!(
            str_field(event, "status", "event 0").unwrap_err(),
            "event 0: missing `status`"
        );
        assert_eq!(
            i64_field(&object, "n", "body").unwrap_err(),
            "body: `n` must be an integer"
        );
        assert!(
            super::object(b"[1]")
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(super::object(b"{").unwrap_err().contains("not JSON"));
    }
}
