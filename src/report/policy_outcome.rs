//! The verdict of a `--policy` file, as every output format shows it. The policy module
//! evaluates rules against a report and fills a [`PolicyOutcome`]; renderers only display
//! it (a JSON field, a JUnit testcase per rule, a Nagios status, an HTML banner), and
//! `exit.rs` turns its overall [`Level`] into the exit status. Kept apart from the rules
//! themselves so that a renderer never needs to know how a rule is written.

use serde::{Deserialize, Serialize};

/// How bad a rule's result is. Ordered: `Pass < Warn < Fail`, so the worst of several is
/// their maximum.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The rule holds.
    #[default]
    Pass,
    /// The rule is broken, and the policy says to warn.
    Warn,
    /// The rule is broken, and the policy says to fail.
    Fail,
}

impl Level {
    /// The word used in every format: `pass`, `warn`, `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Pass => "pass",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// Every rule of one policy file, evaluated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyOutcome {
    /// The policy file, as given with `--policy`.
    pub source: String,
    /// The worst level of all rules.
    pub level: Level,
    /// One entry per rule, in the file's order.
    pub rules: Vec<RuleOutcome>,
}

/// One rule and what broke it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// A stable identifier: the rule's `name` in the file, or its kind and position.
    pub id: String,
    /// The rule in words, e.g. "a service may run replaced code for at most 72 h".
    pub description: String,
    /// `pass` when nothing broke it; otherwise the level the rule assigns.
    pub level: Level,
    /// What broke it; empty when it passed.
    pub violations: Vec<Violation>,
}

/// One thing that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The host, or `None` for a fleet-wide rule (e.g. the share of unreachable hosts).
    pub host: Option<String>,
    /// What is at fault: a unit, a package, a path, "reboot", "unreachable hosts".
    pub subject: String,
    /// Why, in words, with the figures: "has run replaced code for 96 h (limit 72 h)".
    pub detail: String,
}
