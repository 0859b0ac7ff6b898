//! The engine's knobs, from `serve --preference-settings FILE` (TOML) or the defaults below.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde::Deserialize;

use switchboard_core::clock::local_time::{self, QuietHours};
use switchboard_core::domain::{Channel, Urgency};

/// The channels selection ranks.
pub const SELECTABLE: [Channel; 4] = [
    Channel::Email,
    Channel::Sms,
    Channel::Phone,
    Channel::Portal,
];

/// The settings file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreferenceSettings {
    /// Days of history the windowed view, the preferences and the priors use.
    pub window_days: u32,
    /// The zone assumed for quiet hours when a contact's is unknown.
    pub default_timezone: String,
    /// Local quiet hours, `"21:00"` to `"08:00"`, unless a contact set their own.
    pub quiet_start: String,
    pub quiet_end: String,
    /// Channels that may be used in quiet hours (they wait in an inbox, they do not ring).
    pub quiet_channels: Vec<Channel>,
    /// Per urgency, a weight per channel that multiplies its engagement score.
    pub urgency_weights: BTreeMap<Urgency, BTreeMap<Channel, f64>>,
    /// Added to the score of a channel the contact said they prefer (the first preference gets
    /// all of it, later ones less).
    pub preferred_bonus: f64,
    /// At normal urgency in quiet hours, a quiet channel is used now if its score is at least this
    /// share of the best (deferred) channel's; otherwise the message waits.
    pub quiet_channel_ratio: f64,
    /// How often the population priors are fitted again, in seconds.
    pub prior_refit_seconds: u64,
}

impl Default for PreferenceSettings {
    fn default() -> Self {
        let weights = |email, sms, phone, portal| {
            BTreeMap::from([
                (Channel::Email, email),
                (Channel::Sms, sms),
                (Channel::Phone, phone),
                (Channel::Portal, portal),
            ])
        };
        PreferenceSettings {
            window_days: 90,
            default_timezone: "UTC".to_string(),
            quiet_start: "21:00".to_string(),
            quiet_end: "08:00".to_string(),
            quiet_channels: vec![Channel::Email, Channel::Portal],
            urgency_weights: BTreeMap::from([
                (Urgency::Low, weights(1.0, 0.6, 0.3, 1.0)),
                (Urgency::Normal, weights(1.0, 1.0, 0.7, 0.9)),
                (Urgency::High, weights(0.7, 1.0, 1.0, 0.5)),
            ]),
            preferred_bonus: 0.15,
            quiet_channel_ratio: 0.75,
            prior_refit_seconds: 600,
        }
    }
}

/// Settings checked and ready to use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub window_days: u32,
    pub default_zone: TimeZone,
    pub default_zone_name: String,
    pub quiet_hours: QuietHours,
    pub quiet_channels: Vec<Channel>,
    pub urgency_weights: BTreeMap<Urgency, BTreeMap<Channel, f64>>,
    pub preferred_bonus: f64,
    pub quiet_channel_ratio: f64,
    pub prior_refit_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        PreferenceSettings::default()
            .check()
            .expect("the built-in preference settings are valid")
    }
}

impl PreferenceSettings {
    /// Checks every value, naming the key of the first that makes no sense.
    pub fn check(self) -> Result<Settings, String> {
        if !(1..=3650).contains(&self.window_days) {
            return Err("window_days: between 1 and 3650".into());
        }
        let default_zone = local_time::zone(&self.default_timezone)
            .map_err(|e| format!("default_timezone: {e}"))?;
        let quiet_hours = QuietHours::parse(&self.quiet_start, &self.quiet_end)
            .map_err(|e| format!("quiet_start/quiet_end: {e}"))?;
        // A file names only the weights it changes; the rest keep their defaults.
        let mut urgency_weights = PreferenceSettings::default().urgency_weights;
        for (urgency, weights) in &self.urgency_weights {
            urgency_weights.entry(*urgency).or_default().extend(weights);
        }
        for (urgency, weights) in &urgency_weights {
            for (channel, weight) in weights {
                if !SELECTABLE.contains(channel) {
                    return Err(format!(
                        "urgency_weights: {channel} is not a selectable channel"
                    ));
                }
                if !(0.0..=10.0).contains(weight) {
                    return Err(format!(
                        "urgency_weights.{urgency:?}.{channel}: between 0 and 10"
                    ));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.preferred_bonus) {
            return Err("preferred_bonus: between 0 and 1".into());
        }
        if !(0.0..=1.0).contains(&self.quiet_channel_ratio) {
            return Err("quiet_channel_ratio: between 0 and 1".into());
        }
        if self.prior_refit_seconds == 0 {
            return Err("prior_refit_seconds: at least 1".into());
        }
        Ok(Settings {
            window_days: self.window_days,
            default_zone,
            default_zone_name: self.default_timezone,
            quiet_hours,
            quiet_channels: self.quiet_channels,
            urgency_weights,
            preferred_bonus: self.preferred_bonus,
            quiet_channel_ratio: self.quiet_channel_ratio,
            prior_refit_seconds: self.prior_refit_seconds,
        })
    }
}

impl Settings {
    /// The weight of `channel` at `urgency` (1 when the file names none).
    pub fn weight(&self, urgency: Urgency, channel: Channel) -> f64 {
        self.urgency_weights
            .get(&urgency)
            .and_then(|w| w.get(&channel))
            .copied()
            .unwrap_or(1.0)
    }

    /// Reads and checks a settings file.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: PreferenceSettings = toml::from_str(text).map_err(|e| e.to_string())?;
        file.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_a_file_overrides_them() {
        let settings = Settings::default();
        assert_eq!(settings.window_days, 90);
        assert_eq!(settings.weight(Urgency::High, Channel::Phone), 1.0);
        let custom = Settings::from_toml(
            "window_days = 30\ndefault_timezone = \"Europe/Madrid\"\n\
             [urgency_weights.high]\nphone = 2.0\n",
        )
        .unwrap();
        assert_eq!(custom.window_days, 30);
        assert_eq!(custom.weight(Urgency::High, Channel::Phone), 2.0);
        assert_eq!(custom.weight(Urgency::High, Channel::Email), 0.7);
        assert_eq!(custom.weight(Urgency::Low, Channel::Phone), 0.3);
    }

    #[test]
    fn nonsense_is_refused_with_the_key() {
        let error = Settings::from_toml("default_timezone = \"Nowhere/Land\"").unwrap_err();
        assert!(error.contains("default_timezone"), "{error}");
        let error = Settings::from_toml("window_days = 0").unwrap_err();
        assert!(error.contains("window_days"), "{error}");
        let error = Settings::from_toml("quiet_start = \"9pm\"").unwrap_err();
        assert!(error.contains("quiet_start"), "{error}");
        let error = Settings::from_toml("colour = \"blue\"").unwrap_err();
        assert!(error.contains("colour"), "{error}");
        let error = Settings::from_toml("[urgency_weights.high]\nsystem = 1.0").unwrap_err();
        assert!(error.contains("system"), "{error}");
    }
}
