//! A full instance pool makes evaluations wait for slots, never changes a
//! result, and only after `pool_wait_ms` of waiting gives `inconclusive`.

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use ian_sandbox::{Fault, InconclusiveCause, Limits, Sandbox, SandboxConfig};

/// Room for exactly one evaluation (a harness and an agent) at a time.
fn one_evaluation_at_a_time(pool_wait_ms: u64) -> Sandbox {
    Sandbox::new(SandboxConfig {
        pool_component_instances: 2,
        pool_wait_ms,
        ..SandboxConfig::default()
    })
    .unwrap()
}

#[test]
fn a_full_instance_pool_makes_evaluations_wait_and_gives_the_uncontended_bits() {
    let sb = one_evaluation_at_a_time(60_000);
    let h = harness(&sb, "trading-harness");
    let a = agent(&sb, "ma-crossover");
    let params = b"short=5,long=20";
    let expected: Vec<_> = (0..4u64)
        .map(|seed| sb.evaluate(&h, &a, params, TRADING_CONFIG, seed, &limits()))
        .collect();
    assert!(expected.iter().all(|r| r.outcome.is_ok()));
    assert_eq!(sb.cache_stats().pool_waits, 0, "nothing waits alone");

    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let runs: Vec<_> = (0..threads)
        .map(|_| {
            let (sb, h, a, start) = (sb.clone(), h.clone(), a.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..4u64)
                    .map(|seed| sb.evaluate(&h, &a, params, TRADING_CONFIG, seed, &limits()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in runs {
        assert_eq!(t.join().unwrap(), expected);
    }
    let stats = sb.cache_stats();
    assert!(
        stats.pool_waits > 0,
        "8 threads on 1 slot must wait: {stats:?}"
    );
    let usage = sb.pool_usage();
    assert_eq!(usage.component_instances, (0, 2), "every slot is back");
}

#[test]
fn a_pool_full_for_longer_than_pool_wait_ms_is_inconclusive_naming_the_settings() {
    let sb = one_evaluation_at_a_time(50);
    let h = harness(&sb, "trading-harness");
    // An agent that spins for a second or two holds the only slot.
    let spinner = agent(&sb, "hostile-infinite-loop");
    let long = Limits {
        fuel_per_call: 2_000_000_000,
        fuel_per_evaluation: 2_000_000_000,
        ..limits()
    };
    let holder = {
        let (sb, h) = (sb.clone(), h.clone());
        std::thread::spawn(move || sb.evaluate(&h, &spinner, b"", TRADING_CONFIG, 1, &long))
    };
    while sb.pool_usage().component_instances.0 < 2 {
        std::thread::yield_now();
    }
    let a = agent(&sb, "buy-and-hold");
    let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits());
    let Err(
        f @ Fault::Inconclusive {
            cause: InconclusiveCause::PoolBusy { waited_ms, .. },
        },
    ) = &r.outcome
    else {
        panic!("expected inconclusive (pool busy), got {:?}", r.outcome);
    };
    assert!(*waited_ms >= 50, "{f}");
    assert!(f.to_string().contains("sandbox.pool_"), "{f}");
    assert!(!f.is_agent_fault());
    // The holder was never disturbed: its agent simply ran out of fuel.
    let held = holder.join().unwrap();
    assert_eq!(held.outcome.unwrap_err().reason_code(), "agent_out_of_fuel");
    // And with the slot free, the same evaluation passes.
    assert!(
        sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits())
            .outcome
            .is_ok()
    );
}
