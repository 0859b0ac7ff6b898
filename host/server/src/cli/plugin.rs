//! `switchboard plugin new|check|test`: tools for plugin authors, with no server and no database.
//!
//! `new` starts a plugin from the template (see [`super::scaffold`]). `check` says whether this host can load a component: its imports and exports, its interface
//! version, what it says of itself, or the error start-up would report. `test` runs a component
//! on recorded webhook requests in the same sandbox and with the same checks as the server, and
//! prints what would be logged.
//!
//! Recorded requests are a JSON file: one request object or an array of them:
//!
//! ```json
//! [{"method": "POST", "path": "/webhooks/sms-twilio", "query": "",
//!   "headers": [["content-type", "application/x-www-form-urlencoded"], ["x-twilio-signature", "…"]],
//!   "body": "MessageSid=SM1&MessageStatus=delivered&To=%2B14155550100",
//!   "received_at": 1763900000000}]
//! ```
//!
//! `body` is text; give `body_base64` instead for bytes that are not UTF-8. `received_at` (ms
//! since the epoch) is when the request arrived; plugins judge signature freshness by it, so a
//! recording keeps working. It defaults to now.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use switchboard_app::ingest::{RawRequest, Verdict, judge};
use switchboard_core::clock::now_ms;
use switchboard_runtime::config::{Limits, PluginSpec};
use switchboard_runtime::{Runtime, RuntimeSettings, is_supported_interface};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Start a new channel plugin from the template: it builds and passes its own tests.
    New(super::scaffold::NewArgs),
    /// Report a component's interface version, imports and exports, and whether this host can
    /// load it.
    Check {
        wasm: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sandbox: Sandbox,
    },
    /// Run a component on recorded webhook requests and print the normalized interactions.
    /// Exits 1 if any request was not accepted.
    Test {
        wasm: PathBuf,
        /// The recorded requests (see `switchboard plugin test --help` and docs/plugins.md).
        #[arg(long)]
        request: PathBuf,
        #[command(flatten)]
        sandbox: Sandbox,
    },
}

/// What the component runs with: as its `plugins.toml` entry would say.
#[derive(Debug, Clone, clap::Args)]
pub struct Sandbox {
    /// A config value for the plugin, `KEY=VALUE` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret the plugin may use, `NAME=ENV_VAR`: read from that environment variable
    /// (repeatable).
    #[arg(long = "secret", value_name = "NAME=ENV_VAR")]
    secrets: Vec<String>,
    /// A host the plugin may call (repeatable).
    #[arg(long = "allow-host")]
    allowed_hosts: Vec<String>,
    /// Country calling code for phone numbers given without one.
    #[arg(long)]
    default_country_code: Option<String>,
    /// Where compiled plugins are cached.
    #[arg(
        long,
        env = "SWITCHBOARD_CACHE_DIR",
        default_value = "switchboard-data/cache"
    )]
    cache_dir: PathBuf,
}

pub async fn run(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::New(args) => super::scaffold::run(args),
        PluginCommand::Check {
            wasm,
            json,
            sandbox,
        } => check(&wasm, json, &sandbox).await,
        PluginCommand::Test {
            wasm,
            request,
            sandbox,
        } => test(&wasm, &request, &sandbox).await,
    }
}

async fn check(wasm: &std::path::Path, as_json: bool, sandbox: &Sandbox) -> anyhow::Result<()> {
    let runtime = runtime(sandbox)?;
    let interface = runtime.interface_of(wasm).await?;
    let loaded = runtime.load(&spec(wasm, sandbox, Vec::new())?).await;
    let (loads, description, problem) = match &loaded {
        Ok(plugin) => (true, Some(plugin.description.clone()), None),
        Err(error) => (false, None, Some(error.to_string())),
    };
    let report = json!({
        "path": wasm,
        "sha256": interface.sha256,
        "bytes": interface.bytes,
        "imports": interface.imports,
        "exports": interface.exports,
        "loads": loads,
        "describe": description,
        "interface_supported": description.as_ref().map(|d| is_supported_interface(&d.interface_version)),
        "host_interface": switchboard_runtime::INTERFACE_VERSION,
        "problem": problem,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_check(&report);
    }
    if !loads {
        bail!("this host cannot load {}", wasm.display());
    }
    Ok(())
}

fn print_check(report: &Value) {
    println!("{}", report["path"].as_str().unwrap_or_default());
    println!(
        "  sha256     {}",
        report["sha256"].as_str().unwrap_or_default()
    );
    println!("  size       {} bytes", report["bytes"]);
    if let Some(d) = report["describe"].as_object() {
        println!(
            "  plugin     {} {} ({})",
            d["name"], d["version"], d["vendor"]
        );
        println!(
            "  interface  switchboard:channel@{} (host implements {})",
            d["interface_version"].as_str().unwrap_or_default(),
            report["host_interface"].as_str().unwrap_or_default()
        );
        let channels: Vec<&str> = d["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!("  channels   {}", channels.join(", "));
    }
    for (label, key) in [("imports", "imports"), ("exports", "exports")] {
        println!("  {label}");
        for name in report[key].as_array().into_iter().flatten() {
            println!("    {}", name.as_str().unwrap_or_default());
        }
    }
    match report["problem"].as_str() {
        Some(problem) => println!("  loads      no: {problem}"),
        None => println!("  loads      yes"),
    }
}

/// One recorded request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recorded {
    #[serde(default = "post")]
    method: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_base64: Option<String>,
    received_at: Option<i64>,
}

fn post() -> String {
    "POST".into()
}

async fn test(
    wasm: &std::path::Path,
    file: &std::path::Path,
    sandbox: &Sandbox,
) -> anyhow::Result<()> {
    let requests = read_requests(file)?;
    let runtime = runtime(sandbox)?;
    // Load once to learn the channels it serves, then as the operator would install it.
    let probe = runtime.load(&spec(wasm, sandbox, Vec::new())?).await?;
    let plugin = runtime
        .load(&spec(wasm, sandbox, probe.description.channels.clone())?)
        .await?;
    let mut all_accepted = true;
    for (i, recorded) in requests.into_iter().enumerate() {
        let raw = raw_request(plugin.id(), recorded).with_context(|| format!("request {i}"))?;
        let judged = judge(&plugin, &raw, sandbox.default_country_code.as_deref()).await;
        all_accepted &= matches!(judged.verdict, Verdict::Accepted { .. });
        let mut report = verdict_json(i, &judged.verdict);
        // Whether the server would store it if it were not accepted (see wit/types.wit).
        report["signature_verified_by_host"] = json!(judged.verified);
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if !all_accepted {
        bail!("not every request was accepted");
    }
    Ok(())
}

fn read_requests(file: &std::path::Path) -> anyhow::Result<Vec<Recorded>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let list = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    list.into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value(item).with_context(|| format!("{}: request {i}", file.display()))
        })
        .collect()
}

fn raw_request(plugin_id: &str, recorded: Recorded) -> anyhow::Result<RawRequest> {
    use base64::Engine as _;
    let body = match (recorded.body, recorded.body_base64) {
        (Some(_), Some(_)) => bail!("give `body` or `body_base64`, not both"),
        (Some(text), None) => text.into_bytes(),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .context("`body_base64` is not base64")?,
        (None, None) => Vec::new(),
    };
    Ok(RawRequest {
        plugin_id: plugin_id.to_string(),
        received_at: recorded.received_at.unwrap_or_else(now_ms),
        method: recorded.method.to_ascii_uppercase(),
        path: recorded.path,
        query: recorded.query,
        headers: recorded
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        body,
    })
}

fn verdict_json(index: usize, verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Accepted {
            interactions,
            reply,
        } => json!({
            "request": index,
            "verdict": "accepted",
            "interactions": interactions,
            "reply": {
                "status": reply.status,
                "headers": reply.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect::<Vec<_>>(),
                "body": String::from_utf8_lossy(&reply.body),
            },
        }),
        Verdict::BadSignature(reason) => {
            json!({ "request": index, "verdict": "bad_signature", "reason": reason })
        }
        Verdict::Malformed(reason) => {
            json!({ "request": index, "verdict": "malformed", "reason": reason })
        }
        Verdict::Failed { code, reason } => {
            json!({ "request": index, "verdict": "failed", "code": code, "reason": reason })
        }
    }
}

fn runtime(sandbox: &Sandbox) -> anyhow::Result<Runtime> {
    Runtime::new(RuntimeSettings {
        cache_dir: sandbox.cache_dir.clone(),
        instance_slots: 4,
    })
    .context("starting the plugin runtime")
}

/// The plugin as an operator would install it, from the flags.
fn spec(
    wasm: &std::path::Path,
    sandbox: &Sandbox,
    channels: Vec<switchboard_core::domain::Channel>,
) -> anyhow::Result<PluginSpec> {
    Ok(PluginSpec {
        id: "plugin-under-test".into(),
        wasm_path: wasm.to_path_buf(),
        sha256: None,
        channels,
        enabled: true,
        allowed_hosts: sandbox.allowed_hosts.clone(),
        allow_private_network: false,
        config: pairs("--config", &sandbox.config)?,
        secrets: pairs("--secret", &sandbox.secrets)?,
        keep_headers: Vec::new(),
        limits: Limits::default(),
    })
}

fn pairs(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.to_string()))
            }
            _ => bail!("{flag} {item:?}: expected KEY=VALUE"),
        })
        .collect()
}
