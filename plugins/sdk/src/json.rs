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
