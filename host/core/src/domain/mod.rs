//! The shared words, each spelled one way and used the same in SQL, in the API and in
//! `plugins.toml` (snake case); the WIT contract has its own kebab-case twins, converted at the
//! runtime's border. Nothing here reads the database or knows a layer above it: these are the
//! words every layer speaks.

/// A domain word: a [`word_enum!`](crate::word_enum) that is also a wire word (serde and OpenAPI
/// spell it as stored).
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident $body:tt) => {
        $crate::word_enum!(
            $(#[$meta])*
            #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
            #[serde(rename_all = "snake_case")]
            pub $name $body
        );
    };
}

mod consent;
mod identity;
mod input;
mod interaction;
mod message;
mod scope;

pub use consent::{ConsentSource, ConsentStatus};
pub use identity::{
    Hints, IdentityError, IdentityKey, IdentityKind, normalize_email, normalize_phone,
};
pub use input::{InputError, required_text, text_field};
pub use interaction::{Channel, Direction, LoggedInteraction, Outcome};
pub use message::{AttemptStatus, HistoryEvent, MessageStatus, PlannedChannel, Urgency};
pub use scope::Scope;
