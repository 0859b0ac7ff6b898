//! Reading `plugins.toml` and checking every entry, into [`PluginSpec`]s the runtime can load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ConfigError, Limits, Manifest, PluginEntry};
use switchboard_core::domain::Channel;

/// The largest memory cap a plugin may ask for; the engine reserves address space for it.
pub const MAX_MEMORY_MIB: u32 = 1024;

/// A checked `plugins.toml`.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub path: PathBuf,
    pub require_sha256: bool,
    pub plugins: Vec<PluginSpec>,
}

/// One checked plugin entry: paths absolute, config values as text.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub id: String,
    pub wasm_path: PathBuf,
    pub sha256: Option<String>,
    pub channels: Vec<Channel>,
    pub enabled: bool,
    pub allowed_hosts: Vec<String>,
    pub allow_private_network: bool,
    pub config: BTreeMap<String, String>,
    /// Secret name → environment variable.
    pub secrets: BTreeMap<String, String>,
    /// Header names (lowercase) stored for replay besides the ones always kept.
    pub keep_headers: Vec<String>,
    pub limits: Limits,
}

impl LoadedManifest {
    /// The enabled plugins.
    pub fn enabled(&self) -> impl Iterator<Item = &PluginSpec> {
        self.plugins.iter().filter(|p| p.enabled)
    }
}

/// Reads and checks `plugins.toml`.
pub fn load(path: &Path) -> Result<LoadedManifest, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Checks the text of a `plugins.toml` found at `path` (relative plugin paths resolve against its
/// directory).
pub fn parse(path: &Path, text: &str) -> Result<LoadedManifest, ConfigError> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: describe_parse_error(text, &e),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let plugins = manifest
        .plugins
        .into_iter()
        .map(|(id, entry)| check_entry(path, base, manifest.require_sha256, id, entry))
        .collect::<Result<_, _>>()?;
    Ok(LoadedManifest {
        path: path.to_path_buf(),
        require_sha256: manifest.require_sha256,
        plugins,
    })
}

fn check_entry(
    path: &Path,
    base: &Path,
    require_sha256: bool,
    id: String,
    entry: PluginEntry,
) -> Result<PluginSpec, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        plugin: id.clone(),
        key: key.to_string(),
        message,
    };
    if !is_valid_id(&id) {
        return Err(invalid(
            "id",
            "use 1–63 lowercase letters, digits and dashes, starting with a letter or digit".into(),
        ));
    }
    let wasm_path = base.join(&entry.path);
    if entry.enabled && !wasm_path.is_file() {
        return Err(invalid(
            "path",
            format!("no such file: {}", wasm_path.display()),
        ));
    }
    let sha256 = match entry.sha256 {
        Some(digest) => Some(check_digest(&digest).map_err(|m| invalid("sha256", m))?),
        None if require_sha256 && entry.enabled => {
            return Err(invalid(
                "sha256",
                "missing; pin the file's digest (or set require_sha256 = false for development)"
                    .into(),
            ));
        }
        None => None,
    };
    if entry.channels.is_empty() {
        return Err(invalid("channels", "list at least one channel".into()));
    }
    if entry.channels.contains(&Channel::System) {
        return Err(invalid(
            "channels",
            "`system` is Switchboard's own records, not a channel a plugin can serve".into(),
        ));
    }
    let allowed_hosts = entry
        .allowed_hosts
        .iter()
        .map(|host| check_host(host).map_err(|m| invalid("allowed_hosts", m)))
        .collect::<Result<_, _>>()?;
    let config = entry
        .config
        .into_iter()
        .map(|(key, value)| {
            config_text(&value)
                .map(|text| (key.clone(), text))
                .ok_or_else(|| {
                    invalid(
                        &format!("config.{key}"),
                        "use a string, number or boolean".into(),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    for (name, variable) in &entry.secrets {
        if !is_valid_env_var(variable) {
            return Err(invalid(
                &format!("secrets.{name}"),
                format!("{variable:?} is not an environment variable name"),
            ));
        }
    }
    check_limits(&entry.limits).map_err(|(key, m)| invalid(&format!("limits.{key}"), m))?;
    Ok(PluginSpec {
        id,
        wasm_path,
        sha256,
        channels: entry.channels,
        enabled: entry.enabled,
        allowed_hosts,
        allow_private_network: entry.allow_private_network,
        config,
        secrets: entry.secrets,
        keep_headers: entry
            .keep_headers
            .iter()
            .map(|name| name.trim().to_ascii_lowercase())
            .collect(),
        limits: entry.limits,
    })
}

/// Plugin ids appear in URLs and logs: keep them to a safe alphabet.
fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn check_digest(digest: &str) -> Result<String, String> {
    let digest = digest.trim().to_ascii_lowercase();
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(digest)
    } else {
        Err(format!(
            "{digest:?} is not a hex SHA-256 digest (64 hex digits)"
        ))
    }
}

/// An allow-list entry is a bare host name or IP address, with an optional port.
fn check_host(host: &str) -> Result<String, String> {
    let host = host.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if valid {
        Ok(host)
    } else {
        Err(format!(
            "{host:?} is not a host name (write `api.example.com` or `api.example.com:8443`, without a scheme or path)"
        ))
    }
}

fn config_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_valid_env_var(name: &str) -> bool {
    !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_limits(limits: &Limits) -> Result<(), (&'static str, String)> {
    if !(1..=MAX_MEMORY_MIB).contains(&limits.memory_mib) {
        return Err(("memory_mib", format!("must be 1–{MAX_MEMORY_MIB}")));
    }
    if !(10..=60_000).contains(&limits.webhook_timeout_ms) {
        return Err(("webhook_timeout_ms", "must be 10–60000".into()));
    }
    if !(100..=120_000).contains(&limits.send_timeout_ms) {
        return Err(("send_timeout_ms", "must be 100–120000".into()));
    }
    if !(1..=64 * 1024 * 1024).contains(&limits.max_body_bytes) {
        return Err(("max_body_bytes", "must be 1 byte to 64 MiB".into()));
    }
    if limits
        .sends_per_second
        .is_some_and(|rate| !(1..=10_000).contains(&rate))
    {
        return Err(("sends_per_second", "must be 1–10000".into()));
    }
    if limits.unverified_kept_bytes > 1024 * 1024 * 1024 {
        return Err(("unverified_kept_bytes", "must be at most 1 GiB".into()));
    }
    Ok(())
}

/// toml's own message (line, column, the offending key), prefixed with the plugin whose table it
/// is in when there is one.
fn describe_parse_error(text: &str, error: &toml::de::Error) -> String {
    let plugin = error
        .span()
        .and_then(|span| plugin_table_before(text, span.start));
    match plugin {
        Some(id) => format!("plugin `{id}`: {error}"),
        None => error.to_string(),
    }
}

/// The id of the last `[plugins.<id>…]` table header that starts before `offset`.
fn plugin_table_before(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    before.lines().rev().find_map(|line| {
        let header = line.trim().strip_prefix("[plugins.")?;
        let end = header.find(['.', ']'])?;
        Some(header[..end].trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(dir: &Path, text: &str) -> Result<LoadedManifest, ConfigError> {
        parse(&dir.join("plugins.toml"), text)
    }

    fn temp_dir_with_plugin() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.wasm"), b"\0asm").unwrap();
        dir
    }

    #[test]
    fn a_full_entry_is_checked_and_resolved() {
        let dir = temp_dir_with_plugin();
        let manifest = parse_in(
            dir.path(),
            r#"
            [plugins.email-sendgrid]
            path = "p.wasm"
            sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
            channels = ["email"]
            allowed_hosts = ["API.sendgrid.com", "127.0.0.1:4010"]
            config = { from_email = "a@b.c", tolerance = 300, sandbox = true }
            secrets = { api_key = "SENDGRID_API_KEY" }
            limits = { memory_mib = 32 }
            "#,
        )
        .unwrap();
        let spec = &manifest.plugins[0];
        assert_eq!(spec.id, "email-sendgrid");
        assert_eq!(spec.wasm_path, dir.path().join("p.wasm"));
        assert_eq!(spec.sha256.as_deref().map(|d| &d[..6]), Some("abcdef"));
        assert_eq!(spec.allowed_hosts, ["api.sendgrid.com", "127.0.0.1:4010"]);
        assert_eq!(spec.config["tolerance"], "300");
        assert_eq!(spec.config["sandbox"], "true");
        assert_eq!(spec.limits.memory_mib, 32);
        assert_eq!(
            spec.limits.webhook_timeout_ms,
            Limits::default().webhook_timeout_ms
        );
    }

    #[test]
    fn an_unknown_key_names_the_plugin_and_the_key() {
        let dir = temp_dir_with_plugin();
        let error = parse_in(
            dir.path(),
            "[plugins.sms-twilio]\npath = \"p.wasm\"\nchannels = [\"sms\"]\nalowed_hosts = []\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("plugin `sms-twilio`"), "{error}");
        assert!(error.contains("alowed_hosts"), "{error}");
    }

    #[test]
    fn a_missing_file_names_the_plugin_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let error = parse_in(
            dir.path(),
            "require_sha256 = false\n[plugins.x]\npath = \"gone.wasm\"\nchannels = [\"sms\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("plugin `x`: path: no such file"), "{error}");
    }

    #[test]
    fn digests_are_required_unless_the_operator_opts_out() {
        let dir = temp_dir_with_plugin();
        let entry = "[plugins.x]\npath = \"p.wasm\"\nchannels = [\"sms\"]\n";
        let error = parse_in(dir.path(), entry).unwrap_err().to_string();
        assert!(error.contains("plugin `x`: sha256: missing"), "{error}");
        assert!(parse_in(dir.path(), &format!("require_sha256 = false\n{entry}")).is_ok());

        let bad = format!("{entry}sha256 = \"xyz\"\n");
        let error = parse_in(dir.path(), &bad).unwrap_err().to_string();
        assert!(
            error.contains("sha256: \"xyz\" is not a hex SHA-256 digest"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let dir = temp_dir_with_plugin();
        let base = "require_sha256 = false\n[plugins.x]\npath = \"p.wasm\"\n";
        let cases = [
            ("channels = []\n", "channels"),
            ("channels = [\"fax\"]\n", "fax"),
            (
                "channels = [\"sms\"]\nallowed_hosts = [\"https://x.com/\"]\n",
                "allowed_hosts",
            ),
            (
                "channels = [\"sms\"]\nsecrets = { k = \"not a var\" }\n",
                "secrets.k",
            ),
            (
                "channels = [\"sms\"]\nlimits = { memory_mib = 99999 }\n",
                "limits.memory_mib",
            ),
            (
                "channels = [\"sms\"]\nconfig = { nested = { a = 1 } }\n",
                "config.nested",
            ),
        ];
        for (tail, expected) in cases {
            let error = parse_in(dir.path(), &format!("{base}{tail}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{tail}: {error}");
        }
        let error = parse_in(
            dir.path(),
            "[plugins.Bad_Id]\npath = \"p.wasm\"\nchannels = [\"sms\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("plugin `Bad_Id`: id"), "{error}");
    }

    #[test]
    fn disabled_plugins_need_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = parse_in(
            dir.path(),
            "[plugins.x]\npath = \"gone.wasm\"\nchannels = [\"sms\"]\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(manifest.enabled().count(), 0);
    }
}
