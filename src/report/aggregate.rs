//! Fleet-wide figures from the per-host outcomes: hosts by state, what each host must
//! restart, reboot verdicts, the packages behind the findings across the fleet, the failed
//! hosts, and what the run found for the exit status ([`verdict`]; `exit.rs` chooses the
//! status). Pure data: rendering is [`super::table`]'s job.

use std::collections::{BTreeMap, BTreeSet};

use crate::exit::Verdict;
use crate::outcome::{Failure, HostOutcome, HostResult};

use super::actions::{
    ActionKind, PendingAction, RebootVerdict, has_findings, pending_actions, reboot_verdict,
};

/// What a host ended in, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostState {
    Audited,
    /// Audited without root: some processes could not be inspected.
    Partial,
    Failed(Failure),
}

impl HostState {
    pub fn label(self) -> &'static str {
        match self {
            HostState::Audited => "audited",
            HostState::Partial => "audited (partial)",
            HostState::Failed(failure) => failure_label(failure),
        }
    }
}

pub fn failure_label(failure: Failure) -> &'static str {
    match failure {
        Failure::Unreachable => "unreachable",
        Failure::Timeout => "timeout",
        Failure::AuthFailed => "authentication failed",
        Failure::HostKeyUnknown => "host key unknown",
        Failure::HostKeyChanged => "host key changed",
        Failure::SudoRefused => "sudo refused",
        Failure::UnsupportedArch => "unsupported architecture",
        Failure::DeployFailed => "probe upload failed",
        Failure::ProbeFailed => "probe failed",
        Failure::ProbeOutputInvalid => "probe output invalid",
    }
}

/// One audited host's pending work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSummary {
    pub host: String,
    pub partial: bool,
    /// Services first, then the system manager, sessions, containers, stray processes.
    pub actions: Vec<PendingAction>,
    pub reboot: RebootVerdict,
    pub stale_processes: usize,
    /// The probe's warnings (unreadable dpkg database, ...).
    pub warnings: Vec<String>,
}

impl HostSummary {
    pub fn services(&self) -> impl Iterator<Item = &PendingAction> {
        self.actions
            .iter()
            .filter(|a| a.kind == ActionKind::Service)
    }

    pub fn has_pending(&self) -> bool {
        self.stale_processes > 0 || matches!(self.reboot, RebootVerdict::Needed { .. })
    }
}

/// A package behind findings, across the fleet ("libssl3: 37 hosts, 112 services").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpread {
    /// Without the `:arch` qualifier, so amd64 and arm64 hosts add up.
    pub name: String,
    pub hosts: usize,
    /// Services to restart that it is behind, summed over hosts.
    pub services: usize,
    /// Stale processes using its files, summed over hosts.
    pub processes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedHost {
    pub host: String,
    pub failure: Failure,
    pub message: String,
    pub stderr_tail: Option<String>,
}

/// Everything the fleet summary shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSummary {
    pub total: usize,
    /// Non-zero counts only, in [`HostState`] order.
    pub states: Vec<(HostState, usize)>,
    /// Audited hosts, in the order given.
    pub hosts: Vec<HostSummary>,
    /// Hosts that need a reboot, by name.
    pub reboot_needed: Vec<String>,
    pub reboot_not_needed: usize,
    pub reboot_unknown: usize,
    /// Most widespread first.
    pub packages: Vec<PackageSpread>,
    pub failed: Vec<FailedHost>,
}

/// What a fleet run found, for the exit status: hosts failed, hosts with findings.
pub fn verdict(outcomes: &[HostOutcome]) -> Verdict {
    let mut verdict = Verdict::default();
    for outcome in outcomes {
        match &outcome.result {
            HostResult::Failed { .. } => verdict.hosts_failed += 1,
            HostResult::Audited { report, .. } if has_findings(report.report()) => {
                verdict.hosts_with_findings += 1
            }
            HostResult::Audited { .. } => {}
        }
    }
    verdict
}

/// What one host's report found, for the exit status (a local audit).
pub fn host_verdict(report: &patchgap_probe::Report) -> Verdict {
    Verdict {
        hosts_failed: 0,
        hosts_with_findings: usize::from(has_findings(report)),
        ..Verdict::default()
    }
}

pub fn summarize(outcomes: &[HostOutcome]) -> FleetSummary {
    let mut states: BTreeMap<HostState, usize> = BTreeMap::new();
    let mut hosts = Vec::new();
    let mut failed = Vec::new();
    let mut packages: BTreeMap<String, PackageSpread> = BTreeMap::new();
    for outcome in outcomes {
        match &outcome.result {
            HostResult::Audited { partial, report } => {
                let report = report.report();
                let partial = *partial || report.scan.partial;
                let state = if partial {
                    HostState::Partial
                } else {
                    HostState::Audited
                };
                *states.entry(state).or_default() += 1;
                add_packages(&mut packages, report);
                hosts.push(HostSummary {
                    host: outcome.host.clone(),
                    partial,
                    actions: pending_actions(report),
                    reboot: reboot_verdict(report),
                    stale_processes: report.processes.len(),
                    warnings: report.warnings.clone(),
                });
            }
            HostResult::Failed {
                failure,
                message,
                stderr_tail,
            } => {
                *states.entry(HostState::Failed(*failure)).or_default() += 1;
                failed.push(FailedHost {
                    host: outcome.host.clone(),
                    failure: *failure,
                    message: message.clone(),
                    stderr_tail: stderr_tail.clone(),
                });
            }
        }
    }
    let mut packages: Vec<PackageSpread> = packages.into_values().collect();
    packages.sort_by(|a, b| {
        (b.hosts, b.services, b.processes, &a.name).cmp(&(
            a.hosts,
            a.services,
            a.processes,
            &b.name,
        ))
    });
    let reboot_needed = hosts
        .iter()
        .filter(|h| matches!(h.reboot, RebootVerdict::Needed { .. }))
        .map(|h| h.host.clone())
        .collect();
    let count = |verdict: RebootVerdict| hosts.iter().filter(|h| h.reboot == verdict).count();
    FleetSummary {
        total: outcomes.len(),
        states: states.into_iter().collect(),
        reboot_not_needed: count(RebootVerdict::NotNeeded),
        reboot_unknown: count(RebootVerdict::Unknown),
        reboot_needed,
        hosts,
        packages,
        failed,
    }
}

/// The package name without its `:arch` qualifier.
fn base_name(package: &str) -> &str {
    package.split(':').next().unwrap_or(package)
}

fn add_packages(spread: &mut BTreeMap<String, PackageSpread>, report: &patchgap_probe::Report) {
    let mut on_host: BTreeMap<&str, u64> = BTreeMap::new();
    for package in &report.packages {
        *on_host.entry(base_name(&package.name)).or_default() += u64::from(package.processes);
    }
    for (name, processes) in on_host {
        let services = report
            .actions
            .services
            .iter()
            .filter(|s| {
                let bases: BTreeSet<&str> = s.packages.iter().map(|p| base_name(p)).collect();
                bases.contains(name)
            })
            .count();
        let entry = spread
            .entry(name.to_string())
            .or_insert_with(|| PackageSpread {
                name: name.to_string(),
                hosts: 0,
                services: 0,
                processes: 0,
            });
        entry.hosts += 1;
        entry.services += services;
        entry.processes += processes;
    }
}
