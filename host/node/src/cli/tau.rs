//! `ian-host tau ...`: key generation and the status view.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::common::CommandError;

/// `ian-host tau keygen`.
pub fn keygen(out: &Path, force: bool) -> Result<Value, CommandError> {
    if force && out.exists() {
        std::fs::remove_file(out).map_err(|e| CommandError::File {
            path: out.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    let info = ian_tau::keygen(out).map_err(|e| CommandError::Usage(format!("tau keygen: {e}")))?;
    Ok(json!({"file": info.path, "public_key": info.public_key}))
}

/// Human text for `ian-host tau status`.
pub fn render_status(v: &Value) -> String {
    if v["enabled"].as_bool() != Some(true) {
        return "Tau commitments are off (set IAN_TAU_ENDPOINT and IAN_TAU_KEY_FILE on the node to enable them)".into();
    }
    let mut o = format!(
        "Tau endpoint {}  pending transactions: {}\n",
        v["endpoint"].as_str().unwrap_or(""),
        v["pending"]
    );
    for g in v["goals"].as_array().into_iter().flatten() {
        o.push_str(&format!(
            "  {:<24} registered={} last committed size={} root={}\n",
            g["goal"].as_str().unwrap_or(""),
            g["registered"],
            g["committed_size"],
            g["committed_root"].as_str().unwrap_or("-")
        ));
    }
    o.trim_end().to_string()
}
