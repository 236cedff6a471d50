//! ian-node: everything behind the `ian-host` binary.
//!
//! The binary only parses flags and calls into this library, so tests drive
//! the same code paths: configuration ([`config`]), the evaluation service
//! ([`service`]), the HTTP API ([`http::app`]), the CLI commands ([`cli`]).

pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod pow;
pub mod ratelimit;
pub mod client;
pub mod html;
pub mod telemetry;
pub mod cli;
pub mod openapi;
pub mod bench;
pub mod commands;
pub mod http;
pub mod judge;
pub mod keyfile;
pub mod ops;
pub mod serve;
pub mod service;
pub mod tau_wiring;
