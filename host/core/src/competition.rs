//! Competitions: phases with opening and closing times, per-contributor
//! quotas, and hidden seeds committed at publication and revealed at the
//! close.
//!
//! Everything here is a pure function of the goal manifest and of times
//! that come in as arguments, so a node that accepts an entry and anyone
//! who replays the log later reach the same decision from the entry's own
//! timestamp.
//!
//! The hidden seeds are derived from a 32-byte secret the goal author
//! keeps until the close. The manifest carries only the commitment
//! `SHA-256(enc("ian/hidden-seeds-commitment/v1") ‖ bytes(secret))`; seed
//! `i` is the first eight bytes, big-endian, of
//! `SHA-256(enc("ian/hidden-seed/v1") ‖ bytes(secret) ‖ u32(i))`. Nobody
//! can compute a seed from the commitment, and the author cannot pick
//! another secret after seeing the submissions: the commitment is part of
//! the goal hash, which never changes once the goal is published.

use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::goal::{GoalError, check_slug};
use crate::hash::{Hash32, sha256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Most phases a goal may declare.
pub const MAX_PHASES: usize = 16;
/// Most entries a contributor may select for the final evaluation.
pub const MAX_FINAL_SELECTIONS: u32 = 100;
/// Most hidden seeds a goal may commit to (the harness's seed limit).
pub const MAX_HIDDEN_SEEDS: u32 = crate::goal::MAX_SEEDS as u32;
/// Bytes in a hidden-seed secret.
pub const SECRET_BYTES: usize = 32;
/// Milliseconds in a UTC day, the period of `max_per_day`.
pub const DAY_MS: u64 = 86_400_000;
/// Latest time a phase may name: 9999-12-31T23:59:59Z, the last second
/// RFC 3339 can write.
pub const MAX_TIME_MS: u64 = 253_402_300_799_000;

/// A point in time, milliseconds since the Unix epoch, written as RFC 3339
/// UTC (`2026-12-06T12:00:00Z`) in goal files, manifests and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(pub u64);

impl UtcTime {
    /// Parses RFC 3339 with a `Z` or `+00:00` offset: a phase is an
    /// agreement between people in different places, so it is written in
    /// UTC only. Sub-millisecond digits are refused rather than rounded.
    pub fn parse(s: &str) -> Result<UtcTime, GoalError> {
        use time::format_description::well_known::Rfc3339;
        let bad = |why: &str| GoalError::Invalid(format!("time {s:?}: {why}"));
        let t = time::OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| bad(&format!("not RFC 3339 ({e})")))?;
        if !t.offset().is_utc() {
            return Err(bad("must be UTC (end in Z)"));
        }
        let nanos = t.unix_timestamp_nanos();
        if nanos < 0 {
            return Err(bad("before 1970"));
        }
        if nanos % 1_000_000 != 0 {
            return Err(bad("finer than a millisecond"));
        }
        let ms = u64::try_from(nanos / 1_000_000).map_err(|_| bad("out of range"))?;
        if ms > MAX_TIME_MS {
            return Err(bad("after 9999-12-31T23:59:59Z"));
        }
        Ok(UtcTime(ms))
    }
}

impl fmt::Display for UtcTime {
    /// RFC 3339 UTC; milliseconds only when there are some, so a time
    /// written in whole seconds reads back as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use time::macros::format_description;
        let t = i128::from(self.0.min(MAX_TIME_MS)) * 1_000_000;
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(t) else {
            return write!(f, "{} ms after the Unix epoch", self.0);
        };
        let text = if self.0.is_multiple_of(1000) {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
        } else {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
        };
        match text {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{} ms after the Unix epoch", self.0),
        }
    }
}

impl Serialize for UtcTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UtcTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        UtcTime::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One `[[phases]]` entry: a window in which submissions are taken, with
/// the quotas that apply in it. A phase opens at `opens_at` and is closed
/// from `closes_at` on (half-open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// `[a-z0-9][a-z0-9-]{0,63}`, unique within the goal.
    pub name: String,
    /// First instant submissions are taken.
    pub opens_at: UtcTime,
    /// First instant they are no longer taken.
    pub closes_at: UtcTime,
    /// Evaluated submissions per contributor per UTC day in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_day: Option<u32>,
    /// Evaluated submissions per contributor in the whole phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total: Option<u32>,
}

/// What a board row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoardRows {
    /// Every accepted pack is a row (one contributor may hold many).
    #[default]
    PerPack,
    /// A contributor's best entry is their one row.
    PerContributor,
}

/// The hidden seed set: how many, and the commitment to the secret they
/// are derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HiddenSeeds {
    /// [`commitment`] of the secret.
    pub commitment: Hash32,
    /// Seeds derived from it, `1..=MAX_HIDDEN_SEEDS`.
    pub count: u32,
}

fn default_final_selections() -> u32 {
    2
}

/// `[competition]` in a goal file: everything but the phases, which are
/// the top-level `[[phases]]` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompetitionOptions {
    /// The final seed set, revealed after the last phase closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_seeds: Option<HiddenSeeds>,
    /// Entries per contributor that the final evaluation counts (default 2).
    #[serde(default = "default_final_selections")]
    pub final_selections: u32,
    /// One row per pack (default) or per contributor.
    #[serde(default)]
    pub board: BoardRows,
}

impl Default for CompetitionOptions {
    fn default() -> Self {
        CompetitionOptions {
            hidden_seeds: None,
            final_selections: default_final_selections(),
            board: BoardRows::PerPack,
        }
    }
}

/// A goal's competition rules, as the manifest (and so the goal hash)
/// carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Competition {
    /// Submission windows in time order; none means always open.
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// See [`CompetitionOptions`].
    #[serde(flatten)]
    pub options: CompetitionOptions,
}

/// Why a submission at some time falls outside every phase. Each variant
/// names the phase and its times, so the contributor knows when to come
/// back (or that the competition is over).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhaseRefusal {
    /// Before the first phase.
    #[error("the competition has not opened: phase {phase} opens at {opens_at}")]
    NotYetOpen {
        /// The first phase.
        phase: String,
        /// When it opens.
        opens_at: UtcTime,
    },
    /// Between two phases.
    #[error("phase {previous} closed at {closed_at}; phase {next} opens at {opens_at}")]
    BetweenPhases {
        /// The phase that closed.
        previous: String,
        /// When it closed.
        closed_at: UtcTime,
        /// The next phase.
        next: String,
        /// When it opens.
        opens_at: UtcTime,
    },
    /// After the last phase.
    #[error("the competition is closed: its last phase {phase} closed at {closed_at}")]
    Closed {
        /// The last phase.
        phase: String,
        /// When it closed.
        closed_at: UtcTime,
    },
}

impl PhaseRefusal {
    /// Stable snake_case code (API, metrics).
    pub fn code(&self) -> &'static str {
        match self {
            PhaseRefusal::NotYetOpen { .. } => "phase_not_open",
            PhaseRefusal::BetweenPhases { .. } => "between_phases",
            PhaseRefusal::Closed { .. } => "competition_closed",
        }
    }
}

impl Competition {
    /// Builds and checks the manifest form from a goal file's parts.
    pub fn from_spec(
        phases: &[Phase],
        options: Option<&CompetitionOptions>,
    ) -> Result<Option<Competition>, GoalError> {
        if phases.is_empty() && options.is_none() {
            return Ok(None);
        }
        let c = Competition {
            phases: phases.to_vec(),
            options: options.cloned().unwrap_or_default(),
        };
        c.validate()?;
        Ok(Some(c))
    }

    /// Checks every rule: names, order, no overlap, quotas, selections,
    /// and that hidden seeds have a close to be revealed after.
    pub fn validate(&self) -> Result<(), GoalError> {
        let invalid = |m: String| Err(GoalError::Invalid(m));
        if self.phases.len() > MAX_PHASES {
            return invalid(format!("at most {MAX_PHASES} phases"));
        }
        for (i, p) in self.phases.iter().enumerate() {
            check_slug(&p.name).map_err(|e| GoalError::Invalid(format!("phase name: {e}")))?;
            if self.phases[..i].iter().any(|q| q.name == p.name) {
                return invalid(format!("phase name {:?} appears twice", p.name));
            }
            if p.opens_at >= p.closes_at {
                return invalid(format!(
                    "phase {}: opens_at {} is not before closes_at {}",
                    p.name, p.opens_at, p.closes_at
                ));
            }
            if let Some(prev) = i.checked_sub(1).map(|j| &self.phases[j])
                && prev.closes_at > p.opens_at
            {
                return invalid(format!(
                    "phase {} opens at {}, before phase {} closes at {}: phases are listed in time order and do not overlap",
                    p.name, p.opens_at, prev.name, prev.closes_at
                ));
            }
            for (field, v) in [("max_per_day", p.max_per_day), ("max_total", p.max_total)] {
                if v == Some(0) {
                    return invalid(format!(
                        "phase {}: {field} must be at least 1 (leave it out for no limit)",
                        p.name
                    ));
                }
            }
        }
        let o = &self.options;
        if o.final_selections == 0 || o.final_selections > MAX_FINAL_SELECTIONS {
            return invalid(format!(
                "competition.final_selections must be 1..={MAX_FINAL_SELECTIONS}"
            ));
        }
        if let Some(h) = &o.hidden_seeds {
            if h.count == 0 || h.count > MAX_HIDDEN_SEEDS {
                return invalid(format!(
                    "competition.hidden_seeds.count must be 1..={MAX_HIDDEN_SEEDS}"
                ));
            }
            if self.phases.is_empty() {
                return invalid(
                    "competition.hidden_seeds needs at least one [[phases]] entry: the seeds are revealed after the last phase closes"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The phase open at `t_ms`, `Ok(None)` when the goal has no phases
    /// (always open), or why nothing is open.
    pub fn phase_at(&self, t_ms: u64) -> Result<Option<&Phase>, PhaseRefusal> {
        let Some(first) = self.phases.first() else {
            return Ok(None);
        };
        if t_ms < first.opens_at.0 {
            return Err(PhaseRefusal::NotYetOpen {
                phase: first.name.clone(),
                opens_at: first.opens_at,
            });
        }
        for (i, p) in self.phases.iter().enumerate() {
            if t_ms < p.closes_at.0 {
                if t_ms >= p.opens_at.0 {
                    return Ok(Some(p));
                }
                let prev = &self.phases[i - 1];
                return Err(PhaseRefusal::BetweenPhases {
                    previous: prev.name.clone(),
                    closed_at: prev.closes_at,
                    next: p.name.clone(),
                    opens_at: p.opens_at,
                });
            }
        }
        let last = &self.phases[self.phases.len() - 1];
        Err(PhaseRefusal::Closed {
            phase: last.name.clone(),
            closed_at: last.closes_at,
        })
    }

    /// When the last phase closes: from then on the hidden seeds may be
    /// revealed. `None` without phases.
    pub fn closes_at(&self) -> Option<UtcTime> {
        self.phases.last().map(|p| p.closes_at)
    }

    /// The trailing fields of a `ian/goal/v2` manifest.
    pub(crate) fn encode_into(&self, e: &mut Encoder) {
        e.count(self.phases.len());
        for p in &self.phases {
            e.str(&p.name).u64(p.opens_at.0).u64(p.closes_at.0);
            e.option(p.max_per_day.as_ref(), |e, v| {
                e.u32(*v);
            });
            e.option(p.max_total.as_ref(), |e, v| {
                e.u32(*v);
            });
        }
        e.option(self.options.hidden_seeds.as_ref(), |e, h| {
            e.hash(&h.commitment).u32(h.count);
        });
        e.u32(self.options.final_selections);
        e.u8(match self.options.board {
            BoardRows::PerPack => 0,
            BoardRows::PerContributor => 1,
        });
    }

    /// Reads what [`Competition::encode_into`] wrote and validates it.
    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Competition, DecodeError> {
        let n = d.count("goal.phases", MAX_PHASES, 30)?;
        let mut phases = Vec::with_capacity(n);
        for _ in 0..n {
            let name = d
                .str("goal.phase.name", crate::goal::MAX_GOAL_ID_BYTES)?
                .to_string();
            let opens_at = UtcTime(d.u64("goal.phase.opens_at")?);
            let closes_at = UtcTime(d.u64("goal.phase.closes_at")?);
            let max_per_day = if d.option_tag("goal.phase.max_per_day")? {
                Some(d.u32("goal.phase.max_per_day")?)
            } else {
                None
            };
            let max_total = if d.option_tag("goal.phase.max_total")? {
                Some(d.u32("goal.phase.max_total")?)
            } else {
                None
            };
            for t in [opens_at, closes_at] {
                if t.0 > MAX_TIME_MS {
                    return Err(DecodeError::invalid(
                        "goal.phase",
                        "a time after 9999-12-31T23:59:59Z",
                    ));
                }
            }
            phases.push(Phase {
                name,
                opens_at,
                closes_at,
                max_per_day,
                max_total,
            });
        }
        let hidden_seeds = if d.option_tag("goal.hidden_seeds")? {
            Some(HiddenSeeds {
                commitment: d.hash("goal.hidden_seeds.commitment")?,
                count: d.u32("goal.hidden_seeds.count")?,
            })
        } else {
            None
        };
        let final_selections = d.u32("goal.final_selections")?;
        let board = match d.u8("goal.board")? {
            0 => BoardRows::PerPack,
            1 => BoardRows::PerContributor,
            b => {
                return Err(DecodeError::invalid(
                    "goal.board",
                    format!("unknown board kind {b}"),
                ));
            }
        };
        let c = Competition {
            phases,
            options: CompetitionOptions {
                hidden_seeds,
                final_selections,
                board,
            },
        };
        c.validate()
            .map_err(|e| DecodeError::invalid("goal.competition", e))?;
        Ok(c)
    }
}

/// The secret the hidden seeds are derived from. It never reaches a node
/// or a log before the reveal; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedSecret([u8; SECRET_BYTES]);

impl fmt::Debug for SeedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedSecret(..)")
    }
}

/// A secret file that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a hidden-seed secret is {SECRET_BYTES} bytes written as 64 hex digits; {0}")]
pub struct SecretError(String);

impl SeedSecret {
    /// The secret from its bytes (the caller drew them from a CSPRNG).
    pub fn from_bytes(b: [u8; SECRET_BYTES]) -> SeedSecret {
        SeedSecret(b)
    }

    /// Parses 64 hex digits, surrounding whitespace allowed (a file with
    /// a trailing newline).
    pub fn from_hex(s: &str) -> Result<SeedSecret, SecretError> {
        let s = s.trim();
        if s.len() != 2 * SECRET_BYTES {
            return Err(SecretError(format!("got {} characters", s.len())));
        }
        let mut b = [0u8; SECRET_BYTES];
        hex::decode_to_slice(s, &mut b).map_err(|e| SecretError(e.to_string()))?;
        Ok(SeedSecret(b))
    }

    /// The 64 hex digits (what a secret file holds).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; SECRET_BYTES] {
        &self.0
    }

    /// The commitment a goal manifest carries (see the module docs).
    pub fn commitment(&self) -> Hash32 {
        let mut e = Encoder::new(domain::HIDDEN_SEEDS_COMMITMENT);
        e.bytes(&self.0);
        sha256(&e.finish())
    }

    /// Hidden seed `i` (see the module docs).
    pub fn seed(&self, i: u32) -> u64 {
        let mut e = Encoder::new(domain::HIDDEN_SEED);
        e.bytes(&self.0).u32(i);
        let h = sha256(&e.finish());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.0[..8]);
        u64::from_be_bytes(first)
    }

    /// The first `count` hidden seeds, in order.
    pub fn seeds(&self, count: u32) -> Vec<u64> {
        (0..count).map(|i| self.seed(i)).collect()
    }
}

/// The UTC day `t_ms` falls in (days since the Unix epoch): quotas per day
/// reset at 00:00 UTC.
pub fn utc_day(t_ms: u64) -> u64 {
    t_ms / DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> UtcTime {
        UtcTime::parse(s).unwrap()
    }

    fn phase(name: &str, opens: &str, closes: &str) -> Phase {
        Phase {
            name: name.into(),
            opens_at: t(opens),
            closes_at: t(closes),
            max_per_day: None,
            max_total: None,
        }
    }

    fn two_phases() -> Competition {
        Competition {
            phases: vec![
                phase("warm-up", "2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z"),
                phase("main", "2026-12-10T00:00:00Z", "2026-12-20T12:00:00Z"),
            ],
            options: CompetitionOptions::default(),
        }
    }

    #[test]
    fn rfc3339_utc_parses_to_milliseconds_and_prints_back() {
        assert_eq!(t("1970-01-01T00:00:00Z").0, 0);
        assert_eq!(t("2026-12-06T12:00:00Z").0, 1_796_558_400_000);
        assert_eq!(t("2026-12-06T12:00:00.250Z").0, 1_796_558_400_250);
        assert_eq!(t("2026-12-06T12:00:00+00:00").0, 1_796_558_400_000);
        for s in ["2026-12-06T12:00:00Z", "2026-12-06T12:00:00.250Z"] {
            assert_eq!(t(s).to_string(), s);
        }
    }

    #[test]
    fn times_with_an_offset_or_below_a_millisecond_are_refused() {
        for (s, why) in [
            ("2026-12-06T12:00:00+01:00", "UTC"),
            ("2026-12-06T12:00:00.0001Z", "millisecond"),
            ("2026-12-06 12:00", "RFC 3339"),
            ("1969-12-31T23:59:59Z", "1970"),
        ] {
            let e = UtcTime::parse(s).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(s), "{s}: {e}");
        }
    }

    #[test]
    fn a_time_decides_its_phase_half_open() {
        let c = two_phases();
        let at = |s: &str| c.phase_at(t(s).0).map(|p| p.map(|p| p.name.clone()));
        assert_eq!(at("2026-12-01T00:00:00Z"), Ok(Some("warm-up".into())));
        assert_eq!(at("2026-12-07T23:59:59.999Z"), Ok(Some("warm-up".into())));
        assert_eq!(
            at("2026-12-20T12:00:00Z").unwrap_err().code(),
            "competition_closed"
        );
        assert_eq!(
            at("2026-11-30T23:59:59Z").unwrap_err().code(),
            "phase_not_open"
        );
        let between = at("2026-12-08T00:00:00Z").unwrap_err();
        assert_eq!(between.code(), "between_phases");
        let text = between.to_string();
        assert!(
            text.contains("warm-up")
                && text.contains("main")
                && text.contains("2026-12-10T00:00:00Z"),
            "{text}"
        );
        assert_eq!(Competition::default_open().phase_at(0), Ok(None));
    }

    impl Competition {
        fn default_open() -> Competition {
            Competition {
                phases: vec![],
                options: CompetitionOptions::default(),
            }
        }
    }

    #[test]
    fn overlapping_reversed_or_duplicate_phases_are_refused() {
        let mut c = two_phases();
        c.phases[1].opens_at = t("2026-12-07T00:00:00Z");
        assert!(c.validate().unwrap_err().to_string().contains("overlap"));
        let mut c = two_phases();
        c.phases[0].closes_at = c.phases[0].opens_at;
        assert!(c.validate().unwrap_err().to_string().contains("not before"));
        let mut c = two_phases();
        c.phases[1].name = "warm-up".into();
        assert!(c.validate().unwrap_err().to_string().contains("twice"));
        let mut c = two_phases();
        c.phases[0].max_per_day = Some(0);
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("max_per_day")
        );
    }

    #[test]
    fn hidden_seeds_need_a_close_to_be_revealed_after() {
        let mut c = Competition::default_open();
        c.options.hidden_seeds = Some(HiddenSeeds {
            commitment: Hash32([0; 32]),
            count: 4,
        });
        assert!(c.validate().unwrap_err().to_string().contains("[[phases]]"));
        c.phases = two_phases().phases;
        c.validate().unwrap();
        c.options.hidden_seeds.as_mut().unwrap().count = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn competition_encoding_round_trips_and_refuses_unknown_boards() {
        let mut c = two_phases();
        c.phases[1].max_per_day = Some(5);
        c.phases[1].max_total = Some(40);
        c.options.board = BoardRows::PerContributor;
        c.options.hidden_seeds = Some(HiddenSeeds {
            commitment: Hash32([7; 32]),
            count: 3,
        });
        let mut e = Encoder::new("test");
        c.encode_into(&mut e);
        let bytes = e.finish();
        let mut d = Decoder::new(&bytes, "test").unwrap();
        assert_eq!(Competition::decode_from(&mut d).unwrap(), c);
        d.finish().unwrap();
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() = 9;
        let mut d = Decoder::new(&bad, "test").unwrap();
        assert!(Competition::decode_from(&mut d).is_err());
    }

    #[test]
    fn a_secret_parses_from_64_hex_digits_only_and_never_prints() {
        let s = SeedSecret::from_hex(&format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(s.to_hex(), "ab".repeat(32));
        assert_eq!(format!("{s:?}"), "SeedSecret(..)");
        assert!(SeedSecret::from_hex("abcd").is_err());
        assert!(SeedSecret::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn seeds_depend_on_every_secret_bit_and_their_index() {
        let a = SeedSecret::from_bytes([0; 32]);
        let mut b = [0; 32];
        b[31] = 1;
        let b = SeedSecret::from_bytes(b);
        assert_ne!(a.commitment(), b.commitment());
        assert_ne!(a.seed(0), b.seed(0));
        assert_ne!(a.seed(0), a.seed(1));
        assert_eq!(a.seeds(3), vec![a.seed(0), a.seed(1), a.seed(2)]);
    }

    #[test]
    fn utc_days_turn_at_midnight() {
        assert_eq!(
            utc_day(t("2026-12-06T23:59:59.999Z").0) + 1,
            utc_day(t("2026-12-07T00:00:00Z").0)
        );
    }
}
