//! The `ian-host` subcommands: argument parsing ([`args`]), dispatch
//! ([`commands`]), the HTTP client of a node ([`client`]), local work
//! ([`ops`]: pack, eval, replay, proof checks) and the `serve` entry point.
//! Renderers print the typed views of [`crate::runtime::views`].

pub mod args;
pub mod bench;
pub mod client;
pub mod commands;
pub mod common;
pub mod dev;
pub mod finals;
pub mod new;
pub mod ops;
pub mod progress;
pub mod render;
pub mod serve;
pub mod tau;
pub mod telemetry;
