//! Plugin secrets: read from the environment variables the operator maps in `plugins.toml`, held
//! by the host and only ever used on the plugin's behalf (HMACs, HTTP auth). The value never enters
//! guest memory and never reaches a log: [`SecretValue`] redacts itself.

use std::collections::BTreeMap;

/// A secret's value. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value, for the one place that attaches it to a request or keys an HMAC with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

/// Why a secret is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretLookupError {
    #[error("secret `{0}` is not declared in plugins.toml")]
    Undeclared(String),
    #[error("secret `{0}` is declared but its environment variable is not set")]
    Unset(String),
}

/// A plugin's secrets by name.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, Option<SecretValue>>,
}

impl Secrets {
    /// Reads each mapped environment variable through `env` (the process environment in
    /// production); empty values count as unset.
    pub fn read(mapping: &BTreeMap<String, String>, env: impl Fn(&str) -> Option<String>) -> Self {
        let values = mapping
            .iter()
            .map(|(name, variable)| {
                let value = env(variable).filter(|v| !v.is_empty()).map(SecretValue);
                (name.clone(), value)
            })
            .collect();
        Secrets { values }
    }

    /// The named secret's value.
    pub fn get(&self, name: &str) -> Result<&SecretValue, SecretLookupError> {
        match self.values.get(name) {
            None => Err(SecretLookupError::Undeclared(name.to_string())),
            Some(None) => Err(SecretLookupError::Unset(name.to_string())),
            Some(Some(value)) => Ok(value),
        }
    }

    /// Names of declared secrets whose variable is not set.
    pub fn unset(&self) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_mapped_variables_and_never_print() {
        let mapping = BTreeMap::from([
            ("api_key".to_string(), "SB_TEST_KEY".to_string()),
            ("token".to_string(), "SB_TEST_UNSET".to_string()),
        ]);
        let secrets = Secrets::read(&mapping, |var| {
            (var == "SB_TEST_KEY").then(|| "s3cret".to_string())
        });
        assert_eq!(secrets.get("api_key").unwrap().expose(), "s3cret");
        assert_eq!(
            secrets.get("token").unwrap_err(),
            SecretLookupError::Unset("token".into())
        );
        assert_eq!(
            secrets.get("other").unwrap_err(),
            SecretLookupError::Undeclared("other".into())
        );
        assert_eq!(secrets.unset(), ["token"]);
        assert!(!format!("{secrets:?}").contains("s3cret"));
    }
}
