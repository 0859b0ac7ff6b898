//! Placing calls through Twilio's 2010-04-01 Calls API: `POST Calls.json` with `To`, `From`, what
//! to do once answered (`Twiml` or `Url`) and where to report progress (`StatusCallback`,
//! `StatusCallbackEvent`), as its `CreateCallRequest` contract lays them out.

use switchboard_plugin_sdk::twilio::{self, status_callback_url};
use switchboard_plugin_sdk::{
    self as sdk, OutboundMessage, SendFailure, SendFailureKind, SendReceipt, send_failure,
};

use crate::status;

/// Twilio error codes that mean the number cannot be called: invalid `To`, a number that does not
/// appear to be valid, a number Twilio does not call.
const RECIPIENT_ERROR_CODES: [i64; 3] = [21211, 21217, 13224];
/// The longest `Twiml` the Calls API takes, in characters.
const MAX_TWIML_CHARS: usize = 4000;
/// The call progress events Twilio can report, and the ones we ask for unless the operator says
/// otherwise: every state between placing the call and its end, so the timeline shows how far a
/// call got.
const STATUS_CALLBACK_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// What placing a call needs from the plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSettings {
    /// The caller id: a Twilio number or a verified one.
    pub from_number: String,
    /// Our public webhook URL, for the status callbacks.
    pub webhook_url: String,
    /// The operator's TwiML script, run instead of saying the text.
    pub twiml_url: Option<String>,
    /// The call progress events to ask for; none leaves Twilio's default, `completed` only.
    pub status_callback_events: Vec<&'static str>,
}

impl CallSettings {
    fn from_config() -> Result<Self, SendFailure> {
        Ok(CallSettings {
            from_number: required_config("from_number")?,
            // Without status callbacks a placed call would leave no trace after the send.
            webhook_url: required_config("webhook_url")?,
            twiml_url: sdk::config::get("twiml_url").filter(|u| !u.trim().is_empty()),
            status_callback_events: status_callback_events(
                sdk::config::get("status_callback_events").as_deref(),
            )?,
        })
    }
}

/// The config key `status_callback_events`: event names separated by spaces or commas; unset means
/// all four.
pub fn status_callback_events(text: Option<&str>) -> Result<Vec<&'static str>, SendFailure> {
    let Some(text) = text else {
        return Ok(STATUS_CALLBACK_EVENTS.to_vec());
    };
    text.split([' ', ',', '\t'])
        .filter(|word| !word.is_empty())
        .map(|word| {
            STATUS_CALLBACK_EVENTS
                .into_iter()
                .find(|event| *event == word)
                .ok_or_else(|| {
                    send_failure::misconfigured(format!(
                        "config key `status_callback_events`: unknown event {word:?}; expected some of {}",
                        STATUS_CALLBACK_EVENTS.join(", ")
                    ))
                })
        })
        .collect()
}

/// Creates a Call resource; Twilio answers 201 with its `sid` and `status`.
pub fn send(message: &OutboundMessage) -> Result<SendReceipt, SendFailure> {
    let account_sid = required_config("account_sid")?;
    let params = form_params(message, &CallSettings::from_config()?)?;
    let answer = twilio::create(&account_sid, "Calls.json", &params)?;
    if !answer.is_success() {
        return Err(twilio::api_failure(
            answer.status,
            &answer.headers,
            &answer.body,
            &RECIPIENT_ERROR_CODES,
        ));
    }
    let vendor_status = answer.field("status");
    Ok(SendReceipt {
        vendor_message_id: answer.field("sid").map(str::to_string),
        outcome: status::outcome_of(vendor_status.unwrap_or("queued"), None),
        vendor_status: vendor_status.map(str::to_string),
    })
}

/// The form parameters of a Calls create request.
pub fn form_params(
    message: &OutboundMessage,
    settings: &CallSettings,
) -> Result<Vec<(&'static str, String)>, SendFailure> {
    let mut params = vec![
        ("To", message.to.clone()),
        ("From", settings.from_number.clone()),
        script(message, settings)?,
        (
            "StatusCallback",
            status_callback_url(&settings.webhook_url, &message.contact_id),
        ),
    ];
    // Twilio takes a list as the same parameter repeated, one event each.
    params.extend(
        settings
            .status_callback_events
            .iter()
            .map(|event| ("StatusCallbackEvent", event.to_string())),
    );
    Ok(params)
}

/// What the call does once answered: the operator's script when there is one, else the message's
/// text read aloud.
fn script(
    message: &OutboundMessage,
    settings: &CallSettings,
) -> Result<(&'static str, String), SendFailure> {
    if let Some(url) = &settings.twiml_url {
        return Ok(("Url", url.clone()));
    }
    let text = message
        .text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            content_rejected("a call needs a text to say (or config key `twiml_url`)".into())
        })?;
    let twiml = say_twiml(text);
    let length = twiml.chars().count();
    if length > MAX_TWIML_CHARS {
        return Err(content_rejected(format!(
            "the call's TwiML is {length} characters; Twilio takes at most {MAX_TWIML_CHARS}"
        )));
    }
    Ok(("Twiml", twiml))
}

/// TwiML that says `text`.
pub fn say_twiml(text: &str) -> String {
    format!(
        "<Response><Say>{}</Say></Response>",
        xml_escape(text.trim())
    )
}

/// Escapes the five characters XML gives meaning to, so that the text cannot close the `<Say>`.
fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn required_config(key: &str) -> Result<String, SendFailure> {
    sdk::config::get(key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| send_failure::misconfigured(format!("config key `{key}` is not set")))
}

fn content_rejected(message: String) -> SendFailure {
    SendFailure {
        kind: SendFailureKind::ContentRejected,
        retryable: false,
        retry_after_ms: None,
        message,
        vendor_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdk::Channel;

    fn message(text: Option<&str>) -> OutboundMessage {
        OutboundMessage {
            message_id: "m1".into(),
            idempotency_key: "m1-1".into(),
            contact_id: "42".into(),
            channel: Channel::Phone,
            to: "+14155550100".into(),
            subject: None,
            text: text.map(str::to_string),
            html: None,
            template: None,
            metadata: "{}".into(),
        }
    }

    fn settings(twiml_url: Option<&str>) -> CallSettings {
        CallSettings {
            from_number: "+15005550006".into(),
            webhook_url: "https://x.test/webhooks/voice-twilio".into(),
            twiml_url: twiml_url.map(str::to_string),
            status_callback_events: STATUS_CALLBACK_EVENTS.to_vec(),
        }
    }

    #[test]
    fn a_call_says_the_text_and_reports_every_state_to_us() {
        let params = form_params(
            &message(Some("Your appointment is at 3pm.")),
            &settings(None),
        )
        .unwrap();
        let expected: Vec<(&str, &str)> = vec![
            ("To", "+14155550100"),
            ("From", "+15005550006"),
            (
                "Twiml",
                "<Response><Say>Your appointment is at 3pm.</Say></Response>",
            ),
            (
                "StatusCallback",
                "https://x.test/webhooks/voice-twilio?switchboard_contact_id=42",
            ),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ];
        let actual: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn the_operator_may_ask_for_fewer_status_callbacks() {
        assert_eq!(
            status_callback_events(None).unwrap(),
            ["initiated", "ringing", "answered", "completed"]
        );
        assert_eq!(
            status_callback_events(Some("answered, completed")).unwrap(),
            ["answered", "completed"]
        );
        assert!(status_callback_events(Some("")).unwrap().is_empty());
        let failure = status_callback_events(Some("ringing busy")).unwrap_err();
        assert!(matches!(failure.kind, SendFailureKind::Misconfigured));
        assert!(
            failure.message.contains("unknown event \"busy\""),
            "{}",
            failure.message
        );

        let mut quiet = settings(None);
        quiet.status_callback_events.clear();
        let params = form_params(&message(Some("hi")), &quiet).unwrap();
        assert!(!params.iter().any(|(k, _)| *k == "StatusCallbackEvent"));
        assert!(params.iter().any(|(k, _)| *k == "StatusCallback"));
    }

    #[test]
    fn a_twiml_url_runs_the_operator_s_script_instead() {
        let url = "https://x.test/voice/script.xml";
        let params = form_params(&message(None), &settings(Some(url))).unwrap();
        assert!(params.contains(&("Url", url.to_string())));
        assert!(!params.iter().any(|(k, _)| *k == "Twiml"));
    }

    #[test]
    fn the_text_cannot_break_out_of_the_say() {
        assert_eq!(
            say_twiml(" Tom & Jerry's <Hangup/> \"now\" "),
            "<Response><Say>Tom &amp; Jerry&apos;s &lt;Hangup/&gt; &quot;now&quot;</Say></Response>"
        );
    }

    #[test]
    fn no_text_or_too_much_text_is_refused_for_good() {
        for text in [None, Some("  ")] {
            let failure = form_params(&message(text), &settings(None)).unwrap_err();
            assert!(matches!(failure.kind, SendFailureKind::ContentRejected));
            assert!(!failure.retryable);
            assert!(failure.message.contains("twiml_url"), "{}", failure.message);
        }
        let long = "a".repeat(MAX_TWIML_CHARS);
        let failure = form_params(&message(Some(&long)), &settings(None)).unwrap_err();
        assert!(matches!(failure.kind, SendFailureKind::ContentRejected));
        assert!(
            failure.message.contains("at most 4000"),
            "{}",
            failure.message
        );
        let fits = "a".repeat(MAX_TWIML_CHARS - say_twiml("").len());
        assert!(form_params(&message(Some(&fits)), &settings(None)).is_ok());
    }

    #[test]
    fn an_invalid_number_is_not_retried() {
        let body = serde_json::json!({"code": 21211, "message": "Invalid 'To' Phone Number"});
        let failure = twilio::api_failure(400, &[], &body, &RECIPIENT_ERROR_CODES);
        assert!(matches!(failure.kind, SendFailureKind::InvalidRecipient));
        assert!(!failure.retryable);
        assert_eq!(failure.vendor_code.as_deref(), Some("21211"));
    }
}
