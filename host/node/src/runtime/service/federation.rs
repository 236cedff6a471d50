//! The node on the libp2p network (`ian-p2p`): it serves its logs to
//! peers, announces each published checkpoint, hears other logs'
//! checkpoints, wakes the mirror when a mirrored log grows, and keeps fork
//! evidence when a log's key signs two trees of one size.
//!
//! Architecture Invariant: what this node serves over `/ian/sync/1` is
//! byte for byte what its HTTP API serves for the same thing, and never
//! beyond the published checkpoint; one verifier checks both.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ian_core::checkpoint::SignedCheckpoint;
use ian_core::note::hash_to_base64;
use ian_p2p::{Event, Multiaddr, P2p, P2pConfig, PeerId, ServeError, SyncRequest, SyncResponse};
use tracing::{info, warn};

use super::{Node, NodeError};
use crate::runtime::error::ApiError;
use crate::runtime::evidence::{Evidence, EvidenceLog};

fn refused(e: ApiError) -> ServeError {
    ServeError::new(e.code.to_string(), e.message)
}

fn json<T: serde::Serialize>(v: &T) -> SyncResponse {
    serde_json::to_vec(v).map_err(|e| ServeError::new("internal", e.to_string()))
}

/// The libp2p settings from the node's `[p2p]` keys.
pub fn p2p_config(
    cfg: &crate::runtime::config::Config,
    name: &str,
    pinned: Vec<(String, [u8; 32])>,
) -> Result<P2pConfig, NodeError> {
    let p = &cfg.p2p;
    let addrs = |key: &str, text: &str| -> Result<Vec<Multiaddr>, NodeError> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Multiaddr>()
                    .map_err(|e| NodeError::Config(format!("{key}: `{s}` is not a multiaddr: {e}")))
            })
            .collect()
    };
    let bootstrap = addrs("p2p.bootstrap", &p.bootstrap)?;
    if let Some(b) = bootstrap
        .iter()
        .find(|b| !matches!(b.iter().last(), Some(ian_p2p::Protocol::P2p(_))))
    {
        return Err(NodeError::Config(format!(
            "p2p.bootstrap: `{b}` must end in /p2p/<peer id> (the peer's id is in its `ian-host peers` output and its <data_dir>/node.p2p)"
        )));
    }
    Ok(P2pConfig {
        listen: addrs("p2p.listen", &p.listen)?,
        bootstrap,
        request_timeout: Duration::from_millis(p.request_timeout_ms),
        max_response_bytes: p.max_response_bytes,
        requests_per_sec: p.requests_per_sec,
        request_burst: p.request_burst as u32,
        discovery_interval: Duration::from_millis(p.discovery_ms),
        agent: format!("ian-host/{} {name}", env!("CARGO_PKG_VERSION")),
        pinned,
    })
}

/// Answers peers' sync requests from the node (held weakly: the network
/// task must not keep a stopped node alive).
struct NodeSync(Weak<Node>);

impl ian_p2p::SyncServer for NodeSync {
    fn serve(&self, _peer: &PeerId, req: &SyncRequest) -> SyncResponse {
        match self.0.upgrade() {
            Some(n) => n.serve_sync(req),
            None => Err(ServeError::new("stopping", "the node is shutting down")),
        }
    }
}

impl Node {
    /// The node's evidence records.
    pub fn evidence(&self) -> &Arc<EvidenceLog> {
        &self.evidence
    }

    /// The libp2p network, when started.
    pub fn p2p(&self) -> Option<&P2p> {
        self.p2p.get()
    }

    /// Announces a published checkpoint to peers (no-op without libp2p).
    pub(super) fn announce(&self, cp: &SignedCheckpoint) {
        if let Some(p) = self.p2p.get() {
            p.announce(cp);
        }
    }

    /// The goal id of one of this node's origins.
    fn own_goal<'a>(&self, origin: &'a str) -> Result<&'a str, ServeError> {
        origin
            .strip_prefix(self.name.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| {
                ServeError::new("unknown_log", format!("this node does not serve {origin}"))
            })
    }

    /// One `/ian/sync/1` answer: the bytes the HTTP API serves for the same
    /// thing.
    pub fn serve_sync(&self, req: &SyncRequest) -> SyncResponse {
        match req {
            SyncRequest::Logs => {
                let notes: Vec<String> = self
                    .goal_list()
                    .iter()
                    .filter_map(|g| self.published_checkpoint(&g.id).ok())
                    .map(|c| c.to_text())
                    .collect();
                json(&notes)
            }
            SyncRequest::Checkpoint { origin } => Ok(self
                .published_checkpoint(self.own_goal(origin)?)
                .map_err(refused)?
                .to_text()
                .into_bytes()),
            SyncRequest::Tile { origin, path } => {
                self.tile(self.own_goal(origin)?, path).map_err(refused)
            }
            SyncRequest::Blob { hash } => self.blob(hash).map_err(refused),
            SyncRequest::Pack { hash } => json(&self.pack(hash).map_err(refused)?),
            SyncRequest::Manifest { origin } => {
                json(&self.manifest(self.own_goal(origin)?).map_err(refused)?)
            }
            SyncRequest::Consistency { origin, old, new } => {
                let v = self
                    .consistency(self.own_goal(origin)?, *old, Some(*new))
                    .map_err(refused)?;
                let mut out = String::new();
                for h in &v.proof.hashes {
                    out.push_str(&hash_to_base64(h));
                    out.push('\n');
                }
                Ok(out.into_bytes())
            }
        }
    }

    /// Records that the log `known.origin` signed two trees of one size,
    /// and stops following it as a witness. Only for logs this node
    /// witnesses: their key is the operator's, so both notes are checked
    /// again under it here. For any other log the key was only learned
    /// from the network, and anyone can mint a key, a name and two notes:
    /// that is not worth a durable record (the log is still dropped, and
    /// shown as forked in `/api/v1/peers`).
    fn record_fork(&self, known: SignedCheckpoint, heard: SignedCheckpoint, from: PeerId) {
        let origin = heard.checkpoint.origin.clone();
        let size = heard.checkpoint.size;
        let Some(key) = self.witness().and_then(|w| w.log_key(&origin)) else {
            warn!(origin = %origin, size, peer = %from, "a log this node does not witness signed two trees of one size; not followed");
            return;
        };
        if known.verify(key).is_err() || heard.verify(key).is_err() {
            return;
        }
        self.evidence.record(Evidence {
            kind: "fork".into(),
            origin: origin.clone(),
            index: None,
            receipt: None,
            detail: format!(
                "{origin} signed two trees of size {size}: roots {} and {} (the second announced by peer {from})",
                known.checkpoint.root, heard.checkpoint.root
            ),
            checkpoint: heard,
            conflicting: Some(known),
            differences: Vec::new(),
            served_by: None,
        });
        if let Some(w) = self.witness() {
            w.mark_forked(&origin);
        }
    }
}

/// Starts the libp2p network for `node`: pins the keys of its own and its
/// witnessed logs, binds, announces every published checkpoint, and
/// handles what peers announce until the node stops. Writes the listen
/// addresses (with `/p2p/<peer id>`) to `<data_dir>/node.p2p` for tools
/// and other nodes' bootstrap lists.
pub async fn start_p2p(node: &Arc<Node>) -> Result<(), NodeError> {
    let own = node.public_key().0;
    let mut pinned: Vec<(String, [u8; 32])> = node
        .goal_list()
        .iter()
        .map(|g| (ian_core::checkpoint::log_origin(node.name(), &g.id), own))
        .collect();
    if let Some(w) = node.witness() {
        pinned.extend(
            w.origins()
                .into_iter()
                .filter_map(|o| w.log_key(&o).map(|k| (o.clone(), k.key.0))),
        );
    }
    let cfg = p2p_config(node.config(), node.name(), pinned.clone())?;
    let secret = node.signing.to_bytes();
    let server = Arc::new(NodeSync(Arc::downgrade(node)));
    let (p2p, events) = P2p::start(cfg, secret, server)
        .await
        .map_err(|e| NodeError::Listen {
            addr: node.config().p2p.listen.clone(),
            message: e.to_string(),
        })?;
    for (origin, _) in &pinned {
        p2p.follow(origin);
    }
    if let Some(w) = node.witness() {
        for origin in w.origins() {
            if w.is_forked(&origin) {
                p2p.mark_forked(&origin);
            }
        }
        if let Some(m) = w.mirror() {
            m.set_p2p(p2p.clone());
        }
    }
    let _ = node.p2p.set(p2p.clone());
    for g in node.goal_list() {
        if let Ok(cp) = node.published_checkpoint(&g.id) {
            p2p.announce(&cp);
        }
    }
    let addrs: Vec<String> = p2p.listen_addrs().iter().map(ToString::to_string).collect();
    let file = node.data_dir().join("node.p2p");
    std::fs::write(&file, addrs.join("\n") + "\n").map_err(|e| NodeError::DataDir {
        path: file,
        message: e.to_string(),
    })?;
    info!(peer_id = %p2p.peer_id(), listen = ?addrs, "libp2p started");
    tokio::spawn(run_events(Arc::downgrade(node), events));
    Ok(())
}

async fn run_events(node: Weak<Node>, mut events: tokio::sync::mpsc::UnboundedReceiver<Event>) {
    while let Some(ev) = events.recv().await {
        let Some(node) = node.upgrade() else {
            return;
        };
        match ev {
            Event::Checkpoint { checkpoint, .. } => {
                let mirrored = node
                    .witness()
                    .and_then(|w| w.mirror())
                    .is_some_and(|m| m.mirrors(&checkpoint.checkpoint.origin));
                if mirrored {
                    node.mirror_wake.notify_one();
                }
            }
            Event::Fork { known, heard, from } => {
                let n = node.clone();
                let done =
                    tokio::task::spawn_blocking(move || n.record_fork(known, heard, from)).await;
                if done.is_err() {
                    warn!("recording fork evidence failed");
                }
            }
        }
    }
}
