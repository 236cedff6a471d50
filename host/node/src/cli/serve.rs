//! `ian-host serve`: load config, open the node, serve HTTP until SIGINT or
//! SIGTERM, then drain: stop accepting, let every queued contribution reach
//! the disk (or never be acknowledged), stop the workers, close the store.
//!
//! Connections are accepted by [`crate::api::listener`] (caps and
//! timeouts), not by `axum::serve`.

use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::api::http::{AppState, app};
use crate::api::listener::{self, ListenerSettings};
use crate::cli::args::ServeArgs;
use crate::cli::common::CommandError;
use crate::cli::telemetry::{self, LogFormat};
use crate::runtime::config::Config;
use crate::runtime::service::{Node, NodeError};

/// A configuration from the file `path` (when given) and `lookup` for the
/// `IAN_*` variables (flags answer for the variables they override).
pub fn config_from(
    path: Option<&std::path::Path>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, CommandError> {
    let text = match path {
        Some(p) => Some((
            p.to_path_buf(),
            String::from_utf8(crate::cli::common::read(p)?)
                .map_err(|_| CommandError::Usage(format!("{}: not UTF-8", p.display())))?,
        )),
        None => None,
    };
    Ok(Config::build(
        text.as_ref().map(|(p, t)| (p.as_path(), t.as_str())),
        lookup,
    )?)
}

/// Load the configuration for `serve`: file, then env, then flags.
pub fn load_config(a: &ServeArgs) -> Result<Config, CommandError> {
    let listen = a.listen.clone();
    let data_dir = a.data_dir.as_ref().map(|d| d.display().to_string());
    let lookup = move |k: &str| -> Option<String> {
        match k {
            "IAN_LISTEN" if listen.is_some() => listen.clone(),
            "IAN_DATA_DIR" if data_dir.is_some() => data_dir.clone(),
            _ => std::env::var(k).ok(),
        }
    };
    let cfg = config_from(a.config.as_deref(), &lookup)?;
    // The connection settings are checked by the listener that owns them;
    // refuse a bad one here, before anything starts, like every other key.
    ListenerSettings::from_config(&cfg.server)?;
    Ok(cfg)
}

/// Run the node in the foreground.
pub fn run(a: ServeArgs, cli_format: LogFormat) -> Result<i32, CommandError> {
    let cfg = load_config(&a)?;
    let format = if cfg.log.format == "json" {
        LogFormat::Json
    } else {
        cli_format
    };
    telemetry::init(format, &cfg.log.filter);
    if a.new_identity {
        let r = crate::runtime::rotate::rotate(
            std::path::Path::new(&cfg.server.data_dir),
            &cfg.server.name,
            crate::runtime::service::now_ms(),
        )
        .map_err(|e| CommandError::Usage(format!("--new-identity: {e}")))?;
        info!(
            old_key = %r.old_key,
            new_key = %r.new_key,
            signed_by_old_key = r.old_key_signed,
            retired_key_file = ?r.retired_key_file,
            "node key rotated"
        );
        if !r.old_key_signed && !r.statement.is_empty() {
            tracing::warn!(
                "the old node.key was not here: the rotation is signed by the new key alone, so verifiers must be told of the new key out of band"
            );
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ian-http")
        .build()
        .map_err(|e| CommandError::Usage(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(serve(cfg, format))?;
    Ok(0)
}

/// Serve until a shutdown signal. `format` is the log format in use
/// (`server.access_log = "auto"` follows it).
pub async fn serve(cfg: Config, format: LogFormat) -> Result<(), NodeError> {
    let grace = Duration::from_millis(cfg.server.shutdown_grace_ms);
    let addr = cfg.listen_addr();
    let settings = ListenerSettings::from_config(&cfg.server).map_err(|e| NodeError::Listen {
        addr: addr.to_string(),
        message: e.to_string(),
    })?;
    // Connections still open at shutdown are finishing a request (bounded
    // by the request timeout) or about to hit a connection clock; but the
    // whole shutdown, HTTP drain included, stays within the grace period,
    // whatever a runaway evaluation behind a request is doing.
    let drain_limit = (Duration::from_millis(cfg.server.request_timeout_ms)
        + settings.idle_timeout.max(settings.header_timeout))
    .min(grace);
    let node = tokio::task::spawn_blocking(move || Node::open(cfg))
        .await
        .map_err(|e| NodeError::Sandbox(format!("startup task failed: {e}")))??;
    if node.config().tau_enabled() {
        let wiring = crate::runtime::tau::BridgeWiring::start(&node).map_err(NodeError::Tau)?;
        node.set_tau(wiring);
        info!(endpoint = %node.config().tau.endpoint, "Tau commitments enabled");
    }
    if node.config().p2p.enabled {
        crate::runtime::service::start_p2p(&node).await?;
    }
    if node.has_witness_policy() {
        tokio::spawn(node.clone().run_witnessing());
        info!(policy = %node.config().witness.policy_file, "checkpoints are final once the witness quorum cosigns");
    }
    if let Some(w) = node.witness() {
        info!(vkey = %w.vkey(), "witnessing the logs in witness.logs_file");
        if w.mirror().is_some() {
            tokio::spawn(node.clone().run_mirroring());
        }
    }
    // HTTPS: the certificate is read before anything listens, so a bad
    // file refuses the start and names the file.
    let tls = if node.config().server.tls_cert.is_empty() {
        None
    } else {
        let s = &node.config().server;
        let certs = crate::api::tls::Certs::open(
            std::path::Path::new(&s.tls_cert),
            std::path::Path::new(&s.tls_key),
        )
        .map_err(|e| NodeError::Config(e.to_string()))?;
        let acceptor = certs
            .acceptor()
            .map_err(|e| NodeError::Config(e.to_string()))?;
        tokio::spawn(certs.watch());
        Some(acceptor)
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = listener::bind(addr).map_err(|e| NodeError::Listen {
        addr: addr.to_string(),
        message: e.to_string(),
    })?;
    let local = listener.local_addr().map_err(|e| NodeError::Listen {
        addr: addr.to_string(),
        message: e.to_string(),
    })?;
    listener::warn_if_fd_limit_is_tight(&settings);
    // Tools (and scripts/demo.sh) find a node started on port 0 here.
    let addr_file = node.data_dir().join("node.addr");
    std::fs::write(&addr_file, format!("{scheme}://{local}\n")).map_err(|e| {
        NodeError::DataDir {
            path: addr_file.clone(),
            message: e.to_string(),
        }
    })?;
    info!(addr = %local, public_key = %node.public_key().to_hex(), goals = node.goal_count(), "node serving");
    let access_log = match node.config().server.access_log.as_str() {
        "on" => true,
        "off" => false,
        _ => format == LogFormat::Json,
    };
    let router = app(AppState::new(node.clone()).with_access_log(access_log));
    let stopping = std::sync::Arc::new(parking_lot::Mutex::new(None::<std::time::Instant>));
    let mark = stopping.clone();
    let signal = async move {
        shutdown_signal().await;
        *mark.lock() = Some(std::time::Instant::now());
    };
    listener::serve(listener, router, settings, tls, signal, drain_limit).await;
    info!("HTTP stopped; draining queued contributions");
    // What is left of the grace after the HTTP drain.
    let spent = stopping.lock().map_or(Duration::ZERO, |t| t.elapsed());
    let left = grace.saturating_sub(spent);
    let n: Arc<Node> = node.clone();
    let _ = tokio::task::spawn_blocking(move || n.shutdown(left)).await;
    let _ = std::fs::remove_file(&addr_file);
    info!("node stopped cleanly");
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutdown signal received");
}
