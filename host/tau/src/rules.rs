//! The semantics of the Tau rules in `rules/`, for the node's own pre-check.
//!
//! Each rule is a stateless checker: the host feeds the chain state it knows
//! (previous log size and root, registration, active policy, ...) and the
//! results of checks it ran itself (signature, consistency proof) as input
//! streams, and the rule writes a verdict (`o1`: 1 accept, 0 reject) and a
//! reason code (`o2`: 0 accepted, else the first failing check). These
//! functions compute the same two outputs from the same inputs, and the
//! fixture loader here reads the very files the Tau rules read, so the
//! tests run both on one set of cases (Rust always, real `tau` when
//! `TAU_BIN` is set).
//!
//! Input values are kept as the raw stream values (a flag is the `bv[8]`
//! byte, not a `bool`) so that malformed inputs are judged identically on
//! both sides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The three IAN rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    /// `rules/goal_registration.tau`.
    GoalRegistration,
    /// `rules/log_commit.tau`.
    LogCommit,
    /// `rules/policy_upgrade.tau`.
    PolicyUpgrade,
}

impl RuleId {
    /// All rules.
    pub const ALL: [RuleId; 3] = [
        RuleId::GoalRegistration,
        RuleId::LogCommit,
        RuleId::PolicyUpgrade,
    ];

    /// Base name of the rule file and fixture directory.
    pub fn name(self) -> &'static str {
        match self {
            RuleId::GoalRegistration => "goal_registration",
            RuleId::LogCommit => "log_commit",
            RuleId::PolicyUpgrade => "policy_upgrade",
        }
    }

    /// `rules/<name>.tau` under `rules_dir`.
    pub fn tau_file(self, rules_dir: &Path) -> PathBuf {
        rules_dir.join(format!("{}.tau", self.name()))
    }

    /// `rules/fixtures/<name>/` under `rules_dir`.
    pub fn fixture_dir(self, rules_dir: &Path) -> PathBuf {
        rules_dir.join("fixtures").join(self.name())
    }

    /// Declared input streams: (name, bit width), in stream order.
    pub fn inputs(self) -> &'static [(&'static str, u32)] {
        match self {
            RuleId::GoalRegistration => &[("i1", 256), ("i2", 8), ("i3", 256)],
            RuleId::LogCommit => &[
                ("i1", 8),
                ("i2", 8),
                ("i3", 8),
                ("i4", 64),
                ("i5", 64),
                ("i6", 256),
                ("i7", 256),
            ],
            RuleId::PolicyUpgrade => &[
                ("i1", 8),
                ("i2", 256),
                ("i3", 256),
                ("i4", 32),
                ("i5", 64),
                ("i6", 64),
            ],
        }
    }

    /// Declared output streams: verdict `o1` and reason `o2`, both `bv[8]`.
    pub fn outputs(self) -> &'static [(&'static str, u32)] {
        &[("o1", 8), ("o2", 8)]
    }
}

/// A flag value as the rules read it: 0 false, 1 true, anything else
/// malformed.
pub fn flag(b: bool) -> u8 {
    u8::from(b)
}

const ZERO: [u8; 32] = [0; 32];

/// Inputs of `goal_registration.tau`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoalRegistrationInput {
    /// `i1`: content hash of the goal spec to register.
    pub goal_hash: [u8; 32],
    /// `i2`: 1 if the goal id is already registered on chain, 0 if not.
    pub registered: u8,
    /// `i3`: goal hash on chain for this goal id, zero if none.
    pub registered_hash: [u8; 32],
}

/// Reasons `goal_registration.tau` rejects (the `o2` code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GoalRegistrationReject {
    /// 1: `registered` is neither 0 nor 1.
    #[error("malformed registered flag")]
    MalformedFlag,
    /// 2: the goal hash is zero.
    #[error("goal hash is zero")]
    ZeroGoalHash,
    /// 3: the goal id is registered with a different goal hash (goal specs
    /// are immutable; publish a new goal id instead).
    #[error("goal id already registered with a different goal hash")]
    RegisteredWithOtherHash,
    /// 4: not registered, yet a hash is recorded (the host's state is wrong).
    #[error("inconsistent state: a goal hash is recorded for an unregistered goal")]
    InconsistentState,
}

impl GoalRegistrationReject {
    /// The `o2` reason code.
    pub fn code(self) -> u8 {
        match self {
            Self::MalformedFlag => 1,
            Self::ZeroGoalHash => 2,
            Self::RegisteredWithOtherHash => 3,
            Self::InconsistentState => 4,
        }
    }
}

/// `goal_registration.tau` in Rust. Registering the same (id, hash) again
/// is accepted: re-sending after a restart is harmless.
pub fn check_goal_registration(i: &GoalRegistrationInput) -> Result<(), GoalRegistrationReject> {
    use GoalRegistrationReject::*;
    if i.registered > 1 {
        Err(MalformedFlag)
    } else if i.goal_hash == ZERO {
        Err(ZeroGoalHash)
    } else if i.registered == 1 && i.registered_hash != i.goal_hash {
        Err(RegisteredWithOtherHash)
    } else if i.registered == 0 && i.registered_hash != ZERO {
        Err(InconsistentState)
    } else {
        Ok(())
    }
}

/// Inputs of `log_commit.tau`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCommitInput {
    /// `i1`: 1 if the goal is registered on chain.
    pub registered: u8,
    /// `i2`: 1 if the checkpoint signature verified.
    pub signature_ok: u8,
    /// `i3`: 1 if the consistency proof from the previous committed
    /// checkpoint verified (1 when nothing was committed before).
    pub consistent: u8,
    /// `i4`: size of the previous committed checkpoint (0 if none).
    pub prev_size: u64,
    /// `i5`: size of the new checkpoint.
    pub new_size: u64,
    /// `i6`: root of the previous committed checkpoint (zero if none).
    pub prev_root: [u8; 32],
    /// `i7`: root of the new checkpoint.
    pub new_root: [u8; 32],
}

/// Reasons `log_commit.tau` rejects (the `o2` code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogCommitReject {
    /// 1: a flag is neither 0 nor 1.
    #[error("malformed flag")]
    MalformedFlag,
    /// 2: the goal is not registered.
    #[error("goal not registered")]
    GoalNotRegistered,
    /// 3: the checkpoint signature did not verify.
    #[error("checkpoint signature not verified")]
    SignatureNotVerified,
    /// 4: the new size is below the committed size.
    #[error("log shrank")]
    LogShrank,
    /// 5: same size, different root: two histories (fork evidence).
    #[error("same size with a different root (fork)")]
    Fork,
    /// 6: same size and root as committed: nothing to commit.
    #[error("nothing new since the last commit")]
    NothingNew,
    /// 7: the consistency proof did not verify.
    #[error("consistency proof not verified")]
    NotConsistent,
    /// 8: the new root is zero.
    #[error("new root is zero")]
    ZeroRoot,
}

impl LogCommitReject {
    /// The `o2` reason code.
    pub fn code(self) -> u8 {
        match self {
            Self::MalformedFlag => 1,
            Self::GoalNotRegistered => 2,
            Self::SignatureNotVerified => 3,
            Self::LogShrank => 4,
            Self::Fork => 5,
            Self::NothingNew => 6,
            Self::NotConsistent => 7,
            Self::ZeroRoot => 8,
        }
    }
}

/// `log_commit.tau` in Rust.
pub fn check_log_commit(i: &LogCommitInput) -> Result<(), LogCommitReject> {
    use LogCommitReject::*;
    if i.registered > 1 || i.signature_ok > 1 || i.consistent > 1 {
        Err(MalformedFlag)
    } else if i.registered == 0 {
        Err(GoalNotRegistered)
    } else if i.signature_ok == 0 {
        Err(SignatureNotVerified)
    } else if i.new_size < i.prev_size {
        Err(LogShrank)
    } else if i.new_size == i.prev_size && i.new_root != i.prev_root {
        Err(Fork)
    } else if i.new_size == i.prev_size {
        Err(NothingNew)
    } else if i.consistent == 0 {
        Err(NotConsistent)
    } else if i.new_root == ZERO {
        Err(ZeroRoot)
    } else {
        Ok(())
    }
}

/// Inputs of `policy_upgrade.tau`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyUpgradeInput {
    /// `i1`: 1 if the goal is registered on chain.
    pub registered: u8,
    /// `i2`: pack hash of the active policy on chain (zero if none).
    pub active_policy: [u8; 32],
    /// `i3`: pack hash of the proposed policy.
    pub new_policy: [u8; 32],
    /// `i4`: leaderboard rank of the proposed policy (1 = top, 0 unranked).
    pub rank: u32,
    /// `i5`: index of the log entry that introduced it.
    pub entry_index: u64,
    /// `i6`: size of the last committed checkpoint.
    pub committed_size: u64,
}

/// Reasons `policy_upgrade.tau` rejects (the `o2` code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyUpgradeReject {
    /// 1: `registered` is neither 0 nor 1.
    #[error("malformed registered flag")]
    MalformedFlag,
    /// 2: the goal is not registered.
    #[error("goal not registered")]
    GoalNotRegistered,
    /// 3: the new policy hash is zero.
    #[error("new policy hash is zero")]
    ZeroPolicyHash,
    /// 4: the proposed policy is not the top entry.
    #[error("proposed policy is not the leaderboard's top entry")]
    NotTop,
    /// 5: the proposed policy is already active.
    #[error("proposed policy is already active")]
    AlreadyActive,
    /// 6: its log entry is not covered by a committed checkpoint yet.
    #[error("log entry not yet covered by a committed checkpoint")]
    EntryNotCommitted,
}

impl PolicyUpgradeReject {
    /// The `o2` reason code.
    pub fn code(self) -> u8 {
        match self {
            Self::MalformedFlag => 1,
            Self::GoalNotRegistered => 2,
            Self::ZeroPolicyHash => 3,
            Self::NotTop => 4,
            Self::AlreadyActive => 5,
            Self::EntryNotCommitted => 6,
        }
    }
}

/// `policy_upgrade.tau` in Rust.
pub fn check_policy_upgrade(i: &PolicyUpgradeInput) -> Result<(), PolicyUpgradeReject> {
    use PolicyUpgradeReject::*;
    if i.registered > 1 {
        Err(MalformedFlag)
    } else if i.registered == 0 {
        Err(GoalNotRegistered)
    } else if i.new_policy == ZERO {
        Err(ZeroPolicyHash)
    } else if i.rank != 1 {
        Err(NotTop)
    } else if i.new_policy == i.active_policy {
        Err(AlreadyActive)
    } else if i.entry_index >= i.committed_size {
        Err(EntryNotCommitted)
    } else {
        Ok(())
    }
}

/// `(o1, o2)` for a check result: `(1, 0)` or `(0, code)`.
pub fn outputs(code: Result<(), u8>) -> (u8, u8) {
    match code {
        Ok(()) => (1, 0),
        Err(c) => (0, c),
    }
}

// ---------------------------------------------------------------- fixtures

/// Problems with rule files or fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A value, line or declaration is malformed.
    #[error("{path}: {reason}")]
    Format {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A stream declaration found in a `.tau` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDecl {
    /// Stream name (`i1`, `o2`, ...).
    pub name: String,
    /// Bit width of its `bv[N]` type.
    pub width: u32,
    /// `true` for `in`, `false` for `out`.
    pub input: bool,
    /// The file it reads or writes.
    pub file: String,
}

/// Reads the `name : bv[N] := in|out file("...").` declarations of a rule
/// file, so tests can check that the Rust side reads the same streams.
pub fn parse_stream_decls(tau_text: &str) -> Vec<StreamDecl> {
    let mut out = Vec::new();
    for line in tau_text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((lhs, rhs)) = line.split_once(":=") else {
            continue;
        };
        let Some((name, ty)) = lhs.split_once(':') else {
            continue;
        };
        let ty = ty.trim();
        let Some(width) = ty
            .strip_prefix("bv[")
            .and_then(|w| w.strip_suffix(']'))
            .and_then(|w| w.parse().ok())
        else {
            continue;
        };
        let rhs = rhs.trim();
        let (input, rest) = if let Some(r) = rhs.strip_prefix("in ") {
            (true, r)
        } else if let Some(r) = rhs.strip_prefix("out ") {
            (false, r)
        } else {
            continue;
        };
        let file = rest
            .trim()
            .strip_prefix("file(\"")
            .and_then(|r| r.split_once("\")"))
            .map(|(f, _)| f.to_string())
            .unwrap_or_default();
        out.push(StreamDecl {
            name: name.trim().to_string(),
            width,
            input,
            file,
        });
    }
    out
}

/// Parses one stream value of `bv[width]` as written in an input file:
/// decimal, `#x` hex or `#b` binary. Returns big-endian bytes of
/// `width / 8` length.
pub fn parse_bv_value(text: &str, width: u32) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let nbytes = (width as usize).div_ceil(8);
    let mut out = vec![0u8; nbytes];
    let set_bits = |out: &mut Vec<u8>, bits: &mut dyn Iterator<Item = u8>| -> Result<(), String> {
        // bits given most significant first; fill from the right
        let bits: Vec<u8> = bits.collect();
        if bits.len() > width as usize
            && bits[..bits.len() - width as usize].iter().any(|b| *b != 0)
        {
            return Err(format!("{t} does not fit bv[{width}]"));
        }
        for (k, bit) in bits.iter().rev().enumerate() {
            if *bit == 1 {
                if k >= width as usize {
                    return Err(format!("{t} does not fit bv[{width}]"));
                }
                let byte = nbytes - 1 - k / 8;
                out[byte] |= 1 << (k % 8);
            }
        }
        Ok(())
    };
    if let Some(h) = t.strip_prefix("#x") {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("bad hex value {t}"));
        }
        let mut bits = h.chars().flat_map(|c| {
            let v = c.to_digit(16).expect("checked hex") as u8;
            (0..4).rev().map(move |i| (v >> i) & 1)
        });
        set_bits(&mut out, &mut bits)?;
    } else if let Some(b) = t.strip_prefix("#b") {
        if b.is_empty() || !b.bytes().all(|c| c == b'0' || c == b'1') {
            return Err(format!("bad binary value {t}"));
        }
        let mut bits = b.bytes().map(|c| c - b'0');
        set_bits(&mut out, &mut bits)?;
    } else {
        let v: u128 = t.parse().map_err(|_| format!("bad decimal value {t:?}"))?;
        let bytes = v.to_be_bytes();
        let mut bits = bytes
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1));
        set_bits(&mut out, &mut bits)?;
    }
    Ok(out)
}

/// Reads an output value printed by `tau` leniently: a bare number, a
/// `#x`/`#b` literal, `{ 1 }:bv[8]`, or any of these after `oN[k] :=`.
pub fn parse_tau_output_value(text: &str) -> Option<u64> {
    let mut t = text.trim();
    if let Some((_, rhs)) = t.split_once(":=") {
        t = rhs.trim();
    }
    if let Some(rest) = t.strip_prefix('{') {
        t = rest.split_once('}').map(|(v, _)| v.trim())?;
    }
    let t = t.split(':').next()?.trim();
    let bytes = parse_bv_value(t, 64).ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// One execution step of a fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureStep {
    /// Step number (0-based).
    pub step: usize,
    /// Case name from `cases.txt`.
    pub name: String,
    /// Input stream values (big-endian bytes of the declared width).
    pub inputs: BTreeMap<String, Vec<u8>>,
    /// Expected output values.
    pub expected: BTreeMap<String, u64>,
}

/// All steps of one rule's fixture.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The rule.
    pub rule: RuleId,
    /// Its steps in order.
    pub steps: Vec<FixtureStep>,
}

fn read(path: &Path) -> Result<String, FixtureError> {
    std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Non-empty lines; `# ` starts a comment line (`#x..` and `#b..` are values).
fn data_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "#" && !l.starts_with("# "))
        .collect()
}

/// Loads `rules/fixtures/<rule>/`: `inputs/iN.in` (one value per step),
/// `expected/oN.out` and `cases.txt` (step names), checking every file has
/// one line per case.
pub fn load_fixture(rules_dir: &Path, rule: RuleId) -> Result<Fixture, FixtureError> {
    let dir = rule.fixture_dir(rules_dir);
    let cases_path = dir.join("cases.txt");
    let cases_text = read(&cases_path)?;
    let names: Vec<String> = data_lines(&cases_text)
        .iter()
        .map(|l| {
            l.split_once(' ')
                .map(|(_, n)| n.trim())
                .unwrap_or(l)
                .to_string()
        })
        .collect();
    let mut steps: Vec<FixtureStep> = names
        .iter()
        .enumerate()
        .map(|(step, name)| FixtureStep {
            step,
            name: name.clone(),
            inputs: BTreeMap::new(),
            expected: BTreeMap::new(),
        })
        .collect();
    for (name, width) in rule.inputs() {
        let path = dir.join("inputs").join(format!("{name}.in"));
        let values = read_column(&path, steps.len(), |line| parse_bv_value(line, *width))?;
        for (step, v) in steps.iter_mut().zip(values) {
            step.inputs.insert((*name).to_string(), v);
        }
    }
    for (name, _) in rule.outputs() {
        let path = dir.join("expected").join(format!("{name}.out"));
        let values = read_column(&path, steps.len(), |line| {
            parse_tau_output_value(line).ok_or_else(|| format!("bad value {line}"))
        })?;
        for (step, v) in steps.iter_mut().zip(values) {
            step.expected.insert((*name).to_string(), v);
        }
    }
    Ok(Fixture { rule, steps })
}

/// Reads one stream file of a fixture: exactly one value per case, each
/// parsed by `parse`; any mismatch names the file.
fn read_column<T>(
    path: &Path,
    cases: usize,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, FixtureError> {
    let fmt = |reason: String| FixtureError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let text = read(path)?;
    let lines = data_lines(&text);
    if lines.len() != cases {
        return Err(fmt(format!("{} values for {cases} cases", lines.len())));
    }
    lines.into_iter().map(|l| parse(l).map_err(fmt)).collect()
}

fn h32(inputs: &BTreeMap<String, Vec<u8>>, k: &str) -> [u8; 32] {
    inputs[k].as_slice().try_into().expect("bv[256] value")
}

fn num(inputs: &BTreeMap<String, Vec<u8>>, k: &str) -> u64 {
    inputs[k]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Runs the Rust checker of `rule` on one fixture step's input values and
/// returns `{"o1": verdict, "o2": reason}`.
pub fn evaluate_step(rule: RuleId, inputs: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, u64> {
    let result = match rule {
        RuleId::GoalRegistration => check_goal_registration(&GoalRegistrationInput {
            goal_hash: h32(inputs, "i1"),
            registered: num(inputs, "i2") as u8,
            registered_hash: h32(inputs, "i3"),
        })
        .map_err(|e| e.code()),
        RuleId::LogCommit => check_log_commit(&LogCommitInput {
            registered: num(inputs, "i1") as u8,
            signature_ok: num(inputs, "i2") as u8,
            consistent: num(inputs, "i3") as u8,
            prev_size: num(inputs, "i4"),
            new_size: num(inputs, "i5"),
            prev_root: h32(inputs, "i6"),
            new_root: h32(inputs, "i7"),
        })
        .map_err(|e| e.code()),
        RuleId::PolicyUpgrade => check_policy_upgrade(&PolicyUpgradeInput {
            registered: num(inputs, "i1") as u8,
            active_policy: h32(inputs, "i2"),
            new_policy: h32(inputs, "i3"),
            rank: num(inputs, "i4") as u32,
            entry_index: num(inputs, "i5"),
            committed_size: num(inputs, "i6"),
        })
        .map_err(|e| e.code()),
    };
    let (o1, o2) = outputs(result);
    BTreeMap::from([
        ("o1".to_string(), u64::from(o1)),
        ("o2".to_string(), u64::from(o2)),
    ])
}
