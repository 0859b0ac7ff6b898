//! `log.emit`: plugin logs into the host's structured log, tagged with the plugin id, bounded per
//! call.
//!
//! Defined by hand rather than through the generated bindings, so that the host reads only what it
//! keeps: the arguments arrive as views of guest memory ([`WasmStr`], [`WasmList`]), nothing is
//! read once the call's entries are used up, and of an entry only the first fields, up to a byte
//! budget, are looked at, each cut to a few hundred characters. A plugin that logs a flood, or
//! fields pointing at megabytes of its memory, costs the host little.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmList, WasmStr};

use crate::INTERFACE_VERSION;
use crate::bindings::switchboard::channel::log::Level;
use crate::state::PluginState;

/// Longest message kept; the rest is cut.
const MAX_MESSAGE_CHARS: usize = 1000;
/// Most fields kept per entry.
const MAX_FIELDS: usize = 20;
/// Longest field name kept.
const MAX_KEY_CHARS: usize = 64;
/// Longest field value kept.
const MAX_VALUE_CHARS: usize = 500;
/// The most bytes of field text the host looks at per entry; fields beyond are dropped unread.
const FIELD_BYTES_PER_ENTRY: usize = 64 * 1024;

/// One field's view into guest memory: name and value.
type Field = (WasmStr, WasmStr);

/// Defines `switchboard:channel/log.emit` (for plugins of every 1.x version: the linker matches
/// older minor versions of the name).
pub fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    let interface = format!("switchboard:channel/log@{INTERFACE_VERSION}");
    linker.instance(&interface)?.func_wrap(
        "emit",
        |store: StoreContextMut<'_, PluginState>,
         (level, message, fields): (Level, WasmStr, WasmList<Field>)| {
            emit(store, level, &message, &fields);
            Ok(())
        },
    )
}

fn emit(
    mut store: StoreContextMut<'_, PluginState>,
    level: Level,
    message: &WasmStr,
    fields: &WasmList<Field>,
) {
    let state = store.data_mut();
    if state.log_entries_left == 0 {
        return;
    }
    state.log_entries_left -= 1;
    let plugin = state.plugin.clone();
    let plugin = plugin.id.as_str();
    let message = match message.to_str(&store) {
        Ok(text) => clip(&text, MAX_MESSAGE_CHARS),
        Err(_) => "(not UTF-8)".to_string(),
    };
    let fields = read_fields(&mut store, fields);
    match level {
        Level::Trace => tracing::trace!(plugin, %fields, "{message}"),
        Level::Debug => tracing::debug!(plugin, %fields, "{message}"),
        Level::Info => tracing::info!(plugin, %fields, "{message}"),
        Level::Warn => tracing::warn!(plugin, %fields, "{message}"),
        Level::Error => tracing::error!(plugin, %fields, "{message}"),
    }
}

/// The first fields as `key=value` pairs, within [`FIELD_BYTES_PER_ENTRY`], and how many more
/// there were.
fn read_fields(store: &mut StoreContextMut<'_, PluginState>, fields: &WasmList<Field>) -> String {
    // Wasmtime counts each string's length against the hostcall fuel when it makes the view, so a
    // small budget for this one read stops at the first field that would take it past the limit.
    let transfer_budget = store.hostcall_fuel();
    store.set_hostcall_fuel(FIELD_BYTES_PER_ENTRY);
    let views: Vec<Field> = match fields.iter(&mut *store) {
        Ok(items) => items.take(MAX_FIELDS).map_while(Result::ok).collect(),
        Err(_) => Vec::new(),
    };
    store.set_hostcall_fuel(transfer_budget);
    let pairs = views.iter().map(|(key, value)| {
        let text = |s: &WasmStr, max| match s.to_str(&*store) {
            Ok(text) => clip(&text, max),
            Err(_) => "(not UTF-8)".to_string(),
        };
        (text(key, MAX_KEY_CHARS), text(value, MAX_VALUE_CHARS))
    });
    format_fields(pairs, fields.len())
}

/// `key=value` pairs joined by spaces, with a note of the fields left out of `total`.
fn format_fields(pairs: impl Iterator<Item = (String, String)>, total: usize) -> String {
    let mut text = String::new();
    let mut shown = 0;
    for (key, value) in pairs {
        if shown > 0 {
            text.push(' ');
        }
        text.push_str(&key);
        text.push('=');
        text.push_str(&value);
        shown += 1;
    }
    if total > shown {
        if shown > 0 {
            text.push(' ');
        }
        text.push_str(&format!("(+{} more fields)", total - shown));
    }
    text
}

/// The first `max_chars` characters of `text`, with control characters escaped so that a plugin
/// cannot start a forged line in the host's log, and `…` where it was cut.
fn clip(text: &str, max_chars: usize) -> String {
    let mut clipped = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        if c.is_control() {
            clipped.extend(c.escape_default());
        } else {
            clipped.push(c);
        }
    }
    if chars.next().is_some() {
        clipped.push('…');
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_log_text_is_cut_and_marked() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("exactly", 7), "exactly");
        assert_eq!(clip("ünïcödé text", 5), "ünïcö…");
        assert_eq!(
            clip(&"x".repeat(5_000), MAX_VALUE_CHARS).chars().count(),
            501
        );
    }

    #[test]
    fn control_characters_cannot_forge_a_log_line() {
        assert_eq!(
            clip("ok\nlevel=ERROR fake\r\t\u{1b}[31m", 100),
            "ok\\nlevel=ERROR fake\\r\\t\\u{1b}[31m"
        );
    }

    #[test]
    fn fields_beyond_those_read_are_counted_not_shown() {
        let pairs =
            || vec![("a".to_string(), "1".to_string()), ("b".into(), "2".into())].into_iter();
        assert_eq!(format_fields(pairs(), 2), "a=1 b=2");
        assert_eq!(format_fields(pairs(), 30), "a=1 b=2 (+28 more fields)");
        assert_eq!(format_fields(std::iter::empty(), 0), "");
        assert_eq!(format_fields(std::iter::empty(), 3), "(+3 more fields)");
    }
}
