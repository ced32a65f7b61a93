//! `--format nagios`: a Nagios/Icinga plugin's output, per the monitoring-plugins
//! guidelines. One status line, `PATCHGAP STATUS - text | perfdata`, then one detail line per
//! host that needs something (and per failed host, and per policy rule that did not pass).
//!
//! The status comes from thresholds on three counts (see [`Thresholds`]): services to
//! restart, hosts waiting for a reboot, hosts that could not be audited; a `--policy` verdict
//! raises it further (warn: WARNING, fail: CRITICAL). UNKNOWN means nothing could be checked
//! (no host audited). `exit.rs` turns the same [`NagiosStatus`] into the exit status when
//! this format goes to stdout; this module only computes it and writes text.
//!
//! Host-supplied text appears only on the detail lines, made safe for a terminal and a
//! plugin parser: no control characters, and no `|` (which would start perfdata).

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use patchgap_probe::Report;

use super::actions::RebootVerdict;
use super::aggregate::{FleetSummary, failure_label, summarize};
use super::document::FleetReport;
use super::policy_outcome::{Level, PolicyOutcome};
use super::render::{Render, host_as_fleet};
use super::sanitize::for_terminal;

/// A plugin status, in the guidelines' order of badness (UNKNOWN last: "could not check").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NagiosStatus {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl NagiosStatus {
    pub fn label(self) -> &'static str {
        match self {
            NagiosStatus::Ok => "OK",
            NagiosStatus::Warning => "WARNING",
            NagiosStatus::Critical => "CRITICAL",
            NagiosStatus::Unknown => "UNKNOWN",
        }
    }
}

/// What a threshold is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Services to restart, summed over the audited hosts.
    Services,
    /// Hosts waiting for a reboot.
    Reboot,
    /// Hosts that could not be audited (any failure, not only "unreachable").
    Unreachable,
}

impl Measure {
    const ALL: [Measure; 3] = [Measure::Services, Measure::Reboot, Measure::Unreachable];

    fn name(self) -> &'static str {
        match self {
            Measure::Services => "services",
            Measure::Reboot => "reboot",
            Measure::Unreachable => "unreachable",
        }
    }
}

/// One `--warning` or `--critical` value: `KEY=N` pairs separated by commas, where KEY is
/// `services`, `reboot` or `unreachable` and N is the count at which the status is raised
/// (`>= N`), or `off`. Keys not given keep their default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitSpec(Vec<(Measure, Option<u64>)>);

/// Why a `--warning`/`--critical` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitSpecError {
    #[error("`{0}` is not KEY=N; write e.g. services=1,reboot=1,unreachable=1")]
    NotAPair(String),
    #[error("unknown threshold `{0}`; the known ones are services, reboot, unreachable")]
    UnknownKey(String),
    #[error("`{0}` is not a count; give a whole number (the status is raised at >= N) or `off`")]
    NotACount(String),
}

impl FromStr for LimitSpec {
    type Err = LimitSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut pairs = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| LimitSpecError::NotAPair(pair.to_string()))?;
            let measure = Measure::ALL
                .into_iter()
                .find(|m| m.name() == key.trim())
                .ok_or_else(|| LimitSpecError::UnknownKey(key.trim().to_string()))?;
            let value = match value.trim() {
                "off" => None,
                n => Some(
                    n.parse::<u64>()
                        .map_err(|_| LimitSpecError::NotACount(n.to_string()))?,
                ),
            };
            pairs.push((measure, value));
        }
        Ok(LimitSpec(pairs))
    }
}

/// The count at which each measure raises the status, per level; `None` never raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub services: Option<u64>,
    pub reboot: Option<u64>,
    pub unreachable: Option<u64>,
}

impl Limits {
    fn get(&self, measure: Measure) -> Option<u64> {
        match measure {
            Measure::Services => self.services,
            Measure::Reboot => self.reboot,
            Measure::Unreachable => self.unreachable,
        }
    }

    fn apply(mut self, spec: &LimitSpec) -> Self {
        for (measure, value) in &spec.0 {
            *match measure {
                Measure::Services => &mut self.services,
                Measure::Reboot => &mut self.reboot,
                Measure::Unreachable => &mut self.unreachable,
            } = *value;
        }
        self
    }
}

/// `--warning` and `--critical`. By default one service to restart, one reboot pending or
/// one host not audited is a WARNING, and nothing is CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub warning: Limits,
    pub critical: Limits,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning: Limits {
                services: Some(1),
                reboot: Some(1),
                unreachable: Some(1),
            },
            critical: Limits {
                services: None,
                reboot: None,
                unreachable: None,
            },
        }
    }
}

impl Thresholds {
    /// The defaults, with the keys given on the command line replaced.
    pub fn new(warning: Option<&LimitSpec>, critical: Option<&LimitSpec>) -> Self {
        let defaults = Thresholds::default();
        Thresholds {
            warning: warning.map_or(defaults.warning, |s| defaults.warning.apply(s)),
            critical: critical.map_or(defaults.critical, |s| defaults.critical.apply(s)),
        }
    }
}

/// The counts the thresholds apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    services: u64,
    reboot: u64,
    unreachable: u64,
    stale_processes: u64,
    hosts: u64,
    audited: u64,
    hosts_with_services: u64,
}

impl Counts {
    fn of(summary: &FleetSummary) -> Self {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Counts {
            services: count(summary.hosts.iter().map(|h| h.services().count()).sum()),
            reboot: count(summary.reboot_needed.len()),
            unreachable: count(summary.failed.len()),
            stale_processes: count(summary.hosts.iter().map(|h| h.stale_processes).sum()),
            hosts: count(summary.total),
            audited: count(summary.hosts.len()),
            hosts_with_services: count(
                summary
                    .hosts
                    .iter()
                    .filter(|h| h.services().next().is_some())
                    .count(),
            ),
        }
    }

    fn get(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Services => self.services,
            Measure::Reboot => self.reboot,
            Measure::Unreachable => self.unreachable,
        }
    }
}

/// The plugin status of a report under `thresholds`: UNKNOWN when no host was audited,
/// else the worst of the thresholds crossed and the policy's level.
pub fn nagios_status(report: &FleetReport, thresholds: &Thresholds) -> NagiosStatus {
    status_of(&Counts::of(&summarize(&report.hosts)), report, thresholds)
}

fn status_of(counts: &Counts, report: &FleetReport, thresholds: &Thresholds) -> NagiosStatus {
    if counts.audited == 0 {
        return NagiosStatus::Unknown;
    }
    let crossed = |limits: &Limits| {
        Measure::ALL
            .into_iter()
            .any(|m| limits.get(m).is_some_and(|limit| counts.get(m) >= limit))
    };
    let by_thresholds = if crossed(&thresholds.critical) {
        NagiosStatus::Critical
    } else if crossed(&thresholds.warning) {
        NagiosStatus::Warning
    } else {
        NagiosStatus::Ok
    };
    by_thresholds.max(policy_status(report.policy.as_ref()))
}

/// The status a `--policy` verdict raises a check to: warn is WARNING, fail CRITICAL.
pub(super) fn policy_status(policy: Option<&PolicyOutcome>) -> NagiosStatus {
    match policy.map(|p| p.level) {
        Some(Level::Fail) => NagiosStatus::Critical,
        Some(Level::Warn) => NagiosStatus::Warning,
        Some(Level::Pass) | None => NagiosStatus::Ok,
    }
}

/// The Nagios renderer, with the thresholds that choose its status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nagios {
    pub thresholds: Thresholds,
}

impl Render for Nagios {
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.fleet(&host_as_fleet(report)?, out)
    }

    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
        let summary = summarize(&report.hosts);
        let counts = Counts::of(&summary);
        let status = status_of(&counts, report, &self.thresholds);
        writeln!(
            out,
            "PATCHGAP {} - {} | {}",
            status.label(),
            headline(&counts, report),
            PerfData(&counts, &self.thresholds)
        )?;
        details(&summary, report, out)
    }
}

pub(super) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The status line's text: counts only, never a host-supplied string.
fn headline(counts: &Counts, report: &FleetReport) -> String {
    let mut parts = Vec::new();
    if counts.services > 0 {
        parts.push(format!(
            "{} on {}",
            plural(counts.services, "service to restart", "services to restart"),
            plural(counts.hosts_with_services, "host", "hosts")
        ));
    }
    if counts.reboot > 0 {
        parts.push(format!(
            "{} waiting for a reboot",
            plural(counts.reboot, "host", "hosts")
        ));
    }
    if counts.unreachable > 0 {
        parts.push(format!(
            "{} not audited",
            plural(counts.unreachable, "host", "hosts")
        ));
    }
    if let Some(policy) = &report.policy
        && policy.level != Level::Pass
    {
        parts.push(format!("policy {}", policy.level.as_str()));
    }
    if parts.is_empty() {
        parts.push("nothing pending".to_string());
    }
    format!(
        "{} ({} of {} audited)",
        parts.join(", "),
        counts.audited,
        plural(counts.hosts, "host", "hosts")
    )
}

/// Perfdata: `'label'=value;warn;crit;min;` for each count. A threshold of N (raise at
/// `>= N`) is the plugin range `N-1` (alert above it).
struct PerfData<'a>(&'a Counts, &'a Thresholds);

impl fmt::Display for PerfData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = |limit: Option<u64>| limit.map(|n| n.saturating_sub(1).to_string());
        for measure in Measure::ALL {
            write!(
                f,
                "'{}'={};{};{};0; ",
                measure.name(),
                self.0.get(measure),
                range(self.1.warning.get(measure)).unwrap_or_default(),
                range(self.1.critical.get(measure)).unwrap_or_default(),
            )?;
        }
        write!(
            f,
            "'stale_processes'={};;;0; 'hosts'={};;;0;",
            self.0.stale_processes, self.0.hosts
        )
    }
}

/// Host-supplied text on one detail line: terminal-safe, one line, no perfdata bar.
pub(super) fn clean(text: &str) -> String {
    for_terminal(text)
        .chars()
        .map(|c| match c {
            '\n' | '\t' => ' ',
            '|' => '/',
            c => c,
        })
        .collect()
}

fn details(summary: &FleetSummary, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
    for host in &summary.hosts {
        let mut parts = Vec::new();
        let services: Vec<String> = host.services().map(|s| clean(&s.name)).collect();
        if !services.is_empty() {
            parts.push(format!("restart {}", services.join(" ")));
        }
        let others: Vec<String> = host
            .actions
            .iter()
            .filter(|a| a.kind != super::ActionKind::Service)
            .map(|a| clean(&a.name))
            .collect();
        if !others.is_empty() {
            parts.push(format!("also stale: {}", others.join(" ")));
        }
        if let RebootVerdict::Needed { reasons } = &host.reboot {
            let reasons: Vec<String> = reasons.iter().map(|r| clean(r)).collect();
            parts.push(format!("reboot needed: {}", reasons.join("; ")));
        }
        if !parts.is_empty() {
            writeln!(out, "{}: {}", clean(&host.host), parts.join("; "))?;
        }
    }
    for failed in &summary.failed {
        writeln!(
            out,
            "{}: not audited ({}): {}",
            clean(&failed.host),
            failure_label(failed.failure),
            clean(&failed.message)
        )?;
    }
    if let Some(policy) = &report.policy {
        for rule in policy.rules.iter().filter(|r| r.level != Level::Pass) {
            writeln!(
                out,
                "policy {}: {}: {} ({})",
                rule.level.as_str(),
                clean(&rule.id),
                clean(&rule.description),
                plural(
                    u64::try_from(rule.violations.len()).unwrap_or(u64::MAX),
                    "violation",
                    "violations"
                )
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_specs_parse_and_name_their_errors() {
        let spec: LimitSpec = "services=3, reboot=off".parse().expect("valid");
        let t = Thresholds::new(None, Some(&spec));
        assert_eq!(t.critical.services, Some(3));
        assert_eq!(t.critical.reboot, None);
        assert_eq!(t.warning, Thresholds::default().warning, "defaults kept");
        assert_eq!(
            "services".parse::<LimitSpec>(),
            Err(LimitSpecError::NotAPair("services".into()))
        );
        let unknown = "kernel=1".parse::<LimitSpec>().expect_err("unknown key");
        assert!(
            unknown
                .to_string()
                .contains("services, reboot, unreachable")
        );
        assert!(matches!(
            "reboot=-1".parse::<LimitSpec>(),
            Err(LimitSpecError::NotACount(_))
        ));
    }

    #[test]
    fn a_threshold_of_n_is_the_plugin_range_n_minus_one() {
        let counts = Counts {
            services: 4,
            reboot: 0,
            unreachable: 1,
            stale_processes: 9,
            hosts: 3,
            audited: 2,
            hosts_with_services: 2,
        };
        let spec: LimitSpec = "services=5,unreachable=off".parse().expect("valid");
        let t = Thresholds::new(None, Some(&spec));
        assert_eq!(
            PerfData(&counts, &t).to_string(),
            "'services'=4;0;4;0; 'reboot'=0;0;;0; 'unreachable'=1;0;;0; \
             'stale_processes'=9;;;0; 'hosts'=3;;;0;"
        );
    }
}
