//! `switchboard plugin new NAME --channel CHANNEL`: a new channel plugin from the template in
//! `plugins/template/` (embedded in the binary, so it works outside the repository too).
//!
//! The result is its own Cargo workspace with a path dependency on the SDK and the release
//! profile every guest needs, so it builds wherever it is put; it builds for `wasm32-wasip2` and
//! passes its own tests as generated.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use switchboard_core::domain::Channel;

/// The template's files: path in the new crate, contents.
const TEMPLATE: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../../../plugins/template/src/lib.rs"),
    ),
    (
        "src/events.rs",
        include_str!("../../../../plugins/template/src/events.rs"),
    ),
    (
        "src/signature.rs",
        include_str!("../../../../plugins/template/src/signature.rs"),
    ),
    (
        "src/send.rs",
        include_str!("../../../../plugins/template/src/send.rs"),
    ),
];

/// The template's own name and channel, as written in its files.
const TEMPLATE_NAME: &str = "channel-template";
const TEMPLATE_CHANNEL_LINE: &str = "const CHANNEL: Channel = Channel::Sms;";
const TEMPLATE_WORD_LINE: &str = "const CHANNEL_WORD: &str = \"sms\";";

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and `-` (`acme-sms`).
    name: String,
    /// The channel it serves: email, sms, phone, portal, in_person, chat.
    #[arg(long)]
    channel: String,
    /// Where to create it (the plugin goes in DIR/NAME).
    #[arg(long, default_value = "plugins")]
    dir: PathBuf,
    /// The SDK (`plugins/sdk` in the Switchboard repository); found under DIR when omitted.
    #[arg(long)]
    sdk: Option<PathBuf>,
}

pub fn run(args: NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let channel = Channel::parse(&args.channel)
        .filter(|c| *c != Channel::System)
        .with_context(|| format!("{:?} is not a channel a plugin can serve", args.channel))?;
    let sdk = sdk_path(&args)?;
    let root = args.dir.join(&args.name);
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    std::fs::create_dir_all(root.join("src"))
        .with_context(|| format!("creating {}", root.display()))?;
    write(&root.join("Cargo.toml"), &manifest(&args.name, &sdk))?;
    for (path, text) in TEMPLATE {
        write(&root.join(path), &personalize(text, &args.name, channel))?;
    }
    let wasm = args.name.replace('-', "_");
    println!("created {}", root.display());
    println!("next:");
    println!("  cd {}", root.display());
    println!(
        "  cargo test                                       # its own tests pass as generated"
    );
    println!("  cargo build --release --target wasm32-wasip2");
    println!("  switchboard plugin check target/wasm32-wasip2/release/{wasm}.wasm");
    println!("then replace the example vendor's format in src/ with yours (docs/plugins.md).");
    Ok(())
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = (2..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "{name:?}: a plugin name is 2 to 40 lowercase letters, digits and `-`, starting with a letter"
        );
    }
    Ok(())
}

fn sdk_path(args: &NewArgs) -> anyhow::Result<PathBuf> {
    let sdk = args.sdk.clone().unwrap_or_else(|| args.dir.join("sdk"));
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "no plugin SDK at {}; pass --sdk PATH (plugins/sdk in the Switchboard repository)",
            sdk.display()
        );
    }
    sdk.canonicalize()
        .with_context(|| format!("resolving {}", sdk.display()))
}

/// The template's text with the new name and channel.
fn personalize(text: &str, name: &str, channel: Channel) -> String {
    let channel_variant = match channel {
        Channel::Email => "Email",
        Channel::Sms => "Sms",
        Channel::Phone => "Phone",
        Channel::Portal => "Portal",
        Channel::InPerson => "InPerson",
        Channel::Chat => "Chat",
        Channel::System => "Sms",
    };
    text.replace(
        TEMPLATE_CHANNEL_LINE,
        &format!("const CHANNEL: Channel = Channel::{channel_variant};"),
    )
    .replace(
        TEMPLATE_WORD_LINE,
        &format!("const CHANNEL_WORD: &str = \"{}\";", channel.as_str()),
    )
    .replace(TEMPLATE_NAME, name)
    .replace(&TEMPLATE_NAME.replace('-', "_"), &name.replace('-', "_"))
}

/// A standalone manifest: its own workspace, the SDK by path, the guests' release profile.
fn manifest(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
serde_json = "1"
switchboard-plugin-sdk = {{ path = "{sdk}" }}

# Its own workspace, so it builds wherever it is put.
[workspace]

# What every guest needs: small, fast, and a panic traps the call (the host reports it).
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#,
        sdk = sdk.display()
    )
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("acme-sms").is_ok());
        assert!(check_name("Acme").is_err());
        assert!(check_name("acme_sms").is_err());
        assert!(check_name("-acme").is_err());
    }

    #[test]
    fn the_template_takes_the_new_name_and_channel() {
        let text =
            format!("{TEMPLATE_CHANNEL_LINE}\n{TEMPLATE_WORD_LINE}\nname: \"channel-template\"\n");
        let out = personalize(&text, "acme-mail", Channel::Email);
        assert_eq!(
            out,
            "const CHANNEL: Channel = Channel::Email;\nconst CHANNEL_WORD: &str = \"email\";\nname: \"acme-mail\"\n"
        );
        for (path, text) in TEMPLATE {
            assert!(
                text.contains(TEMPLATE_NAME) || *path != "src/lib.rs",
                "{path} names the template"
            );
        }
        let lib = TEMPLATE[0].1;
        assert!(lib.contains(TEMPLATE_CHANNEL_LINE) && lib.contains(TEMPLATE_WORD_LINE));
    }
}
