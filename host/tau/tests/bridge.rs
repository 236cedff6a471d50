//! The bridge: configuration, key binding, non-blocking notify, persistence
//! across restarts, rule pre-checks, throttling and the handling of every
//! kind of node answer (taken from the recorded transcripts).

mod common;

use common::*;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use ian_tau::bridge::{
    BridgeConfig, BridgeCore, BridgeError, CheckpointVerifier, ItemResult, MemoryPendingStore,
    NotifyOutcome, PendingStore, RuleRejection, TauBridge, TauEvent, TauStatus,
};
use ian_tau::client::{RetryPolicy, SendOutcome, TauError};
use ian_tau::keys::KeyError;
use ian_tau::payload::IanTx;
use ian_tau::protocol::{Response, TxStatus, parse_response};
use ian_tau::rules::{GoalRegistrationReject, LogCommitReject};
use ian_tau::tx::{FeeLimit, UnsignedTx};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A goal log as the node keeps it, reduced to what the verifier needs:
/// roots of an append-only hash chain, and an Ed25519 key that signs
/// checkpoints over `goal_id | size (u64 BE) | root`.
struct TestLog {
    key: SigningKey,
    roots: Mutex<HashMap<String, Vec<[u8; 32]>>>,
}

impl TestLog {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            key: SigningKey::from_bytes(&[7u8; 32]),
            roots: Mutex::new(HashMap::new()),
        })
    }

    /// Appends `n` entries and returns the signed checkpoint event.
    fn append(&self, goal: &str, n: usize) -> TauEvent {
        let mut roots = self.roots.lock().unwrap();
        let chain = roots
            .entry(goal.to_string())
            .or_insert_with(|| vec![[0; 32]]);
        for _ in 0..n {
            let last = *chain.last().unwrap();
            let mut h = Sha256::new();
            h.update(last);
            h.update((chain.len() as u64).to_be_bytes());
            chain.push(h.finalize().into());
        }
        let size = (chain.len() - 1) as u64;
        let root = *chain.last().unwrap();
        TauEvent::CheckpointSigned {
            goal_id: goal.into(),
            size,
            root,
            signature: self
                .key
                .sign(&Self::message(goal, size, &root))
                .to_bytes()
                .to_vec(),
        }
    }

    fn message(goal: &str, size: u64, root: &[u8; 32]) -> Vec<u8> {
        let mut m = goal.as_bytes().to_vec();
        m.extend(size.to_be_bytes());
        m.extend(root);
        m
    }
}

impl CheckpointVerifier for TestLog {
    fn signature_ok(&self, goal_id: &str, size: u64, root: &[u8; 32], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key
            .verifying_key()
            .verify(&Self::message(goal_id, size, root), &sig)
            .is_ok()
    }

    fn consistent(
        &self,
        goal_id: &str,
        old_size: u64,
        old_root: &[u8; 32],
        new_size: u64,
        new_root: &[u8; 32],
    ) -> bool {
        let roots = self.roots.lock().unwrap();
        let Some(chain) = roots.get(goal_id) else {
            return false;
        };
        old_size <= new_size
            && chain.get(old_size as usize) == Some(old_root)
            && chain.get(new_size as usize) == Some(new_root)
    }
}

const GOAL: &str = "trading-v1";

fn goal_hash(n: u8) -> [u8; 32] {
    Sha256::digest([n]).into()
}

fn registered(n: u8) -> TauEvent {
    TauEvent::GoalRegistered {
        goal_id: GOAL.into(),
        goal_hash: goal_hash(n),
    }
}

fn recorded_error(set_file: &str, n: usize) -> TauError {
    let line = transcript(set_file).exchange(n).response.unwrap();
    match parse_response(&line).unwrap() {
        Response::Error(r) => TauError::Rejected(Box::new(r)),
        other => panic!("exchange {n} is not an error: {other:?}"),
    }
}

fn recorded_status(set_file: &str, n: usize) -> TxStatus {
    let line = transcript(set_file).exchange(n).response.unwrap();
    match parse_response(&line).unwrap() {
        Response::Ok { data, .. } => TxStatus::from_data(&data).unwrap(),
        other => panic!("exchange {n} is not a status: {other:?}"),
    }
}

fn core(entries: u64, secs: u64) -> (BridgeCore, MemoryPendingStore) {
    let store = MemoryPendingStore::new();
    let mut c = BridgeCore::load(&store).unwrap();
    let mut cfg = BridgeConfig::new("127.0.0.1:1", "k", "net");
    cfg.commit_every_entries = entries;
    cfg.commit_every_secs = secs;
    c.configure(&cfg, alice().public_hex());
    (c, store)
}

/// Drives item `id` through sign, admission and a recorded confirmation.
fn confirm(c: &mut BridgeCore, store: &MemoryPendingStore, id: u64, now: u64) {
    let item = c.pending().into_iter().find(|i| i.id == id).unwrap();
    let a = alice();
    let tx = UnsignedTx {
        sender_pubkey: a.public_hex().into(),
        sequence_number: id,
        expiration_time: EXPIRES,
        fee_limit: FeeLimit::DecimalString(100),
        operations: item.tx.to_operations().unwrap(),
    }
    .sign(&a)
    .unwrap();
    let hash = tx.tx_hash().to_string();
    c.apply(store, id, ItemResult::Signed(tx), now).unwrap();
    c.apply(
        store,
        id,
        ItemResult::Sent(SendOutcome::Queued { tx_hash: hash }),
        now,
    )
    .unwrap();
    let confirmed = recorded_status("emulated/02-main-flow.jsonl", 18);
    assert!(matches!(confirmed, TxStatus::Confirmed { .. }));
    c.apply(store, id, ItemResult::Status(confirmed), now)
        .unwrap();
}

fn registered_core(entries: u64, secs: u64) -> (BridgeCore, MemoryPendingStore) {
    let (mut c, store) = core(entries, secs);
    assert_eq!(
        c.notify(&store, registered(1)).unwrap(),
        NotifyOutcome::Queued(1)
    );
    confirm(&mut c, &store, 1, 10);
    assert_eq!(
        c.status().goals[GOAL].registered_hash,
        Some(hex::encode(goal_hash(1)))
    );
    (c, store)
}

#[test]
fn config_is_off_without_endpoint() {
    assert_eq!(BridgeConfig::from_lookup(|_| None).unwrap(), None);
    let empty = BridgeConfig::from_lookup(|k| (k == "IAN_TAU_ENDPOINT").then(String::new)).unwrap();
    assert_eq!(empty, None);
}

#[test]
fn config_reads_every_override() {
    let env: HashMap<&str, &str> = HashMap::from([
        ("IAN_TAU_ENDPOINT", "127.0.0.1:65432"),
        ("IAN_TAU_KEY_FILE", "/keys/tau.json"),
        ("IAN_TAU_NETWORK_ID", "tau-testnet-v2"),
        ("IAN_TAU_COMMIT_EVERY_ENTRIES", "16"),
        ("IAN_TAU_COMMIT_EVERY_SECS", "60"),
        ("IAN_TAU_FEE_LIMIT", "50"),
        ("IAN_TAU_TX_TTL_SECS", "120"),
        ("IAN_TAU_POLL_MS", "500"),
        ("IAN_TAU_ALLOW_KEY_REUSE", "true"),
        ("IAN_TAU_BINDING_FILE", "/keys/bind.json"),
    ]);
    let cfg = BridgeConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()))
        .unwrap()
        .unwrap();
    assert_eq!(cfg.endpoint, "127.0.0.1:65432");
    assert_eq!(cfg.key_file, std::path::PathBuf::from("/keys/tau.json"));
    assert_eq!(cfg.network_id, "tau-testnet-v2");
    assert_eq!((cfg.commit_every_entries, cfg.commit_every_secs), (16, 60));
    assert_eq!((cfg.fee_limit, cfg.tx_ttl_secs), (50, 120));
    assert_eq!(cfg.poll_interval, Duration::from_millis(500));
    assert!(cfg.allow_key_reuse);
    assert_eq!(
        cfg.binding_file,
        std::path::PathBuf::from("/keys/bind.json")
    );
}

#[test]
fn config_defaults_bind_next_to_the_key_file() {
    let cfg = BridgeConfig::new("h:1", "/keys/tau.json", "n");
    assert_eq!(
        cfg.binding_file,
        std::path::PathBuf::from("/keys/tau.json.networks.json")
    );
    assert_eq!(
        (
            cfg.commit_every_entries,
            cfg.commit_every_secs,
            cfg.fee_limit
        ),
        (64, 300, 100)
    );
    assert!(!cfg.allow_key_reuse);
}

#[test]
fn config_refuses_missing_key_file_and_bad_numbers() {
    let only_endpoint = |k: &str| (k == "IAN_TAU_ENDPOINT").then(|| "h:1".to_string());
    let err = BridgeConfig::from_lookup(only_endpoint).unwrap_err();
    assert!(
        matches!(&err, BridgeError::Config(m) if m.contains("IAN_TAU_KEY_FILE")),
        "{err}"
    );
    let bad = |k: &str| match k {
        "IAN_TAU_ENDPOINT" => Some("h:1".into()),
        "IAN_TAU_KEY_FILE" => Some("k".into()),
        "IAN_TAU_NETWORK_ID" => Some("n".into()),
        "IAN_TAU_COMMIT_EVERY_ENTRIES" => Some("0".into()),
        _ => None,
    };
    let err = BridgeConfig::from_lookup(bad).unwrap_err();
    assert!(
        matches!(&err, BridgeError::Config(m) if m.contains("IAN_TAU_COMMIT_EVERY_ENTRIES")),
        "{err}"
    );
}

fn unreachable_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = l.local_addr().unwrap().to_string();
    drop(l);
    e
}

fn test_config(dir: &std::path::Path, network: &str) -> BridgeConfig {
    let key_file = dir.join("tau-key.json");
    if !key_file.exists() {
        ian_tau::keygen(&key_file).unwrap();
    }
    let mut cfg = BridgeConfig::new(unreachable_endpoint(), key_file, network);
    cfg.poll_interval = Duration::from_millis(20);
    cfg.client_retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    cfg
}

#[tokio::test]
async fn start_refuses_a_key_bound_to_another_network_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn PendingStore> = Arc::new(MemoryPendingStore::new());
    let log = TestLog::new();
    TauBridge::start(
        test_config(dir.path(), "tau-testnet-v2"),
        store.clone(),
        log.clone(),
    )
    .unwrap()
    .shutdown();
    let err = TauBridge::start(
        test_config(dir.path(), "ian-tau-local"),
        store.clone(),
        log.clone(),
    )
    .err()
    .unwrap();
    match err {
        BridgeError::Key(KeyError::BoundToOtherNetwork {
            bound, configured, ..
        }) => {
            assert_eq!(
                (bound.as_str(), configured.as_str()),
                ("tau-testnet-v2", "ian-tau-local")
            )
        }
        other => panic!("{other:?}"),
    }
    let mut allowed = test_config(dir.path(), "ian-tau-local");
    allowed.allow_key_reuse = true;
    TauBridge::start(allowed, store, log).unwrap().shutdown();
}

#[test]
fn start_outside_a_runtime_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = TauBridge::start(
        test_config(dir.path(), "n"),
        Arc::new(MemoryPendingStore::new()),
        TestLog::new(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, BridgeError::NoRuntime), "{err:?}");
}

async fn wait_for(bridge: &TauBridge, what: &str, cond: impl Fn(&TauStatus) -> bool) -> TauStatus {
    for _ in 0..500 {
        let s = bridge.status();
        if cond(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} never happened: {:?}", bridge.status());
}

#[tokio::test]
async fn notify_never_waits_for_an_unreachable_node_and_keeps_the_tx() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn PendingStore> = Arc::new(MemoryPendingStore::new());
    let bridge =
        TauBridge::start(test_config(dir.path(), "n"), store.clone(), TestLog::new()).unwrap();
    assert_eq!(
        bridge.notify(registered(1)).unwrap(),
        NotifyOutcome::Queued(1)
    );
    let s = wait_for(&bridge, "a retry", |s| s.counters.retried >= 1).await;
    assert!(
        s.last_error.as_deref().unwrap().contains("connect"),
        "{s:?}"
    );
    assert_eq!((s.pending, s.counters.sent, s.counters.failed), (1, 0, 0));
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .filter(|(id, _)| *id == 1)
            .count(),
        1
    );
}

#[tokio::test]
async fn pending_txs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn PendingStore> = Arc::new(MemoryPendingStore::new());
    let log = TestLog::new();
    let first = TauBridge::start(test_config(dir.path(), "n"), store.clone(), log.clone()).unwrap();
    first.notify(registered(1)).unwrap();
    first.notify(log.append(GOAL, 3)).unwrap();
    let before = first.pending();
    first.shutdown();
    let second = TauBridge::start(test_config(dir.path(), "n"), store.clone(), log).unwrap();
    assert_eq!(second.pending(), before);
    assert_eq!(second.status().goals[GOAL].latest_checkpoint_size, Some(3));
    assert_eq!(
        second.notify(registered(1)).unwrap(),
        NotifyOutcome::AlreadyKnown,
        "the queued registration is remembered"
    );
    let offline = TauStatus::from_store(store.as_ref()).unwrap();
    assert_eq!(offline.pending, 1);
}

#[test]
fn registration_with_another_hash_is_refused_by_the_precheck() {
    let (mut c, store) = core(64, 300);
    assert_eq!(
        c.notify(&store, registered(1)).unwrap(),
        NotifyOutcome::Queued(1)
    );
    let err = c.notify(&store, registered(2)).unwrap_err();
    assert!(matches!(
        err,
        BridgeError::Rule(RuleRejection::Goal(
            GoalRegistrationReject::RegisteredWithOtherHash
        ))
    ));
    assert_eq!(
        c.notify(&store, registered(1)).unwrap(),
        NotifyOutcome::AlreadyKnown
    );
    let zero = TauEvent::GoalRegistered {
        goal_id: "other".into(),
        goal_hash: [0; 32],
    };
    assert!(matches!(
        c.notify(&store, zero).unwrap_err(),
        BridgeError::Rule(RuleRejection::Goal(GoalRegistrationReject::ZeroGoalHash))
    ));
    assert_eq!(c.status().counters.rule_rejected, 2);
    assert_eq!(c.pending().len(), 1);
}

#[test]
fn malformed_events_are_refused_before_queueing() {
    let (mut c, store) = core(64, 300);
    let bad_id = TauEvent::GoalRegistered {
        goal_id: "Bad Id".into(),
        goal_hash: goal_hash(1),
    };
    assert!(matches!(
        c.notify(&store, bad_id).unwrap_err(),
        BridgeError::Payload(_)
    ));
    let short_sig = TauEvent::CheckpointSigned {
        goal_id: GOAL.into(),
        size: 1,
        root: [1; 32],
        signature: vec![0; 10],
    };
    assert!(matches!(
        c.notify(&store, short_sig).unwrap_err(),
        BridgeError::Payload(_)
    ));
    assert!(c.pending().is_empty());
}

#[test]
fn commit_waits_for_the_confirmed_registration() {
    let log = TestLog::new();
    let (mut c, store) = core(4, 300);
    c.notify(&store, registered(1)).unwrap();
    assert_eq!(
        c.notify(&store, log.append(GOAL, 2)).unwrap(),
        NotifyOutcome::Recorded
    );
    assert!(c.plan(&store, log.as_ref(), 1_000).unwrap().is_empty());
    confirm(&mut c, &store, 1, 1_000);
    let ids = c.plan(&store, log.as_ref(), 1_000).unwrap();
    assert_eq!(ids, [2]);
    let commit = c.pending().into_iter().find(|i| i.id == 2).unwrap();
    assert!(matches!(commit.tx, IanTx::LogCommit { size: 2, .. }));
}

#[test]
fn commits_follow_the_entry_and_time_thresholds() {
    let log = TestLog::new();
    let (mut c, store) = registered_core(4, 300);
    c.notify(&store, log.append(GOAL, 2)).unwrap();
    let first = c.plan(&store, log.as_ref(), 1_000).unwrap();
    assert_eq!(first.len(), 1, "first checkpoint commits at once");
    confirm(&mut c, &store, first[0], 1_000);
    assert_eq!(
        c.status().goals[GOAL].last_committed.as_ref().unwrap().size,
        2
    );
    c.notify(&store, log.append(GOAL, 3)).unwrap();
    assert!(
        c.plan(&store, log.as_ref(), 1_010).unwrap().is_empty(),
        "5 < 2 + 4 and 10 s < 300 s"
    );
    c.notify(&store, log.append(GOAL, 1)).unwrap();
    assert_eq!(
        c.plan(&store, log.as_ref(), 1_010).unwrap().len(),
        1,
        "6 >= 2 + 4"
    );
    let (mut c, store) = registered_core(100, 300);
    c.notify(&store, log.append("trading-v1", 1)).unwrap();
    let id = c.plan(&store, log.as_ref(), 1_000).unwrap()[0];
    confirm(&mut c, &store, id, 1_000);
    c.notify(&store, log.append(GOAL, 1)).unwrap();
    assert!(c.plan(&store, log.as_ref(), 1_299).unwrap().is_empty());
    assert_eq!(
        c.plan(&store, log.as_ref(), 1_300).unwrap().len(),
        1,
        "300 s since the last commit"
    );
}

#[test]
fn checkpoint_with_a_bad_signature_is_dropped_by_the_precheck() {
    let log = TestLog::new();
    let (mut c, store) = registered_core(1, 300);
    let TauEvent::CheckpointSigned {
        goal_id,
        size,
        root,
        ..
    } = log.append(GOAL, 2)
    else {
        unreachable!()
    };
    c.notify(
        &store,
        TauEvent::CheckpointSigned {
            goal_id,
            size,
            root,
            signature: vec![9; 64],
        },
    )
    .unwrap();
    assert!(c.plan(&store, log.as_ref(), 1_000).unwrap().is_empty());
    let s = c.status();
    assert_eq!(s.counters.rule_rejected, 1);
    assert!(
        s.last_error
            .unwrap()
            .contains(&LogCommitReject::SignatureNotVerified.to_string())
    );
    assert_eq!(s.goals[GOAL].latest_checkpoint_size, None);
}

#[test]
fn checkpoint_that_does_not_extend_the_committed_log_is_dropped() {
    let log = TestLog::new();
    let other = TestLog::new();
    let (mut c, store) = registered_core(1, 300);
    c.notify(&store, log.append(GOAL, 2)).unwrap();
    let id = c.plan(&store, log.as_ref(), 1_000).unwrap()[0];
    confirm(&mut c, &store, id, 1_000);
    // Same signing key, another history of the same goal.
    other.append(GOAL, 1);
    let fork = other.append(GOAL, 4);
    c.notify(&store, fork).unwrap();
    assert!(c.plan(&store, log.as_ref(), 2_000).unwrap().is_empty());
    let s = c.status();
    assert!(
        s.last_error
            .unwrap()
            .contains(&LogCommitReject::NotConsistent.to_string())
    );
    assert_eq!(s.goals[GOAL].last_committed.as_ref().unwrap().size, 2);
}

#[test]
fn policy_upgrade_waits_until_its_entry_is_committed() {
    let log = TestLog::new();
    let (mut c, store) = registered_core(1, 300);
    c.notify(&store, log.append(GOAL, 2)).unwrap();
    let id = c.plan(&store, log.as_ref(), 1_000).unwrap()[0];
    confirm(&mut c, &store, id, 1_000);
    let top = TauEvent::TopEntryChanged {
        goal_id: GOAL.into(),
        policy_hash: [5; 32],
        entry_index: 3,
    };
    assert_eq!(c.notify(&store, top).unwrap(), NotifyOutcome::Recorded);
    assert!(
        c.plan(&store, log.as_ref(), 1_001).unwrap().is_empty(),
        "entry 3 not under size 2"
    );
    c.notify(&store, log.append(GOAL, 2)).unwrap();
    let commit = c.plan(&store, log.as_ref(), 1_002).unwrap();
    assert_eq!(commit.len(), 1, "the commit comes first");
    confirm(&mut c, &store, commit[0], 1_002);
    let upgrade = c.plan(&store, log.as_ref(), 1_003).unwrap();
    assert_eq!(upgrade.len(), 1);
    confirm(&mut c, &store, upgrade[0], 1_003);
    assert_eq!(
        c.status().goals[GOAL].active_policy,
        Some(hex::encode([5; 32]))
    );
    let same = TauEvent::TopEntryChanged {
        goal_id: GOAL.into(),
        policy_hash: [5; 32],
        entry_index: 3,
    };
    assert_eq!(c.notify(&store, same).unwrap(), NotifyOutcome::AlreadyKnown);
}

fn signed_item(c: &mut BridgeCore, store: &MemoryPendingStore) -> u64 {
    c.notify(store, registered(1)).unwrap();
    let item = c.pending()[0].clone();
    let a = alice();
    let tx = UnsignedTx {
        sender_pubkey: a.public_hex().into(),
        sequence_number: 0,
        expiration_time: EXPIRES,
        fee_limit: FeeLimit::DecimalString(100),
        operations: item.tx.to_operations().unwrap(),
    }
    .sign(&a)
    .unwrap();
    c.apply(store, item.id, ItemResult::Signed(tx), 0).unwrap();
    item.id
}

#[test]
fn expired_tx_is_signed_again() {
    let (mut c, store) = core(64, 300);
    let id = signed_item(&mut c, &store);
    let expired = recorded_error("emulated/02-main-flow.jsonl", 14);
    c.apply(&store, id, ItemResult::Failed(expired), 5).unwrap();
    let item = &c.pending()[0];
    assert_eq!((item.signed.as_ref(), item.admitted), (None, false));
    assert_eq!(c.status().counters.retried, 1);
}

#[test]
fn permanent_refusal_drops_the_tx_and_counts_it_failed() {
    let (mut c, store) = core(64, 300);
    let id = signed_item(&mut c, &store);
    let bad_sig = recorded_error("emulated/02-main-flow.jsonl", 7);
    c.apply(&store, id, ItemResult::Failed(bad_sig), 5).unwrap();
    let s = c.status();
    assert_eq!((s.pending, s.counters.failed), (0, 1));
    assert!(s.last_error.unwrap().contains("INVALID_SIGNATURE"));
    assert!(store.list().unwrap().iter().all(|(id, _)| *id == 0));
}

#[test]
fn rate_limited_and_unfunded_txs_back_off_and_stay_queued() {
    let (mut c, store) = core(64, 300);
    let id = signed_item(&mut c, &store);
    let limited = recorded_error("emulated/04-rate-limit.jsonl", 11);
    c.apply(&store, id, ItemResult::Failed(limited), 100)
        .unwrap();
    let item = c.pending()[0].clone();
    assert!(item.signed.is_some(), "the same bytes are sent again");
    assert!(item.not_before > 100);
    assert!(c.next_due(100).is_none(), "not before its backoff");
    assert!(c.next_due(item.not_before).is_some());
    let funds = recorded_error("emulated/03-admission-edge-cases.jsonl", 25);
    c.apply(&store, id, ItemResult::Failed(funds), 200).unwrap();
    assert_eq!(c.pending().len(), 1);
    assert_eq!(c.status().counters.retried, 2);
}

#[test]
fn stale_sequence_and_unknown_status_lead_to_a_fresh_signature() {
    let (mut c, store) = core(64, 300);
    let id = signed_item(&mut c, &store);
    c.apply(
        &store,
        id,
        ItemResult::Sent(SendOutcome::StaleSequence {
            expected: 2,
            received: 0,
        }),
        1,
    )
    .unwrap();
    assert_eq!(c.pending()[0].signed, None);
    let id = {
        let (mut c2, store2) = core(64, 300);
        let id = signed_item(&mut c2, &store2);
        let hash = c2.pending()[0].tx_hash.clone().unwrap();
        c2.apply(
            &store2,
            id,
            ItemResult::Sent(SendOutcome::Queued { tx_hash: hash }),
            1,
        )
        .unwrap();
        assert_eq!(c2.status().in_flight, c2.pending()[0].tx_hash);
        let unknown = recorded_status("emulated/02-main-flow.jsonl", 20);
        assert_eq!(unknown, TxStatus::Unknown);
        c2.apply(&store2, id, ItemResult::Status(unknown), 2)
            .unwrap();
        let item = &c2.pending()[0];
        assert_eq!((item.signed.as_ref(), item.admitted), (None, false));
        id
    };
    assert_eq!(id, 1);
}

#[test]
fn queued_status_keeps_polling_and_confirmation_updates_status() {
    let (mut c, store) = core(64, 300);
    let id = signed_item(&mut c, &store);
    let hash = c.pending()[0].tx_hash.clone().unwrap();
    c.apply(
        &store,
        id,
        ItemResult::Sent(SendOutcome::Queued { tx_hash: hash }),
        1,
    )
    .unwrap();
    let queued = recorded_status("emulated/02-main-flow.jsonl", 4);
    c.apply(&store, id, ItemResult::Status(queued), 1).unwrap();
    assert_eq!(c.pending().len(), 1);
    let confirmed = recorded_status("emulated/02-main-flow.jsonl", 18);
    c.apply(&store, id, ItemResult::Status(confirmed), 2)
        .unwrap();
    let s = c.status();
    assert_eq!(
        (s.pending, s.counters.sent, s.counters.confirmed),
        (0, 1, 1)
    );
    let offline = TauStatus::from_store(&store).unwrap();
    assert_eq!(
        offline.goals[GOAL].registered_hash,
        Some(hex::encode(goal_hash(1)))
    );
}

/// Against a live tau-testnet node when `TAU_NODE_ENDPOINT` is set (with
/// auto-faucet on, any fresh key can pay): the registration is admitted.
#[tokio::test]
async fn live_node_admits_a_goal_registration() {
    let Ok(endpoint) = std::env::var("TAU_NODE_ENDPOINT") else {
        println!("skipped: TAU_NODE_ENDPOINT not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(
        dir.path(),
        &std::env::var("TAU_NETWORK_ID").unwrap_or_else(|_| "tau-live-test".into()),
    );
    cfg.endpoint = endpoint;
    let bridge =
        TauBridge::start(cfg, Arc::new(MemoryPendingStore::new()), TestLog::new()).unwrap();
    bridge.notify(registered(1)).unwrap();
    let s = wait_for(&bridge, "admission", |s| {
        s.counters.sent >= 1 || s.counters.failed >= 1
    })
    .await;
    assert_eq!(s.counters.failed, 0, "{s:?}");
    println!("live status: {s:?}");
}

#[test]
fn status_counts_sent_and_confirmed_transactions_and_committed_sizes() {
    let log = TestLog::new();
    let (mut c, store) = registered_core(1, 300);
    c.notify(&store, log.append(GOAL, 2)).unwrap();
    let id = c.plan(&store, log.as_ref(), 1_000).unwrap()[0];
    confirm(&mut c, &store, id, 1_000);
    let s = c.status();
    assert_eq!(s.counters.sent, 2, "{s:?}");
    assert_eq!(s.counters.confirmed, 2, "{s:?}");
    assert_eq!(s.pending, 0, "{s:?}");
    assert_eq!(
        s.goals[GOAL].last_committed.as_ref().map(|c| c.size),
        Some(2),
        "{s:?}"
    );
}

/// Writes alice's key and a bridge config pointing at `endpoint`.
fn alice_config(dir: &std::path::Path, endpoint: String) -> BridgeConfig {
    let key_file = dir.join("alice.json");
    alice().write_new_key_file(&key_file).unwrap();
    let mut cfg = BridgeConfig::new(endpoint, key_file, "ian-tau-local");
    cfg.poll_interval = Duration::from_millis(20);
    cfg
}

/// A pending record as a previous run left it.
fn stored_item(store: &dyn PendingStore, signed: Option<String>, tx_hash: &str, admitted: bool) {
    let item = ian_tau::bridge::PendingTx {
        id: 1,
        tx: IanTx::GoalRegistration {
            goal_id: GOAL.into(),
            goal_hash: goal_hash(1),
        },
        signed,
        tx_hash: Some(tx_hash.into()),
        admitted,
        attempts: 0,
        not_before: 0,
    };
    store.put(1, &serde_json::to_vec(&item).unwrap()).unwrap();
}

const HASH_A: &str = "7e6ec7f428e72687675fca15164101f9f7b6e7ffba5e2f2089aac40a6a75acef";

#[tokio::test]
async fn after_a_restart_the_stored_bytes_are_resent_and_resolved_by_status() {
    // A run signed and stored tx (a), sent it, and stopped before the reply.
    // The next run sends the very same bytes: the node answers
    // INVALID_SEQUENCE (expected 2, got 0), gettxstatus finds it in block 1.
    let t = transcript("emulated/02-main-flow.jsonl");
    let node = ian_tau::fake::ReplayNode::start(vec![t.exchange(10), t.exchange(18)])
        .await
        .unwrap();
    let signed =
        ian_tau::tx::sign_map(tx_map(&alice(), 0, serde_json::json!(ops13())), &alice()).unwrap();
    assert_eq!(signed.tx_hash(), HASH_A);
    let store: Arc<dyn PendingStore> = Arc::new(MemoryPendingStore::new());
    stored_item(
        store.as_ref(),
        Some(signed.canonical_json().into()),
        HASH_A,
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let bridge = TauBridge::start(
        alice_config(dir.path(), node.endpoint()),
        store.clone(),
        TestLog::new(),
    )
    .unwrap();
    let s = wait_for(&bridge, "confirmation", |s| s.counters.confirmed == 1).await;
    assert_eq!((s.pending, s.counters.sent, s.counters.failed), (0, 1, 0));
    assert_eq!(
        s.goals[GOAL].registered_hash,
        Some(hex::encode(goal_hash(1)))
    );
    bridge.shutdown();
    node.finish().unwrap();
    let offline = TauStatus::from_store(store.as_ref()).unwrap();
    assert_eq!(
        (
            offline.pending,
            offline.goals[GOAL].registered_hash.is_some()
        ),
        (0, true)
    );
}

#[tokio::test]
async fn an_admitted_tx_from_a_previous_run_is_polled_until_confirmed() {
    let t = transcript("emulated/02-main-flow.jsonl");
    let node = ian_tau::fake::ReplayNode::start(vec![t.exchange(4), t.exchange(18)])
        .await
        .unwrap();
    let store: Arc<dyn PendingStore> = Arc::new(MemoryPendingStore::new());
    stored_item(store.as_ref(), None, HASH_A, true);
    let dir = tempfile::tempdir().unwrap();
    let bridge = TauBridge::start(
        alice_config(dir.path(), node.endpoint()),
        store,
        TestLog::new(),
    )
    .unwrap();
    let s = wait_for(&bridge, "confirmation", |s| s.counters.confirmed == 1).await;
    assert_eq!(s.pending, 0);
    assert_eq!(s.in_flight, None);
    bridge.shutdown();
    node.finish().unwrap();
}
