//! The values a policy file spells by hand: durations (`30m`, `72h`, `7d`), host limits
//! (`2`, `10%`) and integrity problem kinds. Each parses where serde_yaml can still point
//! at the line, and says what a correct value looks like when it refuses one.

use std::fmt;

use patchgap_probe::report::{IntegrityFinding, Problem};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A duration as written in the file, e.g. `72h`; kept as text for the reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Age {
    pub secs: i64,
    text: String,
}

impl Age {
    /// Parses `30m`, `72h`, `7d`, `1d 12h` (humantime's syntax). A bare number is refused:
    /// whether it meant seconds or hours is exactly what a policy must not leave open.
    pub fn parse(text: &str) -> Result<Age, String> {
        let text = text.trim();
        let fix = "write a number and a unit, e.g. `30m`, `72h` or `7d`";
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("duration `{text}` has no unit: {fix}"));
        }
        let duration = humantime::parse_duration(text)
            .map_err(|e| format!("duration `{text}`: {e}; {fix}"))?;
        let secs = i64::try_from(duration.as_secs())
            .map_err(|_| format!("duration `{text}` is too long; {fix}"))?;
        if secs == 0 {
            return Err(format!(
                "duration `{text}` is zero; {fix}, or leave `max_age` out"
            ));
        }
        Ok(Age {
            secs,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AgeVisitor;
        impl Visitor<'_> for AgeVisitor {
            type Value = Age;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `30m`, `72h` or `7d`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Age, E> {
                Age::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Age, E> {
                Age::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Age, E> {
                Age::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(AgeVisitor)
    }
}

/// How many failed hosts a fleet may have: a count, or a share of the selected hosts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HostLimit {
    Count(u64),
    /// 0 to 100.
    Percent(f64),
}

impl HostLimit {
    fn parse(text: &str) -> Result<HostLimit, String> {
        let text = text.trim();
        let fix = "write a number of hosts (`2`) or a share of them (`10%`)";
        if let Some(number) = text.strip_suffix('%') {
            let percent: f64 = number
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a percentage; {fix}"))?;
            if !(0.0..=100.0).contains(&percent) {
                return Err(format!("`{text}` is not between 0% and 100%; {fix}"));
            }
            return Ok(HostLimit::Percent(percent));
        }
        text.parse()
            .map(HostLimit::Count)
            .map_err(|_| format!("`{text}` is not a number of hosts; {fix}"))
    }

    /// Whether `failed` of `total` hosts is more than the limit allows.
    pub fn exceeded(self, failed: usize, total: usize) -> bool {
        match self {
            HostLimit::Count(max) => failed as u64 > max,
            // failed / total > p / 100, in exact arithmetic as far as f64 holds host counts.
            HostLimit::Percent(p) => failed as f64 * 100.0 > p * total as f64,
        }
    }
}

impl fmt::Display for HostLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostLimit::Count(n) => write!(f, "{n}"),
            HostLimit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl<'de> Deserialize<'de> for HostLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LimitVisitor;
        impl Visitor<'_> for LimitVisitor {
            type Value = HostLimit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of hosts (`2`) or a share of them (`10%`)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HostLimit, E> {
                HostLimit::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HostLimit, E> {
                Ok(HostLimit::Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HostLimit, E> {
                HostLimit::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(LimitVisitor)
    }
}

/// An integrity problem as a policy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A modified packaged file that processes run or map right now.
    ModifiedInUse,
    /// A packaged file (not a conffile) whose content differs, not in use.
    #[serde(alias = "changed")]
    Modified,
    /// A packaged file (not a conffile) that is absent.
    Missing,
    /// A packaged file that exists but could not be read.
    Unreadable,
    /// A conffile whose content differs: usually an admin's edit.
    #[serde(alias = "conffile_changed")]
    ConffileModified,
    /// A conffile that is absent.
    ConffileMissing,
}

impl ProblemKind {
    /// What an `integrity` rule without `problems` checks: what the audit's own exit status
    /// counts as a finding.
    pub const DEFAULT: [ProblemKind; 3] = [
        ProblemKind::ModifiedInUse,
        ProblemKind::Modified,
        ProblemKind::Missing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::ModifiedInUse => "modified_in_use",
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::ConffileModified => "conffile_modified",
            ProblemKind::ConffileMissing => "conffile_missing",
        }
    }

    /// The kind of one finding of the probe's integrity check.
    pub fn of(finding: &IntegrityFinding) -> ProblemKind {
        match (&finding.problem, finding.conffile) {
            (Problem::ModifiedInUse { .. }, _) => ProblemKind::ModifiedInUse,
            // A change found against the checksum baseline is a modification like one found
            // against dpkg's sums: the same policy rules apply to both.
            (Problem::Changed { .. } | Problem::ChangedSinceBaseline { .. }, false) => {
                ProblemKind::Modified
            }
            (Problem::Changed { .. } | Problem::ChangedSinceBaseline { .. }, true) => {
                ProblemKind::ConffileModified
            }
            (Problem::Missing, false) => ProblemKind::Missing,
            (Problem::Missing, true) => ProblemKind::ConffileMissing,
            (Problem::Unreadable { .. }, _) => ProblemKind::Unreadable,
        }
    }
}
