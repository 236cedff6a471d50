//! A small HTTP/1.1 JSON client for the CLI and the load generator.
//!
//! Plain HTTP: a node is meant to listen on loopback or behind a reverse
//! proxy that terminates TLS.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::runtime::error::ErrorBody;

/// Why a request to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node URL is malformed.
    #[error("invalid node URL `{0}`")]
    BadUrl(String),
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

/// A client for one node.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
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
    /// A client for `base` (e.g. `http://127.0.0.1:7878`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(ClientError::BadUrl(base));
        }
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(conn);
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
        let mut req = Request::builder().method(method).uri(&url);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        if let Some(k) = &self.operator_key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| ClientError::BadUrl(url.clone()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| ClientError::Transport {
                url: self.base.clone(),
                message: error_chain(&e),
            })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport {
                url: self.base.clone(),
                message: e.to_string(),
            })?
            .to_bytes();
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
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
