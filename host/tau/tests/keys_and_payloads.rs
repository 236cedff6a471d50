//! Key files, the key-to-network binding, the checked operations builder
//! and IAN's payload encoding.

use ian_tau::keys::{self, KeyError, TauKey};
use ian_tau::payload::{IanTx, PayloadError, goal_id_hash};
use ian_tau::tx::{FeeLimit, OperationsBuilder, TxError, UnsignedTx, check_custom_operations};
use proptest::prelude::*;
use serde_json::json;

#[test]
fn keygen_writes_a_private_key_file_that_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/tau.json");
    let info = ian_tau::keygen(&path).unwrap();
    let key = TauKey::load(&path).unwrap();
    assert_eq!(key.public_hex(), info.public_key);
    assert_eq!(info.public_key.len(), 96);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn keygen_never_overwrites_an_existing_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tau.json");
    let first = ian_tau::keygen(&path).unwrap();
    assert!(matches!(ian_tau::keygen(&path), Err(KeyError::KeyFileExists(p)) if p == path));
    assert_eq!(TauKey::load(&path).unwrap().public_hex(), first.public_key);
}

#[test]
fn key_file_whose_public_key_does_not_match_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tau.json");
    let alice = TauKey::from_seed("ian-tau-reference/alice").unwrap();
    let bob = TauKey::from_seed("ian-tau-reference/bob").unwrap();
    std::fs::write(
        &path,
        json!({"format": keys::KEY_FILE_FORMAT, "public_key": bob.public_hex(), "secret_key": alice.secret_hex()})
            .to_string(),
    )
    .unwrap();
    assert!(matches!(
        TauKey::load(&path),
        Err(KeyError::MalformedKeyFile { .. })
    ));
    std::fs::write(&path, "not json").unwrap();
    assert!(matches!(
        TauKey::load(&path),
        Err(KeyError::MalformedKeyFile { .. })
    ));
}

#[test]
fn secret_keys_out_of_range_or_malformed_are_refused() {
    assert!(matches!(
        TauKey::from_secret_hex(&"00".repeat(32)),
        Err(KeyError::InvalidSecretKey(_))
    ));
    assert!(matches!(
        TauKey::from_secret_hex(&"ff".repeat(32)),
        Err(KeyError::InvalidSecretKey(_))
    ));
    assert!(matches!(
        TauKey::from_secret_hex("abcd"),
        Err(KeyError::InvalidSecretKey(_))
    ));
    assert!(matches!(
        TauKey::from_ikm(&[1; 31]),
        Err(KeyError::IkmTooShort(31))
    ));
}

#[test]
fn a_key_is_bound_to_its_first_network() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bindings.json");
    let pk = TauKey::from_seed("ian-tau-reference/alice")
        .unwrap()
        .public_hex()
        .to_string();
    keys::bind_key_to_network(&file, &pk, "tau-testnet-v2", false).unwrap();
    keys::bind_key_to_network(&file, &pk, "tau-testnet-v2", false).unwrap();
    let err = keys::bind_key_to_network(&file, &pk, "ian-tau-local", false).unwrap_err();
    assert!(
        matches!(err, KeyError::BoundToOtherNetwork { ref bound, .. } if bound == "tau-testnet-v2")
    );
    keys::bind_key_to_network(&file, &pk, "ian-tau-local", true).unwrap();
    keys::bind_key_to_network(&file, &pk, "ian-tau-local", false).unwrap();
    let other = TauKey::from_seed("ian-tau-reference/bob").unwrap();
    keys::bind_key_to_network(&file, other.public_hex(), "ian-tau-local", false).unwrap();
}

#[test]
fn operations_builder_refuses_reserved_keys_and_ambiguous_values() {
    for k in [0, 1, 2, 6, 12, 13, 15, 16] {
        assert_eq!(
            OperationsBuilder::new().custom_bytes(k, &[1]),
            Err(TxError::ReservedOperationKey(k.to_string()))
        );
    }
    assert!(matches!(
        OperationsBuilder::new().custom_value(17, "1234".into()),
        Err(TxError::AmbiguousCustomValue { .. })
    ));
    assert!(matches!(
        OperationsBuilder::new().custom_value(17, "#xABCD".into()),
        Err(TxError::AmbiguousCustomValue { .. })
    ));
    let mut b = OperationsBuilder::new();
    for k in 17..33 {
        b = b.custom_bytes(k, &[1]).unwrap();
    }
    assert_eq!(
        b.custom_bytes(33, &[1]),
        Err(TxError::TooManyCustomStreams(17))
    );
}

#[test]
fn transfers_are_checked_client_side() {
    let a = TauKey::from_seed("ian-tau-reference/alice").unwrap();
    let b = TauKey::from_seed("ian-tau-reference/bob").unwrap();
    let t = |to: &str, amount| OperationsBuilder::new().transfers(a.public_hex(), &[(to, amount)]);
    assert_eq!(t(b.public_hex(), 0), Err(TxError::InvalidAmount(0)));
    assert_eq!(
        t(b.public_hex(), 1 << 24),
        Err(TxError::InvalidAmount(1 << 24))
    );
    assert_eq!(t(a.public_hex(), 5), Err(TxError::SelfTransfer));
    let infinity = format!("c0{}", "00".repeat(47));
    assert_eq!(
        t(&infinity, 5),
        Err(TxError::InvalidRecipient(infinity.clone()))
    );
    assert_eq!(
        OperationsBuilder::new().transfers(a.public_hex(), &[]),
        Err(TxError::TransferCount(0))
    );
}

#[test]
fn fee_limit_above_i64_max_is_refused() {
    let a = TauKey::from_seed("ian-tau-reference/alice").unwrap();
    let tx = UnsignedTx {
        sender_pubkey: a.public_hex().into(),
        sequence_number: 0,
        expiration_time: 1,
        fee_limit: FeeLimit::DecimalString(u64::MAX),
        operations: Default::default(),
    };
    assert_eq!(tx.sign(&a), Err(TxError::FeeLimitTooLarge(u64::MAX)));
}

#[test]
fn signing_with_another_key_than_the_sender_is_refused() {
    let a = TauKey::from_seed("ian-tau-reference/alice").unwrap();
    let b = TauKey::from_seed("ian-tau-reference/bob").unwrap();
    let tx = UnsignedTx {
        sender_pubkey: a.public_hex().into(),
        sequence_number: 0,
        expiration_time: 1,
        fee_limit: FeeLimit::DecimalString(10),
        operations: Default::default(),
    };
    assert!(matches!(tx.sign(&b), Err(TxError::KeyMismatch { .. })));
}

#[test]
fn log_commit_payload_layout_is_pinned() {
    let tx = IanTx::LogCommit {
        goal_id: "trading-v1".into(),
        size: 258,
        root: [0xab; 32],
        signature: vec![0xcd; 64],
    };
    let ops = tx.to_operations().unwrap();
    assert_eq!(ops["17"], "#x02");
    assert_eq!(
        ops["18"],
        format!("#x{}", hex::encode(goal_id_hash("trading-v1")))
    );
    assert_eq!(ops["19"], "#x0000000000000102");
    assert_eq!(ops["20"], format!("#x{}", "ab".repeat(32)));
    assert_eq!(ops["21"], format!("#x{}", "cd".repeat(64)));
    assert_eq!(ops.len(), 5);
    check_custom_operations(&ops).unwrap();
}

#[test]
fn payload_decoding_checks_the_goal_id_hash() {
    let tx = IanTx::PolicyUpgrade {
        goal_id: "trading-v1".into(),
        policy_hash: [1; 32],
        entry_index: 9,
    };
    let ops = tx.to_operations().unwrap();
    assert_eq!(
        IanTx::from_operations(&ops, Some("trading-v1")).unwrap(),
        tx
    );
    assert_eq!(
        IanTx::from_operations(&ops, Some("bandit-v1")),
        Err(PayloadError::GoalIdHashMismatch)
    );
    assert!(matches!(
        IanTx::from_operations(&ops, None),
        Err(PayloadError::Field { key: 18, .. })
    ));
    let mut bad = ops.clone();
    bad.insert("17".into(), json!("#x09"));
    assert_eq!(
        IanTx::from_operations(&bad, Some("trading-v1")),
        Err(PayloadError::UnknownKind(9))
    );
}

proptest! {
    #[test]
    fn payloads_round_trip_through_operations(
        id in "[a-z0-9][a-z0-9-]{0,63}",
        hash in any::<[u8; 32]>(),
        size in any::<u64>(),
        sig in prop::collection::vec(any::<u8>(), 64),
        kind in 0u8..3,
    ) {
        let tx = match kind {
            0 => IanTx::GoalRegistration { goal_id: id.clone(), goal_hash: hash },
            1 => IanTx::LogCommit { goal_id: id.clone(), size, root: hash, signature: sig },
            _ => IanTx::PolicyUpgrade { goal_id: id.clone(), policy_hash: hash, entry_index: size },
        };
        let ops = tx.to_operations().unwrap();
        check_custom_operations(&ops).unwrap();
        prop_assert_eq!(IanTx::from_operations(&ops, Some(&id)).unwrap(), tx);
    }

    #[test]
    fn signatures_verify_only_for_the_signed_digest(seed in "[a-z]{1,12}", msg in any::<[u8; 32]>(), flip in 0usize..32) {
        let key = TauKey::from_seed(&seed).unwrap();
        let sig = key.sign_hex(&msg);
        prop_assert!(keys::verify(key.public_hex(), &msg, &sig));
        let mut other = msg;
        other[flip] ^= 1;
        prop_assert!(!keys::verify(key.public_hex(), &other, &sig));
    }
}
