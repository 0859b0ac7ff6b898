//! Twilio Voice as the tests play it: the `voice-twilio` entry configured as an operator would,
//! and call status callbacks built and signed as Twilio posts them.

use crate::manifest::PluginConfig;
use crate::server::{Reply, Server, post};
use crate::sign::{form_body, twilio_signature};
use crate::vendors::{TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR};

/// The public URL the operator registered as the calls' status callback (the signature covers
/// this one, not the address the test server listens on).
pub const VOICE_WEBHOOK_URL: &str = "https://switchboard.example.org/webhooks/voice-twilio";
/// The organisation's Twilio number: the caller id of its calls, the number people call.
pub const VOICE_NUMBER: &str = "+15005550006";

/// `voice-twilio`, its auth token read from [`TWILIO_AUTH_TOKEN_VAR`].
pub fn voice_plugin() -> PluginConfig {
    PluginConfig::new("voice-twilio", "voice_twilio", &["phone"])
        .config("webhook_url", VOICE_WEBHOOK_URL)
        .config("account_sid", TWILIO_ACCOUNT_SID)
        .config("from_number", VOICE_NUMBER)
        .secret("auth_token", TWILIO_AUTH_TOKEN_VAR)
        .allow_host("api.twilio.com")
}

/// The parameters of a call status callback. `person` is the other party: the callee of an
/// outbound call (`outbound-api`, `outbound-dial`), the caller of an `inbound` one; the
/// organisation's number is the other end. `at_secs` is Twilio's `Timestamp`.
pub fn call_status(
    sid: &str,
    status: &str,
    direction: &str,
    person: &str,
    at_secs: i64,
) -> Vec<(&'static str, String)> {
    let (from, to) = if direction == "inbound" {
        (person, VOICE_NUMBER)
    } else {
        (VOICE_NUMBER, person)
    };
    vec![
        ("AccountSid", TWILIO_ACCOUNT_SID.to_string()),
        ("ApiVersion", "2010-04-01".to_string()),
        ("CallSid", sid.to_string()),
        ("CallStatus", status.to_string()),
        ("CallbackSource", "call-progress-events".to_string()),
        ("Called", to.to_string()),
        ("Caller", from.to_string()),
        ("Direction", direction.to_string()),
        ("From", from.to_string()),
        ("SequenceNumber", sequence_number(status).to_string()),
        ("Timestamp", rfc2822(at_secs)),
        ("To", to.to_string()),
    ]
}

/// The order in which Twilio reports a call's states.
fn sequence_number(status: &str) -> u32 {
    match status {
        "initiated" => 0,
        "ringing" => 1,
        "in-progress" => 2,
        _ => 3,
    }
}

/// POSTs a call status callback (form parameters), signed with `auth_token` over the public URL
/// plus `query`.
pub async fn post_voice_signed_with(
    server: &Server,
    auth_token: &str,
    query: &str,
    params: &[(&str, &str)],
) -> Reply {
    let suffix = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let public_url = format!("{VOICE_WEBHOOK_URL}{suffix}");
    let headers = vec![
        (
            "X-Twilio-Signature".to_string(),
            twilio_signature(auth_token, &public_url, params),
        ),
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
    ];
    let local_url = server.url(&format!("/webhooks/voice-twilio{suffix}"));
    post(&local_url, &headers, form_body(params)).await
}

/// POSTs a call status callback signed with the tests' auth token.
pub async fn post_voice(server: &Server, query: &str, params: &[(&str, &str)]) -> Reply {
    post_voice_signed_with(server, TWILIO_AUTH_TOKEN, query, params).await
}

/// A Unix time as Twilio writes `Timestamp` (RFC 2822, UTC): `Tue, 14 Nov 2023 22:13:20 +0000`.
pub fn rfc2822(unix_secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, secs) = (unix_secs.div_euclid(86_400), unix_secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_twilio_writes_them() {
        assert_eq!(rfc2822(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 +0000");
        // The example of Twilio's Call resource.
        assert_eq!(rfc2822(1_283_287_004), "Tue, 31 Aug 2010 20:36:44 +0000");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_709_164_800), "Thu, 29 Feb 2024 00:00:00 +0000");
    }
}
