//! Checking what a caller typed: the error for a field whose value is not acceptable, and the
//! free-text checks that staff services, preferences and sending share.

/// The input is well-formed, but a field's value is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    /// The field at fault, as the caller named it (`content.email.subject`).
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks an optional free-text field: at most `max` characters, no control characters but line
/// breaks and tabs. Returns it trimmed, with empty as `None`.
pub fn text_field(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, InputError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(InputError::new(field, format!("at most {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(InputError::new(field, "contains control characters"));
    }
    Ok(Some(value.to_string()))
}

/// Checks a required free-text field.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, InputError> {
    text_field(field, Some(value), max)?.ok_or_else(|| InputError::new(field, "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(
            text_field("note", Some("  hi \n"), 10),
            Ok(Some("hi".into()))
        );
        assert_eq!(text_field("note", Some("   "), 10), Ok(None));
        assert_eq!(
            text_field("note", Some("abcdef"), 5),
            Err(InputError::new("note", "at most 5 characters"))
        );
        assert_eq!(
            text_field("note", Some("a\u{7}b"), 5),
            Err(InputError::new("note", "contains control characters"))
        );
        assert_eq!(
            required_text("kind", " ", 5),
            Err(InputError::new("kind", "is required"))
        );
    }
}
