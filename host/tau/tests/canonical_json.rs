//! Canonical JSON pinned byte-for-byte to Python's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"))`. The expected
//! strings below were produced by CPython 3's `json` module.

use ian_tau::canonical::{CanonicalError, to_canonical_string};
use proptest::prelude::*;
use serde_json::{Value, json};

#[test]
fn non_ascii_is_escaped_as_lowercase_utf16_units() {
    let v = json!({"a": "\u{7f}/\u{e9}\u{1F600}\u{01}\u{08}\u{0c}"});
    assert_eq!(
        to_canonical_string(&v).unwrap(),
        r#"{"a":"\u007f/\u00e9\ud83d\ude00\u0001\b\f"}"#
    );
}

#[test]
fn keys_sort_by_code_point_including_non_ascii_keys() {
    let v = json!({"\u{e9}": 1, "z": 2, "a": 3, "\u{1F600}": 4, "\u{ffff}": 5});
    assert_eq!(
        to_canonical_string(&v).unwrap(),
        r#"{"a":3,"z":2,"\u00e9":1,"\uffff":5,"\ud83d\ude00":4}"#
    );
}

#[test]
fn short_escapes_for_quote_backslash_and_whitespace_controls() {
    let v = json!(["\"\\\n\r\t", "\u{1f}", " ~"]);
    assert_eq!(
        to_canonical_string(&v).unwrap(),
        r#"["\"\\\n\r\t","\u001f"," ~"]"#
    );
}

#[test]
fn integers_booleans_and_null_are_plain() {
    let v = json!({"n": -5, "u": u64::MAX, "t": true, "f": false, "z": null, "e": [], "o": {}});
    assert_eq!(
        to_canonical_string(&v).unwrap(),
        r#"{"e":[],"f":false,"n":-5,"o":{},"t":true,"u":18446744073709551615,"z":null}"#
    );
}

#[test]
fn floats_are_refused_anywhere_in_the_tree() {
    let v = json!({"ops": [{"x": 0.5}]});
    assert_eq!(
        to_canonical_string(&v),
        Err(CanonicalError::NonInteger("0.5".into()))
    );
}

#[test]
fn a_string_and_an_integer_of_the_same_digits_differ() {
    assert_ne!(
        to_canonical_string(&json!({"fee_limit": "10"})).unwrap(),
        to_canonical_string(&json!({"fee_limit": 10})).unwrap()
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Canonical text is ASCII, parses back to the same value, and is a
    /// fixed point: canonicalising the parsed text gives the same bytes.
    #[test]
    fn canonical_form_is_ascii_round_trips_and_is_idempotent(v in arb_json()) {
        let text = to_canonical_string(&v).unwrap();
        prop_assert!(text.is_ascii());
        let back: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(to_canonical_string(&back).unwrap(), text);
    }

    /// Key insertion order never matters.
    #[test]
    fn key_order_does_not_change_the_encoding(
        pairs in prop::collection::btree_map("[a-z\u{e0}-\u{ff}]{1,4}", any::<u32>(), 1..8)
    ) {
        let forward: serde_json::Map<String, Value> =
            pairs.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect();
        let backward: serde_json::Map<String, Value> =
            pairs.iter().rev().map(|(k, v)| (k.clone(), Value::from(*v))).collect();
        prop_assert_eq!(
            to_canonical_string(&Value::Object(forward)).unwrap(),
            to_canonical_string(&Value::Object(backward)).unwrap()
        );
    }
}
