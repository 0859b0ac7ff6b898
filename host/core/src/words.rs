//! The one way to declare a word enum: a closed set of values, each stored, shown and parsed as
//! one word.

/// Declares an enum whose every variant is spelled by one word: `as_str`, `parse`, `ALL` and
/// `Display` all use that word, so the database, the API and the logs cannot disagree. Extra
/// attributes (docs, serde or OpenAPI derives) go before the name.
///
/// ```
/// switchboard_core::word_enum!(
///     /// A traffic light.
///     pub Light { Red => "red", Green => "green" }
/// );
/// assert_eq!(Light::parse("red"), Some(Light::Red));
/// assert_eq!(Light::Green.to_string(), "green");
/// ```
#[macro_export]
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        $vis:vis $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

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
