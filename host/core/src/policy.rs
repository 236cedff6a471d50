//! Trust policies (c2sp.org/tlog-policy): which logs are accepted and which
//! witnesses must have cosigned a checkpoint before it is believed.
//!
//! One file format serves both sides: a node's `[witness] policy` names the
//! witnesses it asks (with their submission URLs) and the quorum that makes
//! a checkpoint final; `ian-host verify --witness-policy` enforces the same
//! file offline.
//!
//! ```text
//! log ian.example/trading+1a2b3c4d+AQ...
//! witness w1 w1.example/witness+5e6f7a8b+BA... http://127.0.0.1:9001/witness
//! witness w2 w2.example/witness+9c0d1e2f+BA...
//! group two-of-two 2 w1 w2
//! quorum two-of-two
//! ```

use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::note::{NoteVerifier, TYPE_COSIGNATURE_V1, TYPE_ED25519};
use std::collections::HashMap;

/// Largest policy file read.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// A log the policy accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// Its key (key name = origin).
    pub key: NoteVerifier,
    /// Where it is served, if given.
    pub url: Option<String>,
}

/// A witness the policy knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The name used in groups and the quorum.
    pub name: String,
    /// Its cosignature key (type 0x04).
    pub key: NoteVerifier,
    /// Its submission prefix (`<url>/add-checkpoint`), if given.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Witness(usize),
    Group(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    threshold: usize,
    members: Vec<Member>,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Accepted logs (may be empty when the log is known from context).
    pub logs: Vec<PolicyLog>,
    /// Known witnesses.
    pub witnesses: Vec<PolicyWitness>,
    groups: Vec<Group>,
    /// `None` for `quorum none`.
    quorum: Option<Member>,
}

/// Why a policy file was refused, or a checkpoint failed a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A line the grammar does not allow.
    #[error("policy line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    /// No `quorum` line, or more than one.
    #[error("the policy must have exactly one quorum line")]
    Quorum,
    /// The checkpoint is not signed by any log the policy lists.
    #[error("the checkpoint is signed by no log the policy lists (origin {0})")]
    UnknownLog(String),
    /// A signature by a listed key fails to verify.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// Too few witnesses cosigned.
    #[error("the witness quorum is not met: cosigned by {have:?}; the policy requires {need}")]
    QuorumNotMet { have: Vec<String>, need: String },
}

impl Policy {
    /// A policy that needs no witnesses and accepts `logs`.
    pub fn no_witnesses(logs: Vec<NoteVerifier>) -> Self {
        Policy {
            logs: logs
                .into_iter()
                .map(|key| PolicyLog { key, url: None })
                .collect(),
            witnesses: Vec::new(),
            groups: Vec::new(),
            quorum: None,
        }
    }

    /// Parses the tlog-policy text format.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::Syntax {
                line: 0,
                reason: format!(
                    "the policy is {} bytes, over {MAX_POLICY_BYTES}",
                    text.len()
                ),
            });
        }
        let mut p = Policy {
            logs: Vec::new(),
            witnesses: Vec::new(),
            groups: Vec::new(),
            quorum: None,
        };
        let mut names: HashMap<String, Member> = HashMap::new();
        let mut quorums = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let syntax = |reason: String| PolicyError::Syntax { line, reason };
            let words: Vec<&str> = raw.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            let Some((&kw, args)) = words.split_first() else {
                continue;
            };
            if kw.starts_with('#') {
                continue;
            }
            let key = |s: &str, ty: u8| -> Result<NoteVerifier, PolicyError> {
                let v = NoteVerifier::parse(s).map_err(|e| syntax(e.to_string()))?;
                if v.sig_type != ty {
                    return Err(syntax(format!(
                        "key {} has signature type 0x{:02x}, expected 0x{ty:02x}",
                        v.name, v.sig_type
                    )));
                }
                Ok(v)
            };
            let dup = |p: &Policy, k: &NoteVerifier| {
                p.logs.iter().any(|l| l.key.key == k.key)
                    || p.witnesses.iter().any(|w| w.key.key == k.key)
            };
            match kw {
                "log" => {
                    let (vkey, url) = match args {
                        [v] => (v, None),
                        [v, u] => (v, Some(u.to_string())),
                        _ => return Err(syntax("expected: log <vkey> [<url>]".into())),
                    };
                    let k = key(vkey, TYPE_ED25519)?;
                    if dup(&p, &k) {
                        return Err(syntax("this key is listed twice".into()));
                    }
                    p.logs.push(PolicyLog { key: k, url });
                }
                "witness" => {
                    let (name, vkey, url) = match args {
                        [n, v] => (n, v, None),
                        [n, v, u] => (n, v, Some(u.trim_end_matches('/').to_string())),
                        _ => return Err(syntax("expected: witness <name> <vkey> [<url>]".into())),
                    };
                    if *name == "none" || names.contains_key(*name) {
                        return Err(syntax(format!("name {name:?} is reserved or already used")));
                    }
                    let k = key(vkey, TYPE_COSIGNATURE_V1)?;
                    if dup(&p, &k) {
                        return Err(syntax("this key is listed twice".into()));
                    }
                    names.insert(name.to_string(), Member::Witness(p.witnesses.len()));
                    p.witnesses.push(PolicyWitness {
                        name: name.to_string(),
                        key: k,
                        url,
                    });
                }
                "group" => {
                    let [name, k, members @ ..] = args else {
                        return Err(syntax(
                            "expected: group <name> <k|all|any> <name>...".into(),
                        ));
                    };
                    if members.is_empty() {
                        return Err(syntax("a group needs at least one member".into()));
                    }
                    if *name == "none" || names.contains_key(*name) {
                        return Err(syntax(format!("name {name:?} is reserved or already used")));
                    }
                    let n = members.len();
                    let threshold = match *k {
                        "all" => n,
                        "any" => 1,
                        k => match crate::note::parse_decimal(k) {
                            Some(t) if (1..=n as u64).contains(&t) => t as usize,
                            _ => {
                                return Err(syntax(format!(
                                    "threshold {k:?} is not 1..={n}, all or any"
                                )));
                            }
                        },
                    };
                    let mut seen = std::collections::HashSet::new();
                    if let Some(d) = members.iter().find(|m| !seen.insert(**m)) {
                        return Err(syntax(format!(
                            "{d:?} is listed twice in group {name:?}: each member counts once"
                        )));
                    }
                    let members = members
                        .iter()
                        .map(|m| {
                            names
                                .get(*m)
                                .cloned()
                                .ok_or_else(|| syntax(format!("{m:?} is not defined above")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    names.insert(name.to_string(), Member::Group(p.groups.len()));
                    p.groups.push(Group { threshold, members });
                }
                "quorum" => {
                    let [name] = args else {
                        return Err(syntax("expected: quorum <name>".into()));
                    };
                    quorums += 1;
                    p.quorum = if *name == "none" {
                        None
                    } else {
                        Some(
                            names
                                .get(*name)
                                .cloned()
                                .ok_or_else(|| syntax(format!("{name:?} is not defined above")))?,
                        )
                    };
                }
                other => return Err(syntax(format!("unknown keyword {other:?}"))),
            }
        }
        if quorums != 1 {
            return Err(PolicyError::Quorum);
        }
        Ok(p)
    }

    /// Whether the policy asks for any cosignature.
    pub fn needs_witnesses(&self) -> bool {
        self.quorum.is_some()
    }

    /// The quorum in words, for messages.
    pub fn describe_quorum(&self) -> String {
        match &self.quorum {
            None => "no witnesses".into(),
            Some(m) => self.describe(m),
        }
    }

    fn describe(&self, m: &Member) -> String {
        match m {
            Member::Witness(i) => self.witnesses[*i].name.clone(),
            Member::Group(g) => {
                let g = &self.groups[*g];
                let parts: Vec<String> = g.members.iter().map(|m| self.describe(m)).collect();
                format!("{} of ({})", g.threshold, parts.join(", "))
            }
        }
    }

    fn satisfied(&self, m: &Member, have: &[bool]) -> bool {
        match m {
            Member::Witness(i) => have.get(*i).copied().unwrap_or(false),
            Member::Group(g) => {
                let g = &self.groups[*g];
                g.members.iter().filter(|m| self.satisfied(m, have)).count() >= g.threshold
            }
        }
    }

    /// Whether the witnesses flagged in `have` (indexed like
    /// [`Policy::witnesses`]) meet the quorum.
    pub fn quorum_met(&self, have: &[bool]) -> bool {
        self.quorum.as_ref().is_none_or(|q| self.satisfied(q, have))
    }

    /// Which known witnesses validly cosigned `cp`, indexed like
    /// [`Policy::witnesses`].
    pub fn cosigners(&self, cp: &SignedCheckpoint) -> Result<Vec<bool>, PolicyError> {
        let got = cp.cosigned_by(self.witnesses.iter().map(|w| &w.key))?;
        Ok(self
            .witnesses
            .iter()
            .map(|w| got.iter().any(|(v, _)| *v == &w.key))
            .collect())
    }

    /// Checks a checkpoint: signed by one of the policy's logs (or by
    /// `log` when the policy lists none), and cosigned by a quorum.
    /// Returns the names of the witnesses that cosigned.
    pub fn check(
        &self,
        cp: &SignedCheckpoint,
        log: Option<&NoteVerifier>,
    ) -> Result<Vec<String>, PolicyError> {
        let candidates: Vec<&NoteVerifier> = if self.logs.is_empty() {
            log.into_iter().collect()
        } else {
            self.logs.iter().map(|l| &l.key).collect()
        };
        let signer = candidates
            .into_iter()
            .find(|k| cp.note.signatures.iter().any(|s| k.matches(s)))
            .ok_or_else(|| PolicyError::UnknownLog(cp.checkpoint.origin.clone()))?;
        cp.verify(signer)?;
        let have = self.cosigners(cp)?;
        let names: Vec<String> = self
            .witnesses
            .iter()
            .zip(&have)
            .filter(|(_, h)| **h)
            .map(|(w, _)| w.name.clone())
            .collect();
        if !self.quorum_met(&have) {
            return Err(PolicyError::QuorumNotMet {
                have: names,
                need: self.describe_quorum(),
            });
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::hash::Hash32;
    use crate::note::{Cosigner, NoteSigner};
    use ed25519_dalek::SigningKey;

    fn cosigner(i: u8) -> Cosigner {
        Cosigner::new(&format!("w{i}.example"), SigningKey::from_bytes(&[i; 32])).unwrap()
    }

    fn setup() -> (NoteSigner, SignedCheckpoint, String) {
        let log = NoteSigner::new("n.example/g", SigningKey::from_bytes(&[1; 32])).unwrap();
        let cp = SignedCheckpoint::sign(
            Checkpoint {
                origin: "n.example/g".into(),
                size: 3,
                root: Hash32([5; 32]),
            },
            &log,
        );
        let text = format!(
            "# two of three, then one more\nlog {}\nwitness a {}\nwitness b {}\nwitness c {}\ngroup ab 2 a b c\nquorum ab\n",
            log.verifier().to_vkey(),
            cosigner(2).verifier().to_vkey(),
            cosigner(3).verifier().to_vkey(),
            cosigner(4).verifier().to_vkey(),
        );
        (log, cp, text)
    }

    #[test]
    fn a_k_of_n_group_is_met_only_with_k_valid_cosignatures() {
        let (_, mut cp, text) = setup();
        let p = Policy::parse(&text).unwrap();
        assert!(matches!(
            p.check(&cp, None),
            Err(PolicyError::QuorumNotMet { .. })
        ));
        let line = cosigner(2).cosign(&cp.note.text, 100);
        cp.note.add_signature(line);
        assert!(matches!(
            p.check(&cp, None),
            Err(PolicyError::QuorumNotMet { .. })
        ));
        cp.note
            .add_signature(cosigner(4).cosign(&cp.note.text, 101));
        assert_eq!(
            p.check(&cp, None).unwrap(),
            vec!["a".to_string(), "c".to_string()]
        );
    }

    #[test]
    fn a_cosignature_by_an_unlisted_witness_does_not_count() {
        let (_, mut cp, text) = setup();
        let p = Policy::parse(&text).unwrap();
        cp.note
            .add_signature(cosigner(2).cosign(&cp.note.text, 100));
        cp.note
            .add_signature(cosigner(9).cosign(&cp.note.text, 100));
        assert!(matches!(
            p.check(&cp, None),
            Err(PolicyError::QuorumNotMet { .. })
        ));
    }

    #[test]
    fn a_checkpoint_by_another_log_is_refused() {
        let (_, _, text) = setup();
        let p = Policy::parse(&text).unwrap();
        let other = NoteSigner::new("n.example/g", SigningKey::from_bytes(&[42; 32])).unwrap();
        let cp = SignedCheckpoint::sign(
            Checkpoint {
                origin: "n.example/g".into(),
                size: 1,
                root: Hash32([0; 32]),
            },
            &other,
        );
        assert!(matches!(
            p.check(&cp, None),
            Err(PolicyError::UnknownLog(_))
        ));
    }

    #[test]
    fn any_all_and_nested_groups_count_as_tlog_policy_says() {
        let (_, mut cp, _) = setup();
        let v = |i| cosigner(i).verifier().to_vkey();
        let text = format!(
            "witness a {}\nwitness b {}\nwitness c {}\ngroup ab any a b\ngroup both all ab c\nquorum both\n",
            v(2),
            v(3),
            v(4)
        );
        let p = Policy::parse(&text).unwrap();
        let log = NoteSigner::new("n.example/g", SigningKey::from_bytes(&[1; 32]))
            .unwrap()
            .verifier();
        cp.note.add_signature(cosigner(4).cosign(&cp.note.text, 1));
        assert!(p.check(&cp, Some(&log)).is_err(), "c alone");
        cp.note.add_signature(cosigner(3).cosign(&cp.note.text, 1));
        assert_eq!(p.check(&cp, Some(&log)).unwrap(), vec!["b", "c"]);
    }

    #[test]
    fn a_member_listed_twice_in_a_group_is_refused() {
        let v = cosigner(2).verifier().to_vkey();
        let e = Policy::parse(&format!("witness a {v}\ngroup g 2 a a\nquorum g\n")).unwrap_err();
        assert!(matches!(e, PolicyError::Syntax { line: 2, .. }), "{e}");
        assert!(Policy::parse(&format!("witness a {v}\ngroup g +1 a\nquorum g\n")).is_err());
    }

    #[test]
    fn malformed_policies_name_the_line() {
        for (text, line) in [
            ("quorum x\n", 1),
            ("witness a nonsense\nquorum a\n", 1),
            ("\n\ngroup g 3 a\nquorum g\n", 3),
        ] {
            match Policy::parse(text) {
                Err(PolicyError::Syntax { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(Policy::parse("# nothing\n"), Err(PolicyError::Quorum));
        assert!(!Policy::parse("quorum none\n").unwrap().needs_witnesses());
    }
}
