//! The analytics knobs, from `serve --analytics-settings FILE` (TOML) or the defaults below:
//! which goals conversions may name, which logged interactions are conversions of a goal, and
//! what counts as a touch of a journey.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The settings file, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsSettings {
    /// The goals a conversion may name, each with the interaction kinds that are its
    /// conversions when a plugin reports them (`portal_payment_completed`).
    pub goals: BTreeMap<String, Goal>,
    /// How far back before a conversion its journey's touches are taken, in days.
    pub lookback_days: u32,
    /// The interaction kinds that are touches (`email_delivered`, `call_logged`, …). Empty: every
    /// message we sent (one touch, when it left) and every inbound interaction of the person
    /// (not their opt-outs and opt-ins).
    pub touch_kinds: Vec<String>,
}

/// A goal.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Goal {
    pub description: String,
    /// Logged interactions of these kinds are conversions of this goal (value 0).
    pub from_kinds: Vec<String>,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        let goal = |description: &str| Goal {
            description: description.into(),
            from_kinds: Vec::new(),
        };
        AnalyticsSettings {
            goals: BTreeMap::from([
                ("enrolled".into(), goal("enrolled in a programme")),
                ("paid".into(), goal("paid")),
                ("booked".into(), goal("booked an appointment or a trial")),
            ]),
            lookback_days: 30,
            touch_kinds: Vec::new(),
        }
    }
}

impl AnalyticsSettings {
    /// Reads and checks a settings file's text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let settings: AnalyticsSettings = toml::from_str(text).map_err(|e| e.to_string())?;
        if settings.goals.is_empty() {
            return Err("declare at least one goal under [goals.<name>]".into());
        }
        if let Some(bad) = settings.goals.keys().find(|g| !is_word(g)) {
            return Err(format!(
                "goal {bad:?}: a goal is a word of lowercase letters, digits and _"
            ));
        }
        if !(1..=365).contains(&settings.lookback_days) {
            return Err("lookback_days is 1 to 365".into());
        }
        Ok(settings)
    }

    pub fn lookback_ms(&self) -> i64 {
        i64::from(self.lookback_days) * 86_400_000
    }
}

fn is_word(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_declares_goals_and_the_kinds_that_convert() {
        let settings = AnalyticsSettings::from_toml(
            r#"
            lookback_days = 14
            [goals.paid]
            description = "paid an invoice"
            from_kinds = ["portal_payment_completed"]
            "#,
        )
        .unwrap();
        assert_eq!(
            settings.goals["paid"].from_kinds,
            ["portal_payment_completed"]
        );
        assert_eq!(settings.lookback_ms(), 14 * 86_400_000);

        assert!(AnalyticsSettings::from_toml("goals = {}").is_err());
        assert!(AnalyticsSettings::from_toml("[goals.Paid]").is_err());
        assert!(AnalyticsSettings::from_toml("lookback_days = 0\n[goals.paid]").is_err());
        assert!(AnalyticsSettings::from_toml("colour = 1").is_err());
    }
}
