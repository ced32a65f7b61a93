//! `--policy FILE`: what a site accepts, written down once and applied to every report.
//! This file reads and validates the YAML file (docs/policy.md, examples/policy.yaml);
//! [`evaluate`] applies its rules to a [`FleetReport`](crate::report::FleetReport) and
//! fills the shared [`PolicyOutcome`](crate::report::PolicyOutcome) that every output
//! format shows.
//!
//! The format is strict on purpose: an unknown key, a rule field that does not belong to
//! its kind or a duration without a unit is an error naming the file, the line and column
//! (serde_yaml's location) or the rule, and the fix. A policy that silently means something
//! else than its author thinks would be worse than none. Errors are usage errors (exit 2).

mod evaluate;
mod values;

use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub use evaluate::{Evaluation, evaluate};
pub use values::{Age, HostLimit, ProblemKind};

use crate::exit::Verdict;
use crate::report::{FleetReport, Level};

/// The only version of the policy format so far.
pub const POLICY_VERSION: u32 = 1;

/// A policy file that cannot be used. Each message names the file and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("policy file {path}: {message}")]
    Syntax { path: String, message: String },
    #[error(
        "policy file {path}: `version: {found}` is not supported; this patchgap reads \
         `version: {POLICY_VERSION}`"
    )]
    Version { path: String, found: u32 },
    #[error("policy file {path}: {rule}: {message}")]
    Rule {
        path: String,
        rule: String,
        message: String,
    },
}

/// A parsed and validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The file, as given on the command line: reports name it.
    pub source: String,
    pub rules: Vec<Rule>,
    pub ignore: Vec<Ignore>,
}

/// One rule: what it checks, how bad breaking it is, and its identifier in reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule's `name`, or `KIND#N` (N counting from 1 in the file).
    pub id: String,
    /// `warn` or `fail`.
    pub level: Level,
    pub check: Check,
}

/// What a rule checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Services running replaced code, for longer than `max_age` when it is given.
    StaleServices { max_age: Option<Age> },
    /// Login sessions and user managers running replaced code.
    Sessions,
    /// Containers with processes running replaced code.
    Containers,
    /// PID 1 running replaced code.
    SystemManager,
    /// A reboot pending, for longer than `max_age` when it is given.
    RebootPending { max_age: Option<Age> },
    /// Integrity findings of these kinds.
    Integrity { problems: Vec<ProblemKind> },
    /// More hosts failed (unreachable, timeout, ...) than the limit allows.
    FailedHosts { max: HostLimit },
}

/// What a policy does not want to hear about. Globs: hosts as `--limit` patterns
/// (Python's `fnmatch`), units and packages the same way, paths as dpkg's `path-exclude`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    /// Only on hosts matching this glob; every host when absent.
    #[serde(default)]
    pub hosts: Option<String>,
    /// Processes of these units (services, user units, units in containers).
    #[serde(default)]
    pub units: Vec<String>,
    /// Findings of files of these packages (`:arch` included in the name when dpkg has it).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Findings of files at these paths.
    #[serde(default)]
    pub paths: Vec<String>,
}

impl Ignore {
    /// An entry that names only hosts leaves those hosts out altogether.
    pub fn whole_host(&self) -> bool {
        self.units.is_empty() && self.packages.is_empty() && self.paths.is_empty()
    }
}

/// The file as written: every key known, nothing checked across keys yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    ignore: Vec<Ignore>,
}

/// One rule as written. One flat map, so serde_yaml can point at the offending key; which
/// keys a kind takes is checked in [`RawRule::check`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    kind: RuleKind,
    #[serde(default)]
    name: Option<String>,
    level: RuleLevel,
    #[serde(default)]
    max_age: Option<Age>,
    #[serde(default)]
    problems: Option<Vec<ProblemKind>>,
    #[serde(default)]
    max: Option<HostLimit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RuleKind {
    StaleServices,
    Sessions,
    Containers,
    SystemManager,
    RebootPending,
    Integrity,
    FailedHosts,
}

impl RuleKind {
    fn as_str(self) -> &'static str {
        match self {
            RuleKind::StaleServices => "stale_services",
            RuleKind::Sessions => "sessions",
            RuleKind::Containers => "containers",
            RuleKind::SystemManager => "system_manager",
            RuleKind::RebootPending => "reboot_pending",
            RuleKind::Integrity => "integrity",
            RuleKind::FailedHosts => "failed_hosts",
        }
    }

    /// Whether a rule of this kind takes the optional `key`.
    fn takes(self, key: &str) -> bool {
        matches!(
            (self, key),
            (RuleKind::StaleServices | RuleKind::RebootPending, "max_age")
                | (RuleKind::Integrity, "problems")
                | (RuleKind::FailedHosts, "max")
        )
    }

    /// The optional keys this kind takes, for the error that names them.
    fn keys(self) -> &'static str {
        match self {
            RuleKind::StaleServices | RuleKind::RebootPending => "`max_age`",
            RuleKind::Integrity => "`problems`",
            RuleKind::FailedHosts => "`max` (required)",
            RuleKind::Sessions | RuleKind::Containers | RuleKind::SystemManager => "none",
        }
    }
}

/// `pass` is not a level a rule can assign: a rule that cannot fail checks nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RuleLevel {
    Warn,
    Fail,
}

impl RawRule {
    /// The rule, once its keys fit its kind. `Err` is the message for [`PolicyError::Rule`].
    fn check(self, id: String) -> Result<Rule, String> {
        let kind = self.kind;
        let given = [
            ("max_age", self.max_age.is_some()),
            ("problems", self.problems.is_some()),
            ("max", self.max.is_some()),
        ];
        for (key, present) in given {
            if present && !kind.takes(key) {
                return Err(format!(
                    "`{key}` does not apply to a `{}` rule (its keys: {}); remove it",
                    kind.as_str(),
                    kind.keys()
                ));
            }
        }
        let check = match kind {
            RuleKind::StaleServices => Check::StaleServices {
                max_age: self.max_age,
            },
            RuleKind::Sessions => Check::Sessions,
            RuleKind::Containers => Check::Containers,
            RuleKind::SystemManager => Check::SystemManager,
            RuleKind::RebootPending => Check::RebootPending {
                max_age: self.max_age,
            },
            RuleKind::Integrity => {
                let problems = self
                    .problems
                    .unwrap_or_else(|| ProblemKind::DEFAULT.to_vec());
                if problems.is_empty() {
                    return Err(
                        "`problems: []` checks nothing; list kinds, or leave the key \
                                out for the default (modified_in_use, modified, missing)"
                            .into(),
                    );
                }
                Check::Integrity { problems }
            }
            RuleKind::FailedHosts => Check::FailedHosts {
                max: self.max.ok_or(
                    "a `failed_hosts` rule needs `max`: a number of hosts (`max: 2`) or a share \
                     (`max: 10%`)",
                )?,
            },
        };
        Ok(Rule {
            id,
            level: match self.level {
                RuleLevel::Warn => Level::Warn,
                RuleLevel::Fail => Level::Fail,
            },
            check,
        })
    }
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: source.clone(),
            source: e,
        })?;
        Policy::parse(&source, &text)
    }

    /// Validates a policy's text; `source` names it in errors and reports.
    pub fn parse(source: &str, text: &str) -> Result<Policy, PolicyError> {
        let syntax = |message: String| PolicyError::Syntax {
            path: source.to_string(),
            message,
        };
        let raw: RawPolicy = serde_yaml::from_str(text).map_err(|e| syntax(yaml_message(&e)))?;
        if raw.version != POLICY_VERSION {
            return Err(PolicyError::Version {
                path: source.to_string(),
                found: raw.version,
            });
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(raw.rules.len());
        for (index, rule) in raw.rules.into_iter().enumerate() {
            let position = format!("{}#{}", rule.kind.as_str(), index + 1);
            let (id, label) = match &rule.name {
                Some(name) if name.trim().is_empty() => {
                    return Err(PolicyError::Rule {
                        path: source.to_string(),
                        rule: format!("rule {position}"),
                        message: "`name` is empty; give the rule a name or remove the key".into(),
                    });
                }
                Some(name) => (name.clone(), format!("rule `{name}` ({position})")),
                None => (position.clone(), format!("rule {position}")),
            };
            if rules.iter().any(|r| r.id == id) {
                return Err(PolicyError::Rule {
                    path: source.to_string(),
                    rule: label,
                    message: format!(
                        "another rule is already named `{id}`; names identify rules in reports, \
                         make them unique"
                    ),
                });
            }
            rules.push(rule.check(id).map_err(|message| PolicyError::Rule {
                path: source.to_string(),
                rule: label,
                message,
            })?);
        }
        for (index, entry) in raw.ignore.iter().enumerate() {
            if entry.whole_host() && entry.hosts.is_none() {
                return Err(PolicyError::Rule {
                    path: source.to_string(),
                    rule: format!("ignore entry {}", index + 1),
                    message: "it names nothing to ignore; give `hosts`, `units`, `packages` or \
                              `paths`"
                        .into(),
                });
            }
        }
        Ok(Policy {
            source: source.to_string(),
            rules,
            ignore: raw.ignore,
        })
    }
}

impl Policy {
    /// Judges `report`: stores the outcome in it, and returns `verdict` with the policy's
    /// say on the exit status (its level, and the failed hosts it does not accept).
    pub fn apply(&self, report: &mut FleetReport, verdict: Verdict) -> Verdict {
        let evaluation = evaluate(self, report);
        let level = evaluation.outcome.level;
        report.policy = Some(evaluation.outcome);
        Verdict {
            hosts_failed: evaluation.hosts_failed,
            policy: Some(level),
            ..verdict
        }
    }
}

/// Loads `--policy` when it was given.
pub fn load(args: &crate::cli::PolicyArgs) -> Result<Option<Policy>, PolicyError> {
    args.policy.as_deref().map(Policy::load).transpose()
}

/// serde_yaml's message with its location spelled out the same way every time.
fn yaml_message(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match e.location() {
        // serde_yaml appends " at line L column C" itself; keep one, put it first.
        Some(at) => {
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            let message = text.strip_suffix(&suffix).unwrap_or(&text);
            format!("line {}, column {}: {message}", at.line(), at.column())
        }
        None => text,
    }
}

impl fmt::Display for Check {
    /// The rule in words, as reports describe it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::StaleServices { max_age: None } => {
                write!(f, "no service may run replaced code")
            }
            Check::StaleServices { max_age: Some(age) } => {
                write!(f, "a service may run replaced code for at most {age}")
            }
            Check::Sessions => write!(f, "no login session or user manager may run replaced code"),
            Check::Containers => write!(f, "no container may run replaced code"),
            Check::SystemManager => {
                write!(f, "the system manager (PID 1) may not run replaced code")
            }
            Check::RebootPending { max_age: None } => write!(f, "no reboot may be pending"),
            Check::RebootPending { max_age: Some(age) } => {
                write!(f, "a reboot may be pending for at most {age}")
            }
            Check::Integrity { problems } => {
                let kinds: Vec<&str> = problems.iter().map(|p| p.as_str()).collect();
                write!(f, "no integrity finding of kind {}", kinds.join(", "))
            }
            Check::FailedHosts { max } => write!(f, "at most {max} of the hosts may fail"),
        }
    }
}

#[cfg(test)]
mod tests;
