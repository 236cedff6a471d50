//! The network task: one libp2p swarm, driven by commands from [`P2p`]
//! handles, serving sync requests through the node's [`SyncServer`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, noise, tcp, yamux};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::logs::Verdict;
use crate::protocol::{
    GOALS_TOPIC, IDENTIFY_PROTOCOL, KAD_PROTOCOL, MAX_ANNOUNCEMENT, SYNC_PROTOCOL, ServeError,
    SyncCodec, SyncRequest, SyncResponse, log_topic,
};
use crate::{Command, Event, P2pConfig, P2pError, PeerInfo, Shared, SyncServer, bump};

/// Most checkpoints one `Logs` answer may carry.
const MAX_LOGS_ANSWER: usize = 256;
/// Largest `Logs` answer read (256 notes with cosignatures).
const MAX_LOGS_ANSWER_BYTES: usize = 1 << 20;
/// Most sync requests served at once, all peers together; more are
/// answered `busy`.
const MAX_SERVING: usize = 256;
/// Most log topics followed.
const MAX_FOLLOWED: usize = 4096;
/// Peers remembered; past it, disconnected peers with a clean record are
/// forgotten.
const MAX_PEERS: usize = 10_000;

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
}

/// Scoring per topic: an invalid announcement costs a lot (one puts the
/// sender below the graylist threshold) and is remembered for minutes;
/// being quiet costs nothing (logs grow at their own pace).
fn topic_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    }
}

fn behaviour(key: &Keypair, cfg: &P2pConfig) -> Result<Behaviour, String> {
    let local = key.public().to_peer_id();
    let gcfg = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_ANNOUNCEMENT + 1024)
        .heartbeat_interval(Duration::from_millis(500))
        // One checkpoint, one message id: the same note announced twice is
        // one message.
        .message_id_fn(|m: &gossipsub::Message| {
            let mut h = Sha256::new();
            h.update(m.topic.as_str().as_bytes());
            h.update([0]);
            h.update(&m.data);
            gossipsub::MessageId::from(hex::encode(h.finalize()))
        })
        .build()
        .map_err(|e| e.to_string())?;
    let mut gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), gcfg)?;
    gossipsub.with_peer_score(
        gossipsub::PeerScoreParams {
            app_specific_weight: 1.0,
            ..Default::default()
        },
        gossipsub::PeerScoreThresholds::default(),
    )?;
    let mut kad = kad::Behaviour::with_config(
        local,
        kad::store::MemoryStore::new(local),
        kad::Config::new(KAD_PROTOCOL),
    );
    kad.set_mode(Some(kad::Mode::Server));
    Ok(Behaviour {
        identify: identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                .with_agent_version(cfg.agent.clone()),
        ),
        kad,
        gossipsub,
        sync: request_response::Behaviour::with_codec(
            SyncCodec {
                max_response: cfg.max_response_bytes,
            },
            [(SYNC_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout)
                .with_max_concurrent_streams(64),
        ),
    })
}

/// Builds the swarm, binds every listen address and starts the task.
pub(crate) async fn spawn(
    cfg: P2pConfig,
    secret: [u8; 32],
    server: Arc<dyn SyncServer>,
    shared: Arc<Shared>,
    cmd: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    stop: oneshot::Receiver<()>,
) -> Result<PeerId, P2pError> {
    let mut secret = secret;
    let key =
        Keypair::ed25519_from_bytes(&mut secret).map_err(|e| P2pError::Identity(e.to_string()))?;
    let local = key.public().to_peer_id();
    let c = cfg.clone();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_behaviour(|key| {
            behaviour(key, &c).map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_swarm_config(|s| s.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    let goals = IdentTopic::new(GOALS_TOPIC);
    let _ = swarm.behaviour_mut().gossipsub.subscribe(&goals);
    let _ = swarm
        .behaviour_mut()
        .gossipsub
        .set_topic_params(goals, topic_params());
    let mut waiting = HashSet::new();
    for a in &cfg.listen {
        let id = swarm.listen_on(a.clone()).map_err(|e| P2pError::Listen {
            addr: a.to_string(),
            message: e.to_string(),
        })?;
        waiting.insert(id);
    }
    // Bound before returning, so the caller can publish its addresses.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !waiting.is_empty() {
        let ev = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| P2pError::Listen {
                addr: format!("{:?}", cfg.listen),
                message: "not bound within 10 s".into(),
            })?;
        match ev {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                waiting.remove(&listener_id);
                shared.listen.lock().push(address);
            }
            SwarmEvent::ListenerClosed {
                reason: Err(e),
                addresses,
                ..
            } => {
                return Err(P2pError::Listen {
                    addr: format!("{addresses:?}"),
                    message: e.to_string(),
                });
            }
            SwarmEvent::ListenerError { error, .. } => {
                return Err(P2pError::Listen {
                    addr: format!("{:?}", cfg.listen),
                    message: error.to_string(),
                });
            }
            _ => {}
        }
    }
    info!(peer_id = %local, listen = ?shared.listen.lock(), "libp2p listening");
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let limiter = ian_ratelimit::RateLimiter::new(
        cfg.requests_per_sec,
        u64::from(cfg.request_burst),
        MAX_PEERS,
    );
    let mut task = Task {
        swarm,
        cfg,
        server,
        shared,
        events,
        serving: Arc::default(),
        pending: HashMap::new(),
        asked_logs: HashMap::new(),
        limiter,
        announced: HashSet::new(),
        followed: HashSet::new(),
        done_tx,
    };
    for a in task.cfg.bootstrap.clone() {
        task.add_bootstrap(a);
    }
    tokio::spawn(task.run(cmd, done_rx, stop));
    Ok(local)
}

struct Task {
    swarm: Swarm<Behaviour>,
    cfg: P2pConfig,
    server: Arc<dyn SyncServer>,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Event>,
    /// Sync requests being served on blocking threads, all peers.
    serving: Arc<std::sync::atomic::AtomicUsize>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<SyncResponse, String>>>,
    /// Our own `Logs` requests, by id: the answer is judged here.
    asked_logs: HashMap<OutboundRequestId, PeerId>,
    /// Sync requests per peer (GCRA, at most `MAX_PEERS` peers kept).
    limiter: ian_ratelimit::RateLimiter<PeerId>,
    announced: HashSet<String>,
    followed: HashSet<String>,
    done_tx: mpsc::UnboundedSender<(ResponseChannel<SyncResponse>, SyncResponse)>,
}

type Done = (ResponseChannel<SyncResponse>, SyncResponse);

impl Task {
    async fn run(
        mut self,
        mut cmd: mpsc::Receiver<Command>,
        mut done: mpsc::UnboundedReceiver<Done>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut discovery = tokio::time::interval(self.cfg.discovery_interval);
        let mut scores = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                c = cmd.recv() => match c {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                Some((channel, resp)) = done.recv() => {
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, resp);
                }
                _ = discovery.tick() => self.discover(),
                _ = scores.tick() => self.refresh_scores(),
                _ = &mut stop => break,
            }
        }
        debug!("libp2p task stopped");
    }

    fn peer(&self, p: PeerId) -> parking_lot::MappedMutexGuard<'_, PeerInfo> {
        parking_lot::MutexGuard::map(self.shared.peers.lock(), |m| {
            m.entry(p).or_insert_with(|| PeerInfo {
                peer_id: p.to_string(),
                ..PeerInfo::default()
            })
        })
    }

    fn add_bootstrap(&mut self, a: Multiaddr) {
        if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = a.iter().last() {
            let mut base = a.clone();
            base.pop();
            self.swarm.behaviour_mut().kad.add_address(&peer, base);
        }
        if let Err(e) = self.swarm.dial(a.clone()) {
            debug!(addr = %a, error = %e, "bootstrap dial failed");
        }
    }

    fn discover(&mut self) {
        for a in self.cfg.bootstrap.clone() {
            let connected = matches!(a.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(p)) if self.swarm.is_connected(&p));
            if !connected {
                let _ = self.swarm.dial(a);
            }
        }
        if self.swarm.connected_peers().next().is_some() {
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        // Anti-entropy: an announcement sent before a peer subscribed is
        // not repeated, so each peer is asked for its logs again.
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in peers {
            self.ask_logs(p);
        }
    }

    fn refresh_scores(&mut self) {
        let gs = &self.swarm.behaviour().gossipsub;
        let mut peers = self.shared.peers.lock();
        for (id, p) in peers.iter_mut() {
            if let Some(s) = gs.peer_score(id) {
                p.score = s;
            }
        }
    }

    fn follow(&mut self, origin: &str) {
        if self.followed.len() < MAX_FOLLOWED && self.followed.insert(origin.to_string()) {
            let t = IdentTopic::new(log_topic(origin));
            let gs = &mut self.swarm.behaviour_mut().gossipsub;
            let _ = gs.subscribe(&t);
            let _ = gs.set_topic_params(t, topic_params());
        }
    }

    fn unfollow(&mut self, origin: &str) {
        if self.followed.remove(origin) {
            let t = IdentTopic::new(log_topic(origin));
            let _ = self.swarm.behaviour_mut().gossipsub.unsubscribe(&t);
        }
    }

    fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(topic), data)
        {
            Ok(_) => Ok(()),
            // Nobody listening yet: peers catch up with `Logs` on connect.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(()),
            Err(gossipsub::PublishError::Duplicate) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Announce(cp) => {
                let origin = cp.checkpoint.origin.clone();
                let data = cp.to_text().into_bytes();
                if self.announced.insert(origin.clone()) {
                    let _ = self.publish(GOALS_TOPIC, data.clone());
                }
                match self.publish(&log_topic(&origin), data) {
                    Ok(()) => bump(&self.shared.counters.announced),
                    Err(e) => debug!(origin = %origin, error = %e, "announcement not sent"),
                }
            }
            Command::Publish { topic, data, done } => {
                let r = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic), data)
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                let _ = done.send(r);
            }
            Command::Request { peer, req, done } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
                self.pending.insert(id, done);
            }
            Command::Dial(a) => {
                if let Err(e) = self.swarm.dial(a.clone()) {
                    debug!(addr = %a, error = %e, "dial failed");
                }
            }
            Command::Follow(origin) => self.follow(&origin),
            Command::Strike(peer) => {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .set_application_score(&peer, -100.0);
            }
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.peer(peer_id).connected = true;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.peer(peer_id).connected = false;
                let mut peers = self.shared.peers.lock();
                if peers.len() > MAX_PEERS {
                    peers.retain(|_, p| p.connected || p.bad_answers > 0 || p.invalid_messages > 0);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut l = self.shared.listen.lock();
                if !l.contains(&address) {
                    l.push(address);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.on_identified(peer_id, info),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer,
                addresses,
                ..
            })) if peer != *self.swarm.local_peer_id() && !self.swarm.is_connected(&peer) => {
                let opts = DialOpts::peer_id(peer)
                    .addresses(addresses.into_vec())
                    .build();
                let _ = self.swarm.dial(opts);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_announcement(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync(ev),
            _ => {}
        }
    }

    fn on_identified(&mut self, peer: PeerId, info: identify::Info) {
        if info.protocol_version != IDENTIFY_PROTOCOL {
            debug!(peer = %peer, version = %info.protocol_version, "not an IAN node; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        {
            let mut p = self.peer(peer);
            p.agent = info.agent_version.clone();
            p.addrs = info.listen_addrs.iter().map(ToString::to_string).collect();
        }
        for a in info.listen_addrs {
            self.swarm.behaviour_mut().kad.add_address(&peer, a);
        }
        // Catch up with what the peer serves (gossip only carries what is
        // new from now on).
        self.ask_logs(peer);
    }

    fn ask_logs(&mut self, peer: PeerId) {
        if !self.asked_logs.values().any(|p| *p == peer) {
            let id = self
                .swarm
                .behaviour_mut()
                .sync
                .send_request(&peer, SyncRequest::Logs);
            self.asked_logs.insert(id, peer);
        }
    }

    fn on_announcement(&mut self, via: PeerId, id: gossipsub::MessageId, m: gossipsub::Message) {
        let Some(source) = m.source else {
            self.report(&id, &via, MessageAcceptance::Reject, "unsigned message");
            return;
        };
        let verdict =
            self.shared
                .logs
                .lock()
                .hear(Some(m.topic.as_str()), &m.data, &source, Some(source));
        self.apply(verdict, source, Some((id, via)));
    }

    fn report(&mut self, id: &gossipsub::MessageId, via: &PeerId, a: MessageAcceptance, why: &str) {
        if matches!(a, MessageAcceptance::Reject) {
            bump(&self.shared.counters.invalid_messages);
            self.peer(*via).invalid_messages += 1;
            warn!(peer = %via, why, "invalid announcement rejected");
        }
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, via, a);
    }

    /// Acts on a judged checkpoint: forwards or drops a gossip message,
    /// follows new logs, tells the node.
    fn apply(
        &mut self,
        verdict: Verdict,
        from: PeerId,
        gossip: Option<(gossipsub::MessageId, PeerId)>,
    ) {
        let accept = |t: &mut Self, a: MessageAcceptance, why: &str| {
            if let Some((id, via)) = &gossip {
                t.report(id, via, a, why);
            } else if matches!(a, MessageAcceptance::Reject) {
                bump(&t.shared.counters.invalid_messages);
                t.peer(from).invalid_messages += 1;
                warn!(peer = %from, why, "invalid checkpoint in a Logs answer");
            }
        };
        match verdict {
            Verdict::Newer(cp) => {
                accept(self, MessageAcceptance::Accept, "");
                bump(&self.shared.counters.heard);
                self.follow(&cp.checkpoint.origin);
                let _ = self.events.send(Event::Checkpoint {
                    checkpoint: cp,
                    from,
                });
            }
            Verdict::Fork { known, heard } => {
                accept(self, MessageAcceptance::Accept, "");
                self.unfollow(&heard.checkpoint.origin);
                warn!(origin = %heard.checkpoint.origin, size = heard.checkpoint.size, "a log signed two trees of one size");
                let _ = self.events.send(Event::Fork { known, heard, from });
            }
            Verdict::Ignore(why) => accept(self, MessageAcceptance::Ignore, &why),
            Verdict::Reject(why) => accept(self, MessageAcceptance::Reject, &why),
        }
    }

    fn on_sync(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        use request_response::{Event as E, Message as M};
        match ev {
            E::Message {
                peer,
                message: M::Request {
                    request, channel, ..
                },
                ..
            } => self.on_request(peer, request, channel),
            E::Message {
                peer,
                message:
                    M::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(done) = self.pending.remove(&request_id) {
                    let _ = done.send(Ok(response));
                } else if self.asked_logs.remove(&request_id).is_some() {
                    self.on_logs(peer, response);
                }
            }
            E::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(done) = self.pending.remove(&request_id) {
                    let _ = done.send(Err(error.to_string()));
                }
                self.asked_logs.remove(&request_id);
            }
            _ => {}
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        req: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if self.limiter.check(&peer).is_err() {
            bump(&self.shared.counters.rate_limited);
            self.peer(peer).rate_limited += 1;
            let why = format!(
                "more than {} requests/s (burst {}); slow down",
                self.cfg.requests_per_sec, self.cfg.request_burst
            );
            return self.refuse(channel, "rate_limited", why);
        }
        use std::sync::atomic::Ordering::SeqCst;
        if self.serving.fetch_add(1, SeqCst) >= MAX_SERVING {
            self.serving.fetch_sub(1, SeqCst);
            let why = format!("{MAX_SERVING} requests are being served; try again");
            return self.refuse(channel, "busy", why);
        }
        bump(&self.shared.counters.served);
        self.peer(peer).served += 1;
        let server = self.server.clone();
        let tx = self.done_tx.clone();
        let serving = self.serving.clone();
        tokio::task::spawn_blocking(move || {
            let resp = server.serve(&peer, &req);
            serving.fetch_sub(1, SeqCst);
            let _ = tx.send((channel, resp));
        });
    }

    /// Answers a request with an error at once, without the node.
    fn refuse(&mut self, channel: ResponseChannel<SyncResponse>, code: &str, message: String) {
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, Err(ServeError::new(code, message)));
    }

    fn on_logs(&mut self, peer: PeerId, resp: SyncResponse) {
        if resp.as_ref().is_ok_and(|b| b.len() > MAX_LOGS_ANSWER_BYTES) {
            debug!(peer = %peer, "Logs answer over {MAX_LOGS_ANSWER_BYTES} bytes; ignored");
            return;
        }
        let texts: Vec<String> = match resp.map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                debug!(peer = %peer, error = %e, "Logs answer is not a JSON array of notes");
                return;
            }
            Err(e) => {
                debug!(peer = %peer, error = %e, "Logs refused");
                return;
            }
        };
        for t in texts.into_iter().take(MAX_LOGS_ANSWER) {
            let verdict = self
                .shared
                .logs
                .lock()
                .hear(None, t.as_bytes(), &peer, Some(peer));
            self.apply(verdict, peer, None);
        }
    }
}
