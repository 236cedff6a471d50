//! Worker threads with a native stack big enough for nested wasm stacks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::config::Limits;
use crate::sandbox::{EvalReport, LoadedAgent, LoadedHarness, Sandbox};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of evaluation threads, each with
/// `SandboxConfig::eval_thread_stack` bytes of native stack. Use it to
/// spread evaluations over cores; compiled code is shared through the
/// sandbox's cache, so workers only pay instantiation.
pub struct EvalPool {
    sandbox: Sandbox,
    tx: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl EvalPool {
    /// Starts `workers` threads (at least one).
    pub fn new(sandbox: &Sandbox, workers: usize) -> std::io::Result<EvalPool> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("ian-eval-{i}"))
                    .stack_size(sandbox.config().eval_thread_stack)
                    .spawn(move || {
                        for job in rx.iter() {
                            // A panicking job only loses its own result (its
                            // receiver sees a disconnect); the worker lives on.
                            let _ = catch_unwind(AssertUnwindSafe(job));
                        }
                    })?,
            );
        }
        Ok(EvalPool {
            sandbox: sandbox.clone(),
            tx: Some(tx),
            workers: handles,
        })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Runs `f` on a worker; the result arrives on the returned channel.
    pub fn submit<F, R>(&self, f: F) -> Receiver<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (rtx, rrx) = crossbeam_channel::bounded(1);
        if let Some(tx) = &self.tx {
            let _ = tx.send(Box::new(move || {
                let _ = rtx.send(f());
            }));
        }
        rrx
    }

    /// Queues one evaluation; see [`Sandbox::evaluate`].
    pub fn evaluate(
        &self,
        harness: &LoadedHarness,
        agent: &LoadedAgent,
        params: &[u8],
        config: &[u8],
        seed: u64,
        limits: &Limits,
    ) -> Receiver<EvalReport> {
        let sandbox = self.sandbox.clone();
        let (harness, agent) = (harness.clone(), agent.clone());
        let (params, config, limits) = (params.to_vec(), config.to_vec(), limits.clone());
        self.submit(move || sandbox.evaluate(&harness, &agent, &params, &config, seed, &limits))
    }
}

impl Drop for EvalPool {
    fn drop(&mut self) {
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
