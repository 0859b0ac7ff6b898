//! A plugin that misbehaves on purpose, so that the host's sandbox promises are tests: whatever a
//! plugin does, it fails only its own call.
//!
//! Its `mode` config key picks the misbehaviour of `handle-webhook`, `send` and `map-outcome`:
//! - `loop`: spins forever (the time budget must stop it);
//! - `allocate`: asks for 1 GiB (the memory cap must stop it);
//! - `forbidden-http`: calls `url` (by default a host that is not on its allow-list); the host
//!   must refuse;
//! - `trap`: panics, which traps;
//! - `deep-recursion`: recurses without end until the WebAssembly stack overflows, which traps;
//! - `log-flood`: calls `log.emit` `count` times (default 1,000), each with a fields list of
//!   `fields` entries (default 10,000) whose names and values all alias one buffer of `bytes`
//!   bytes (default 1 MiB): a few hundred KiB of guest memory that would be tens of GiB if the host
//!   copied every field of every call before bounding them;
//! - `alias-bomb` (an aliased-string bomb): `handle-webhook` accepts with `count` interactions
//!   (default 10,000) whose `metadata` strings all alias one buffer of `bytes` bytes (default
//!   32 MiB, the letter `x`), so 32 MiB of guest memory claim 320 GB of strings: the host must
//!   bound what it lifts by length before copying;
//! - `many-interactions`: `handle-webhook` accepts with `count` small interactions (default
//!   1,000,000); building and lowering them takes about 250 MiB of guest memory, so give the
//!   plugin `limits.memory_mib = 512` to see the host refuse the list (under the default 64 MiB
//!   the guest runs out of memory first and traps, which is also a failure of its own call);
//! - anything else, or unset: behaves, accepting the webhook with no interactions.
//!
//! `send` and `map-outcome` behave in the two modes that only shape `handle-webhook`'s answer.
//!
//! **The aliased modes break Rust's rules on purpose**, as a hostile plugin would: many `String`s
//! own the same allocation (`String::from_raw_parts` over one buffer, which is `forget`-ten so that
//! the guest never frees it). Nothing in the guest reads or writes through them. For `log-flood`
//! the list is lent to each `log.emit` call and then forgotten. For `alias-bomb` the strings are
//! handed to the host, and if the host lifts the answer and calls the post-return function that
//! wit-bindgen generates, that function frees the same buffer once per interaction: it may trap or
//! leave the guest's heap corrupt. That is acceptable for a test of the host, which should refuse
//! such an answer while lifting it and not reuse the instance afterwards; it also means
//! `alias-bomb` is a model for nothing.
//!
//! Its `claim_interface_version` config key, when set, is the interface version `describe`
//! reports, so that tests can see the host refuse a plugin built for another version.

// Natively this crate only builds for its unit tests; the exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::mem::ManuallyDrop;

use switchboard_plugin_sdk::{
    self as sdk, Channel, Direction, Explain as _, Interaction, OutboundMessage, Outcome,
    PluginInfo, SendFailure, SendReceipt, WebhookAccepted, WebhookRejection, WebhookRequest, http,
    log,
};

const MIB: usize = 1 << 20;

struct Misbehave;

impl sdk::Guest for Misbehave {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "misbehave".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "misbehave".into(),
            channels: vec![Channel::Email, Channel::Sms],
            interface_version: sdk::config::get("claim_interface_version")
                .unwrap_or_else(|| sdk::INTERFACE_VERSION.into()),
            description: "Misbehaves on purpose, for sandbox tests".into(),
        }
    }

    fn handle_webhook(request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        misbehave().map_err(WebhookRejection::Misconfigured)?;
        Ok(WebhookAccepted {
            interactions: interactions(request.received_at),
            reply: sdk::http_reply::empty_ok(),
        })
    }

    fn send(_message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        misbehave().map_err(sdk::send_failure::misconfigured)?;
        Ok(SendReceipt {
            vendor_message_id: None,
            outcome: Outcome::Sent,
            vendor_status: None,
        })
    }

    fn map_outcome(_vendor_status: String) -> Outcome {
        // Misbehaving here too lets a reload's smoke call catch a plugin that loads but fails.
        if misbehave().is_err() {
            return Outcome::Failed;
        }
        Outcome::Unknown
    }
}

fn mode() -> Option<String> {
    sdk::config::get("mode")
}

/// A whole-number config key, or `default` when it is unset or not a number.
fn number(key: &str, default: usize) -> usize {
    sdk::config::get(key)
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(default)
}

/// The misbehaviours every export shares.
fn misbehave() -> Result<(), String> {
    match mode().as_deref() {
        Some("loop") => spin(),
        Some("allocate") => {
            let mut hoard: Vec<u8> = Vec::with_capacity(1 << 30);
            hoard.push(1);
            std::hint::black_box(&hoard);
            Ok(())
        }
        Some("forbidden-http") => forbidden_http(),
        Some("trap") => panic!("misbehave: deliberate trap"),
        Some("deep-recursion") => {
            let depth = recurse(std::hint::black_box(0));
            Err(format!(
                "recursed {depth} deep without overflowing the stack"
            ))
        }
        Some("log-flood") => {
            flood_log(
                number("count", 1_000),
                number("fields", 10_000),
                number("bytes", MIB),
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What `handle-webhook` accepts: nothing, or a hostile answer in the modes that shape it.
fn interactions(received_at: i64) -> Vec<Interaction> {
    match mode().as_deref() {
        Some("alias-bomb") => aliased_interactions(
            number("count", 10_000),
            number("bytes", 32 * MIB),
            received_at,
        ),
        Some("many-interactions") => (0..number("count", 1_000_000))
            .map(|_| small_interaction(received_at))
            .collect(),
        _ => Vec::new(),
    }
}

fn forbidden_http() -> Result<(), String> {
    let request = http::Request {
        method: "GET".into(),
        url: sdk::config::get("url")
            .unwrap_or_else(|| "https://forbidden.example.com/exfiltrate".into()),
        headers: Vec::new(),
        body: Vec::new(),
        auth: None,
        timeout_ms: None,
    };
    match http::fetch(&request) {
        Ok(response) => Err(format!(
            "the host let a forbidden request through ({})",
            response.status
        )),
        Err(error) => Err(error.explain()),
    }
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Recurses until the stack overflows. Each frame keeps a buffer alive across the call and uses
/// the callee's result, so the compiler can neither drop the frames nor turn them into a loop;
/// the exit exists only so that the function is not unconditionally recursive.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    if std::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    recurse(depth + 1).wrapping_add(frame[(depth % 32) as usize])
}

/// One buffer of `bytes` bytes of `x`, never freed by the guest, and how to alias it: each call of
/// the returned function makes another `String` owning the same allocation.
fn aliased_buffer(bytes: usize) -> impl Fn() -> String {
    let mut buffer = ManuallyDrop::new("x".repeat(bytes));
    let (ptr, len, capacity) = (buffer.as_mut_ptr(), buffer.len(), buffer.capacity());
    // SAFETY (as far as there is any): the bytes are valid UTF-8 and stay allocated, since the
    // original is never dropped. Many owners of one allocation break `String`'s invariant on
    // purpose; the guest never reads, writes or drops them (see the crate's documentation).
    move || unsafe { String::from_raw_parts(ptr, len, capacity) }
}

/// `count` interactions whose metadata all alias one buffer of `bytes` bytes.
fn aliased_interactions(count: usize, bytes: usize, received_at: i64) -> Vec<Interaction> {
    let alias = aliased_buffer(bytes);
    (0..count)
        .map(|_| {
            let mut interaction = small_interaction(received_at);
            // The replaced "{}" is an ordinary string, freed here as usual.
            interaction.metadata = alias();
            interaction
        })
        .collect()
}

/// An interaction as small as the contract allows.
fn small_interaction(received_at: i64) -> Interaction {
    Interaction::new(
        "email_event",
        Channel::Email,
        Direction::Outbound,
        Outcome::Unknown,
        received_at,
    )
}

/// `calls` log entries, each with the same `fields` fields whose names and values alias one buffer
/// of `bytes` bytes. The list is built once and forgotten, never dropped.
fn flood_log(calls: usize, fields: usize, bytes: usize) {
    let alias = aliased_buffer(bytes);
    let list = ManuallyDrop::new((0..fields).map(|_| (alias(), alias())).collect::<Vec<_>>());
    for _ in 0..calls {
        log::emit(log::Level::Info, "misbehave: log flood", &list);
    }
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(Misbehave);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliased_interactions_all_own_one_buffer() {
        let interactions = ManuallyDrop::new(aliased_interactions(100, 4096, 7));
        let first = interactions[0].metadata.as_ptr();
        assert!(interactions.iter().all(|i| i.metadata.as_ptr() == first));
        assert!(interactions.iter().all(|i| i.metadata.len() == 4096));
        assert!(interactions[99].metadata.bytes().all(|b| b == b'x'));
        assert_eq!(interactions[0].occurred_at, 7);
        // Forgotten, like the guest's own answer: dropping them would free the buffer 100 times.
    }

    #[test]
    fn small_interactions_are_as_small_as_the_contract_allows() {
        let interaction = small_interaction(7);
        assert_eq!(interaction.kind, "email_event");
        assert!(interaction.identities.is_empty());
        assert_eq!(interaction.metadata, "{}");
    }
}
