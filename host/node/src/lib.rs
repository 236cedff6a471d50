//! ian-node: everything behind the `ian-host` binary, in three layers whose
//! dependencies point one way (`cli` -> `api` -> `runtime`):
//!
//! * [`runtime`] — the node itself: configuration, the evaluation service
//!   over the core pipeline and the sandbox, datasets, metrics, Tau wiring.
//!   It knows nothing of HTTP routing or of the command line.
//! * [`api`] — the HTTP API over a running [`runtime::service::Node`]
//!   ([`api::http::app`]), its OpenAPI document and the leaderboard page.
//! * [`cli`] — the `ian-host` subcommands: argument parsing, the HTTP client
//!   of a remote node, local evaluation and replay, rendering.
//!
//! The binary only parses flags and calls into this library, so tests drive
//! the same code paths.

// The OpenAPI document is one `json!` literal.
#![recursion_limit = "256"]

pub mod api;
pub mod cli;
pub mod runtime;
