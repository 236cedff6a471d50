//! The Rust rule semantics against the fixture files that the Tau rules read.

use ian_tau::rules::{self, RuleId};
use std::path::PathBuf;

fn rules_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules"))
}

#[test]
fn every_rule_declares_the_streams_the_rust_checker_reads() {
    for rule in RuleId::ALL {
        let text = std::fs::read_to_string(rule.tau_file(&rules_dir())).unwrap();
        let decls = rules::parse_stream_decls(&text);
        let inputs: Vec<(String, u32, String)> = decls
            .iter()
            .filter(|d| d.input)
            .map(|d| (d.name.clone(), d.width, d.file.clone()))
            .collect();
        let expected: Vec<(String, u32, String)> = rule
            .inputs()
            .iter()
            .map(|(n, w)| (n.to_string(), *w, format!("inputs/{n}.in")))
            .collect();
        assert_eq!(inputs, expected, "inputs of {}", rule.name());
        let outputs: Vec<(String, u32, String)> = decls
            .iter()
            .filter(|d| !d.input)
            .map(|d| (d.name.clone(), d.width, d.file.clone()))
            .collect();
        assert_eq!(
            outputs,
            vec![
                ("o1".to_string(), 8, "o1.out".to_string()),
                ("o2".to_string(), 8, "o2.out".to_string())
            ]
        );
    }
}

#[test]
fn rule_files_are_ascii_only() {
    for rule in RuleId::ALL {
        let bytes = std::fs::read(rule.tau_file(&rules_dir())).unwrap();
        assert!(bytes.is_ascii(), "{} contains non-ASCII bytes", rule.name());
    }
}

#[test]
fn every_typed_constant_in_the_rules_fits_its_width() {
    for rule in RuleId::ALL {
        let text = std::fs::read_to_string(rule.tau_file(&rules_dir())).unwrap();
        let mut rest = text.as_str();
        let mut seen = 0;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').unwrap() + open;
            let after = &rest[close + 1..];
            let width: u32 = after
                .strip_prefix(":bv[")
                .and_then(|w| w.split_once(']'))
                .and_then(|(w, _)| w.parse().ok())
                .unwrap_or_else(|| {
                    panic!(
                        "{}: untyped constant near {:?}",
                        rule.name(),
                        &rest[open..close + 1]
                    )
                });
            let literal = rest[open + 1..close].trim();
            let bytes = rules::parse_bv_value(literal, width).unwrap();
            if width == 256 {
                let digits = literal.strip_prefix("#x").expect("wide constants in hex");
                assert_eq!(digits.len(), 64, "{}: {literal}", rule.name());
            }
            assert_eq!(bytes.len() as u32 * 8, width);
            seen += 1;
            rest = after;
        }
        assert!(seen > 0);
    }
}

fn check_fixture(rule: RuleId) {
    let fixture = rules::load_fixture(&rules_dir(), rule).unwrap();
    assert!(!fixture.steps.is_empty());
    for step in &fixture.steps {
        let got = rules::evaluate_step(rule, &step.inputs);
        assert_eq!(
            got,
            step.expected,
            "{} step {} ({})",
            rule.name(),
            step.step,
            step.name
        );
    }
}

/// Every reason code 0..=max appears in the fixture, so each reject case
/// is covered.
fn check_every_reason_covered(rule: RuleId, max_code: u64) {
    let fixture = rules::load_fixture(&rules_dir(), rule).unwrap();
    for code in 0..=max_code {
        assert!(
            fixture.steps.iter().any(|s| s.expected["o2"] == code),
            "{}: no fixture case for reason {code}",
            rule.name()
        );
    }
}

#[test]
fn goal_registration_fixture_matches_rust_semantics() {
    check_fixture(RuleId::GoalRegistration);
    check_every_reason_covered(RuleId::GoalRegistration, 4);
}

#[test]
fn log_commit_fixture_matches_rust_semantics() {
    check_fixture(RuleId::LogCommit);
    check_every_reason_covered(RuleId::LogCommit, 8);
}

#[test]
fn policy_upgrade_fixture_matches_rust_semantics() {
    check_fixture(RuleId::PolicyUpgrade);
    check_every_reason_covered(RuleId::PolicyUpgrade, 6);
}

#[test]
fn bv_values_parse_as_decimal_hex_and_binary() {
    assert_eq!(rules::parse_bv_value("5", 8).unwrap(), vec![5]);
    assert_eq!(rules::parse_bv_value("#x0a", 8).unwrap(), vec![10]);
    assert_eq!(rules::parse_bv_value("#b101", 8).unwrap(), vec![5]);
    assert_eq!(
        rules::parse_bv_value("4294967296", 64).unwrap(),
        vec![0, 0, 0, 1, 0, 0, 0, 0]
    );
    assert!(rules::parse_bv_value("256", 8).is_err());
    assert!(rules::parse_bv_value("#x1ff", 8).is_err());
    assert!(rules::parse_bv_value("x", 8).is_err());
}

#[test]
fn tau_output_values_are_read_in_any_printed_form() {
    for text in [
        "1",
        "#x01",
        "#b00000001",
        "{ 1 }:bv[8]",
        "o1[3] := 1",
        "o1[0] := { #x01 }:bv[8]",
    ] {
        assert_eq!(rules::parse_tau_output_value(text), Some(1), "{text}");
    }
    assert_eq!(rules::parse_tau_output_value("(Error) bad"), None);
}
