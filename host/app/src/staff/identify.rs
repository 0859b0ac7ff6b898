//! Who is this? Identity resolution with a confidence, by the Fellegi–Sunter method.
//!
//! Each field the caller gives (phone/ANI, email, external ids, name) is compared with each
//! candidate contact — every contact that owns one of the given identifiers. A field contributes
//! its log-likelihood ratio in bits:
//!
//! - agreement: `log2(m / u)`, where `m` is the chance the field agrees when the contact is the
//!   person and `u` the chance it agrees by coincidence (a shared family phone, a recycled
//!   number);
//! - disagreement (the contact has a value of that kind, just not this one):
//!   `log2((1 - m) / (1 - u))`, negative;
//! - nothing to compare: 0.
//!
//! Evidence ages: a hint last seen `d` days ago counts with `m' = r·m + (1 - r)·u`, where
//! `r = 2^(-d / half_life)`, so fresh evidence keeps its full weight and old evidence fades to
//! none. The weights add to the prior log-odds; the confidence is the logistic of the sum,
//! `1 / (1 + 2^-W)`. Levels and the recommendation follow configurable thresholds. Every
//! contribution is returned, so the score explains itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::identifiers::Identifiers;
use crate::service_error::ServiceError;
use switchboard_core::domain::{IdentityKey, IdentityKind};
use switchboard_store::contacts;
use switchboard_store::{Store, StoreError};

/// One field's `m` and `u` probabilities and how fast its evidence ages.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldModel {
    /// P(agree | same person).
    pub m: f64,
    /// P(agree | different people).
    pub u: f64,
    /// Days after which a hint's evidence counts half.
    pub half_life_days: f64,
}

impl FieldModel {
    fn agree_bits(&self, age_days: Option<f64>) -> f64 {
        let r = age_days.map_or(1.0, |d| (-d.max(0.0) / self.half_life_days).exp2());
        let m = r * self.m + (1.0 - r) * self.u;
        (m / self.u).log2()
    }

    fn disagree_bits(&self) -> f64 {
        ((1.0 - self.m) / (1.0 - self.u)).log2()
    }
}

/// The method's parameters (`[identify]` in the settings file; every key optional).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentifySettings {
    pub phone: FieldModel,
    pub email: FieldModel,
    pub external_id: FieldModel,
    pub name: FieldModel,
    /// Log2-odds that a candidate is the person before any field is compared.
    pub prior_bits: f64,
    /// Lowest confidence for each level.
    pub very_high: f64,
    pub high: f64,
    pub medium: f64,
}

impl Default for IdentifySettings {
    fn default() -> Self {
        IdentifySettings {
            // Phones are shared in households and recycled by carriers.
            phone: FieldModel {
                m: 0.9,
                u: 0.02,
                half_life_days: 180.0,
            },
            email: FieldModel {
                m: 0.95,
                u: 0.001,
                half_life_days: 365.0,
            },
            external_id: FieldModel {
                m: 0.98,
                u: 0.0001,
                half_life_days: 730.0,
            },
            name: FieldModel {
                m: 0.9,
                u: 0.05,
                half_life_days: 3650.0,
            },
            prior_bits: -2.0,
            very_high: 0.99,
            high: 0.9,
            medium: 0.6,
        }
    }
}

impl IdentifySettings {
    /// Checks the parameters make sense: probabilities in (0, 1), `m > u`, ordered thresholds.
    pub fn validate(&self) -> Result<(), String> {
        for (name, f) in [
            ("phone", self.phone),
            ("email", self.email),
            ("external_id", self.external_id),
            ("name", self.name),
        ] {
            let open = |p: f64| p > 0.0 && p < 1.0;
            if !open(f.m) || !open(f.u) || f.m <= f.u {
                return Err(format!("identify.{name}: need 0 < u < m < 1"));
            }
            if f.half_life_days.is_nan() || f.half_life_days <= 0.0 {
                return Err(format!("identify.{name}.half_life_days must be positive"));
            }
        }
        if !(0.0 < self.medium
            && self.medium < self.high
            && self.high < self.very_high
            && self.very_high <= 1.0)
        {
            return Err("identify: need 0 < medium < high < very_high <= 1".into());
        }
        Ok(())
    }
}

/// What the caller knows about the person.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyRequest {
    /// The calling number (ANI) or any phone the person gave.
    #[serde(alias = "ani")]
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Ids in other systems: `{"crm": "CUST-12345"}`.
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    /// The name the person gave.
    pub name: Option<String>,
    /// How many days ago each hint was last seen in use (`phone`, `email`, `external_id`);
    /// older evidence counts less.
    #[serde(default)]
    pub last_seen_days: BTreeMap<String, f64>,
}

/// How sure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    VeryHigh,
    High,
    Medium,
    Low,
}

/// What to do with the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    /// Treat the caller as this contact.
    Reuse,
    /// Probably this contact: confirm a detail with the person first.
    Confirm,
    /// Nobody plausible: create a contact.
    Create,
}

/// One field's part in a candidate's score.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Evidence {
    /// `phone`, `email`, `external_id:<system>`, `name`.
    pub field: String,
    /// `match`, `mismatch`.
    pub comparison: String,
    /// Log2 likelihood ratio contributed.
    pub bits: f64,
    /// The age of the hint, when given.
    pub age_days: Option<f64>,
}

/// A scored candidate.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Candidate {
    pub contact_id: i64,
    pub display_name: Option<String>,
    pub confidence: f64,
    pub level: Level,
    /// The prior plus every field's bits.
    pub total_bits: f64,
    pub evidence: Vec<Evidence>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IdentifyResponse {
    /// The best candidate, if any.
    pub contact_id: Option<i64>,
    pub confidence: f64,
    pub level: Level,
    /// What matched for the best candidate: `phone`, `email`, `external_id:crm`, `name`,
    /// `recency:<field>:<days>d`.
    pub sources: Vec<String>,
    pub recommendation: Recommendation,
    /// Every candidate, best first (at most 5).
    pub candidates: Vec<Candidate>,
}

/// A hint, normalized, with its age.
struct Hint {
    field: String,
    key: IdentityKey,
    model: FieldModel,
    age_days: Option<f64>,
}

/// Identity resolution for staff, over the store, with the operator's model and phone default.
#[derive(Clone)]
pub struct Identify {
    store: Store,
    identifiers: Identifiers,
    settings: Arc<IdentifySettings>,
}

impl Identify {
    pub fn new(store: Store, identifiers: Identifiers, settings: IdentifySettings) -> Self {
        Identify {
            store,
            identifiers,
            settings: Arc::new(settings),
        }
    }

    /// Who is this? The contacts owning the given identifiers, scored, best first.
    pub async fn who(&self, request: &IdentifyRequest) -> Result<IdentifyResponse, ServiceError> {
        identify(&self.store, &self.identifiers, &self.settings, request).await
    }
}

/// Resolves a caller to a contact.
async fn identify(
    store: &Store,
    identifiers: &Identifiers,
    settings: &IdentifySettings,
    request: &IdentifyRequest,
) -> Result<IdentifyResponse, ServiceError> {
    let hints = hints(identifiers, settings, request)?;
    if hints.is_empty() && request.name.is_none() {
        return Err(ServiceError::invalid(
            "phone",
            "give at least one of phone, email, external_ids or name",
        ));
    }
    let keys: Vec<IdentityKey> = hints.iter().map(|h| h.key.clone()).collect();
    let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
    let owners = contacts::owners(&mut conn, &keys).await?;
    let mut ids: Vec<i64> = owners.values().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut candidates = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(contact) = contacts::get(&mut conn, id).await? else {
            continue;
        };
        let held = contacts::identities_of(&mut conn, id).await?;
        let evidence = compare(
            settings,
            &hints,
            &held,
            request.name.as_deref(),
            contact.display_name.as_deref(),
        );
        candidates.push(candidate(settings, id, contact.display_name, evidence));
    }
    candidates.sort_by(|a, b| {
        b.total_bits
            .total_cmp(&a.total_bits)
            .then(a.contact_id.cmp(&b.contact_id))
    });
    candidates.truncate(5);
    Ok(answer(candidates))
}

fn hints(
    identifiers: &Identifiers,
    settings: &IdentifySettings,
    request: &IdentifyRequest,
) -> Result<Vec<Hint>, ServiceError> {
    for field in request.last_seen_days.keys() {
        if !matches!(field.as_str(), "phone" | "email" | "external_id") {
            return Err(ServiceError::invalid(
                format!("last_seen_days.{field}"),
                "expected phone, email or external_id",
            ));
        }
    }
    if let Some((field, days)) = request
        .last_seen_days
        .iter()
        .find(|(_, d)| !d.is_finite() || **d < 0.0)
    {
        return Err(ServiceError::invalid(
            format!("last_seen_days.{field}"),
            format!("{days} is not a number of days"),
        ));
    }
    let age = |field: &str| request.last_seen_days.get(field).copied();
    let mut hints = Vec::new();
    if let Some(phone) = request.phone.as_deref() {
        hints.push(Hint {
            field: "phone".into(),
            key: identifiers.phone("phone", phone)?,
            model: settings.phone,
            age_days: age("phone"),
        });
    }
    if let Some(email) = request.email.as_deref() {
        hints.push(Hint {
            field: "email".into(),
            key: IdentityKey::email(email).map_err(|e| ServiceError::identity("email", e))?,
            model: settings.email,
            age_days: age("email"),
        });
    }
    for (system, id) in &request.external_ids {
        let field = format!("external_ids.{system}");
        hints.push(Hint {
            field: format!("external_id:{system}"),
            key: IdentityKey::external(system, id).map_err(|e| ServiceError::identity(field, e))?,
            model: settings.external_id,
            age_days: age("external_id"),
        });
    }
    Ok(hints)
}

/// Every field's evidence for one candidate.
fn compare(
    settings: &IdentifySettings,
    hints: &[Hint],
    held: &[IdentityKey],
    name: Option<&str>,
    display_name: Option<&str>,
) -> Vec<Evidence> {
    let mut evidence = Vec::new();
    for hint in hints {
        let same_kind = |k: &&IdentityKey| {
            k.kind == hint.key.kind
                && (hint.key.kind != IdentityKind::External || system_of(k) == system_of(&hint.key))
        };
        let (comparison, bits) = if held.contains(&hint.key) {
            ("match", hint.model.agree_bits(hint.age_days))
        } else if held.iter().any(|k| same_kind(&k)) {
            ("mismatch", hint.model.disagree_bits())
        } else {
            continue;
        };
        evidence.push(Evidence {
            field: hint.field.clone(),
            comparison: comparison.into(),
            bits,
            age_days: hint.age_days,
        });
    }
    if let (Some(given), Some(known)) = (name.map(fold_name), display_name.map(fold_name))
        && !given.is_empty()
        && !known.is_empty()
    {
        let (comparison, bits) = if given == known {
            ("match", settings.name.agree_bits(None))
        } else {
            ("mismatch", settings.name.disagree_bits())
        };
        evidence.push(Evidence {
            field: "name".into(),
            comparison: comparison.into(),
            bits,
            age_days: None,
        });
    }
    evidence
}

fn system_of(key: &IdentityKey) -> &str {
    key.value.split_once(':').map_or("", |(system, _)| system)
}

/// Lowercase words in order, punctuation dropped: "Martinez, Ana" and "ana martinez" differ on
/// order, which a caller's spelling rarely changes.
fn fold_name(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn candidate(
    settings: &IdentifySettings,
    contact_id: i64,
    display_name: Option<String>,
    evidence: Vec<Evidence>,
) -> Candidate {
    let total_bits = settings.prior_bits + evidence.iter().map(|e| e.bits).sum::<f64>();
    let confidence = round4(1.0 / (1.0 + (-total_bits).exp2()));
    Candidate {
        contact_id,
        display_name,
        confidence,
        level: level(settings, confidence),
        total_bits: round4(total_bits),
        evidence: evidence
            .into_iter()
            .map(|e| Evidence {
                bits: round4(e.bits),
                ..e
            })
            .collect(),
    }
}

fn level(settings: &IdentifySettings, confidence: f64) -> Level {
    if confidence >= settings.very_high {
        Level::VeryHigh
    } else if confidence >= settings.high {
        Level::High
    } else if confidence >= settings.medium {
        Level::Medium
    } else {
        Level::Low
    }
}

fn answer(candidates: Vec<Candidate>) -> IdentifyResponse {
    let Some(best) = candidates.first() else {
        return IdentifyResponse {
            contact_id: None,
            confidence: 0.0,
            level: Level::Low,
            sources: Vec::new(),
            recommendation: Recommendation::Create,
            candidates,
        };
    };
    let mut sources: Vec<String> = best
        .evidence
        .iter()
        .filter(|e| e.comparison == "match")
        .map(|e| e.field.clone())
        .collect();
    sources.extend(best.evidence.iter().filter_map(|e| {
        Some(format!(
            "recency:{}:{}d",
            e.field,
            e.age_days?.round() as i64
        ))
    }));
    let recommendation = match best.level {
        Level::VeryHigh | Level::High => Recommendation::Reuse,
        Level::Medium => Recommendation::Confirm,
        Level::Low => Recommendation::Create,
    };
    IdentifyResponse {
        contact_id: Some(best.contact_id),
        confidence: best.confidence,
        level: best.level,
        sources,
        recommendation,
        candidates,
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(field: &str, key: IdentityKey, model: FieldModel, age: Option<f64>) -> Hint {
        Hint {
            field: field.into(),
            key,
            model,
            age_days: age,
        }
    }

    #[test]
    fn agreement_and_disagreement_weights_are_log_likelihood_ratios() {
        let f = FieldModel {
            m: 0.9,
            u: 0.02,
            half_life_days: 180.0,
        };
        // log2(0.9 / 0.02) = log2(45)
        assert!((f.agree_bits(None) - 45f64.log2()).abs() < 1e-12);
        // log2(0.1 / 0.98)
        assert!((f.disagree_bits() - (0.1f64 / 0.98).log2()).abs() < 1e-12);
        // One half-life: m' = (0.9 + 0.02) / 2 = 0.46; log2(0.46 / 0.02) = log2(23).
        assert!((f.agree_bits(Some(180.0)) - 23f64.log2()).abs() < 1e-12);
        // Very old evidence is worth nothing.
        assert!(f.agree_bits(Some(1e6)).abs() < 1e-9);
    }

    #[test]
    fn a_fresh_phone_alone_is_high_and_with_email_very_high() {
        let s = IdentifySettings::default();
        let phone = IdentityKey::phone("+14155550100", None).unwrap();
        let email = IdentityKey::email("ana@example.org").unwrap();
        let held = vec![phone.clone(), email.clone()];

        let only_phone = [hint("phone", phone.clone(), s.phone, None)];
        let c = candidate(&s, 1, None, compare(&s, &only_phone, &held, None, None));
        // W = -2 + log2(45) = 3.4919; 1 / (1 + 2^-3.4919) = 0.9184
        assert_eq!(c.total_bits, 3.4919);
        assert_eq!(c.confidence, 0.9184);
        assert_eq!(c.level, Level::High);

        let both = [
            hint("phone", phone, s.phone, None),
            hint("email", email, s.email, None),
        ];
        let c = candidate(&s, 1, None, compare(&s, &both, &held, None, None));
        assert_eq!(c.level, Level::VeryHigh);
    }

    #[test]
    fn a_shared_phone_with_another_email_needs_confirmation() {
        let s = IdentifySettings::default();
        let phone = IdentityKey::phone("+14155550100", None).unwrap();
        let held = vec![
            phone.clone(),
            IdentityKey::email("ana@example.org").unwrap(),
        ];
        let hints = [
            hint("phone", phone, s.phone, None),
            hint(
                "email",
                IdentityKey::email("luis@example.org").unwrap(),
                s.email,
                None,
            ),
        ];
        let c = candidate(&s, 1, None, compare(&s, &hints, &held, None, None));
        // -2 + log2(45) + log2(0.05 / 0.999) = -0.83: low.
        assert_eq!(c.level, Level::Low);
        let evidence: Vec<_> = c.evidence.iter().map(|e| e.comparison.as_str()).collect();
        assert_eq!(evidence, ["match", "mismatch"]);
    }

    #[test]
    fn an_old_phone_with_the_right_name_is_medium() {
        let s = IdentifySettings::default();
        let phone = IdentityKey::phone("+14155550100", None).unwrap();
        let hints = [hint("phone", phone.clone(), s.phone, Some(720.0))];
        let c = candidate(
            &s,
            1,
            None,
            compare(
                &s,
                &hints,
                &[phone],
                Some("ana  MARTINEZ"),
                Some("Ana Martinez"),
            ),
        );
        // Four half-lives: m' = 0.9/16 + 0.02·15/16 = 0.075; log2(3.75) = 1.907;
        // name log2(18) = 4.170; W = -2 + 1.907 + 4.170 = 4.077 -> 0.944: high.
        assert_eq!(c.level, Level::High);
        let c = candidate(&s, 1, None, compare(&s, &hints[..], &[], None, None));
        assert_eq!(c.level, Level::Low);
    }

    #[test]
    fn settings_are_checked() {
        assert!(IdentifySettings::default().validate().is_ok());
        let mut bad = IdentifySettings::default();
        bad.phone.u = 0.95;
        assert!(bad.validate().unwrap_err().contains("phone"));
        let bad = IdentifySettings {
            high: 0.5,
            ..IdentifySettings::default()
        };
        assert!(bad.validate().is_err());
    }
}
