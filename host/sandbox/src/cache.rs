//! Compiled-component cache: in memory (LRU) and on disk.
//!
//! Keyed by the sha256 of the component bytes together with the engine
//! version, the sandbox config hash and wasmtime's precompile-compatibility
//! hash, so an artifact is only ever reused by an engine that produces the
//! same code. Disk files carry a checksum of the artifact; anything that
//! does not verify is deleted and recompiled, never loaded.

use std::collections::HashMap;
use std::fs;
use std::hash::Hash;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::fault::Fault;

/// Counters that show what the cache did, so callers (and tests) can tell a
/// hit from a compilation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Loads answered from memory (no parsing, no compiling).
    pub memory_hits: u64,
    /// Loads answered by a verified artifact on disk.
    pub disk_hits: u64,
    /// Loads that found nothing usable and compiled.
    pub compiles: u64,
    /// Artifacts written to disk.
    pub disk_writes: u64,
    /// Disk artifacts that failed verification or deserialisation and were
    /// discarded.
    pub disk_rejected: u64,
    /// Disk writes that failed (the compiled code is still used).
    pub disk_write_errors: u64,
    /// Artefacts deleted to keep the disk cache within its byte bound.
    pub disk_evictions: u64,
    /// Time spent compiling, over all compiles, in microseconds.
    pub compile_micros: u64,
    /// Loads that waited for the compile gate (another compile was running,
    /// or the same code was being compiled by another load).
    pub compile_waits: u64,
    /// Evaluations (and invariant checks) that found the instance pool full
    /// and waited for slots to run again.
    pub pool_waits: u64,
    /// Time spent in those waits, in microseconds.
    pub pool_wait_micros: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub memory_hits: AtomicU64,
    pub disk_hits: AtomicU64,
    pub compiles: AtomicU64,
    pub disk_writes: AtomicU64,
    pub disk_rejected: AtomicU64,
    pub disk_write_errors: AtomicU64,
    pub compile_micros: AtomicU64,
    pub compile_waits: AtomicU64,
    pub disk_evictions: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            compiles: self.compiles.load(Ordering::Relaxed),
            disk_writes: self.disk_writes.load(Ordering::Relaxed),
            disk_rejected: self.disk_rejected.load(Ordering::Relaxed),
            disk_write_errors: self.disk_write_errors.load(Ordering::Relaxed),
            disk_evictions: self.disk_evictions.load(Ordering::Relaxed),
            compile_micros: self.compile_micros.load(Ordering::Relaxed),
            compile_waits: self.compile_waits.load(Ordering::Relaxed),
            pool_waits: 0,
            pool_wait_micros: 0,
        }
    }
}

/// A small least-recently-used map; eviction scans for the oldest stamp,
/// which is fine for the few hundred entries it holds.
pub(crate) struct Lru<K, V> {
    map: HashMap<K, (u64, V)>,
    tick: u64,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub(crate) fn new(cap: usize) -> Self {
        Lru {
            map: HashMap::new(),
            tick: 0,
            cap: cap.max(1),
        }
    }

    pub(crate) fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(k).map(|(stamp, v)| {
            *stamp = tick;
            v.clone()
        })
    }

    pub(crate) fn insert(&mut self, k: K, v: V) {
        self.tick += 1;
        if !self.map.contains_key(&k) && self.map.len() >= self.cap {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (s, _))| *s)
                .map(|(k, _)| k.clone());
            if let Some(old) = oldest {
                self.map.remove(&old);
            }
        }
        self.map.insert(k, (self.tick, v));
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Feeds `Hash` output into sha256 so wasmtime's compatibility hash (which
/// is only exposed as `impl Hash`) becomes a stable byte string.
struct ShaHasher(Sha256);

impl std::hash::Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8]))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// sha256 over wasmtime's precompile compatibility hash for `engine`.
pub(crate) fn compatibility_digest(engine: &Engine) -> [u8; 32] {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().into()
}

const FILE_MAGIC: &[u8; 8] = b"IANCWASM";
const FILE_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 32 + 32;
/// Subdirectory of the configured cache dir; bump with the file format.
pub(crate) const DISK_SUBDIR: &str = "ian-sandbox-v1";

/// Bounds how many compiles run at once and compiles each code hash once:
/// a load of code that another load is compiling waits for it and takes
/// its result, and a load that would exceed `max` concurrent compiles waits
/// for one to finish. Compiling is the one step whose cost a contributor
/// chooses (an 18 MB Python agent takes seconds), so without the gate a
/// burst of new components would occupy every worker at once.
struct CompileGate {
    state: Mutex<GateState>,
    freed: parking_lot::Condvar,
    max: usize,
}

#[derive(Default)]
struct GateState {
    running: usize,
    in_flight: std::collections::HashSet<[u8; 32]>,
}

/// A compile slot; frees it (and wakes the waiters) when dropped.
struct GateSlot<'a> {
    gate: &'a CompileGate,
    code_hash: [u8; 32],
}

impl CompileGate {
    fn new(max: usize) -> CompileGate {
        CompileGate {
            state: Mutex::new(GateState::default()),
            freed: parking_lot::Condvar::new(),
            max: max.max(1),
        }
    }

    /// Waits until `code_hash` is not being compiled and a slot is free;
    /// whether it had to wait.
    fn enter(&self, code_hash: [u8; 32]) -> (GateSlot<'_>, bool) {
        let mut s = self.state.lock();
        let mut waited = false;
        while s.running >= self.max || s.in_flight.contains(&code_hash) {
            waited = true;
            self.freed.wait(&mut s);
        }
        s.running += 1;
        s.in_flight.insert(code_hash);
        (
            GateSlot {
                gate: self,
                code_hash,
            },
            waited,
        )
    }
}

impl Drop for GateSlot<'_> {
    fn drop(&mut self) {
        let mut s = self.gate.state.lock();
        s.running -= 1;
        s.in_flight.remove(&self.code_hash);
        drop(s);
        self.gate.freed.notify_all();
    }
}

pub(crate) struct ComponentCache {
    gate: CompileGate,
    memory: Mutex<Lru<[u8; 32], Component>>,
    disk: Option<PathBuf>,
    /// Most bytes of artefacts kept on disk; least recently used go first.
    disk_max_bytes: u64,
    /// sha256(engine version, config hash, compatibility digest): the part
    /// of every key that identifies the engine.
    engine_key: [u8; 32],
    pub(crate) counters: Counters,
    temp_seq: AtomicU64,
}

impl ComponentCache {
    pub(crate) fn new(
        entries: usize,
        max_concurrent_compiles: usize,
        disk_root: Option<&Path>,
        disk_max_bytes: u64,
        engine_version: &str,
        config_hash: &[u8; 32],
        compat: &[u8; 32],
    ) -> std::io::Result<ComponentCache> {
        let disk = match disk_root {
            Some(root) => {
                let dir = root.join(DISK_SUBDIR);
                fs::create_dir_all(&dir)?;
                Some(dir)
            }
            None => None,
        };
        let mut h = Sha256::new();
        h.update(b"ian-sandbox/cache-key/v1\0");
        h.update((engine_version.len() as u64).to_le_bytes());
        h.update(engine_version.as_bytes());
        h.update(config_hash);
        h.update(compat);
        Ok(ComponentCache {
            gate: CompileGate::new(max_concurrent_compiles),
            memory: Mutex::new(Lru::new(entries)),
            disk,
            disk_max_bytes,
            engine_key: h.finalize().into(),
            counters: Counters::default(),
            temp_seq: AtomicU64::new(0),
        })
    }

    /// The full cache key of a component: code hash bound to this engine.
    pub(crate) fn key(&self, code_hash: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.engine_key);
        h.update(code_hash);
        h.finalize().into()
    }

    /// Whether code with this hash is compiled already (in memory, or an
    /// artifact on disk), so a load would not compile it.
    pub(crate) fn contains(&self, code_hash: &[u8; 32]) -> bool {
        self.memory.lock().get(code_hash).is_some()
            || self.disk_path(code_hash).is_some_and(|p| p.is_file())
    }

    /// Where the artifact for `code_hash` lives on disk, if a disk cache is
    /// configured.
    pub(crate) fn disk_path(&self, code_hash: &[u8; 32]) -> Option<PathBuf> {
        self.disk
            .as_ref()
            .map(|d| d.join(format!("{}.cwasm", hex::encode(self.key(code_hash)))))
    }

    /// The compiled component for `bytes`, from memory, disk, or a fresh
    /// compilation (which is then stored in both).
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        code_hash: &[u8; 32],
        bytes: &[u8],
    ) -> Result<Component, Fault> {
        if let Some(c) = self.memory.lock().get(code_hash) {
            Counters::bump(&self.counters.memory_hits);
            return Ok(c);
        }
        if let Some(c) = self.read_disk(engine, code_hash) {
            Counters::bump(&self.counters.disk_hits);
            self.memory.lock().insert(*code_hash, c.clone());
            return Ok(c);
        }
        let (_slot, waited) = self.gate.enter(*code_hash);
        if waited {
            Counters::bump(&self.counters.compile_waits);
            // The load this one waited for may have compiled the same code.
            if let Some(c) = self.memory.lock().get(code_hash) {
                Counters::bump(&self.counters.memory_hits);
                return Ok(c);
            }
        }
        Counters::bump(&self.counters.compiles);
        let started = std::time::Instant::now();
        let component = Component::new(engine, bytes).map_err(|e| Fault::NotWasm {
            reason: crate::run::clip(format!("rejected by the validator: {e:#}")),
        })?;
        self.counters
            .compile_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.write_disk(code_hash, &component);
        self.memory.lock().insert(*code_hash, component.clone());
        Ok(component)
    }

    fn read_disk(&self, engine: &Engine, code_hash: &[u8; 32]) -> Option<Component> {
        let path = self.disk_path(code_hash)?;
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(_) => return None,
        };
        let key = self.key(code_hash);
        let verified = data.len() > HEADER_LEN
            && &data[..8] == FILE_MAGIC
            && data[8..12] == FILE_VERSION.to_le_bytes()
            && data[12..44] == key
            && data[44..76] == <[u8; 32]>::from(Sha256::digest(&data[HEADER_LEN..]));
        if !verified {
            self.reject(&path);
            return None;
        }
        // SAFETY: `Component::deserialize` trusts its input to be an artifact
        // produced by `Component::serialize` of a compatible engine, because
        // it maps the machine code inside it as executable. We only pass bytes
        // that (1) sit in our own cache directory under a name derived from
        // the code hash, engine version, config hash and wasmtime's
        // precompile-compatibility hash, (2) carry that same key in their
        // header, and (3) match the sha256 recorded when we wrote them. The
        // bytes were read into memory before checking, so the file cannot
        // change between verification and use (which is why this reads the
        // file instead of using `deserialize_file`'s mmap). wasmtime
        // additionally checks the artifact's own engine/version header and
        // errors on mismatch; any error discards the file.
        match unsafe { Component::deserialize(engine, &data[HEADER_LEN..]) } {
            Ok(c) => {
                // Recently used: the last to be evicted.
                let _ = fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Some(c)
            }
            Err(_) => {
                self.reject(&path);
                None
            }
        }
    }

    /// Deletes the least recently used artefacts until the directory holds
    /// at most `disk_max_bytes` (the newest artefact always stays).
    fn evict_disk(&self) {
        let Some(dir) = &self.disk else {
            return;
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let m = e.metadata().ok()?;
                let name = e.file_name();
                if !m.is_file() || name.to_string_lossy().starts_with('.') {
                    return None;
                }
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.disk_max_bytes {
            return;
        }
        files.sort();
        for (_, len, path) in files.iter().take(files.len().saturating_sub(1)) {
            if total <= self.disk_max_bytes {
                break;
            }
            if fs::remove_file(path).is_ok() {
                total = total.saturating_sub(*len);
                Counters::bump(&self.counters.disk_evictions);
            }
        }
    }

    fn reject(&self, path: &Path) {
        Counters::bump(&self.counters.disk_rejected);
        let _ = fs::remove_file(path);
    }

    fn write_disk(&self, code_hash: &[u8; 32], component: &Component) {
        let Some(path) = self.disk_path(code_hash) else {
            return;
        };
        let ok = (|| -> std::io::Result<()> {
            let artifact = component.serialize().map_err(std::io::Error::other)?;
            let dir = path
                .parent()
                .ok_or_else(|| std::io::Error::other("no parent"))?;
            let seq = self.temp_seq.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(
                ".{}.{}.{seq}.tmp",
                hex::encode(&self.key(code_hash)[..8]),
                std::process::id()
            ));
            let mut f = fs::File::create(&tmp)?;
            let mut header = Vec::with_capacity(HEADER_LEN);
            header.extend_from_slice(FILE_MAGIC);
            header.extend_from_slice(&FILE_VERSION.to_le_bytes());
            header.extend_from_slice(&self.key(code_hash));
            header.extend_from_slice(&Sha256::digest(&artifact));
            let written = f
                .write_all(&header)
                .and_then(|_| f.write_all(&artifact))
                .and_then(|_| f.sync_all());
            drop(f);
            if let Err(e) = written.and_then(|_| fs::rename(&tmp, &path)) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            Ok(())
        })();
        match ok {
            Ok(()) => {
                Counters::bump(&self.counters.disk_writes);
                self.evict_disk();
            }
            Err(_) => Counters::bump(&self.counters.disk_write_errors),
        }
    }

    pub(crate) fn memory_len(&self) -> usize {
        self.memory.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut l = Lru::new(2);
        l.insert(1, "a");
        l.insert(2, "b");
        assert_eq!(l.get(&1), Some("a"));
        l.insert(3, "c");
        assert_eq!(l.get(&2), None);
        assert_eq!(l.get(&1), Some("a"));
        assert_eq!(l.get(&3), Some("c"));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn reinserting_a_key_does_not_evict() {
        let mut l = Lru::new(2);
        l.insert(1, "a");
        l.insert(2, "b");
        l.insert(2, "B");
        assert_eq!(l.get(&1), Some("a"));
        assert_eq!(l.get(&2), Some("B"));
    }
}
