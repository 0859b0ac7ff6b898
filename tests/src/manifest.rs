//! Writing `plugins.toml` for a test.

use std::path::PathBuf;

use crate::{plugin_wasm, sha256_hex};

/// One `[plugins.<id>]` entry.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub id: String,
    pub wasm: PathBuf,
    pub sha256: Option<String>,
    pub channels: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub allow_private_network: bool,
    pub enabled: bool,
    pub config: Vec<(String, String)>,
    pub secrets: Vec<(String, String)>,
    pub limits: Vec<(String, i64)>,
    /// Raw TOML lines appended to the entry (for testing how bad entries are refused).
    pub extra: Vec<String>,
}

impl PluginConfig {
    /// The built plugin `wasm_name` installed as `id` for `channels`, its digest pinned.
    pub fn new(id: &str, wasm_name: &str, channels: &[&str]) -> Self {
        PluginConfig::at(id, plugin_wasm(wasm_name), channels)
    }

    /// The component at `wasm` installed as `id` for `channels`, its digest pinned.
    pub fn at(id: &str, wasm: PathBuf, channels: &[&str]) -> Self {
        PluginConfig {
            id: id.to_string(),
            sha256: Some(sha256_hex(&wasm)),
            wasm,
            channels: channels.iter().map(|c| c.to_string()).collect(),
            allowed_hosts: Vec::new(),
            allow_private_network: false,
            enabled: true,
            config: Vec::new(),
            secrets: Vec::new(),
            limits: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Sets a config key (replacing an earlier value).
    pub fn config(mut self, key: &str, value: impl ToString) -> Self {
        self.config.retain(|(k, _)| k != key);
        self.config.push((key.to_string(), value.to_string()));
        self
    }

    pub fn secret(mut self, name: &str, variable: &str) -> Self {
        self.secrets.push((name.to_string(), variable.to_string()));
        self
    }

    pub fn allow_host(mut self, host: &str) -> Self {
        self.allowed_hosts.push(host.to_string());
        self
    }

    /// Lets the plugin reach loopback (the vendor mocks).
    pub fn private_network(mut self) -> Self {
        self.allow_private_network = true;
        self
    }

    /// Sets a limit (replacing an earlier value).
    pub fn limit(mut self, key: &str, value: i64) -> Self {
        self.limits.retain(|(k, _)| k != key);
        self.limits.push((key.to_string(), value));
        self
    }

    pub fn extra_line(mut self, line: &str) -> Self {
        self.extra.push(line.to_string());
        self
    }

    fn to_toml(&self) -> String {
        let mut text = format!("[plugins.{}]\n", self.id);
        text += &format!("path = {}\n", quote(&self.wasm.display().to_string()));
        if let Some(sha256) = &self.sha256 {
            text += &format!("sha256 = {}\n", quote(sha256));
        }
        text += &format!("channels = [{}]\n", list(&self.channels));
        text += &format!("allowed_hosts = [{}]\n", list(&self.allowed_hosts));
        text += &format!("allow_private_network = {}\n", self.allow_private_network);
        text += &format!("enabled = {}\n", self.enabled);
        for line in &self.extra {
            text += line;
            text += "\n";
        }
        for (table, entries) in [("config", &self.config), ("secrets", &self.secrets)] {
            text += &format!("[plugins.{}.{table}]\n", self.id);
            for (key, value) in entries {
                text += &format!("{key} = {}\n", quote(value));
            }
        }
        text += &format!("[plugins.{}.limits]\n", self.id);
        for (key, value) in &self.limits {
            text += &format!("{key} = {value}\n");
        }
        text
    }
}

/// A whole `plugins.toml` that requires pinned digests.
pub fn manifest(plugins: &[PluginConfig]) -> String {
    let mut text = String::from("require_sha256 = true\n\n");
    for plugin in plugins {
        text += &plugin.to_toml();
        text += "\n";
    }
    text
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| quote(i))
        .collect::<Vec<_>>()
        .join(", ")
}
