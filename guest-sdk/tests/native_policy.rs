//! `Policy::native`: a harness or invariant tested natively against a real
//! agent type, under the host's rules.

use ian_guest_sdk::params::Params;
use ian_guest_sdk::{Action, Agent, AgentError, Harness, Metrics, Observation, Policy};

/// Holds `level`, counting its own steps (state the harness cannot see).
struct Counter {
    level: f64,
    seen: u64,
}

impl Agent for Counter {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        let level = p.f64_or("level", 0.5)?;
        if level > 1.0 {
            return Err(format!("level must be at most 1, got {level}"));
        }
        Ok(Counter { level, seen: 0 })
    }

    fn act(&mut self, obs: &Observation) -> Action {
        self.seen += 1;
        match obs.features.first() {
            Some(x) if *x < 0.0 => panic!("negative feature {x} at call {}", self.seen),
            Some(x) if x.is_nan() => vec![f64::NAN],
            _ => vec![self.level, self.seen as f64],
        }
    }
}

/// Sums the agent's first action value over `steps` steps of one episode.
struct Sum;

impl Harness for Sum {
    fn evaluate(config: &[u8], _seed: u64, policy: &mut Policy) -> Result<Metrics, String> {
        let steps = Params::parse(config)?.u64_or("steps", 3)?;
        let mut total = 0.0;
        for step in 0..steps {
            total += policy.act(&Observation::new(step, vec![1.0]))?[0];
        }
        Ok(Metrics::new(total, 0.0))
    }
}

#[test]
fn a_harness_scores_a_real_agent_natively() {
    let mut policy = Policy::native::<Counter>(b"level=0.25");
    let m = Sum::evaluate(b"steps=4", 1, &mut policy).unwrap();
    assert_eq!(m.reward, 1.0);
    assert_eq!(policy.act_calls(), 4);
}

#[test]
fn the_agent_keeps_its_state_between_calls_and_reset_gives_a_fresh_one() {
    let mut policy = Policy::native::<Counter>(b"");
    let obs = Observation::new(0, vec![1.0]);
    assert_eq!(policy.act(&obs).unwrap(), vec![0.5, 1.0]);
    assert_eq!(policy.act(&obs).unwrap(), vec![0.5, 2.0]);
    policy.reset().unwrap();
    assert_eq!(policy.act(&obs).unwrap(), vec![0.5, 1.0]);
}

#[test]
fn an_init_error_is_init_failed_and_reaches_the_harness() {
    let mut policy = Policy::native::<Counter>(b"level=2");
    let err = Sum::evaluate(b"", 1, &mut policy).unwrap_err();
    assert!(
        err.contains("init failed") && err.contains("level must be at most 1"),
        "{err}"
    );
    assert_eq!(policy.act_calls(), 0);
}

#[test]
fn a_panic_is_a_trap_carrying_the_panic_message_and_is_sticky() {
    let mut policy = Policy::native::<Counter>(b"");
    let bad = Observation::new(0, vec![-3.0]);
    let Err(AgentError::Trap(msg)) = policy.act(&bad) else {
        panic!("expected a trap");
    };
    assert!(msg.contains("negative feature -3 at call 1"), "{msg}");
    // Every later call answers with the first fault, as the host does.
    let good = Observation::new(1, vec![1.0]);
    assert_eq!(policy.act(&good), Err(AgentError::Trap(msg.clone())));
    assert_eq!(policy.reset(), Err(AgentError::Trap(msg)));
}

#[test]
fn a_non_finite_action_is_an_invalid_action() {
    let mut policy = Policy::native::<Counter>(b"");
    let err = policy
        .act(&Observation::new(0, vec![f64::NAN]))
        .unwrap_err();
    assert_eq!(
        err,
        AgentError::InvalidAction("value #0 is not finite (NaN)".into())
    );
}
