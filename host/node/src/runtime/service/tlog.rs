//! The node's transparency-log surface: c2sp.org/tlog-tiles reads, the
//! published (final) checkpoint, witness cosigning both ways.
//!
//! Architecture Invariant: nothing here serves a hash or an entry beyond
//! the latest signed checkpoint; tiles below it never change, so they are
//! served as immutable.

use std::sync::Arc;
use std::time::Duration;

use ian_core::checkpoint::{Receipt, SignedCheckpoint};
use ian_core::mmr::ConsistencyProof;
use ian_core::note::parse_decimal;
use tracing::warn;

use super::{GoalRt, Node, final_key, internal};
use crate::runtime::error::ApiError;
use crate::runtime::views::ReceiptView;
use crate::runtime::witness::{ProofFrom, Witness, log_final};

/// Hashes per tile (c2sp.org/tlog-tiles: tiles are 8 levels high).
pub const TILE_WIDTH: u64 = 256;

/// A parsed `tile/...` path below a log prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`: `width` hashes of level `level`.
    Hashes {
        /// Level (0 = leaf hashes).
        level: u8,
        /// Tile index within the level.
        index: u64,
        /// 1..=256; 256 for a full tile.
        width: u64,
    },
    /// `tile/entries/<N>[.p/<W>]`: an entry bundle.
    Entries {
        /// Bundle index.
        index: u64,
        /// 1..=256.
        width: u64,
    },
}

/// Parses the part after `tile/`: `<L>/<N>[.p/<W>]` or
/// `entries/<N>[.p/<W>]`, with `<N>` in the spec's `x001/x234/067` form.
/// Any other spelling is refused, so one tile has one URL.
pub fn parse_tile_path(rest: &str) -> Option<TilePath> {
    let (head, tail) = rest.split_once('/')?;
    let (n_part, width) = match tail.split_once(".p/") {
        Some((n, w)) => {
            let w = parse_decimal(w)?;
            if !(1..TILE_WIDTH).contains(&w) {
                return None;
            }
            (n, w)
        }
        None => (tail, TILE_WIDTH),
    };
    let parts: Vec<&str> = n_part.split('/').collect();
    let (last, upper) = parts.split_last()?;
    let mut index: u64 = 0;
    for (i, p) in upper
        .iter()
        .map(|p| p.strip_prefix('x'))
        .chain([Some(*last)])
        .enumerate()
    {
        let p = p?;
        if p.len() != 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Leading zero groups would give a second spelling of one index.
        if i == 0 && parts.len() > 1 && p == "000" {
            return None;
        }
        index = index
            .checked_mul(1000)?
            .checked_add(p.parse::<u64>().ok()?)?;
    }
    if head == "entries" {
        return Some(TilePath::Entries { index, width });
    }
    let level = u8::try_from(parse_decimal(head)?).ok()?;
    if level > 63 {
        return None;
    }
    Some(TilePath::Hashes {
        level,
        index,
        width,
    })
}

/// The spec's path form of a tile index (`1234067` → `x001/x234/067`).
pub fn tile_index_path(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn tile_missing(what: String) -> ApiError {
    ApiError::not_found("no_such_tile", what)
}

impl Node {
    /// The node's name (origins are `<name>/<goal id>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness role, when enabled.
    pub fn witness(&self) -> Option<&Witness> {
        self.witness.as_ref()
    }

    /// Whether a witness policy decides which checkpoints are final.
    pub fn has_witness_policy(&self) -> bool {
        self.collector.is_some()
    }

    /// A receipt with its entry as JSON, marked witnessed when its
    /// checkpoint meets the policy's quorum.
    pub fn receipt_view(&self, r: Receipt) -> ReceiptView {
        let witnessed = self.collector.as_ref().is_none_or(|c| {
            c.policy()
                .cosigners(&r.checkpoint)
                .is_ok_and(|h| c.policy().quorum_met(&h))
        });
        ReceiptView {
            entry: r.entry.clone(),
            receipt: r,
            witnessed,
        }
    }

    /// `GET /logs/{goal}/checkpoint`: the published checkpoint note.
    pub fn published_checkpoint(&self, goal: &str) -> Result<SignedCheckpoint, ApiError> {
        let g = self.goal(goal)?;
        g.published_checkpoint(self.has_witness_policy())
            .ok_or_else(|| {
                ApiError::not_found(
                    "no_checkpoint",
                    if self.has_witness_policy() {
                        "no checkpoint of this log has been cosigned by the witness quorum yet"
                    } else {
                        "the log is empty; no checkpoint signed yet"
                    },
                )
            })
    }

    /// `GET /logs/{goal}/tile/...`: the tile's bytes.
    pub fn tile(&self, goal: &str, rest: &str) -> Result<Vec<u8>, ApiError> {
        let g = self.goal(goal)?;
        let path = parse_tile_path(rest).ok_or_else(|| {
            tile_missing(format!(
                "`tile/{}` is not a c2sp.org/tlog-tiles path",
                rest.chars().take(80).collect::<String>()
            ))
        })?;
        let signed = g.signed_size();
        match path {
            TilePath::Hashes {
                level,
                index,
                width,
            } => self.hash_tile(&g, signed, level, index, width),
            TilePath::Entries { index, width } => self.entry_bundle(&g, signed, index, width),
        }
    }

    fn hash_tile(
        &self,
        g: &GoalRt,
        signed: u64,
        level: u8,
        index: u64,
        width: u64,
    ) -> Result<Vec<u8>, ApiError> {
        let height = 8 * u32::from(level);
        let span = 1u64.checked_shl(height).filter(|_| height < 64);
        let end = span.and_then(|s| {
            index
                .checked_mul(TILE_WIDTH)?
                .checked_add(width)?
                .checked_mul(s)
        });
        let (Some(span), Some(end)) = (span, end) else {
            return Err(tile_missing(format!(
                "level {level} tile {index} is beyond the log"
            )));
        };
        if end > signed {
            return Err(tile_missing(format!(
                "level {level} tile {index} (width {width}) needs {end} entries; the signed log has {signed}"
            )));
        }
        let st = g.state.read();
        let mmr = st.mmr();
        let mut out = Vec::with_capacity(32 * width as usize);
        let first = index * TILE_WIDTH;
        for i in 0..width {
            let start = (first + i) * span;
            let h = mmr
                .subtree_hash(start, start + span)
                .map_err(|e| internal(e.to_string()))?;
            out.extend_from_slice(&h.0);
        }
        Ok(out)
    }

    fn entry_bundle(
        &self,
        g: &GoalRt,
        signed: u64,
        index: u64,
        width: u64,
    ) -> Result<Vec<u8>, ApiError> {
        let start = index.checked_mul(TILE_WIDTH);
        let end = start.and_then(|s| s.checked_add(width));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(tile_missing(format!(
                "entry bundle {index} is beyond the log"
            )));
        };
        if end > signed {
            return Err(tile_missing(format!(
                "entry bundle {index} (width {width}) needs {end} entries; the signed log has {signed}"
            )));
        }
        let snap = self.store.snapshot().map_err(internal)?;
        let mut out = Vec::with_capacity(512 * width as usize);
        let mut got = 0u64;
        for item in snap.entries(&g.id, start..end).map_err(internal)? {
            let (_, bytes) = item.map_err(internal)?;
            let len = u16::try_from(bytes.len()).map_err(|_| {
                internal(format!("entry of {} bytes cannot be framed", bytes.len()))
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&bytes);
            got += 1;
        }
        // Served as immutable: never a short bundle.
        if got != width {
            return Err(internal(format!(
                "entry bundle {index}: {got} of {width} entries read"
            )));
        }
        Ok(out)
    }

    /// Sends every goal's newest checkpoint to the policy's witnesses until
    /// the quorum has cosigned it, then publishes it as final. Runs until
    /// the node shuts down; woken after each signed batch.
    pub async fn run_witnessing(self: Arc<Self>) {
        let Some(c) = self.collector.clone() else {
            return;
        };
        let retry = Duration::from_millis(self.cfg.witness.retry_ms.max(10));
        loop {
            let mut behind = false;
            for g in self.goal_list() {
                let Some(cp) = g.checkpoint.read().clone() else {
                    continue;
                };
                let final_size = g
                    .final_checkpoint
                    .read()
                    .as_ref()
                    .map_or(0, |f| f.checkpoint.size);
                if cp.checkpoint.size <= final_size {
                    continue;
                }
                let mut cp = cp;
                let size = cp.checkpoint.size;
                let gg = g.clone();
                let proof: ProofFrom = Arc::new(move |old: u64| -> Option<ConsistencyProof> {
                    gg.state.read().mmr().consistency_proof(old, size).ok()
                });
                let have = c.round(&mut cp, proof).await;
                if !c.policy().quorum_met(&have) {
                    behind = true;
                    continue;
                }
                let n = have.iter().filter(|h| **h).count();
                let put = self
                    .store
                    .put_meta(&final_key(&g.id), cp.to_canonical_bytes());
                let durable = tokio::task::spawn_blocking(move || put.and_then(|t| t.wait())).await;
                match durable {
                    Ok(Ok(())) => {
                        log_final(&g.id, size, &cp.checkpoint.root, n);
                        self.announce(&cp);
                        *g.final_checkpoint.write() = Some(cp);
                        g.witnessed.send_replace(size);
                        self.metrics.checkpoints_cosigned.inc();
                    }
                    other => {
                        warn!(goal = %g.id, result = ?other.map(|r| r.err()), "cosigned checkpoint not durable");
                        behind = true;
                    }
                }
            }
            if self.failed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            if behind {
                tokio::time::sleep(retry).await;
            } else {
                let _ = tokio::time::timeout(retry * 10, self.witness_wake.notified()).await;
            }
        }
    }

    /// As a mirror, follows each mirrored log's published checkpoint and
    /// copies and re-evaluates new entries as they appear, so that a
    /// cosignature request finds them already judged. Evidence and
    /// refusals are the same as on the request path. Runs until shutdown.
    pub async fn run_mirroring(self: Arc<Self>) {
        let Some(m) = self.witness.as_ref().and_then(|w| w.mirror()).cloned() else {
            return;
        };
        let every = Duration::from_millis(self.cfg.witness.retry_ms.max(10));
        loop {
            for origin in m.origins() {
                let Some(w) = self.witness.as_ref() else {
                    return;
                };
                let Some(key) = w.log_key(&origin).cloned() else {
                    continue;
                };
                if w.is_forked(&origin) {
                    continue;
                }
                if let Some((cp, have)) = m.pull(&origin, &key).await
                    && cp.checkpoint.size > have
                {
                    let mm = m.clone();
                    let r = tokio::task::spawn_blocking(move || mm.catch_up(&cp)).await;
                    if let Ok(Err(e)) = r {
                        warn!(origin = %origin, error = %e, "mirror could not follow the log");
                    }
                }
            }
            if self.failed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            // Woken early by a mirrored log's announcement over libp2p.
            let _ = tokio::time::timeout(every, self.mirror_wake.notified()).await;
        }
    }

    /// Waits (at most `witness.wait_ms`) until the entry at `index` is
    /// under a quorum-cosigned checkpoint; true when it is.
    pub async fn wait_witnessed(&self, goal: &str, index: u64) -> bool {
        let Ok(g) = self.goal(goal) else {
            return false;
        };
        let mut rx = g.witnessed.subscribe();
        let wait = rx.wait_for(|size| *size > index);
        let limit = Duration::from_millis(self.cfg.witness.wait_ms);
        matches!(tokio::time::timeout(limit, wait).await, Ok(Ok(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_follow_the_spec_encoding() {
        assert_eq!(tile_index_path(1_234_067), "x001/x234/067");
        assert_eq!(tile_index_path(0), "000");
        assert_eq!(
            parse_tile_path("0/x001/x234/067"),
            Some(TilePath::Hashes {
                level: 0,
                index: 1_234_067,
                width: 256
            })
        );
        assert_eq!(
            parse_tile_path("entries/005.p/17"),
            Some(TilePath::Entries {
                index: 5,
                width: 17
            })
        );
        assert_eq!(
            parse_tile_path("2/000.p/1"),
            Some(TilePath::Hashes {
                level: 2,
                index: 0,
                width: 1
            })
        );
    }

    #[test]
    fn other_spellings_of_a_tile_are_refused() {
        for bad in [
            "0/5",
            "+1/000",
            "0/000.p/+5",
            "0/0005",
            "0/x000/005",
            "0/001/002",
            "00/001",
            "0/001.p/0",
            "0/001.p/256",
            "0/001.p/07",
            "64/000",
            "x/000",
            "entries/x1/000",
        ] {
            assert_eq!(parse_tile_path(bad), None, "{bad}");
        }
    }
}
