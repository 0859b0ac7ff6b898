//! The carriers: each takes a claimed, eligible attempt with its address and content, carries it,
//! and records that it was carried. [`plugin`] hands email and SMS to a plugin's `send` (paced,
//! retried, the vendor's answer recorded); [`call_queue`] and [`portal_inbox`] are the two
//! channels Switchboard carries itself.

mod call_queue;
mod plugin;
mod portal_inbox;

pub use call_queue::{CALL_QUEUE, CallQueue};
pub use plugin::PluginCarrier;
pub use portal_inbox::{PORTAL_INBOX, PortalInbox};
