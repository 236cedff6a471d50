//! Canonical JSON exactly as the tau-testnet node computes it.
//!
//! The node hashes and verifies transactions over Python's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"))` (with the default
//! `ensure_ascii=True`). A single differing byte changes the signing digest and
//! the transaction hash, so this module reproduces that encoder instead of
//! relying on `serde_json`'s writer, which leaves non-ASCII characters raw and
//! keeps whatever key order the map type happens to have.
//!
//! Rules (checked byte-for-byte by the tests in `tests/canonical_json.rs`):
//! * no whitespace; object keys sorted by Unicode code point at every level
//!   (byte order of UTF-8 is the same order); array order kept;
//! * integers as plain decimal; floats are refused (the node never uses them
//!   and Python would print them differently);
//! * strings: `\"` `\\` `\n` `\r` `\t` `\b` `\f` as short escapes, every other
//!   character outside `0x20..=0x7E` as `\uXXXX` in lowercase hex, characters
//!   above U+FFFF as a UTF-16 surrogate pair. Note that U+007F (DEL) *is*
//!   escaped by Python (`\u007f`); `/` is not.

use serde_json::Value;
use std::fmt::Write as _;

/// Why a value cannot be put into canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A JSON number that is not an integer: the node's hashes are defined
    /// over integers only and a float would not round-trip identically.
    #[error("canonical JSON refuses non-integer number {0}")]
    NonInteger(String),
}

/// Encodes `value` as canonical JSON text (always pure ASCII).
pub fn to_canonical_string(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

/// Canonical JSON as bytes, the exact input of the node's SHA-256.
pub fn to_canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    to_canonical_string(value).map(String::into_bytes)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else {
                return Err(CanonicalError::NonInteger(n.to_string()));
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sort explicitly: serde_json's map may preserve insertion order
            // when another crate in the build enables `preserve_order`.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, &map[key])?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Writes `s` as a JSON string literal the way Python's
/// `encode_basestring_ascii` does.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_level_and_drops_whitespace() {
        let v = json!({"b": {"z": 1, "a": [3, 1]}, "a": true});
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            r#"{"a":true,"b":{"a":[3,1],"z":1}}"#
        );
    }

    #[test]
    fn refuses_floats() {
        let v = json!({"fee": 1.5});
        assert_eq!(
            to_canonical_string(&v),
            Err(CanonicalError::NonInteger("1.5".into()))
        );
    }
}
