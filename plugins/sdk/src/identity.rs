//! Identity hints from what vendors report: addresses and numbers cleaned up the way the host
//! stores them (lowercase email, E.164 phone), so that a plugin can tell a usable hint from junk
//! and say so. The host normalizes again; these only let the plugin refuse early and clearly.

use crate::Identity;

/// An email hint, lowercase and trimmed, if `raw` looks like an address.
pub fn email(raw: &str) -> Option<Identity> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(Identity::Email(email))
}

/// A phone hint in E.164 (`+14155550100`), if `raw` is an international number: a leading `+`
/// or `00`, spaces, dashes, dots and parentheses dropped, 8 to 15 digits not starting with 0.
pub fn phone(raw: &str) -> Option<Identity> {
    let text = raw.trim();
    let text = text.strip_prefix("tel:").unwrap_or(text);
    let mut compact = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '0'..='9' | '+' => compact.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let digits = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"))?;
    let ok = (8..=15).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| Identity::Phone(format!("+{digits}")))
}

/// An email or phone hint, whichever `raw` is.
pub fn email_or_phone(raw: &str) -> Option<Identity> {
    if raw.contains('@') {
        email(raw)
    } else {
        phone(raw)
    }
}

/// Switchboard's own contact id, echoed back by the vendor: digits only.
pub fn contact_id(raw: &str) -> Option<Identity> {
    let id = raw.trim();
    (!id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| Identity::ContactId(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_numbers_come_out_as_the_host_stores_them() {
        assert!(
            matches!(email(" Ana@Example.ORG "), Some(Identity::Email(e)) if e == "ana@example.org")
        );
        assert!(email("ana@localhost").is_none());
        assert!(
            matches!(phone("+1 (415) 555-0100"), Some(Identity::Phone(p)) if p == "+14155550100")
        );
        assert!(
            matches!(phone("0044 20 7946 0018"), Some(Identity::Phone(p)) if p == "+442079460018")
        );
        assert!(
            phone("415 555 0100").is_none(),
            "no country code: not guessed"
        );
        assert!(phone("+1 415 CALL NOW").is_none());
        assert!(matches!(
            email_or_phone("+14155550100"),
            Some(Identity::Phone(_))
        ));
        assert!(matches!(contact_id("42"), Some(Identity::ContactId(id)) if id == "42"));
        assert!(contact_id("abc").is_none());
    }
}
