//! Host-side bindings of the `switchboard:channel` contract, generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "channel-plugin",
    imports: {
        "switchboard:channel/http.fetch": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub use self::switchboard::channel::types::{
    Channel as WitChannel, Direction as WitDirection, ExternalId, Header, HttpResponse, Identity,
    Interaction, OutboundMessage, Outcome as WitOutcome, PluginInfo, SendFailure, SendFailureKind,
    SendReceipt, Template, WebhookAccepted, WebhookRejection, WebhookRequest,
};

use switchboard_core::domain::{Channel, Direction, Outcome};

impl From<WitChannel> for Channel {
    fn from(channel: WitChannel) -> Self {
        match channel {
            WitChannel::Email => Channel::Email,
            WitChannel::Sms => Channel::Sms,
            WitChannel::Phone => Channel::Phone,
            WitChannel::Portal => Channel::Portal,
            WitChannel::InPerson => Channel::InPerson,
            WitChannel::Chat => Channel::Chat,
        }
    }
}

impl TryFrom<Channel> for WitChannel {
    type Error = Channel;

    /// Every channel but `system` (Switchboard's own records), which no plugin serves.
    fn try_from(channel: Channel) -> Result<Self, Channel> {
        Ok(match channel {
            Channel::Email => WitChannel::Email,
            Channel::Sms => WitChannel::Sms,
            Channel::Phone => WitChannel::Phone,
            Channel::Portal => WitChannel::Portal,
            Channel::InPerson => WitChannel::InPerson,
            Channel::Chat => WitChannel::Chat,
            Channel::System => return Err(channel),
        })
    }
}

impl From<WitDirection> for Direction {
    fn from(direction: WitDirection) -> Self {
        match direction {
            WitDirection::Outbound => Direction::Outbound,
            WitDirection::Inbound => Direction::Inbound,
        }
    }
}

impl From<WitOutcome> for Outcome {
    fn from(outcome: WitOutcome) -> Self {
        match outcome {
            WitOutcome::Queued => Outcome::Queued,
            WitOutcome::Sent => Outcome::Sent,
            WitOutcome::Deferred => Outcome::Deferred,
            WitOutcome::Delivered => Outcome::Delivered,
            WitOutcome::Opened => Outcome::Opened,
            WitOutcome::Clicked => Outcome::Clicked,
            WitOutcome::Replied => Outcome::Replied,
            WitOutcome::Answered => Outcome::Answered,
            WitOutcome::Voicemail => Outcome::Voicemail,
            WitOutcome::NoAnswer => Outcome::NoAnswer,
            WitOutcome::Busy => Outcome::Busy,
            WitOutcome::Bounced => Outcome::Bounced,
            WitOutcome::Dropped => Outcome::Dropped,
            WitOutcome::Failed => Outcome::Failed,
            WitOutcome::Unsubscribed => Outcome::Unsubscribed,
            WitOutcome::Resubscribed => Outcome::Resubscribed,
            WitOutcome::SpamReported => Outcome::SpamReported,
            WitOutcome::OptedOut => Outcome::OptedOut,
            WitOutcome::OptedIn => Outcome::OptedIn,
            WitOutcome::Attended => Outcome::Attended,
            WitOutcome::Viewed => Outcome::Viewed,
            WitOutcome::Unknown => Outcome::Unknown,
        }
    }
}
