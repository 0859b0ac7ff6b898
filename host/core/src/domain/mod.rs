//! The shared words, each spelled one way and used the same in SQL, in the API and in
//! `plugins.toml` (snake case); the WIT contract has its own kebab-case twins, converted at the
//! runtime's border. Nothing here reads the database or knows a layer above it: these are the
//! words every layer speaks.

/// A word enum: each variant with the one word it is stored and shown as (`as_str`, `parse`,
/// `Display`, serde and OpenAPI all use it).
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored word.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
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
pub use interaction::{Channel, Direction, LoggedEvent, Outcome};
pub use message::{AttemptStatus, MessageStatus, Urgency};
pub use scope::Scope;
