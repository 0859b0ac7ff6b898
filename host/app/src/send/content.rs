//! What a message says on each channel, as the sender gives it, and the checks it must pass
//! before it is accepted: a channel without content is never tried.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use switchboard_core::domain::{Channel, InputError, text_field};

/// Longest SMS body Twilio accepts (10 segments).
const MAX_SMS_CHARS: usize = 1600;
const MAX_SUBJECT_CHARS: usize = 998;
const MAX_BODY_CHARS: usize = 100_000;

/// The message per channel. Give the channels it may go out on; selection orders them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Content {
    pub email: Option<EmailContent>,
    pub sms: Option<TextContent>,
    /// What staff should say when they call (the phone channel is the staff call queue).
    pub phone: Option<TextContent>,
    pub portal: Option<PortalContent>,
}

/// An email: a subject and a text or HTML body, or a vendor template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailContent {
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub template: Option<TemplateRef>,
}

/// A vendor template and its variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    pub id: String,
    /// The template's variables, a JSON object.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// A plain-text message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextContent {
    pub text: String,
}

/// A message in the portal inbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalContent {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// The parts a carrier needs, whatever the channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub template: Option<TemplateRef>,
}

impl Content {
    /// The channels this message has content for.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.email.is_some() {
            channels.push(Channel::Email);
        }
        if self.sms.is_some() {
            channels.push(Channel::Sms);
        }
        if self.phone.is_some() {
            channels.push(Channel::Phone);
        }
        if self.portal.is_some() {
            channels.push(Channel::Portal);
        }
        channels
    }

    /// What to send on `channel`, if the message has content for it.
    pub fn parts(&self, channel: Channel) -> Option<Parts> {
        match channel {
            Channel::Email => self.email.as_ref().map(|e| Parts {
                subject: Some(e.subject.clone()),
                text: e.text.clone(),
                html: e.html.clone(),
                template: e.template.clone(),
            }),
            Channel::Sms => self.sms.as_ref().map(|t| Parts {
                text: Some(t.text.clone()),
                ..Parts::default()
            }),
            Channel::Phone => self.phone.as_ref().map(|t| Parts {
                text: Some(t.text.clone()),
                ..Parts::default()
            }),
            Channel::Portal => self.portal.as_ref().map(|p| Parts {
                subject: p.subject.clone(),
                text: p.text.clone(),
                html: p.html.clone(),
                template: None,
            }),
            _ => None,
        }
    }

    /// Checks every channel's content; the error names the field.
    pub fn validate(&self) -> Result<(), InputError> {
        if self.channels().is_empty() {
            return Err(InputError::new(
                "content",
                "give the message for at least one of email, sms, phone, portal",
            ));
        }
        if let Some(email) = &self.email {
            text_field(
                "content.email.subject",
                Some(&email.subject),
                MAX_SUBJECT_CHARS,
            )?
            .ok_or_else(|| InputError::new("content.email.subject", "is required"))?;
            let text = text_field("content.email.text", email.text.as_deref(), MAX_BODY_CHARS)?;
            let html = text_field("content.email.html", email.html.as_deref(), MAX_BODY_CHARS)?;
            if let Some(template) = &email.template {
                text_field("content.email.template.id", Some(&template.id), 200)?
                    .ok_or_else(|| InputError::new("content.email.template.id", "is required"))?;
                if template.data.as_ref().is_some_and(|d| !d.is_object()) {
                    return Err(InputError::new(
                        "content.email.template.data",
                        "must be a JSON object",
                    ));
                }
            } else if text.is_none() && html.is_none() {
                return Err(InputError::new(
                    "content.email",
                    "give text, html or a template",
                ));
            }
        }
        for (field, text, max) in [
            ("content.sms.text", self.sms.as_ref(), MAX_SMS_CHARS),
            ("content.phone.text", self.phone.as_ref(), MAX_BODY_CHARS),
        ] {
            if let Some(content) = text {
                text_field(field, Some(&content.text), max)?
                    .ok_or_else(|| InputError::new(field, "is required"))?;
            }
        }
        if let Some(portal) = &self.portal {
            text_field(
                "content.portal.subject",
                portal.subject.as_deref(),
                MAX_SUBJECT_CHARS,
            )?;
            let text = text_field(
                "content.portal.text",
                portal.text.as_deref(),
                MAX_BODY_CHARS,
            )?;
            let html = text_field(
                "content.portal.html",
                portal.html.as_deref(),
                MAX_BODY_CHARS,
            )?;
            if text.is_none() && html.is_none() {
                return Err(InputError::new("content.portal", "give text or html"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(subject: &str, text: Option<&str>) -> Content {
        Content {
            email: Some(EmailContent {
                subject: subject.into(),
                text: text.map(str::to_string),
                ..EmailContent::default()
            }),
            ..Content::default()
        }
    }

    fn field_of(error: InputError) -> String {
        error.field
    }

    #[test]
    fn a_message_needs_content_for_some_channel() {
        assert_eq!(
            field_of(Content::default().validate().unwrap_err()),
            "content"
        );
    }

    #[test]
    fn an_email_needs_a_subject_and_a_body_or_template() {
        assert!(email("Renewal", Some("Due Friday")).validate().is_ok());
        assert_eq!(
            field_of(email(" ", Some("x")).validate().unwrap_err()),
            "content.email.subject"
        );
        assert_eq!(
            field_of(email("Renewal", None).validate().unwrap_err()),
            "content.email"
        );
        let mut templated = email("Renewal", None);
        templated.email.as_mut().unwrap().template = Some(TemplateRef {
            id: "d-1".into(),
            data: Some(serde_json::json!(["not", "an", "object"])),
        });
        assert_eq!(
            field_of(templated.validate().unwrap_err()),
            "content.email.template.data"
        );
    }

    #[test]
    fn an_sms_is_at_most_ten_segments() {
        let long = Content {
            sms: Some(TextContent {
                text: "x".repeat(MAX_SMS_CHARS + 1),
            }),
            ..Content::default()
        };
        assert_eq!(field_of(long.validate().unwrap_err()), "content.sms.text");
    }

    #[test]
    fn parts_follow_the_channel() {
        let content = Content {
            sms: Some(TextContent { text: "Hi".into() }),
            portal: Some(PortalContent {
                subject: Some("Renewal".into()),
                text: Some("Due Friday".into()),
                html: None,
            }),
            ..Content::default()
        };
        assert_eq!(content.channels(), vec![Channel::Sms, Channel::Portal]);
        assert_eq!(
            content.parts(Channel::Sms).unwrap().text.as_deref(),
            Some("Hi")
        );
        assert!(content.parts(Channel::Email).is_none());
        assert_eq!(
            content.parts(Channel::Portal).unwrap().subject.as_deref(),
            Some("Renewal")
        );
    }
}
