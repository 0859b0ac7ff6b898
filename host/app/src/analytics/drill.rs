//! Opening a number of the channel report into the messages behind it: the same period and
//! filters, one channel and provider, and the milestone the number counts, a page at a time.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::channels::ChannelsQuery;
use super::fate::MessageFate;
use crate::service_error::ServiceError;
use switchboard_core::domain::Channel;

/// Which messages: the report's period and filters, a channel, a plugin and what they reached.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub kind: Option<String>,
    pub urgency: Option<String>,
    pub plugin: Option<String>,
    #[param(value_type = Option<String>)]
    pub channel: Option<Channel>,
    /// The milestone a number counts: `sent` (default: all), `delivered`, `receipt`, `engaged`,
    /// `opened`, `clicked`, `answered`, `replied`, `responded`, `failed`, `bounced`,
    /// `opted_out`.
    pub reached: Option<String>,
    /// Failed messages of this failure only (`bounced`, `no_answer`, …).
    pub failure: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<usize>,
}

/// A page of messages, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePage {
    /// How many messages the number counts, over all pages.
    pub total: u64,
    pub messages: Vec<MessageFate>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

impl MessagesQuery {
    /// The report query it narrows.
    pub fn report(&self) -> ChannelsQuery {
        ChannelsQuery {
            since: self.since,
            until: self.until,
            kind: self.kind.clone(),
            urgency: self.urgency.clone(),
            plugin: self.plugin.clone(),
            by: None,
        }
    }

    fn reached(&self) -> Result<fn(&MessageFate) -> bool, ServiceError> {
        Ok(match self.reached.as_deref().unwrap_or("sent") {
            "sent" => |_| true,
            "delivered" => |f| f.delivered,
            "receipt" => |f| f.receipt,
            "engaged" => |f| f.engaged(),
            "opened" => |f| f.opened,
            "clicked" => |f| f.clicked,
            "answered" => |f| f.answered,
            "replied" => |f| f.replied,
            "responded" => |f| f.responded,
            "failed" => |f| f.failure.is_some(),
            "bounced" => |f| f.bounced,
            "opted_out" => |f| f.opted_out,
            _ => {
                return Err(ServiceError::invalid(
                    "reached",
                    "is one of sent, delivered, receipt, engaged, opened, clicked, answered, \
                     replied, responded, failed, bounced, opted_out",
                ));
            }
        })
    }
}

/// Where a page starts: after the message with this key.
type Key = (i64, String, i64);

fn key_of(fate: &MessageFate) -> Key {
    (
        fate.sent_at,
        fate.vendor_message_id.clone().unwrap_or_default(),
        fate.contact_id.unwrap_or(0),
    )
}

fn encode(key: &Key) -> String {
    let text = serde_json::to_string(key).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(cursor: &str) -> Result<Key, ServiceError> {
    let bad = || ServiceError::invalid("cursor", "is not a cursor this report gave");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// The page of `chosen` (the report's messages after its filters) that `query` asks for.
pub fn page(query: &MessagesQuery, chosen: Vec<&MessageFate>) -> Result<MessagePage, ServiceError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::invalid("limit", "is 1 to 500"));
    }
    let reached = query.reached()?;
    let after = query.cursor.as_deref().map(decode).transpose()?;
    let mut matching: Vec<&MessageFate> = chosen
        .into_iter()
        .filter(|f| query.channel.is_none_or(|c| f.channel == c))
        .filter(|f| reached(f))
        .filter(|f| {
            query
                .failure
                .as_deref()
                .is_none_or(|w| f.failure.is_some_and(|o| o.as_str() == w))
        })
        .collect();
    matching.sort_by_key(|f| key_of(f));
    let total = matching.len() as u64;
    let start = after.map_or(0, |key| matching.partition_point(|f| key_of(f) <= key));
    let rows: Vec<&MessageFate> = matching.iter().skip(start).take(limit).copied().collect();
    let next_cursor = (start + rows.len() < matching.len())
        .then(|| rows.last().map(|f| encode(&key_of(f))))
        .flatten();
    Ok(MessagePage {
        total,
        messages: rows.into_iter().cloned().collect(),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_messages_behind_a_number_once_each() {
        let fates: Vec<MessageFate> = (0..5)
            .map(|i| {
                let fate = MessageFate::sent(i, Channel::Email, i * 10);
                if i % 2 == 0 {
                    fate.opened_after(5)
                } else {
                    fate
                }
            })
            .collect();
        let mut query = MessagesQuery {
            reached: Some("opened".into()),
            limit: Some(2),
            ..MessagesQuery::default()
        };
        let first = page(&query, fates.iter().collect()).unwrap();
        assert_eq!(first.total, 3);
        let sent: Vec<i64> = first.messages.iter().map(|m| m.sent_at).collect();
        assert_eq!(sent, [0, 20]);
        query.cursor = first.next_cursor;
        let second = page(&query, fates.iter().collect()).unwrap();
        assert_eq!(second.messages[0].sent_at, 40);
        assert!(second.next_cursor.is_none());

        query.reached = Some("colour".into());
        assert!(page(&query, fates.iter().collect()).is_err());
        query.reached = None;
        query.cursor = Some("not-a-cursor".into());
        assert!(page(&query, fates.iter().collect()).is_err());
    }
}
