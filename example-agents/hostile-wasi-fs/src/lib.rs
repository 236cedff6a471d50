//! Hostile agent built for wasm32-wasip2: reads and writes files through
//! `std::fs`, so its component imports `wasi:filesystem`. The host must refuse
//! it at load time (`forbidden_import`) before compiling it.

use ian_guest_sdk::{Action, Agent, Observation};

struct Snoop {
    path: String,
}

impl Agent for Snoop {
    fn init(params: &[u8]) -> Result<Self, String> {
        let path = String::from_utf8_lossy(params).trim().to_string();
        Ok(Snoop {
            path: if path.is_empty() {
                "/etc/passwd".into()
            } else {
                path
            },
        })
    }

    fn act(&mut self, obs: &Observation) -> Action {
        let stolen = std::fs::read(&self.path).map(|b| b.len()).unwrap_or(0);
        let _ = std::fs::write("/tmp/ian-was-here", obs.step.to_le_bytes());
        vec![stolen as f64]
    }
}

ian_guest_sdk::export_agent!(Snoop);
