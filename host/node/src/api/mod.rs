//! The HTTP face of a running node: the router ([`http::app`]), the OpenAPI
//! document and the server-rendered leaderboard page. Architecture
//! invariant: depends on [`crate::runtime`] only, never on [`crate::cli`].

pub mod http;
pub mod listener;
pub mod openapi;
pub mod page;
pub mod tls;
