//! Inbound messages: replies, and the keywords by which a person opts out of or back into SMS.

use serde_json::json;
use switchboard_plugin_sdk::{
    self as sdk, Channel, Direction, HttpResponse, Identity, Interaction, Outcome, Timestamp, form,
};

/// Keywords that withdraw consent for SMS (matched on the whole message, ignoring case and
/// surrounding space, as carriers and Twilio do).
const OPT_OUT_KEYWORDS: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Keywords that give consent again.
const OPT_IN_KEYWORDS: [&str; 2] = ["START", "UNSTOP"];

/// What an inbound message means for consent.
#[derive(Debug, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    None,
}

/// Classifies a message body.
pub fn keyword_of(body: &str) -> Keyword {
    let word = body.trim().to_ascii_uppercase();
    if OPT_OUT_KEYWORDS.contains(&word.as_str()) {
        Keyword::OptOut
    } else if OPT_IN_KEYWORDS.contains(&word.as_str()) {
        Keyword::OptIn
    } else {
        Keyword::None
    }
}

/// The interaction an inbound message reports.
pub fn interaction(
    params: &[(String, String)],
    received_at: Timestamp,
) -> Result<Interaction, String> {
    let sid = form::get(params, "MessageSid")
        .or_else(|| form::get(params, "SmsSid"))
        .ok_or("inbound message without MessageSid")?;
    let from = form::get(params, "From").ok_or("inbound message without From")?;
    let body = form::get(params, "Body").unwrap_or_default();
    let keyword = keyword_of(body);
    let (kind, outcome) = match keyword {
        Keyword::OptOut => ("sms_opted_out", Outcome::OptedOut),
        Keyword::OptIn => ("sms_opted_in", Outcome::OptedIn),
        Keyword::None => ("sms_replied", Outcome::Replied),
    };
    let mut interaction =
        Interaction::new(kind, Channel::Sms, Direction::Inbound, outcome, received_at);
    interaction.vendor_status = Some("received".into());
    interaction.vendor_message_id = Some(sid.to_string());
    interaction.vendor_event_id = Some(format!("{sid}:received"));
    interaction
        .identities
        .push(Identity::Phone(from.to_string()));
    interaction.summary = Some(sdk::truncate_chars(body, 160));
    interaction.metadata = json!({
        "from": from,
        "to": form::get(params, "To"),
        "body": body,
        "num_media": form::get(params, "NumMedia"),
        "keyword": match keyword {
            Keyword::OptOut => Some("opt_out"),
            Keyword::OptIn => Some("opt_in"),
            Keyword::None => None,
        },
    })
    .to_string();
    Ok(interaction)
}

/// The reply Twilio expects to an inbound message when we have nothing to say: empty TwiML.
pub fn empty_twiml() -> HttpResponse {
    sdk::http_reply::with_body(
        200,
        "text/xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_keywords_whole_and_in_any_case() {
        for word in [
            "STOP",
            "stop",
            " Stop ",
            "STOPALL",
            "unsubscribe",
            "Cancel",
            "END",
            "quit",
        ] {
            assert_eq!(keyword_of(word), Keyword::OptOut, "{word}");
        }
        for word in ["START", "unstop"] {
            assert_eq!(keyword_of(word), Keyword::OptIn, "{word}");
        }
        for word in ["please stop", "STOP!", "started", ""] {
            assert_eq!(keyword_of(word), Keyword::None, "{word}");
        }
    }

    #[test]
    fn a_stop_is_an_opt_out_from_the_sender() {
        let params: Vec<(String, String)> = [
            ("MessageSid", "SM9"),
            ("From", "+14155550100"),
            ("Body", "STOP"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let i = interaction(&params, 5).unwrap();
        assert_eq!(
            (i.kind.as_str(), i.outcome),
            ("sms_opted_out", Outcome::OptedOut)
        );
        assert_eq!(i.direction, Direction::Inbound);
        assert!(matches!(&i.identities[0], Identity::Phone(p) if p == "+14155550100"));
    }
}
