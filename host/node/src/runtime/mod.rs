//! The node runtime: what `ian-host serve` runs, independent of how it is
//! reached. Architecture invariant: nothing here imports [`crate::api`] or
//! [`crate::cli`].

pub mod auth;
pub mod backup;
pub mod clock;
pub mod config;
pub mod datasets;
pub mod error;
pub mod evidence;
pub mod judge;
pub mod keyfile;
pub mod metrics;
pub mod mirror;
pub mod remote;
pub mod rotate;
pub mod service;
pub mod tau;
pub mod timefmt;
pub mod views;
pub mod witness;
