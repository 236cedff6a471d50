//! The CLI's and the load generator's JSON client, on reqwest and rustls.
//!
//! Speaks `http://` (a node on loopback) and `https://` (a node serving
//! TLS itself or behind a proxy). Server certificates are checked against
//! the Mozilla roots (webpki-roots) and the system's, plus any CA given with
//! `--ca-cert` / `IAN_CA_CERT`.

use std::path::Path;

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::runtime::error::ErrorBody;

/// Why a request to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node URL is malformed.
    #[error("invalid node URL `{0}`: expected http://host:port or https://host[:port]")]
    BadUrl(String),
    /// The CA certificate file cannot be used.
    #[error("CA certificate {path}: {message}")]
    CaCert {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// Could not connect or the connection broke.
    #[error("cannot reach the node at {url}: {message}")]
    Transport {
        /// The node.
        url: String,
        /// What happened.
        message: String,
    },
    /// The node answered with a typed error.
    #[error("node refused the request ({status}): {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Error message.
        message: String,
        /// Retry-After seconds, if given.
        retry_after: Option<u64>,
    },
    /// The node answered something that is not the expected JSON.
    #[error("unexpected answer from the node ({status}): {message}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// What failed.
        message: String,
    },
}

/// Request bodies above this size get a hint about the node's body limit
/// when the connection breaks.
const BIG_BODY: usize = 1 << 20;

/// A client for one node.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    operator_key: Option<String>,
}

/// A raw response (status, headers we care about, body).
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Retry-After header, if any.
    pub retry_after: Option<u64>,
    /// Body bytes.
    pub body: Bytes,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:7878`,
    /// `https://ian.example.org`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Self::with_ca(base, None)
    }

    /// As [`Client::new`], also trusting the CA certificate(s) in the PEM
    /// file `ca_cert` (a node with a private or self-made certificate).
    pub fn with_ca(base: &str, ca_cert: Option<&Path>) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|_| ClientError::BadUrl(base.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(base));
        }
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .no_proxy();
        if let Some(path) = ca_cert {
            let bad = |m: String| ClientError::CaCert {
                path: path.display().to_string(),
                message: m,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
            if certs.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b.build().map_err(|e| ClientError::Transport {
            url: base.clone(),
            message: error_chain(&e),
        })?;
        Ok(Client {
            base,
            http,
            operator_key: None,
        })
    }

    /// Send the operator key on every request.
    pub fn with_operator_key(mut self, key: Option<String>) -> Self {
        self.operator_key = key;
        self
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Send a request and return the raw response.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url);
        let sent = body.as_ref().map_or(0, Vec::len);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        if let Some(k) = &self.operator_key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let transport = |e: reqwest::Error| ClientError::Transport {
            url: self.base.clone(),
            // A node refuses an oversized body before reading it (413) and
            // closes the connection, which a client still writing sees as a
            // broken pipe, never as the answer.
            message: if sent > BIG_BODY {
                format!(
                    "{} (the request body was {sent} bytes: the node may refuse bodies this large; \
                     its operator sets limits.max_body_bytes)",
                    explain(&e)
                )
            } else {
                explain(&e)
            },
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = resp.bytes().await.map_err(transport)?;
        Ok(RawResponse {
            status,
            retry_after,
            body,
        })
    }

    /// Send JSON (or nothing) and decode a JSON answer; typed errors become
    /// [`ClientError::Api`].
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serializable"));
        let r = self.raw(method, path, bytes).await?;
        decode(r)
    }

    /// GET and decode.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json::<T>(Method::GET, path, None::<&()>).await
    }

    /// POST with no body and stream a successful answer into `out` (chunk
    /// by chunk: a large answer is never held in memory); an error answer
    /// is decoded as usual. Returns the bytes written and their SHA-256.
    pub async fn download_post(
        &self,
        path: &str,
        out: &mut std::fs::File,
        progress: &indicatif::ProgressBar,
    ) -> Result<(u64, ian_core::Hash32), ClientError> {
        use sha2::Digest as _;
        use std::io::Write as _;
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(Method::POST, &url);
        if let Some(k) = &self.operator_key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let transport = |e: reqwest::Error| ClientError::Transport {
            url: self.base.clone(),
            message: explain(&e),
        };
        let mut resp = req.send().await.map_err(transport)?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.bytes().await.map_err(transport)?;
            return decode::<serde_json::Value>(RawResponse {
                status,
                retry_after: None,
                body,
            })
            .map(|_| (0, ian_core::Hash32([0; 32])));
        }
        let mut hasher = sha2::Sha256::new();
        let mut written = 0u64;
        if let Some(len) = resp.content_length() {
            progress.set_length(len);
        }
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            progress.inc(chunk.len() as u64);
            hasher.update(&chunk);
            out.write_all(&chunk).map_err(|e| ClientError::Transport {
                url: self.base.clone(),
                message: format!("writing the download: {e}"),
            })?;
            written += chunk.len() as u64;
        }
        Ok((written, ian_core::Hash32(hasher.finalize().into())))
    }
}

/// A transport error in words a user can act on: a certificate problem
/// says which flag fixes it.
fn explain(e: &reqwest::Error) -> String {
    let chain = error_chain(e);
    let lower = chain.to_ascii_lowercase();
    if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        format!(
            "the node's TLS certificate is not signed by a trusted CA (pass --ca-cert FILE or set IAN_CA_CERT to trust the node's CA): {chain}"
        )
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        format!("the node's TLS certificate is not for this host name: {chain}")
    } else if lower.contains("certificate") && lower.contains("expired") {
        format!("the node's TLS certificate has expired: {chain}")
    } else {
        chain
    }
}

/// Decode a raw response as `T` or a typed error.
pub fn decode<T: DeserializeOwned>(r: RawResponse) -> Result<T, ClientError> {
    if r.status.is_success() {
        serde_json::from_slice(&r.body).map_err(|e| ClientError::Decode {
            status: r.status.as_u16(),
            message: e.to_string(),
        })
    } else {
        match serde_json::from_slice::<ErrorBody>(&r.body) {
            Ok(e) => Err(ClientError::Api {
                status: r.status.as_u16(),
                code: e.error.code,
                message: e.error.message,
                retry_after: r.retry_after,
            }),
            Err(_) => Err(ClientError::Decode {
                status: r.status.as_u16(),
                message: String::from_utf8_lossy(&r.body).chars().take(200).collect(),
            }),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    crate::cli::common::error_line(e)
}
