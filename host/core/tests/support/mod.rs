//! Shared fixtures: real Ed25519 keys from fixed seeds, a goal, and a tiny
//! deterministic evaluator that reads the metrics it should report from the
//! pack's parameters (`reward=0.5,risk=0.1,complexity=3`), so each test
//! states exactly what the "harness" returns.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use ian_core::goal::{GoalManifest, GoalSpec, ResolvedComponents};
use ian_core::hash::{Hash32, sha256};
use ian_core::pack::{AgentPack, Metadata};
use ian_core::pipeline::{
    Evaluation, Evaluator, Failure, FaultKind, GuestFault, Inconclusive, InconclusiveCause,
    InvariantChecker, InvariantFailure, RawMetrics, Verdict,
};
use ian_core::proofs::ProofBundle;
use ian_core::{Contribution, GoalId};
use std::cell::Cell;

pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub const GOAL_TOML: &str = r#"
id = "trading-v1"
title = "Trading: 256-step backtest"
[harness]
component = "../../target/components/trading-harness.wasm"
config = "steps=256,fee_bps=5"
seeds = [1, 2, 3]
[[invariants]]
name = "position-limit"
component = "../../target/components/position-limit-invariant.wasm"
[thresholds]
min_reward = -1.0
max_risk = 0.9
max_complexity = 100000.0
[ranking]
kind = "scalar"
reward = 1.0
risk = 0.5
complexity = 0.0
[leaderboard]
capacity = 3
"#;

pub fn components() -> ResolvedComponents {
    ResolvedComponents {
        harness: sha256(b"harness component"),
        invariants: vec![sha256(b"invariant component")],
        dataset: None,
    }
}

pub fn manifest_from(toml: &str) -> GoalManifest {
    let spec = GoalSpec::from_toml(toml).expect("goal parses");
    let mut c = components();
    c.invariants.truncate(spec.invariants.len());
    while c.invariants.len() < spec.invariants.len() {
        c.invariants.push(sha256(&[c.invariants.len() as u8]));
    }
    spec.resolve(&c).expect("goal resolves")
}

pub fn manifest() -> GoalManifest {
    manifest_from(GOAL_TOML)
}

pub fn goal_id() -> GoalId {
    GoalId::new("trading-v1").unwrap()
}

pub fn code_hash() -> Hash32 {
    sha256(b"agent component")
}

pub fn pack(params: &str) -> AgentPack {
    AgentPack::new(code_hash(), params.as_bytes().to_vec(), Metadata::empty()).unwrap()
}

pub fn contribution(params: &str, nonce: u64, signer: u8) -> Contribution {
    Contribution::sign(
        goal_id(),
        pack(params),
        ProofBundle::empty(),
        nonce,
        &key(signer),
    )
}

/// The fault kind named by its stable code in a test's params.
pub fn fault_kind(code: &str) -> FaultKind {
    FaultKind::ALL
        .into_iter()
        .find(|k| k.code() == code)
        .unwrap_or_else(|| panic!("no fault kind {code}"))
}

/// Reports the metrics written in the params; `fail=<code>` fails with that
/// reason code. Counts its calls so tests can check step order.
#[derive(Default)]
pub struct ParamsEvaluator {
    pub calls: Cell<u32>,
}

fn field(params: &str, name: &str) -> Option<String> {
    params
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn num(params: &str, name: &str) -> f64 {
    field(params, name).map_or(0.0, |v| v.parse::<f64>().expect("number in params"))
}

impl Evaluator for ParamsEvaluator {
    /// `badcode=<code>` in the params stands for a component the sandbox
    /// cannot load (not wasm, forbidden import, ...).
    fn validate_code(
        &self,
        _goal: &GoalManifest,
        pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), Failure> {
        let p = std::str::from_utf8(pack.params()).unwrap();
        match field(p, "badcode") {
            Some(code) => Err(Failure::Guest(GuestFault::new(
                fault_kind(&code),
                "component imports `wasi:filesystem/types@0.2.6`",
            ))),
            None => Ok(()),
        }
    }

    fn evaluate(&self, _goal: &GoalManifest, pack: &AgentPack, _pack_hash: &Hash32) -> Verdict {
        self.calls.set(self.calls.get() + 1);
        let p = std::str::from_utf8(pack.params()).unwrap();
        if let Some(code) = field(p, "fail") {
            return Verdict::Failed(GuestFault::new(
                fault_kind(&code),
                "agent ran out of fuel at step 3",
            ));
        }
        if field(p, "inconclusive").is_some() {
            return Verdict::Inconclusive(Inconclusive::new(
                InconclusiveCause::WallBackstop,
                "wall-clock backstop of 10000 ms reached",
            ));
        }
        let mut extra = Vec::new();
        if let Some(v) = field(p, "sharpe") {
            extra.push(("sharpe".to_string(), v.parse().unwrap()));
        }
        Verdict::Evaluated(Evaluation {
            metrics: RawMetrics {
                reward: num(p, "reward"),
                risk: num(p, "risk"),
                complexity: num(p, "complexity"),
                extra,
            },
            fuel_used: 1000 + pack.params().len() as u64,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: sha256(b"sandbox config"),
            abi_version: "ian:eval@0.1.0".into(),
        })
    }
}

/// Refuses packs whose params contain `violate`; counts its calls.
#[derive(Default)]
pub struct ParamsInvariants {
    pub calls: Cell<u32>,
}

impl InvariantChecker for ParamsInvariants {
    fn check(
        &self,
        goal: &GoalManifest,
        pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), InvariantFailure> {
        self.calls.set(self.calls.get() + 1);
        if pack.params().windows(7).any(|w| w == b"violate") {
            return Err(InvariantFailure {
                invariant: goal.invariants[0].name.clone(),
                failure: Failure::Guest(GuestFault::new(
                    FaultKind::InvariantViolated,
                    "|action[0]| = 2 > 1",
                )),
            });
        }
        Ok(())
    }
}
