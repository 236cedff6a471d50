//! Evaluation workers over NATS JetStream: one operator's node stays the
//! single sequencer of its logs while evaluation spreads over machines.
//!
//! The node publishes each admitted submission as a [`wire::Job`] on a
//! work-queue stream (de-duplicated by job id = SHA-256(goal hash ‖ pack
//! hash)); a worker ([`worker::Worker`]) pulls it, fetches the goal's
//! components and the agent's code by hash from the object store, runs it,
//! stores a [`wire::SignedResult`] under the job id in the result bucket
//! and only then acknowledges. The node checks the worker key, engine and
//! configuration hash, and commits through its usual pipeline.
//!
//! This crate knows NATS and the wire formats, not wasm: what a run is
//! comes from the caller through [`worker::Evaluate`].

pub mod queue;
pub mod wire;
pub mod worker;

pub use queue::{Delivery, Depth, Fed, JobFeed, Queue, QueueConfig, QueueError, WorkerStatus};
pub use wire::{Job, Outcome, ResultError, SeedFigures, SignedResult, WorkResult, job_id};
pub use worker::{Evaluate, Ran, Worker, WorkerOptions};
