//! Where an attempt goes: the contact's newest working address for its channel — an email
//! address, a phone number (SMS and the call queue), or the portal account — leaving out any
//! marked unreachable.

use switchboard_core::domain::{Channel, IdentityKind};
use switchboard_store::{Store, StoreError, contacts};

/// The newest identity of `contact_id` that can carry `channel` and is not marked unreachable.
pub async fn working(
    store: &Store,
    contact_id: i64,
    channel: Channel,
) -> Result<Option<String>, StoreError> {
    let mut conn = store.reader().await?;
    let identities = contacts::identity_rows(&mut conn, contact_id).await?;
    let kind = match channel {
        Channel::Email => IdentityKind::Email,
        Channel::Sms | Channel::Phone => IdentityKind::Phone,
        _ => IdentityKind::External,
    };
    Ok(identities
        .into_iter()
        .rev()
        .filter(|i| i.kind == kind && i.unreachable_at.is_none())
        .find(|i| channel != Channel::Portal || i.value.starts_with("portal:"))
        .map(|i| i.value))
}
