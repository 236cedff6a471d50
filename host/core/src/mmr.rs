//! Merkle Mountain Range: the append-only log of each goal.
//!
//! Why an MMR: appends are O(1) amortised and never rewrite old nodes, so a
//! store can persist nodes append-only; any historical root can be recomputed
//! from stored nodes; inclusion proofs are O(log n) and consistency proofs
//! between any two sizes exist. Only node hashes are kept (entry bodies live
//! in the store), so 1,000,000 entries take ~2,000,000 × 32 bytes = 64 MB.
//!
//! Hashing is RFC 6962's (section 2.1), so any transparency-log tool can
//! check IAN's roots and proofs:
//!
//! * leaf = SHA-256(0x00 ‖ entry bytes)
//! * node = SHA-256(0x01 ‖ left ‖ right)
//! * root = the RFC 6962 Merkle tree hash of all leaves. The MMR's peaks
//!   are exactly the perfect subtrees RFC 6962 splits the tree into, so the
//!   root is the peaks folded right to left; the empty log's root is
//!   SHA-256 of nothing. The size is not in the root: the signed checkpoint
//!   commits to it (c2sp.org/tlog-checkpoint).
//!
//! Inclusion and consistency proofs are RFC 6962's audit paths and
//! consistency proofs, byte for byte what Go's `sumdb/tlog` produces.
//!
//! Nodes are numbered in post-order from 0 (leaf `i` is at position
//! `2i − popcount(i)`); see `docs/LEDGER.md` for the proof layouts.

use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::hash::Hash32;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest proof accepted by decoders: a proof never needs more than
/// 2 × 64 hashes.
pub const MAX_PROOF_HASHES: usize = 128;

/// H(0x00 ‖ entry bytes).
pub fn leaf_hash(entry_bytes: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry_bytes);
    Hash32(h.finalize().into())
}

/// SHA-256 initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// H(0x01 ‖ left ‖ right).
///
/// The input is always 65 bytes, so the two padded SHA-256 blocks are laid
/// out directly and fed to the compression function: this is the hottest
/// hash in appends and proof checks. Equal to `SHA-256(0x01 ‖ left ‖ right)`
/// (tested against the generic implementation).
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    use sha2::digest::generic_array::GenericArray;
    let mut blocks = [GenericArray::<u8, sha2::digest::consts::U64>::default(); 2];
    blocks[0][0] = 0x01;
    blocks[0][1..33].copy_from_slice(&left.0);
    blocks[0][33..64].copy_from_slice(&right.0[..31]);
    blocks[1][0] = right.0[31];
    blocks[1][1] = 0x80;
    blocks[1][56..64].copy_from_slice(&(65u64 * 8).to_be_bytes());
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    Hash32(out)
}

/// The RFC 6962 Merkle tree hash of the empty log: SHA-256 of nothing.
pub fn empty_root() -> Hash32 {
    Hash32(Sha256::digest([]).into())
}

/// The RFC 6962 Merkle tree hash of a log whose MMR peaks are `peaks`
/// (left to right, highest first).
///
/// An MMR's peaks are exactly the perfect subtrees RFC 6962 splits a tree
/// into (the left subtree is always the largest power of two), so the tree
/// hash is the peaks folded right to left: `node(p₁, node(p₂, … pₖ))`.
pub fn root_from_peaks(peaks: &[Hash32]) -> Hash32 {
    let Some((last, rest)) = peaks.split_last() else {
        return empty_root();
    };
    rest.iter().rev().fold(*last, |acc, p| node_hash(p, &acc))
}

/// Number of nodes in an MMR of `leaves` leaves.
pub fn node_count(leaves: u64) -> u64 {
    2 * leaves - leaves.count_ones() as u64
}

/// Position of leaf `i`.
pub fn leaf_position(i: u64) -> u64 {
    2 * i - i.count_ones() as u64
}

/// Position of the root of the perfect subtree of height `h` whose first
/// leaf is `first_leaf` (which must be a multiple of 2^h).
fn subtree_root_position(first_leaf: u64, h: u32) -> u64 {
    leaf_position(first_leaf) + (1u64 << (h + 1)) - 2
}

/// One peak of an MMR of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Peak {
    height: u32,
    first_leaf: u64,
    position: u64,
}

impl Peak {
    fn leaf_end(&self) -> u64 {
        self.first_leaf + (1u64 << self.height)
    }
}

/// Peaks of an MMR of `size` leaves, left to right (highest first).
fn peaks(size: u64) -> impl Iterator<Item = Peak> {
    let mut first = 0u64;
    (0..64u32).rev().filter_map(move |h| {
        if size & (1u64 << h) != 0 {
            let p = Peak {
                height: h,
                first_leaf: first,
                position: subtree_root_position(first, h),
            };
            first += 1u64 << h;
            Some(p)
        } else {
            None
        }
    })
}

/// The position of the first parent node that is not the hash of its two
/// children, or `None` when every parent is. `nodes` must hold a valid MMR
/// node count (see [`node_count`]); a loaded node list that passes this has
/// peaks committing to every leaf, so its root can be checked against a
/// signed checkpoint.
pub fn first_bad_parent(nodes: &[Hash32]) -> Option<u64> {
    let mut pos = 0usize;
    let mut leaf = 0u64;
    while pos < nodes.len() {
        // Leaf `leaf` sits at `pos`; its append pushed one parent per
        // trailing one bit, each hashing the node one subtree back.
        for h in 0..leaf.trailing_ones() {
            let left = pos.checked_sub((1usize << (h + 1)) - 1)?;
            let (l, r, parent) = (nodes.get(left)?, nodes.get(pos)?, nodes.get(pos + 1)?);
            if node_hash(l, r) != *parent {
                return Some(pos as u64 + 1);
            }
            pos += 1;
        }
        pos += 1;
        leaf += 1;
    }
    None
}

/// Where an MMR keeps its node hashes. The in-memory [`MemNodes`] is the
/// default; a durable store can implement this over its own tables so that
/// proofs for huge logs are served without loading every node.
///
/// One append pushes the leaf and then one parent per trailing one-bit of
/// the leaf index. If `push` fails midway, the store holds a partial append
/// and this `Mmr` must be dropped: a durable store should make the pushes of
/// one append (or of a batch) one transaction and reopen with [`Mmr::open`],
/// which refuses node counts no MMR can have.
pub trait NodeStore {
    /// The store's own failure (I/O etc.).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Number of nodes stored.
    fn len(&self) -> u64;
    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The node at `position` (< `len()`).
    fn get(&self, position: u64) -> Result<Hash32, Self::Error>;
    /// Appends a node; positions are dense and never rewritten.
    fn push(&mut self, node: Hash32) -> Result<(), Self::Error>;
}

/// Node hashes in a `Vec`: 32 bytes per node, nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemNodes(pub Vec<Hash32>);

/// [`MemNodes`] reports a missing position this way (only reachable through
/// a store that was built inconsistently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node {0} is missing from the in-memory store")]
pub struct MissingNode(pub u64);

impl NodeStore for MemNodes {
    type Error = MissingNode;
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn get(&self, position: u64) -> Result<Hash32, MissingNode> {
        self.0
            .get(position as usize)
            .copied()
            .ok_or(MissingNode(position))
    }
    fn push(&mut self, node: Hash32) -> Result<(), MissingNode> {
        self.0.push(node);
        Ok(())
    }
}

/// Why an MMR operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MmrError<E: std::error::Error + 'static = MissingNode> {
    /// The store holds a node count no MMR can have.
    #[error("store holds {0} nodes, which is not the size of any MMR")]
    BadNodeCount(u64),
    /// A leaf index at or beyond the size.
    #[error("leaf index {index} is out of range for size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A size larger than the log.
    #[error("size {size} exceeds the log size {current}")]
    SizeOutOfRange { size: u64, current: u64 },
    /// Consistency asked from a larger to a smaller size.
    #[error("old size {old} is larger than new size {new}")]
    OldAfterNew { old: u64, new: u64 },
    /// The node store failed.
    #[error("node store: {0}")]
    Store(#[source] E),
}

/// A Merkle Mountain Range over a [`NodeStore`].
#[derive(Debug, Clone, Default)]
pub struct Mmr<S: NodeStore = MemNodes> {
    store: S,
    leaves: u64,
}

/// The in-memory MMR.
pub type MemMmr = Mmr<MemNodes>;

impl MemMmr {
    /// An empty in-memory MMR.
    pub fn new_in_memory() -> Self {
        Mmr {
            store: MemNodes::default(),
            leaves: 0,
        }
    }

    /// Bytes of node storage in use (32 per node), for memory accounting.
    pub fn node_bytes(&self) -> usize {
        self.store.0.capacity() * 32
    }
}

impl<S: NodeStore> Mmr<S> {
    /// Opens an MMR over an existing store, checking that its node count is
    /// a valid MMR size.
    pub fn open(store: S) -> Result<Self, MmrError<S::Error>> {
        let nodes = store.len();
        // node_count is strictly increasing in leaves; binary-search it.
        // node_count(l) = 2l − popcount(l) ≥ 2l − 64, so l ≤ nodes/2 + 32.
        let count = |l: u64| l.checked_mul(2).map(|t| t - u64::from(l.count_ones()));
        let (mut lo, mut hi) = (0u64, nodes / 2 + 33);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if count(mid).is_some_and(|c| c < nodes) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if count(lo) != Some(nodes) {
            return Err(MmrError::BadNodeCount(nodes));
        }
        Ok(Mmr { store, leaves: lo })
    }

    /// Number of leaves (the log size).
    pub fn size(&self) -> u64 {
        self.leaves
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    fn get(&self, pos: u64) -> Result<Hash32, MmrError<S::Error>> {
        self.store.get(pos).map_err(MmrError::Store)
    }

    /// Appends an entry (hashing it as a leaf); returns its leaf index.
    pub fn append(&mut self, entry_bytes: &[u8]) -> Result<u64, MmrError<S::Error>> {
        self.append_leaf_hash(leaf_hash(entry_bytes))
    }

    /// Appends an already computed leaf hash; returns its leaf index.
    pub fn append_leaf_hash(&mut self, leaf: Hash32) -> Result<u64, MmrError<S::Error>> {
        let index = self.leaves;
        self.store.push(leaf).map_err(MmrError::Store)?;
        let mut cur = leaf;
        // Leaf `index` completes one perfect subtree per trailing one bit.
        for h in 0..index.trailing_ones() {
            let top = self.store.len() - 1;
            let left = self.get(top - ((1u64 << (h + 1)) - 1))?;
            cur = node_hash(&left, &cur);
            self.store.push(cur).map_err(MmrError::Store)?;
        }
        self.leaves += 1;
        Ok(index)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Result<Hash32, MmrError<S::Error>> {
        if index >= self.leaves {
            return Err(MmrError::IndexOutOfRange {
                index,
                size: self.leaves,
            });
        }
        self.get(leaf_position(index))
    }

    /// The current root.
    pub fn root(&self) -> Result<Hash32, MmrError<S::Error>> {
        self.root_at(self.leaves)
    }

    /// The root the log had when it held `size` leaves: the RFC 6962
    /// Merkle tree hash of its first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash32, MmrError<S::Error>> {
        self.check_size(size)?;
        let mut ps = [Hash32::ZERO; 64];
        let mut k = 0;
        for p in peaks(size) {
            ps[k] = self.get(p.position)?;
            k += 1;
        }
        Ok(root_from_peaks(&ps[..k]))
    }

    fn check_size(&self, size: u64) -> Result<(), MmrError<S::Error>> {
        if size > self.leaves {
            return Err(MmrError::SizeOutOfRange {
                size,
                current: self.leaves,
            });
        }
        Ok(())
    }

    /// RFC 6962 `MTH(D[start:end])` for `start < end <= size`, from stored
    /// nodes: a perfect aligned range is one stored node; any other range
    /// splits at the largest power of two below its length, and only its
    /// right edge can be ragged, so this reads O(log n) nodes.
    pub fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash32, MmrError<S::Error>> {
        self.check_size(end)?;
        if start >= end {
            return Err(MmrError::IndexOutOfRange {
                index: start,
                size: end,
            });
        }
        self.range_hash(start, end)
    }

    fn range_hash(&self, start: u64, end: u64) -> Result<Hash32, MmrError<S::Error>> {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            return self.get(subtree_root_position(start, n.trailing_zeros()));
        }
        let k = split_point(n);
        let left = self.range_hash(start, start + k)?;
        let right = self.range_hash(start + k, end)?;
        Ok(node_hash(&left, &right))
    }

    /// RFC 6962 audit path (section 2.1.1) for leaf `index` in the log of
    /// `size` leaves, from the leaf's sibling up to the root's child.
    ///
    /// With the MMR layout it is: the siblings inside the leaf's peak, then
    /// the tree hash of every peak to its right (one hash, if any), then the
    /// peaks to its left from nearest to farthest.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<InclusionProof, MmrError<S::Error>> {
        self.check_size(size)?;
        if index >= size {
            return Err(MmrError::IndexOutOfRange { index, size });
        }
        let mut hashes = Vec::with_capacity(64);
        let mut left_peaks = [Hash32::ZERO; 64];
        let mut n_left = 0;
        let mut right = [Hash32::ZERO; 64];
        let mut n_right = 0;
        for p in peaks(size) {
            if p.leaf_end() <= index {
                left_peaks[n_left] = self.get(p.position)?;
                n_left += 1;
            } else if p.first_leaf > index {
                right[n_right] = self.get(p.position)?;
                n_right += 1;
            } else {
                // Walk down from the peak, collecting siblings top-down.
                let (mut pos, mut first) = (p.position, p.first_leaf);
                for h in (1..=p.height).rev() {
                    let left = pos - (1u64 << h);
                    let right = pos - 1;
                    let mid = first + (1u64 << (h - 1));
                    if index < mid {
                        hashes.push(self.get(right)?);
                        pos = left;
                    } else {
                        hashes.push(self.get(left)?);
                        pos = right;
                        first = mid;
                    }
                }
                hashes.reverse();
            }
        }
        if n_right > 0 {
            hashes.push(root_from_peaks(&right[..n_right]));
        }
        hashes.extend(left_peaks[..n_left].iter().rev());
        Ok(InclusionProof { hashes })
    }

    /// RFC 6962 consistency proof (section 2.1.2, `PROOF(m, D[n])`) that the
    /// log of `old` leaves is a prefix of the log of `new` leaves. Empty
    /// when `old` is 0 or equals `new`.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<ConsistencyProof, MmrError<S::Error>> {
        self.check_size(new)?;
        if old > new {
            return Err(MmrError::OldAfterNew { old, new });
        }
        let mut hashes = Vec::with_capacity(64);
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut hashes)?;
        }
        Ok(ConsistencyProof { hashes })
    }

    /// `SUBPROOF(m, D[start:end], b)` of RFC 6962, appending to `out`.
    fn subproof(
        &self,
        m: u64,
        start: u64,
        end: u64,
        whole: bool,
        out: &mut Vec<Hash32>,
    ) -> Result<(), MmrError<S::Error>> {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(self.range_hash(start, end)?);
            }
            return Ok(());
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, whole, out)?;
            out.push(self.range_hash(start + k, end)?);
        } else {
            self.subproof(m - k, start + k, end, false, out)?;
            out.push(self.range_hash(start, start + k)?);
        }
        Ok(())
    }
}

/// The largest power of two strictly below `n` (n ≥ 2): where RFC 6962
/// splits a tree of `n` leaves.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// RFC 6962 audit path: one hash per level, from the leaf's sibling up to
/// the root's child. The same bytes Go's `tlog.RecordProof`, Trillian and
/// the c2sp.org/tlog-proof format carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InclusionProof {
    /// The path, leaf side first.
    pub hashes: Vec<Hash32>,
}

/// RFC 6962 consistency proof (`PROOF(m, D[n])`), as Go's `tlog.TreeProof`
/// and the c2sp.org/tlog-witness `add-checkpoint` body carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsistencyProof {
    /// The proof hashes, in RFC 6962 order.
    pub hashes: Vec<Hash32>,
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Index at or beyond size (or size 0).
    #[error("leaf index {index} is out of range for size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// Old size larger than new size.
    #[error("old size {old} is larger than new size {new}")]
    OldAfterNew { old: u64, new: u64 },
    /// The proof has the wrong number of hashes for this index and size.
    #[error("proof has the wrong shape for this index/size")]
    WrongShape,
    /// The recomputed root is not the claimed root.
    #[error("recomputed root does not match")]
    RootMismatch,
    /// The proof does not rebuild the old root.
    #[error("proof does not rebuild the old root")]
    OldRootMismatch,
}

/// Checks that `leaf` (a leaf hash) is at `index` in the log of `size`
/// leaves whose root is `root` (RFC 9162, section 2.1.3.2). Pure: needs
/// nothing but its arguments.
pub fn verify_inclusion(
    root: &Hash32,
    size: u64,
    index: u64,
    leaf: &Hash32,
    proof: &InclusionProof,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in &proof.hashes {
        if snode == 0 {
            return Err(ProofError::WrongShape);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongShape);
    }
    if r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that the log of `old_size` leaves with root `old_root` is a
/// prefix of the log of `new_size` leaves with root `new_root` (RFC 9162,
/// section 2.1.4.2). The empty log is a prefix of every log, with an empty
/// proof; equal sizes need equal roots and an empty proof.
pub fn verify_consistency(
    old_size: u64,
    old_root: &Hash32,
    new_size: u64,
    new_root: &Hash32,
    proof: &ConsistencyProof,
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldAfterNew {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.hashes.is_empty() {
            return Err(ProofError::WrongShape);
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let mut path = proof.hashes.iter();
    let first = if old_size.is_power_of_two() {
        *old_root
    } else {
        *path.next().ok_or(ProofError::WrongShape)?
    };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in path {
        if snode == 0 {
            return Err(ProofError::WrongShape);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongShape);
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn encode_hashes(e: &mut Encoder, hs: &[Hash32]) {
    e.count(hs.len());
    for h in hs {
        e.hash(h);
    }
}

fn decode_hashes(d: &mut Decoder<'_>, field: &'static str) -> Result<Vec<Hash32>, DecodeError> {
    let n = d.count(field, MAX_PROOF_HASHES, 32)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(d.hash(field)?);
    }
    Ok(v)
}

impl InclusionProof {
    pub(crate) fn encode_into(&self, e: &mut Encoder) {
        encode_hashes(e, &self.hashes);
    }

    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(InclusionProof {
            hashes: decode_hashes(d, "inclusion.hashes")?,
        })
    }

    /// Canonical bytes (domain `ian/inclusion-proof/v2`).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::INCLUSION_PROOF);
        self.encode_into(&mut e);
        e.finish()
    }

    /// Reads canonical bytes.
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(b, domain::INCLUSION_PROOF)?;
        let p = Self::decode_from(&mut d)?;
        d.finish()?;
        Ok(p)
    }
}

impl ConsistencyProof {
    /// Canonical bytes (domain `ian/consistency-proof/v2`).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::CONSISTENCY_PROOF);
        encode_hashes(&mut e, &self.hashes);
        e.finish()
    }

    /// Reads canonical bytes.
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(b, domain::CONSISTENCY_PROOF)?;
        let p = ConsistencyProof {
            hashes: decode_hashes(&mut d, "consistency.hashes")?,
        };
        d.finish()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(n: u64) -> MemMmr {
        let mut m = MemMmr::new_in_memory();
        for i in 0..n {
            m.append(&i.to_be_bytes()).unwrap();
        }
        m
    }

    #[test]
    fn node_hash_is_sha256_of_prefixed_children() {
        for i in 0u8..=255 {
            let l = Hash32([i; 32]);
            let mut r = [0u8; 32];
            for (j, b) in r.iter_mut().enumerate() {
                *b = i.wrapping_mul(31).wrapping_add(j as u8);
            }
            let r = Hash32(r);
            let mut buf = vec![0x01];
            buf.extend_from_slice(&l.0);
            buf.extend_from_slice(&r.0);
            assert_eq!(node_hash(&l, &r), crate::hash::sha256(&buf));
        }
    }

    #[test]
    fn node_positions_follow_post_order() {
        assert_eq!(
            (0..8).map(leaf_position).collect::<Vec<_>>(),
            vec![0, 1, 3, 4, 7, 8, 10, 11]
        );
        assert_eq!(node_count(3), 4);
        assert_eq!(node_count(4), 7);
        let m = build(7);
        assert_eq!(m.store().len(), node_count(7));
    }

    #[test]
    fn three_leaf_root_is_the_rfc6962_tree_hash() {
        let m = build(3);
        let l: Vec<Hash32> = (0u64..3).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let p01 = node_hash(&l[0], &l[1]);
        assert_eq!(m.root().unwrap(), node_hash(&p01, &l[2]));
    }

    /// RFC 6962 section 2.1, written out recursively over leaf hashes: the
    /// reference the MMR-based computations are checked against.
    fn mth(leaves: &[Hash32]) -> Hash32 {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn path(m: usize, leaves: &[Hash32]) -> Vec<Hash32> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split_point(n as u64) as usize;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn subproof(m: usize, leaves: &[Hash32], whole: bool) -> Vec<Hash32> {
        let n = leaves.len();
        if m == n {
            return if whole { Vec::new() } else { vec![mth(leaves)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            let mut p = subproof(m, &leaves[..k], whole);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn roots_and_proofs_equal_the_rfc6962_definitions() {
        let m = build(70);
        let leaves: Vec<Hash32> = (0u64..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 0..=70usize {
            let root = mth(&leaves[..n]);
            assert_eq!(m.root_at(n as u64).unwrap(), root, "root at {n}");
            for i in 0..n {
                let p = m.inclusion_proof(i as u64, n as u64).unwrap();
                assert_eq!(p.hashes, path(i, &leaves[..n]), "path {i} in {n}");
                verify_inclusion(&root, n as u64, i as u64, &leaves[i], &p).unwrap();
            }
            for old in 1..n {
                let p = m.consistency_proof(old as u64, n as u64).unwrap();
                assert_eq!(p.hashes, subproof(old, &leaves[..n], true), "{old}->{n}");
                let old_root = mth(&leaves[..old]);
                verify_consistency(old as u64, &old_root, n as u64, &root, &p).unwrap();
            }
        }
    }

    #[test]
    fn the_empty_log_has_the_hash_of_nothing_as_root() {
        // RFC 6962 section 2.1: MTH({}) = SHA-256().
        assert_eq!(
            build(0).root().unwrap().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn an_altered_proof_hash_or_wrong_index_fails_to_verify() {
        let m = build(13);
        let root = m.root().unwrap();
        let leaf = m.leaf(6).unwrap();
        let p = m.inclusion_proof(6, 13).unwrap();
        for j in 0..p.hashes.len() {
            let mut bad = p.clone();
            bad.hashes[j].0[3] ^= 0x10;
            assert_eq!(
                verify_inclusion(&root, 13, 6, &leaf, &bad),
                Err(ProofError::RootMismatch)
            );
        }
        assert!(verify_inclusion(&root, 13, 7, &leaf, &p).is_err());
        let mut short = p.clone();
        short.hashes.pop();
        assert!(verify_inclusion(&root, 13, 6, &leaf, &short).is_err());
        let c = m.consistency_proof(5, 13).unwrap();
        let old = m.root_at(5).unwrap();
        for j in 0..c.hashes.len() {
            let mut bad = c.clone();
            bad.hashes[j].0[0] ^= 1;
            assert!(verify_consistency(5, &old, 13, &root, &bad).is_err());
        }
        assert!(verify_consistency(6, &old, 13, &root, &c).is_err());
    }

    #[test]
    fn open_refuses_impossible_node_count() {
        let nodes = MemNodes(vec![Hash32::ZERO; 2]);
        assert_eq!(Mmr::open(nodes).unwrap_err(), MmrError::BadNodeCount(2));
        let m = build(5);
        let reopened = Mmr::open(m.store().clone()).unwrap();
        assert_eq!(reopened.size(), 5);
    }

    #[test]
    fn open_accepts_every_valid_node_count() {
        // Sizes with three or more one bits (7, 11, 13, ...) included.
        let mut m = MemMmr::new_in_memory();
        for i in 0u64..300 {
            let reopened = Mmr::open(m.store().clone()).unwrap();
            assert_eq!(reopened.size(), i);
            assert_eq!(reopened.root(), m.root());
            m.append(&i.to_be_bytes()).unwrap();
        }
    }

    #[test]
    fn consistent_nodes_have_no_bad_parent_and_any_altered_parent_is_found() {
        for n in 0u64..40 {
            let m = build(n);
            let nodes = &m.store().0;
            assert_eq!(first_bad_parent(nodes), None, "size {n}");
            for (p, _) in nodes.iter().enumerate() {
                let mut bad = nodes.clone();
                bad[p].0[0] ^= 1;
                // An altered node is caught at itself (a parent) or at its
                // parent (a child); only a lone peak has neither.
                let found = first_bad_parent(&bad);
                let is_leaf = (0..n).any(|i| leaf_position(i) == p as u64);
                let is_peak = peaks(n).any(|k| k.position == p as u64);
                if is_leaf && is_peak {
                    assert_eq!(found, None, "size {n}, lone peak {p}");
                } else {
                    assert!(found.is_some(), "size {n}, node {p}");
                }
            }
        }
    }

    /// A store that accepts `room` nodes and then fails, like a full disk.
    struct FullAfter {
        nodes: Vec<Hash32>,
        room: usize,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("store is full")]
    struct Full;

    impl NodeStore for FullAfter {
        type Error = Full;
        fn len(&self) -> u64 {
            self.nodes.len() as u64
        }
        fn get(&self, p: u64) -> Result<Hash32, Full> {
            self.nodes.get(p as usize).copied().ok_or(Full)
        }
        fn push(&mut self, n: Hash32) -> Result<(), Full> {
            if self.nodes.len() == self.room {
                return Err(Full);
            }
            self.nodes.push(n);
            Ok(())
        }
    }

    #[test]
    fn store_failure_surfaces_as_a_typed_error() {
        let mut m = Mmr::open(FullAfter {
            nodes: Vec::new(),
            room: 3,
        })
        .unwrap();
        assert_eq!(m.append(b"a").unwrap(), 0);
        assert_eq!(m.append(b"b").unwrap(), 1);
        assert!(matches!(m.append(b"c"), Err(MmrError::Store(Full))));
    }

    #[test]
    fn historical_roots_match_roots_seen_while_appending() {
        let mut m = MemMmr::new_in_memory();
        let mut roots = vec![m.root().unwrap()];
        for i in 0u64..40 {
            m.append(&i.to_be_bytes()).unwrap();
            roots.push(m.root().unwrap());
        }
        for (s, r) in roots.iter().enumerate() {
            assert_eq!(m.root_at(s as u64).unwrap(), *r);
        }
    }
}
