//! ian-node: everything behind the `ian-host` binary.
//!
//! The binary only parses flags and calls into this library, so tests drive
//! the same code paths: configuration ([`config`]), the evaluation service
//! ([`service`]), the HTTP API ([`http::app`]), the CLI commands ([`cli`]).

pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod datasets;
pub mod error;
pub mod html;
pub mod http;
pub mod judge;
pub mod keyfile;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod ratelimit;
pub mod serve;
pub mod service;
pub mod tau_wiring;
pub mod telemetry;
