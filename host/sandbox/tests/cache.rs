//! The compiled-component cache: a hit skips compilation, in memory and
//! on disk; a damaged disk artifact is discarded, never loaded.

mod common;

use common::*;
use ian_sandbox::{CacheStats, Sandbox, SandboxConfig};

fn with_disk(dir: &std::path::Path) -> Sandbox {
    Sandbox::new(SandboxConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..SandboxConfig::default()
    })
    .unwrap()
}

#[test]
fn second_load_is_a_memory_hit_without_compiling() {
    let sb = fresh();
    let bytes = component("buy-and-hold");
    sb.load_agent(&bytes).unwrap();
    let first = sb.cache_stats();
    assert!(first.compile_micros > 0, "the compile was timed");
    assert_eq!(
        first,
        CacheStats {
            compiles: 1,
            compile_micros: first.compile_micros,
            ..CacheStats::default()
        }
    );
    sb.load_agent(&bytes).unwrap();
    sb.load_agent(&bytes).unwrap();
    let stats = sb.cache_stats();
    assert_eq!(stats.compiles, 1);
    assert_eq!(stats.memory_hits, 2);
}

#[test]
fn same_code_in_another_role_reuses_the_compiled_component() {
    let sb = fresh();
    let bytes = component("trading-harness");
    let dir = tempfile::tempdir().unwrap();
    sb.load_harness(&bytes).unwrap();
    sb.load_harness_with_dataset(&bytes, dir.path(), &limits())
        .unwrap();
    let stats = sb.cache_stats();
    assert_eq!(stats.compiles, 1);
    assert_eq!(stats.memory_hits, 1);
}

#[test]
fn fresh_sandbox_loads_from_disk_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = component("ma-crossover");
    let first = with_disk(dir.path());
    first.load_agent(&bytes).unwrap();
    assert_eq!(first.cache_stats().compiles, 1);
    assert_eq!(first.cache_stats().disk_writes, 1);
    let path = first.disk_cache_path(&bytes).unwrap();
    assert!(path.is_file(), "{}", path.display());

    let second = with_disk(dir.path());
    second.load_agent(&bytes).unwrap();
    assert_eq!(
        second.cache_stats(),
        CacheStats {
            disk_hits: 1,
            ..CacheStats::default()
        },
        "the second sandbox must not compile"
    );

    // Code from the disk cache behaves exactly like freshly compiled code.
    let run = |sb: &Sandbox| {
        let h = harness(sb, "trading-harness");
        let a = sb.load_agent(&bytes).unwrap();
        sb.evaluate(&h, &a, b"short=5,long=20", TRADING_CONFIG, 5, &limits())
    };
    assert_eq!(run(&first), run(&second));
}

#[test]
fn corrupted_disk_artifact_is_discarded_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = component("buy-and-hold");
    let path = {
        let sb = with_disk(dir.path());
        sb.load_agent(&bytes).unwrap();
        sb.disk_cache_path(&bytes).unwrap()
    };
    let mut data = std::fs::read(&path).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&path, &data).unwrap();

    let sb = with_disk(dir.path());
    let a = sb.load_agent(&bytes).unwrap();
    let stats = sb.cache_stats();
    assert_eq!(stats.disk_rejected, 1);
    assert_eq!(stats.disk_hits, 0);
    assert_eq!(stats.compiles, 1);
    assert_eq!(stats.disk_writes, 1, "a good artifact replaces the bad one");
    let h = harness(&sb, "trading-harness");
    assert!(
        sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits())
            .outcome
            .is_ok()
    );

    let again = with_disk(dir.path());
    again.load_agent(&bytes).unwrap();
    assert_eq!(again.cache_stats().disk_hits, 1);
}

#[test]
fn truncated_disk_artifact_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = component("buy-and-hold");
    let path = {
        let sb = with_disk(dir.path());
        sb.load_agent(&bytes).unwrap();
        sb.disk_cache_path(&bytes).unwrap()
    };
    std::fs::write(&path, b"IANCWASM").unwrap();
    let sb = with_disk(dir.path());
    sb.load_agent(&bytes).unwrap();
    assert_eq!(sb.cache_stats().disk_rejected, 1);
    assert_eq!(sb.cache_stats().compiles, 1);
}

#[test]
fn artifact_of_another_engine_config_is_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = component("buy-and-hold");
    let a = with_disk(dir.path());
    a.load_agent(&bytes).unwrap();
    let b = Sandbox::new(SandboxConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        max_wasm_stack: 256 << 10,
        ..SandboxConfig::default()
    })
    .unwrap();
    assert_ne!(a.config_hash(), b.config_hash());
    assert_ne!(a.disk_cache_path(&bytes), b.disk_cache_path(&bytes));
    b.load_agent(&bytes).unwrap();
    assert_eq!(b.cache_stats().disk_hits, 0);
    assert_eq!(b.cache_stats().compiles, 1);
}

#[test]
fn artifact_copied_under_another_components_name_is_rejected() {
    // The file header binds the artifact to its key, so renaming a valid
    // artifact to another component's cache path does not smuggle it in.
    let dir = tempfile::tempdir().unwrap();
    let good = component("buy-and-hold");
    let other = component("ma-crossover");
    let sb = with_disk(dir.path());
    sb.load_agent(&good).unwrap();
    std::fs::copy(
        sb.disk_cache_path(&good).unwrap(),
        sb.disk_cache_path(&other).unwrap(),
    )
    .unwrap();

    let fresh_sb = with_disk(dir.path());
    fresh_sb.load_agent(&other).unwrap();
    assert_eq!(fresh_sb.cache_stats().disk_rejected, 1);
    assert_eq!(fresh_sb.cache_stats().compiles, 1);
}

#[test]
fn memory_cache_is_bounded() {
    let sb = Sandbox::new(SandboxConfig {
        memory_cache_entries: 1,
        ..SandboxConfig::default()
    })
    .unwrap();
    sb.load_agent(&component("buy-and-hold")).unwrap();
    sb.load_agent(&component("ma-crossover")).unwrap();
    assert_eq!(sb.cached_components(), 1);
}

#[test]
fn disk_artifact_has_the_documented_layout() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let bytes = component("buy-and-hold");
    let sb = with_disk(dir.path());
    sb.load_agent(&bytes).unwrap();
    let path = sb.disk_cache_path(&bytes).unwrap();
    assert_eq!(path.parent().unwrap(), dir.path().join("ian-sandbox-v1"));
    let name = path.file_name().unwrap().to_str().unwrap();
    let key_hex = name.strip_suffix(".cwasm").expect("<key>.cwasm");
    let data = std::fs::read(&path).unwrap();
    assert_eq!(&data[..8], b"IANCWASM", "magic");
    assert_eq!(&data[8..12], &1u32.to_le_bytes(), "format version");
    assert_eq!(
        hex::encode(&data[12..44]),
        key_hex,
        "key repeated in the header"
    );
    assert_eq!(
        &data[44..76],
        Sha256::digest(&data[76..]).as_slice(),
        "artifact checksum"
    );
    assert!(data.len() > 76);
}

#[test]
fn loads_of_the_same_new_code_at_once_compile_it_once() {
    let sb = fresh();
    let bytes = component("ma-crossover");
    let start = std::sync::Barrier::new(8);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                start.wait();
                sb.load_agent(&bytes).unwrap();
            });
        }
    });
    let stats = sb.cache_stats();
    assert_eq!(stats.compiles, 1, "{stats:?}");
}

#[test]
fn the_disk_cache_keeps_within_its_byte_bound_by_dropping_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let (old, recent, new) = (
        component("buy-and-hold"),
        component("ma-crossover"),
        component("mean-reversion"),
    );
    let probe = with_disk(dir.path());
    probe.load_agent(&old).unwrap();
    let one = std::fs::metadata(probe.disk_cache_path(&old).unwrap())
        .unwrap()
        .len();
    drop(probe);
    // Room for about two artefacts of this size.
    let sb = Sandbox::new(SandboxConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        cache_max_bytes: one * 5 / 2,
        ..SandboxConfig::default()
    })
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    sb.load_agent(&recent).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    sb.load_agent(&new).unwrap();
    let stats = sb.cache_stats();
    assert_eq!(stats.disk_evictions, 1, "{stats:?}");
    assert!(
        !sb.disk_cache_path(&old).unwrap().exists(),
        "the oldest went"
    );
    assert!(sb.disk_cache_path(&recent).unwrap().exists());
    assert!(sb.disk_cache_path(&new).unwrap().exists());
}
