//! The log's rows of a period as CSV, one row per interaction, streamed a page at a time (never
//! the whole export in memory): the rows behind any figure, for a spreadsheet or another tool.

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::channels::ChannelsQuery;
use crate::service_error::ServiceError;
use switchboard_core::domain::Channel;
use switchboard_store::interactions::{self, Interaction, PeriodFilter};
use switchboard_store::{Store, StoreError};

/// Which rows.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// From this time on, ms since the epoch (default: 30 days before `until`).
    pub since: Option<i64>,
    /// Before this time (default: now). At most 400 days after `since`.
    pub until: Option<i64>,
    #[param(value_type = Option<String>)]
    pub channel: Option<Channel>,
    pub plugin: Option<String>,
}

/// The streamed document, chunk by chunk.
pub type Chunks = mpsc::Receiver<Result<Bytes, std::io::Error>>;

const PAGE: i64 = 1_000;
const CHUNKS_AHEAD: usize = 4;

pub const HEADER: &str = concat!(
    "id,occurred_at,received_at,contact_id,channel,direction,kind,outcome,vendor_status,",
    "plugin_id,vendor,vendor_message_id,vendor_event_id,time_to_action_ms,summary,created_by\n"
);

/// Checks the query and starts streaming the rows.
pub fn start(store: Store, query: &ExportQuery, now: i64) -> Result<Chunks, ServiceError> {
    let period = ChannelsQuery {
        since: query.since,
        until: query.until,
        ..ChannelsQuery::default()
    }
    .period(now)?;
    let filter = PeriodFilter {
        since: period.since,
        until: period.until,
        channel: query.channel,
        plugin_id: query.plugin.clone(),
        after_id: 0,
        limit: PAGE,
    };
    let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
    tokio::spawn(async move {
        if let Err(error) = stream(&store, filter, &sender).await {
            tracing::warn!(%error, "the CSV export stopped");
            let _ = sender
                .send(Err(std::io::Error::other(error.to_string())))
                .await;
        }
    });
    Ok(chunks)
}

async fn stream(
    store: &Store,
    mut filter: PeriodFilter,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), StoreError> {
    if sender
        .send(Ok(Bytes::from_static(HEADER.as_bytes())))
        .await
        .is_err()
    {
        return Ok(());
    }
    loop {
        let mut conn = store.reader().await?;
        let rows = interactions::in_period(&mut conn, &filter).await?;
        drop(conn);
        let Some(last) = rows.last() else {
            return Ok(());
        };
        filter.after_id = last.id;
        let text: String = rows.iter().map(csv_row).collect();
        if sender.send(Ok(Bytes::from(text))).await.is_err() {
            // The client went away.
            return Ok(());
        }
    }
}

fn csv_row(row: &Interaction) -> String {
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let fields = [
        row.id.to_string(),
        row.occurred_at.to_string(),
        row.received_at.to_string(),
        number(row.contact_id),
        row.channel.as_str().to_string(),
        row.direction.as_str().to_string(),
        cell(&row.kind),
        row.outcome.as_str().to_string(),
        cell(row.vendor_status.as_deref().unwrap_or("")),
        cell(row.plugin_id.as_deref().unwrap_or("")),
        cell(row.vendor.as_deref().unwrap_or("")),
        cell(row.vendor_message_id.as_deref().unwrap_or("")),
        cell(row.vendor_event_id.as_deref().unwrap_or("")),
        number(row.time_to_action_ms),
        cell(row.summary.as_deref().unwrap_or("")),
        cell(&row.created_by),
    ];
    let mut line = fields.join(",");
    line.push('\n');
    line
}

/// A text cell, quoted where CSV needs it (RFC 4180). Text that a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@` first) is prefixed with `'`: these cells come from vendors and
/// the people writing to us.
fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\"\nthere"), "\"say \"\"hi\"\"\nthere\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1"), "'-1");
    }
}
