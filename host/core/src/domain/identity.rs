//! One spelling per identifier, so that the same person is found whichever vendor reports them.

use serde::Serialize;

crate::word_enum!(
    /// The kinds of identifier Switchboard links to contacts.
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    pub IdentityKind {
        Email => "email",
        Phone => "phone",
        /// An id in another system, stored as `system:id`.
        External => "external",
    }
);

/// A normalized identifier: unique across contacts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct IdentityKey {
    pub kind: IdentityKind,
    pub value: String,
}

/// What one interaction says about who it is about, normalized.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Hints {
    /// Our own contact id, from the vendor's echo of what we sent.
    pub contact_id: Option<i64>,
    /// Identifiers, strongest first.
    pub identities: Vec<IdentityKey>,
}

/// Why an identifier could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{0:?} is not an email address")]
    Email(String),
    #[error("{0:?} is not a phone number in international (E.164) form")]
    Phone(String),
    #[error("{0:?} is not a valid external id")]
    External(String),
}

impl IdentityKey {
    pub fn email(raw: &str) -> Result<Self, IdentityError> {
        Ok(IdentityKey {
            kind: IdentityKind::Email,
            value: normalize_email(raw)?,
        })
    }

    pub fn phone(raw: &str, default_country_code: Option<&str>) -> Result<Self, IdentityError> {
        Ok(IdentityKey {
            kind: IdentityKind::Phone,
            value: normalize_phone(raw, default_country_code)?,
        })
    }

    /// `system:value`, the system in lowercase.
    pub fn external(system: &str, value: &str) -> Result<Self, IdentityError> {
        let system = system.trim().to_ascii_lowercase();
        let value = value.trim();
        let system_ok = !system.is_empty()
            && system.len() <= 40
            && system
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !system_ok || value.is_empty() || value.len() > 200 || value.contains(char::is_control) {
            return Err(IdentityError::External(format!("{system}:{value}")));
        }
        Ok(IdentityKey {
            kind: IdentityKind::External,
            value: format!("{system}:{value}"),
        })
    }
}

/// Lowercase, trimmed, with one `@`, a non-empty local part and a dotted domain.
pub fn normalize_email(raw: &str) -> Result<String, IdentityError> {
    let email = raw.trim().to_lowercase();
    let invalid = || IdentityError::Email(raw.to_string());
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty()
        || !domain_ok
        || email.len() > 254
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    Ok(email)
}

/// E.164: `+`, then 8 to 15 digits not starting with 0. Spaces, dashes, dots, parentheses and a
/// `tel:` prefix are dropped; `00` is read as `+`; a number without either is read in the
/// operator's default country when one is configured (a national trunk `0` dropped), and refused
/// otherwise rather than guessed.
pub fn normalize_phone(
    raw: &str,
    default_country_code: Option<&str>,
) -> Result<String, IdentityError> {
    let invalid = || IdentityError::Phone(raw.to_string());
    let text = raw.trim();
    let text = text.strip_prefix("tel:").unwrap_or(text);
    let mut compact = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '0'..='9' | '+' => compact.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            _ => return Err(invalid()),
        }
    }
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest.to_string()
    } else {
        let country = default_country_code.ok_or_else(invalid)?;
        let national = compact.strip_prefix('0').unwrap_or(&compact);
        if country == "1" && national.len() == 11 && national.starts_with('1') {
            national.to_string()
        } else {
            format!("{country}{national}")
        }
    };
    let valid = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !valid {
        return Err(invalid());
    }
    Ok(format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            normalize_email("  Ana.Martinez@Example.ORG ").unwrap(),
            "ana.martinez@example.org"
        );
        for bad in [
            "",
            "ana",
            "@example.org",
            "ana@",
            "ana@localhost",
            "ana@@x.org",
            "a b@x.org",
            "ana@x..org",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            normalize_phone("+1 (415) 555-0123", None).unwrap(),
            "+14155550123"
        );
        assert_eq!(
            normalize_phone("tel:+44 20 7946 0958", None).unwrap(),
            "+442079460958"
        );
        assert_eq!(
            normalize_phone("0044 20 7946 0958", None).unwrap(),
            "+442079460958"
        );
        assert_eq!(
            normalize_phone("(415) 555-0123", Some("1")).unwrap(),
            "+14155550123"
        );
        assert_eq!(
            normalize_phone("1 415 555 0123", Some("1")).unwrap(),
            "+14155550123"
        );
        assert_eq!(
            normalize_phone("020 7946 0958", Some("44")).unwrap(),
            "+442079460958"
        );
    }

    #[test]
    fn ambiguous_or_broken_phones_are_refused() {
        assert!(
            normalize_phone("415 555 0123", None).is_err(),
            "no country to assume"
        );
        for bad in [
            "+1 415 CALL NOW",
            "+123",
            "+1234567890123456",
            "+0123456789",
            "",
            "+",
        ] {
            assert!(normalize_phone(bad, Some("1")).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_ids_are_namespaced_by_system() {
        let key = IdentityKey::external("Portal", " u-17 ").unwrap();
        assert_eq!(
            (key.kind, key.value.as_str()),
            (IdentityKind::External, "portal:u-17")
        );
        assert!(IdentityKey::external("", "x").is_err());
        assert!(IdentityKey::external("crm system", "x").is_err());
    }
}
