//! HTTPS for the node itself (`server.tls_cert`, `server.tls_key`): rustls
//! with the ring provider, and a certificate that can be replaced without a
//! restart.
//!
//! The certificate and key are read at start (a bad file refuses the
//! start, naming it), then again on SIGHUP and whenever either file's
//! modification time changes (checked every [`RELOAD_POLL`]). A reload that
//! fails keeps the certificate in use and logs why, so a half-written file
//! never takes the node off the air. New connections get the new
//! certificate; open ones keep theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

/// How often the certificate files are checked for a change.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// Why the node's certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{what} {path}: {message}")]
    File {
        /// `server.tls_cert` or `server.tls_key`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The key does not fit rustls (unsupported type) or the TLS setup
    /// failed.
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// Reads a PEM certificate chain and private key.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let file_err = |what: &'static str, path: &Path, message: String| TlsError::File {
        what,
        path: path.display().to_string(),
        message,
    };
    let cert_pem =
        std::fs::read(cert).map_err(|e| file_err("server.tls_cert", cert, e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            file_err(
                "server.tls_cert",
                cert,
                format!("not a PEM certificate chain: {e}"),
            )
        })?;
    if chain.is_empty() {
        return Err(file_err(
            "server.tls_cert",
            cert,
            "holds no PEM certificate".into(),
        ));
    }
    let key_pem = std::fs::read(key).map_err(|e| file_err("server.tls_key", key, e.to_string()))?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_err("server.tls_key", key, format!("not a PEM private key: {e}")))?;
    let signing = any_supported_type(&der)
        .map_err(|e| file_err("server.tls_key", key, format!("unsupported key: {e}")))?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match()
        .map_err(|e| TlsError::Setup(format!("the key does not match the certificate: {e}")))?;
    Ok(ck)
}

/// The certificate in use, replaced on reload.
#[derive(Debug)]
pub struct Certs {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    stamp: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).ok()?.modified().ok()
}

impl Certs {
    /// Loads the files once; fails naming the file at fault.
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let ck = load(cert, key)?;
        Ok(Arc::new(Certs {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(ck)),
            stamp: RwLock::new((mtime(cert), mtime(key))),
        }))
    }

    /// Reads the files again; on failure keeps the certificate in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamp = (mtime(&self.cert), mtime(&self.key));
        let ck = load(&self.cert, &self.key)?;
        *self.current.write() = Arc::new(ck);
        *self.stamp.write() = stamp;
        info!(cert = %self.cert.display(), "TLS certificate reloaded");
        Ok(())
    }

    fn changed(&self) -> bool {
        *self.stamp.read() != (mtime(&self.cert), mtime(&self.key))
    }

    /// A TLS acceptor serving whatever certificate is current (HTTP/1.1).
    pub fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        // ring is the one crypto library in this build (the CLI's client
        // and libp2p's Noise use it too); aws-lc-rs would add a second one
        // and a C toolchain. ring offers no post-quantum key exchange yet,
        // hence rustls's deprecation note.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
    }

    /// Reloads on SIGHUP and when a file changes, until the runtime stops.
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(RELOAD_POLL);
        loop {
            #[cfg(unix)]
            let hup_fut = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup_fut = std::future::pending::<()>();
            let forced = tokio::select! {
                () = hup_fut => true,
                _ = tick.tick() => false,
            };
            if (forced || self.changed())
                && let Err(e) = self.reload()
            {
                // Remember the stamp so a broken file is reported once.
                *self.stamp.write() = (mtime(&self.cert), mtime(&self.key));
                warn!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
            }
        }
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}
