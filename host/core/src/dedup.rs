//! Duplicate detection: a Bloom filter answers "certainly new" fast, an
//! exact index answers everything else. The Bloom filter is only ever a
//! fast negative; a positive is always confirmed by the exact index, so
//! there are no false positives in the answer, and no false negatives.

use crate::hash::Hash32;
use std::collections::HashMap;

/// Bits per key the filter is sized for (≈1% false-positive rate with 7
/// probes).
const BITS_PER_KEY: u64 = 10;
/// Probes per key.
const PROBES: u64 = 7;
/// Keys the filter is first sized for; it is rebuilt at double size from
/// the exact index whenever it fills up.
const INITIAL_KEYS: u64 = 1 << 16;

/// A Bloom filter over pack hashes. Pack hashes are SHA-256 outputs, so
/// their bytes already are independent uniform hashes: probe `i` is
/// `(h1 + i·h2) mod m` with `h1`, `h2` taken from the key (Kirsch–Mitzenmacher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    bits: Vec<u64>,
    mask: u64,
    keys: u64,
    sized_for: u64,
}

impl Bloom {
    /// A filter sized for `keys` keys (rounded up to a power of two bits).
    pub fn with_capacity(keys: u64) -> Self {
        let keys = keys.max(64);
        let nbits = (keys * BITS_PER_KEY).next_power_of_two();
        Bloom {
            bits: vec![0u64; (nbits / 64) as usize],
            mask: nbits - 1,
            keys: 0,
            sized_for: keys,
        }
    }

    fn probes(key: &Hash32) -> (u64, u64) {
        let b = &key.0;
        let h1 = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let h2 = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]) | 1;
        (h1, h2)
    }

    /// Adds a key.
    pub fn insert(&mut self, key: &Hash32) {
        let (h1, h2) = Self::probes(key);
        for i in 0..PROBES {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & self.mask;
            self.bits[(bit >> 6) as usize] |= 1u64 << (bit & 63);
        }
        self.keys += 1;
    }

    /// False means "certainly never inserted".
    pub fn maybe_contains(&self, key: &Hash32) -> bool {
        let (h1, h2) = Self::probes(key);
        (0..PROBES).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & self.mask;
            self.bits[(bit >> 6) as usize] & (1u64 << (bit & 63)) != 0
        })
    }

    /// Bytes of bit storage.
    pub fn byte_size(&self) -> usize {
        self.bits.len() * 8
    }

    fn full(&self) -> bool {
        self.keys >= self.sized_for
    }
}

/// Bloom filter + exact `pack hash -> log index` map.
#[derive(Debug, Clone)]
pub struct Dedup {
    bloom: Bloom,
    index: HashMap<Hash32, u64>,
}

impl Default for Dedup {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Dedup {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

impl Dedup {
    /// Empty.
    pub fn new() -> Self {
        Dedup {
            bloom: Bloom::with_capacity(INITIAL_KEYS),
            index: HashMap::new(),
        }
    }

    /// The log index of an earlier entry with this pack hash, if any.
    pub fn lookup(&self, pack_hash: &Hash32) -> Option<u64> {
        if !self.bloom.maybe_contains(pack_hash) {
            return None;
        }
        self.index.get(pack_hash).copied()
    }

    /// Records a pack hash. Returns the earlier index if it was already
    /// present (the map keeps the earlier one).
    pub fn insert(&mut self, pack_hash: Hash32, log_index: u64) -> Option<u64> {
        if let Some(&i) = self.index.get(&pack_hash) {
            return Some(i);
        }
        self.index.insert(pack_hash, log_index);
        if self.bloom.full() {
            // Rebuild larger from the exact index: nothing is ever lost.
            let mut b = Bloom::with_capacity(self.bloom.sized_for * 2);
            for k in self.index.keys() {
                b.insert(k);
            }
            self.bloom = b;
        } else {
            self.bloom.insert(&pack_hash);
        }
        None
    }

    /// The state that inserting every `pack hash -> log index` pair of
    /// `index` would build, without the intermediate filter rebuilds: the
    /// filter is sized by the same doubling rule as [`Dedup::insert`] and
    /// its bits are an OR over the keys, so it comes out identical whatever
    /// the insertion order. This is why a snapshot need not store it.
    pub(crate) fn from_index(index: HashMap<Hash32, u64>) -> Self {
        // insert() doubles when a key arrives at a full filter, so n keys
        // end in the smallest INITIAL_KEYS·2^j that is at least n.
        let mut sized_for = INITIAL_KEYS;
        while sized_for < index.len() as u64 {
            sized_for *= 2;
        }
        let mut bloom = Bloom::with_capacity(sized_for);
        for k in index.keys() {
            bloom.insert(k);
        }
        Dedup { bloom, index }
    }

    /// Every `(pack hash, log index)` pair, in no particular order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&Hash32, u64)> {
        self.index.iter().map(|(h, &i)| (h, i))
    }

    /// Number of distinct pack hashes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The Bloom filter (for tests and metrics).
    pub fn bloom(&self) -> &Bloom {
        &self.bloom
    }

    /// Approximate bytes in use: filter bits plus the map's slots
    /// (key + value + one control byte per bucket).
    pub fn byte_size(&self) -> usize {
        self.bloom.byte_size() + self.index.capacity() * (32 + 8 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn incremental(n: u64) -> Dedup {
        let mut d = Dedup::new();
        for i in 0..n {
            d.insert(sha256(&i.to_be_bytes()), i);
        }
        d
    }

    #[test]
    fn rebuilding_from_the_index_gives_the_same_filter_as_inserting() {
        // Around the first doubling (INITIAL_KEYS) and well past it.
        for n in [0, 1, INITIAL_KEYS, INITIAL_KEYS + 1, 3 * INITIAL_KEYS] {
            let d = incremental(n);
            let rebuilt = Dedup::from_index(d.index.clone());
            assert_eq!(rebuilt.bloom(), d.bloom(), "n = {n}");
            assert_eq!(rebuilt, d);
        }
    }
}
