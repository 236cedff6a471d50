//! JSON schemas of the wire types (feature `openapi`), for the node's
//! OpenAPI document. Types whose JSON is not their Rust shape (hashes and
//! keys as hex strings, notes as text, proofs as bare arrays) describe
//! their JSON here, next to the serde code that writes it; plain structs
//! derive theirs.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::checkpoint::{Receipt, SignedCheckpoint};
use crate::encoding::Finite;
use crate::goal::GoalId;
use crate::hash::Hash32;
use crate::keys::{PublicKeyBytes, SignatureBytes};
use crate::metrics::Metrics;
use crate::mmr::{ConsistencyProof, InclusionProof};

/// A schema written as JSON (the form the OpenAPI document takes).
fn json(v: serde_json::Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(v).expect("a valid schema object"))
}

macro_rules! schema {
    ($t:ty, $name:literal, $json:expr) => {
        impl PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                json($json)
            }
        }
        impl ToSchema for $t {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

const HEX64: &str = "^[0-9a-f]{64}$";

schema!(
    Hash32,
    "Hash32",
    serde_json::json!({"type": "string", "pattern": HEX64, "description": "SHA-256, 64 lowercase hex digits."})
);
schema!(
    PublicKeyBytes,
    "PublicKey",
    serde_json::json!({"type": "string", "pattern": HEX64, "description": "Ed25519 public key, 64 lowercase hex digits."})
);
schema!(
    SignatureBytes,
    "Signature",
    serde_json::json!({"type": "string", "pattern": "^[0-9a-f]{128}$", "description": "Ed25519 signature, 128 lowercase hex digits."})
);
schema!(
    Finite,
    "Finite",
    serde_json::json!({"type": "number", "description": "A finite number (never NaN or infinite)."})
);
schema!(
    GoalId,
    "GoalId",
    serde_json::json!({"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"})
);
schema!(
    SignedCheckpoint,
    "SignedCheckpoint",
    serde_json::json!({"type": "string", "description": "A c2sp.org/tlog-checkpoint signed note: origin, size, base64 root, a blank line, signature lines."})
);
schema!(
    Receipt,
    "Receipt",
    serde_json::json!({"type": "string", "description": "A c2sp.org/tlog-proof: `extra` is the log entry's canonical bytes (base64), then index, audit path and the checkpoint note."})
);
schema!(
    InclusionProof,
    "InclusionProof",
    serde_json::json!({"type": "array", "items": {"type": "string", "pattern": HEX64}, "description": "RFC 6962 audit path, leaf sibling first."})
);
schema!(
    ConsistencyProof,
    "ConsistencyProof",
    serde_json::json!({"type": "array", "items": {"type": "string", "pattern": HEX64}, "description": "RFC 6962 consistency proof."})
);
schema!(
    Metrics,
    "Metrics",
    serde_json::json!({
        "type": "object",
        "required": ["reward", "risk", "complexity", "extra"],
        "additionalProperties": false,
        "properties": {
            "reward": {"type": "number", "description": "Higher is better."},
            "risk": {"type": "number", "description": "Lower is better."},
            "complexity": {"type": "number", "description": "Mean agent fuel per act call."},
            "extra": {
                "type": "array",
                "description": "Named extra metrics in the harness's order: [name, value] pairs.",
                "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}], "minItems": 2, "maxItems": 2}
            }
        }
    })
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hand_written_schema_parses() {
        for s in [
            Hash32::schema(),
            PublicKeyBytes::schema(),
            SignatureBytes::schema(),
            Finite::schema(),
            GoalId::schema(),
            SignedCheckpoint::schema(),
            Receipt::schema(),
            InclusionProof::schema(),
            ConsistencyProof::schema(),
            Metrics::schema(),
        ] {
            assert!(matches!(s, RefOr::T(_)));
        }
    }
}
