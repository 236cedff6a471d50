//! IAN's peer-to-peer layer, on rust-libp2p.
//!
//! A node's libp2p identity is its Ed25519 node key, the key that signs its
//! checkpoints, so a peer id names a log signer and a gossip message's
//! signature says which log key sent it. Transport: TCP, Noise, Yamux.
//! Discovery: identify, and Kademlia (protocol `/ian/kad/1.0.0`) seeded with
//! the configured bootstrap peers. Announcements: gossipsub, one topic per
//! log (`ian/log/1/<origin>`) plus `ian/goals/1` for new logs, carrying only
//! signed checkpoint notes, validated before they are forwarded
//! ([`logs::Logs::hear`]); a sender of invalid ones is scored down by
//! gossipsub's peer scoring. Sync: the request-response protocol
//! `/ian/sync/1` ([`protocol`]) for checkpoints, tiles, entry bundles,
//! blobs, packs, manifests and consistency proofs, with a size limit per
//! response, a timeout per request and a token bucket per peer.
//!
//! This crate moves bytes and checks signatures; it does not judge entries.
//! What it hears goes to the node as [`Event`]s; what it serves comes from
//! the node's [`SyncServer`].
//!
//! Architecture Invariant: nothing here trusts a peer's bytes beyond a
//! signature check: checkpoints are verified under the origin's key before
//! they are forwarded or reported, and sync answers are handed to the
//! caller, who checks them against hashes and signed roots.

pub mod logs;
pub mod protocol;
mod swarm;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ian_core::checkpoint::SignedCheckpoint;
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub use protocol::{ServeError, SyncRequest, SyncResponse};

/// How the node's libp2p side is set up. Every field has a config key in
/// the node (`p2p.*`, docs/OPERATOR.md).
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/7879`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and to seed Kademlia with; each ends in
    /// `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Upper bound on one sync request, answer included.
    pub request_timeout: Duration,
    /// Largest sync answer accepted (a component is the largest thing).
    pub max_response_bytes: u64,
    /// Sync requests a peer may make per second, sustained.
    pub requests_per_sec: f64,
    /// Sync requests a peer may make in a burst.
    pub request_burst: u32,
    /// How often to refresh Kademlia and redial bootstrap peers.
    pub discovery_interval: Duration,
    /// identify's agent string, e.g. `ian-host/0.1.0 ian.example.org`.
    pub agent: String,
    /// Log keys known before the first peer is heard: the node's own logs
    /// and the logs it witnesses (origin, Ed25519 key).
    pub pinned: Vec<(String, [u8; 32])>,
}

/// Serves sync requests from the node's own data. Called on a blocking
/// thread (it reads the store).
pub trait SyncServer: Send + Sync + 'static {
    /// The answer to `req` from `peer`.
    fn serve(&self, peer: &PeerId, req: &SyncRequest) -> SyncResponse;
}

/// What the network tells the node.
#[derive(Debug, Clone)]
pub enum Event {
    /// A newer checkpoint of a log, verified under the log's key.
    Checkpoint {
        /// The checkpoint.
        checkpoint: SignedCheckpoint,
        /// Who sent it.
        from: PeerId,
    },
    /// Two checkpoints of one size with different roots, both verified
    /// under the log's key: fork evidence. The log is no longer followed.
    Fork {
        /// The checkpoint believed before.
        known: SignedCheckpoint,
        /// The conflicting one.
        heard: SignedCheckpoint,
        /// Who sent the second.
        from: PeerId,
    },
}

/// Why the network layer could not start or a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    /// The node key is not a usable Ed25519 secret.
    #[error("the node key cannot be a libp2p identity: {0}")]
    Identity(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        message: String,
    },
    /// The transport could not be built.
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
    /// The peer answered with an error.
    #[error("peer {peer} refused: {error}")]
    Refused {
        /// The peer.
        peer: String,
        /// Its answer.
        error: ServeError,
    },
    /// No answer (timeout, connection lost, protocol not spoken).
    #[error("peer {peer} did not answer: {message}")]
    NoAnswer {
        /// The peer.
        peer: String,
        /// Why.
        message: String,
    },
    /// No connected peer serves the log.
    #[error("no peer serves {0}")]
    NoHolder(String),
    /// The network task stopped.
    #[error("the network task has stopped")]
    Stopped,
}

/// One peer as seen from here.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeerInfo {
    /// Its id.
    pub peer_id: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// identify's agent string (the node's version and name).
    pub agent: String,
    /// Addresses it listens on, as it told us.
    pub addrs: Vec<String>,
    /// Its Ed25519 key, hex (the key its logs sign with).
    pub public_key: String,
    /// Verifier keys (c2sp.org/signed-note vkeys) of the logs it signs.
    pub log_vkeys: Vec<String>,
    /// gossipsub's score of it.
    pub score: f64,
    /// Invalid announcements it sent.
    pub invalid_messages: u64,
    /// Sync requests of its refused by the rate limit.
    pub rate_limited: u64,
    /// Sync requests of its served.
    pub served: u64,
    /// Answers of its that failed a hash or root check: it is not asked
    /// again.
    pub bad_answers: u64,
}

/// One log as known here.
#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    /// The origin.
    pub origin: String,
    /// Its verifier key.
    pub vkey: String,
    /// The newest checkpoint heard, as a note.
    pub checkpoint: String,
    /// Its size.
    pub size: u64,
    /// Peers that serve it.
    pub holders: Vec<String>,
    /// Whether it forked.
    pub forked: bool,
}

/// The network as seen from here: `/api/v1/peers`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// This node's peer id.
    pub peer_id: String,
    /// Addresses it listens on.
    pub listen: Vec<String>,
    /// Peers known, connected or not.
    pub peers: Vec<PeerInfo>,
    /// Logs heard of.
    pub logs: Vec<LogView>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Announcements rejected by validation.
    pub invalid_messages: AtomicU64,
    /// Sync requests refused by the per-peer rate limit.
    pub rate_limited: AtomicU64,
    /// Sync requests served.
    pub served: AtomicU64,
    /// Checkpoints announced by this node.
    pub announced: AtomicU64,
    /// Checkpoints heard and believed.
    pub heard: AtomicU64,
}

/// State shared between the network task and handles.
#[derive(Default)]
struct Shared {
    peers: Mutex<BTreeMap<PeerId, PeerInfo>>,
    logs: Mutex<logs::Logs>,
    listen: Mutex<Vec<Multiaddr>>,
    counters: Counters,
}

enum Command {
    Announce(SignedCheckpoint),
    Publish {
        topic: String,
        data: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Request {
        peer: PeerId,
        req: SyncRequest,
        done: oneshot::Sender<Result<SyncResponse, String>>,
    },
    Dial(Multiaddr),
    Follow(String),
    Strike(PeerId),
}

/// A handle on the running network task. Cheap to clone; the task stops
/// when the last handle is dropped.
#[derive(Clone)]
pub struct P2p {
    local: PeerId,
    cmd: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    _stop: Arc<oneshot::Sender<()>>,
}

impl P2p {
    /// Starts the network on the current tokio runtime with the node's
    /// Ed25519 secret key. Returns once every listen address is bound.
    pub async fn start(
        cfg: P2pConfig,
        secret: [u8; 32],
        server: Arc<dyn SyncServer>,
    ) -> Result<(P2p, mpsc::UnboundedReceiver<Event>), P2pError> {
        let shared = Arc::new(Shared::default());
        {
            let mut logs = shared.logs.lock();
            for (origin, key) in &cfg.pinned {
                logs.pin(origin, *key);
            }
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        // Unbounded: events are only made for checkpoints that verified and
        // are newer (so at most a few per log per batch), and a fork must
        // never be dropped.
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let local =
            swarm::spawn(cfg, secret, server, shared.clone(), cmd_rx, ev_tx, stop_rx).await?;
        Ok((
            P2p {
                local,
                cmd: cmd_tx,
                shared,
                _stop: Arc::new(stop_tx),
            },
            ev_rx,
        ))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.local
    }

    /// The addresses bound, with `/p2p/<peer id>`, ready for another
    /// node's bootstrap list.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.shared
            .listen
            .lock()
            .iter()
            .map(|a| a.clone().with_p2p(self.local).unwrap_or_else(|a| a))
            .collect()
    }

    /// Announces one of this node's checkpoints on its log's topic (and,
    /// for a log not announced before, on the goals topic). Never waits:
    /// announcements are dropped, not queued without bound, when the
    /// network task is behind; the next checkpoint supersedes them.
    pub fn announce(&self, cp: &SignedCheckpoint) {
        let _ = self.cmd.try_send(Command::Announce(cp.clone()));
    }

    /// Publishes raw bytes on a topic. For tools and tests that speak the
    /// protocol; a node announces with [`P2p::announce`]. Fails when no
    /// peer is subscribed to the topic yet.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.cmd
            .send(Command::Publish {
                topic: topic.into(),
                data,
                done,
            })
            .await
            .map_err(|_| "stopped".to_string())?;
        rx.await.map_err(|_| "stopped".to_string())?
    }

    /// Subscribes to a log's topic.
    pub fn follow(&self, origin: &str) {
        let _ = self.cmd.try_send(Command::Follow(origin.to_string()));
    }

    /// Pins the key of a log (the operator's configured logs): a peer
    /// cannot claim the origin under another key.
    pub fn pin(&self, origin: &str, key: [u8; 32]) {
        self.shared.logs.lock().pin(origin, key);
        self.follow(origin);
    }

    /// Dials an address.
    pub fn dial(&self, addr: Multiaddr) {
        let _ = self.cmd.try_send(Command::Dial(addr));
    }

    /// Asks `peer` for something.
    pub async fn request(&self, peer: PeerId, req: SyncRequest) -> Result<Vec<u8>, P2pError> {
        let (done, rx) = oneshot::channel();
        self.cmd
            .send(Command::Request { peer, req, done })
            .await
            .map_err(|_| P2pError::Stopped)?;
        match rx.await.map_err(|_| P2pError::Stopped)? {
            Ok(Ok(b)) => Ok(b),
            Ok(Err(error)) => Err(P2pError::Refused {
                peer: peer.to_string(),
                error,
            }),
            Err(message) => Err(P2pError::NoAnswer {
                peer: peer.to_string(),
                message,
            }),
        }
    }

    /// Peers that serve `origin` and have not given a bad answer: the
    /// log's own node first (the peer whose key is the log's key; it serves
    /// the log even before it publishes a checkpoint), then other
    /// connected peers that announced it or named it in a `Logs` answer,
    /// then the rest.
    pub fn holders(&self, origin: &str) -> Vec<PeerId> {
        let logs = self.shared.logs.lock();
        let peers = self.shared.peers.lock();
        let mut all: std::collections::BTreeSet<PeerId> = logs
            .by_origin
            .get(origin)
            .map(|l| l.holders.clone())
            .unwrap_or_default();
        if let Some(key) = logs.key_of(origin) {
            all.extend(
                peers
                    .iter()
                    .filter(|(id, i)| i.connected && logs::peer_key(id) == Some(key))
                    .map(|(id, _)| *id),
            );
        }
        let key = logs.key_of(origin);
        let mut out: Vec<(bool, bool, PeerId)> = all
            .into_iter()
            .filter(|p| peers.get(p).is_none_or(|i| i.bad_answers == 0))
            .map(|p| {
                let owner = key.is_some() && logs::peer_key(&p) == key;
                (!owner, !peers.get(&p).is_some_and(|i| i.connected), p)
            })
            .collect();
        out.sort();
        out.into_iter().map(|(_, _, p)| p).collect()
    }

    /// The newest checkpoint heard of `origin` (verified under its key),
    /// unless the log forked.
    pub fn latest(&self, origin: &str) -> Option<SignedCheckpoint> {
        let logs = self.shared.logs.lock();
        logs.by_origin
            .get(origin)
            .filter(|l| !l.forked)
            .map(|l| l.checkpoint.clone())
    }

    /// Marks a log forked (evidence already stored): not followed.
    pub fn mark_forked(&self, origin: &str) {
        self.shared.logs.lock().mark_forked(origin);
    }

    /// Records that `peer` gave an answer that failed a hash or root
    /// check: it is not asked for log data again and gossipsub scores it
    /// down.
    pub fn strike(&self, peer: PeerId) {
        self.shared
            .peers
            .lock()
            .entry(peer)
            .or_insert_with(|| PeerInfo {
                peer_id: peer.to_string(),
                ..PeerInfo::default()
            })
            .bad_answers += 1;
        let _ = self.cmd.try_send(Command::Strike(peer));
    }

    /// The network as seen from here.
    pub fn status(&self) -> Status {
        let logs = self.shared.logs.lock();
        let mut peers: Vec<PeerInfo> = self.shared.peers.lock().values().cloned().collect();
        for p in &mut peers {
            let Ok(id) = p.peer_id.parse::<PeerId>() else {
                continue;
            };
            let Some(key) = logs::peer_key(&id) else {
                continue;
            };
            p.public_key = hex::encode(key);
            p.log_vkeys = logs
                .by_origin
                .iter()
                .filter(|(_, l)| l.key == key)
                .filter_map(|(o, _)| logs::origin_verifier(o, key).map(|v| v.to_vkey()))
                .collect();
        }
        Status {
            peer_id: self.local.to_string(),
            listen: self
                .listen_addrs()
                .iter()
                .map(ToString::to_string)
                .collect(),
            peers,
            logs: logs
                .by_origin
                .iter()
                .map(|(o, l)| LogView {
                    origin: o.clone(),
                    vkey: logs::origin_verifier(o, l.key)
                        .map(|v| v.to_vkey())
                        .unwrap_or_default(),
                    checkpoint: l.checkpoint.to_text(),
                    size: l.checkpoint.checkpoint.size,
                    holders: l.holders.iter().map(ToString::to_string).collect(),
                    forked: l.forked,
                })
                .collect(),
        }
    }

    /// Counters for `/metrics`.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Connected peers.
    pub fn connected(&self) -> usize {
        self.shared
            .peers
            .lock()
            .values()
            .filter(|p| p.connected)
            .count()
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
