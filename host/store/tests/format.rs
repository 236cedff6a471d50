//! The on-disk layout documented in docs/STORE.md, checked byte for byte by
//! reading a store file with plain redb table definitions.

use ian_store::{SCHEMA_VERSION, Store, StoreConfig, sha256};
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition, Value};

#[test]
fn key_and_value_encodings_match_the_documented_vectors() {
    // (goal number, index) keys: u32 LE then u64 LE, 12 bytes.
    assert_eq!(
        <(u32, u64) as Value>::as_bytes(&(1, 2)),
        [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0].to_vec()
    );
    assert_eq!(<(u32, u64) as Value>::fixed_width(), Some(12));
    // Pending Tau ids: u64 LE.
    assert_eq!(<u64 as Value>::as_bytes(&0x0102), [2, 1, 0, 0, 0, 0, 0, 0]);
    // Schema version value: u32 LE of SCHEMA_VERSION.
    assert_eq!(SCHEMA_VERSION.to_le_bytes(), [2, 0, 0, 0]);
}

#[test]
fn store_file_has_the_documented_tables_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout.redb");
    {
        let store = Store::open_with(&path, StoreConfig::default()).unwrap();
        store
            .put_goal("first", b"spec-1".to_vec())
            .unwrap()
            .wait()
            .unwrap();
        store
            .put_goal("second", b"spec-2".to_vec())
            .unwrap()
            .wait()
            .unwrap();
        for i in 0..3 {
            store
                .append("second", i, vec![i as u8; 4])
                .unwrap()
                .wait()
                .unwrap();
        }
        store
            .put_checkpoint("second", 3, b"ckpt".to_vec())
            .unwrap()
            .wait()
            .unwrap();
        store.add_blob(b"blob".to_vec()).unwrap().1.wait().unwrap();
        store
            .put_pending_tau(7, b"tx".to_vec())
            .unwrap()
            .wait()
            .unwrap();
        store
            .put_meta("node_key_id", b"k".to_vec())
            .unwrap()
            .wait()
            .unwrap();
    }
    let db = redb::Database::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    let meta = r
        .open_table(TableDefinition::<&str, &[u8]>::new("ian_meta"))
        .unwrap();
    assert_eq!(
        meta.get("schema_version").unwrap().unwrap().value(),
        [2, 0, 0, 0]
    );
    let goals = r
        .open_table(TableDefinition::<&str, &[u8]>::new("goals"))
        .unwrap();
    assert_eq!(goals.get("second").unwrap().unwrap().value(), b"spec-2");
    let index = r
        .open_table(TableDefinition::<&str, (u32, u64)>::new("goal_index"))
        .unwrap();
    assert_eq!(index.get("first").unwrap().unwrap().value(), (0, 0));
    assert_eq!(index.get("second").unwrap().unwrap().value(), (1, 3));
    let log = r
        .open_table(TableDefinition::<(u32, u64), &[u8]>::new("log"))
        .unwrap();
    assert_eq!(log.get((1, 2)).unwrap().unwrap().value(), [2, 2, 2, 2]);
    assert_eq!(log.len().unwrap(), 3);
    let ck = r
        .open_table(TableDefinition::<(u32, u64), &[u8]>::new("checkpoints"))
        .unwrap();
    assert_eq!(ck.get((1, 3)).unwrap().unwrap().value(), b"ckpt");
    let blobs = r
        .open_table(TableDefinition::<&[u8; 32], &[u8]>::new("blobs"))
        .unwrap();
    assert_eq!(
        blobs.get(&sha256(b"blob")).unwrap().unwrap().value(),
        b"blob"
    );
    let pending = r
        .open_table(TableDefinition::<u64, &[u8]>::new("pending_tau"))
        .unwrap();
    assert_eq!(pending.get(7).unwrap().unwrap().value(), b"tx");
    let kv = r
        .open_table(TableDefinition::<&str, &[u8]>::new("node_kv"))
        .unwrap();
    assert_eq!(kv.get("node_key_id").unwrap().unwrap().value(), b"k");
}
