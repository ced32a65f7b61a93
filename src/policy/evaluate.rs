//! A policy's rules applied to a fleet report. Pure: ages are measured from each host's own
//! `scanned_at`, never from the wall clock, so the same report always gets the same verdict
//! (and tests are deterministic).
//!
//! Unknown ages: a process without `stale_since`, or a pending reboot whose reasons carry no
//! time (the flag file alone, a kernel installed before boot), is taken as having started
//! at the scan ("pending now"): a rule with `max_age` does not fire on it yet; a rule
//! without `max_age` does, and its detail says the age is unknown. docs/policy.md says so.

use std::collections::BTreeMap;

use patchgap_probe::Report;
use patchgap_probe::glob::Syntax;
use patchgap_probe::report::{Owner, StaleProcess};

use super::{Check, Ignore, Policy, ProblemKind, Rule};
use crate::outcome::HostResult;
use crate::report::{FleetReport, Level, PolicyOutcome, RuleOutcome, Violation, failure_label};

/// The verdict of a policy on a report, and what the exit status needs beyond it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub outcome: PolicyOutcome,
    /// Hosts that failed and that the policy does not accept: none ignored them, and no
    /// `failed_hosts` rule at a level below `fail` allows them. They keep exit status 4.
    pub hosts_failed: usize,
}

/// Applies every rule of `policy` to `report`.
pub fn evaluate(policy: &Policy, report: &FleetReport) -> Evaluation {
    let hosts: Vec<Host> = report
        .hosts
        .iter()
        .filter(|h| {
            !policy
                .ignore
                .iter()
                .any(|i| i.whole_host() && on_host(i, &h.host))
        })
        .map(|h| Host {
            name: &h.host,
            state: match &h.result {
                HostResult::Audited { report, .. } => State::Audited(report.report()),
                HostResult::Failed { failure, .. } => State::Failed(failure_label(*failure)),
            },
            ignore: policy
                .ignore
                .iter()
                .filter(|i| !i.whole_host() && on_host(i, &h.host))
                .collect(),
        })
        .collect();
    let rules: Vec<RuleOutcome> = policy.rules.iter().map(|r| rule(r, &hosts)).collect();
    let failed = hosts
        .iter()
        .filter(|h| matches!(h.state, State::Failed(_)))
        .count();
    let mut judged = policy
        .rules
        .iter()
        .zip(&rules)
        .filter(|(r, _)| matches!(r.check, Check::FailedHosts { .. }))
        .peekable();
    let tolerated = judged.peek().is_some() && judged.all(|(_, o)| o.level < Level::Fail);
    Evaluation {
        outcome: PolicyOutcome {
            source: policy.source.clone(),
            level: rules.iter().map(|r| r.level).max().unwrap_or_default(),
            rules,
        },
        hosts_failed: if tolerated { 0 } else { failed },
    }
}

/// A host as the rules see it, with the ignore entries that apply to it.
struct Host<'a> {
    name: &'a str,
    state: State<'a>,
    ignore: Vec<&'a Ignore>,
}

enum State<'a> {
    Audited(&'a Report),
    /// With the failure's label.
    Failed(&'static str),
}

/// Whether an ignore entry applies on `host` (an inventory-style host glob, as `--limit`).
fn on_host(ignore: &Ignore, host: &str) -> bool {
    ignore
        .hosts
        .as_deref()
        .is_none_or(|pattern| crate::glob::matches(pattern, host))
}

/// Units, packages: the `--limit` dialect. Paths: dpkg's `path-exclude` dialect.
fn any_matches(patterns: &[String], name: &str, syntax: Syntax) -> bool {
    patterns.iter().any(|p| syntax.matches(p, name))
}

impl Host<'_> {
    fn report(&self) -> Option<&Report> {
        match self.state {
            State::Audited(report) => Some(report),
            State::Failed(_) => None,
        }
    }

    /// A process is ignored when its unit is, or when every one of its findings is (by
    /// package or path).
    fn ignores_process(&self, process: &StaleProcess) -> bool {
        let units = owner_units(&process.owner);
        self.ignore.iter().any(|i| {
            units
                .iter()
                .any(|u| any_matches(&i.units, u, Syntax::PYTHON_FNMATCH))
        }) || (!process.findings.is_empty()
            && process
                .findings
                .iter()
                .all(|f| self.ignores_file(f.package.as_deref(), &f.path)))
    }

    fn ignores_file(&self, package: Option<&str>, path: &str) -> bool {
        self.ignore.iter().any(|i| {
            package.is_some_and(|p| any_matches(&i.packages, p, Syntax::PYTHON_FNMATCH))
                || any_matches(&i.paths, path, Syntax::FNMATCH)
        })
    }

    /// The stale processes no ignore entry covers, with the host's report.
    fn processes(&self) -> impl Iterator<Item = (&Report, &StaleProcess)> {
        self.report().into_iter().flat_map(move |report| {
            report
                .processes
                .iter()
                .filter(move |p| !self.ignores_process(p))
                .map(move |p| (report, p))
        })
    }
}

/// The names an ignore entry's `units` can match for an owner.
fn owner_units(owner: &Owner) -> Vec<String> {
    match owner {
        Owner::Service { unit } => vec![unit.clone()],
        Owner::UserManager { uid, unit } => {
            let mut units = vec![format!("user@{uid}.service")];
            units.extend(unit.clone());
            units
        }
        Owner::Session { id, .. } => vec![format!("session-{id}.scope")],
        Owner::Container { unit, .. } => unit.iter().cloned().collect(),
        Owner::SystemManager | Owner::Other { .. } => Vec::new(),
    }
}

fn rule(rule: &Rule, hosts: &[Host]) -> RuleOutcome {
    let violations = match &rule.check {
        Check::StaleServices { max_age } => by_owner(hosts, |o| match o {
            Owner::Service { unit } => Some(unit.clone()),
            _ => None,
        })
        .into_iter()
        .filter_map(|(host, subject, group)| {
            let detail = aged(
                "runs replaced code",
                group.since,
                group.scanned_at,
                max_age.as_ref().map(|a| (a.secs, a.to_string())),
            )?;
            Some(violation(
                host,
                subject,
                format!("{detail} ({})", group.comms()),
            ))
        })
        .collect(),
        Check::Sessions => owners_present(hosts, |o| match o {
            Owner::Session { id, .. } => Some(format!("session-{id}.scope")),
            Owner::UserManager { uid, .. } => Some(format!("user@{uid}.service")),
            _ => None,
        }),
        Check::Containers => owners_present(hosts, |o| match o {
            Owner::Container { runtime, id, .. } => Some(format!("{runtime}:{id}")),
            _ => None,
        }),
        Check::SystemManager => owners_present(hosts, |o| {
            matches!(o, Owner::SystemManager).then(|| "systemd (PID 1)".to_string())
        }),
        Check::RebootPending { max_age } => hosts
            .iter()
            .filter_map(|h| {
                let report = h.report()?;
                let reboot = &report.reboot;
                if !reboot.needed {
                    return None;
                }
                let since = reboot
                    .upgraded_since_boot
                    .iter()
                    .map(|p| p.changed_at)
                    .min();
                let detail = aged(
                    "pending",
                    since,
                    report.host.scanned_at,
                    max_age.as_ref().map(|a| (a.secs, a.to_string())),
                )?;
                let reasons: Vec<&str> =
                    reboot.reasons.iter().map(|r| r.message.as_str()).collect();
                Some(violation(
                    h.name,
                    "reboot".into(),
                    format!("{detail}: {}", reasons.join("; ")),
                ))
            })
            .collect(),
        Check::Integrity { problems } => hosts
            .iter()
            .filter_map(|h| Some((h, h.report()?.integrity.as_ref()?)))
            .flat_map(|(h, integrity)| {
                integrity.findings.iter().filter_map(move |f| {
                    let kind = ProblemKind::of(f);
                    (problems.contains(&kind) && !h.ignores_file(Some(&f.package), &f.path)).then(
                        || {
                            violation(
                                h.name,
                                f.path.clone(),
                                format!("{} (package {})", kind.as_str(), f.package),
                            )
                        },
                    )
                })
            })
            .collect(),
        Check::FailedHosts { max } => {
            let failed: Vec<String> = hosts
                .iter()
                .filter_map(|h| match h.state {
                    State::Failed(label) => Some(format!("{} ({label})", h.name)),
                    State::Audited(_) => None,
                })
                .collect();
            if max.exceeded(failed.len(), hosts.len()) {
                vec![Violation {
                    host: None,
                    subject: "failed hosts".into(),
                    detail: format!(
                        "{} of {} host(s) could not be audited (limit {max}): {}",
                        failed.len(),
                        hosts.len(),
                        failed.join(", ")
                    ),
                }]
            } else {
                Vec::new()
            }
        }
    };
    RuleOutcome {
        id: rule.id.clone(),
        description: rule.check.to_string(),
        level: if violations.is_empty() {
            Level::Pass
        } else {
            rule.level
        },
        violations,
    }
}

fn violation(host: &str, subject: String, detail: String) -> Violation {
    Violation {
        host: Some(host.to_string()),
        subject,
        detail,
    }
}

/// The stale processes of one owner on one host.
struct Group<'a> {
    processes: Vec<&'a StaleProcess>,
    scanned_at: i64,
    /// The earliest `stale_since` of the group; `None` when none is known.
    since: Option<i64>,
}

impl Group<'_> {
    /// `nginx, nginx (2 processes)`: the command names, each once.
    fn comms(&self) -> String {
        let mut comms: Vec<&str> = self.processes.iter().map(|p| p.comm.as_str()).collect();
        comms.sort_unstable();
        comms.dedup();
        format!("{}; {} process(es)", comms.join(", "), self.processes.len())
    }
}

/// The not-ignored stale processes grouped by host and by the owner name `key` gives
/// (owners it returns `None` for are left out), in host order then name order.
fn by_owner<'a>(
    hosts: &'a [Host<'a>],
    key: impl Fn(&Owner) -> Option<String>,
) -> Vec<(&'a str, String, Group<'a>)> {
    let mut out = Vec::new();
    for host in hosts {
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for (report, process) in host.processes() {
            let Some(name) = key(&process.owner) else {
                continue;
            };
            let group = groups.entry(name).or_insert_with(|| Group {
                processes: Vec::new(),
                scanned_at: report.host.scanned_at,
                since: None,
            });
            group.processes.push(process);
            group.since = match (group.since, process.stale_since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        out.extend(groups.into_iter().map(|(name, g)| (host.name, name, g)));
    }
    out
}

/// One violation per owner that has stale processes at all.
fn owners_present(hosts: &[Host], key: impl Fn(&Owner) -> Option<String>) -> Vec<Violation> {
    by_owner(hosts, key)
        .into_iter()
        .map(|(host, subject, group)| {
            violation(
                host,
                subject,
                format!("runs replaced code ({})", group.comms()),
            )
        })
        .collect()
}

/// The detail of something `what` since `since`, measured at `scanned_at`, or `None` when
/// it is within `limit` (seconds, and as written). An unknown start counts as the scan
/// itself (age 0): within any limit, and said so when there is none.
fn aged(
    what: &str,
    since: Option<i64>,
    scanned_at: i64,
    limit: Option<(i64, String)>,
) -> Option<String> {
    let age = since.map(|s| scanned_at.saturating_sub(s).max(0));
    match (age, limit) {
        (Some(age), Some((max, text))) => {
            (age > max).then(|| format!("{what} for {} (limit {text})", human(age)))
        }
        (None, Some(_)) => None,
        (Some(age), None) => Some(format!("{what} for {}", human(age))),
        (None, None) => Some(format!("{what} since an unknown time")),
    }
}

/// An age for the violation's detail: `45 min`, `5 h`, `4 d 3 h`.
fn human(secs: i64) -> String {
    match secs {
        ..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ if secs % 86400 < 3600 => format!("{} d", secs / 86400),
        _ => format!("{} d {} h", secs / 86400, (secs % 86400) / 3600),
    }
}
