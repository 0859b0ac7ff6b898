//! `switchboard send`.

use anyhow::Context as _;

use super::Common;
use switchboard_app::send::{DirectMessage, send_direct};
use switchboard_core::domain::Channel;

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The plugin to send through.
    #[arg(long)]
    plugin: String,
    /// The channel, when the plugin serves more than one.
    #[arg(long)]
    channel: Option<String>,
    /// The recipient's email address or phone number.
    #[arg(long)]
    to: String,
    /// The contact the message is for (found or created from --to when absent).
    #[arg(long)]
    contact: Option<i64>,
    #[arg(long)]
    subject: Option<String>,
    #[arg(long)]
    text: Option<String>,
    #[arg(long)]
    html: Option<String>,
    #[command(flatten)]
    common: Common,
}

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let store = args.common.open_store().await?;
    let (_manifest, plugins) = args.common.load_plugins().await?;
    let plugin = plugins
        .get(&args.plugin)
        .with_context(|| format!("plugin `{}` is not loaded", args.plugin))?;
    let channel = match (&args.channel, plugin.spec.channels.as_slice()) {
        (Some(name), _) => {
            Channel::parse(name).with_context(|| format!("unknown channel {name:?}"))?
        }
        (None, [only]) => *only,
        (None, _) => anyhow::bail!(
            "plugin `{}` serves several channels; pass --channel",
            args.plugin
        ),
    };
    let message = DirectMessage {
        address: args.to,
        contact_id: args.contact,
        subject: args.subject,
        text: args.text,
        html: args.html,
    };
    let report = send_direct(
        &store,
        plugin,
        channel,
        message,
        args.common.default_country_code.as_deref(),
        "cli",
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.failure.is_some() {
        anyhow::bail!("the send failed (recorded as {})", report.recorded);
    }
    Ok(())
}
