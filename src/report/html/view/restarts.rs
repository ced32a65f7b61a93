//! The rows of what waits for an admin on audited hosts: services and other things to
//! restart (with the processes and since when), the packages behind them across the fleet,
//! reboot verdicts and integrity findings.

use std::collections::{BTreeMap, BTreeSet};

use patchgap_probe::Report;
use patchgap_probe::report::{Problem, Severity};

use super::{age, date};
use crate::report::actions::{ActionKind, RebootVerdict};
use crate::report::aggregate::FleetSummary;

#[derive(Debug)]
pub struct ServiceRow {
    pub host: String,
    pub unit: String,
    pub packages: Vec<String>,
    pub processes: Vec<Process>,
    pub since: Option<Since>,
    pub refused: bool,
}

/// Since when a service (or process) has run replaced code.
#[derive(Debug)]
pub struct Since {
    pub unix: i64,
    pub date: String,
    /// Seconds from `unix` to the host's scan.
    pub seconds: i64,
    /// Relative to the host's scan, e.g. `3 d 4 h`.
    pub age: String,
}

/// Restarts that are not services: the system manager, sessions, containers, strays.
#[derive(Debug)]
pub struct OtherRow {
    pub host: String,
    pub kind: &'static str,
    pub name: String,
    pub packages: Vec<String>,
    pub processes: Vec<Process>,
}

/// A process behind a restart, with its command name when the report has it.
#[derive(Debug)]
pub struct Process {
    pub pid: u32,
    pub comm: Option<String>,
}

#[derive(Debug)]
pub struct PackageRow {
    pub name: String,
    pub versions: Vec<String>,
    pub hosts: usize,
    pub services: usize,
    pub processes: u64,
}

#[derive(Debug)]
pub struct RebootRow {
    pub host: String,
    pub verdict: &'static str,
    pub tone: &'static str,
    pub reasons: Vec<String>,
    pub remark: Option<String>,
}

#[derive(Debug)]
pub struct IntegrityRow {
    pub host: String,
    pub path: String,
    pub package: String,
    /// What is wrong, in our words.
    pub problem: &'static str,
    /// The host's own words about it (an unreadable file's error), or the PIDs using it.
    pub detail: Option<String>,
    pub conffile: bool,
    pub severity: &'static str,
}

pub fn service_rows(audited: &[(&str, &Report)]) -> Vec<ServiceRow> {
    let mut rows = Vec::new();
    for (host, report) in audited {
        for service in crate::report::actions::services_to_restart(report) {
            let since = report
                .processes
                .iter()
                .filter(|p| service.pids.contains(&p.pid))
                .filter_map(|p| p.stale_since)
                .min()
                .map(|unix| {
                    let seconds = report.host.scanned_at.saturating_sub(unix);
                    Since {
                        unix,
                        date: date(unix),
                        seconds,
                        age: age(seconds),
                    }
                });
            rows.push(ServiceRow {
                host: host.to_string(),
                unit: service.unit.clone(),
                packages: service.packages.clone(),
                processes: processes(report, &service.pids),
                since,
                refused: service.restart_refused,
            });
        }
    }
    rows
}

pub fn other_rows(summary: &FleetSummary, audited: &[(&str, &Report)]) -> Vec<OtherRow> {
    summary
        .hosts
        .iter()
        .zip(audited)
        .flat_map(|(h, (_, report))| {
            h.actions
                .iter()
                .filter(|a| a.kind != ActionKind::Service)
                .map(|a| OtherRow {
                    host: h.host.clone(),
                    kind: match a.kind {
                        ActionKind::SystemManager => "systemctl daemon-reexec",
                        ActionKind::Session => "user session: log out and in",
                        ActionKind::Container => "container: restart it",
                        ActionKind::Other | ActionKind::Service => "process: restart it",
                    },
                    name: a.name.clone(),
                    packages: a.packages.clone(),
                    processes: processes(report, &a.pids),
                })
        })
        .collect()
}

fn processes(report: &Report, pids: &[u32]) -> Vec<Process> {
    pids.iter()
        .map(|pid| Process {
            pid: *pid,
            comm: report
                .processes
                .iter()
                .find(|p| p.pid == *pid)
                .map(|p| p.comm.clone()),
        })
        .collect()
}

fn join_pids(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The fleet's packages with the versions installed across it (without the `:arch`
/// qualifier, as the fleet summary counts them).
pub fn package_rows(summary: &FleetSummary, audited: &[(&str, &Report)]) -> Vec<PackageRow> {
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, report) in audited {
        for package in &report.packages {
            let name = package.name.split(':').next().unwrap_or(&package.name);
            let set = versions.entry(name).or_default();
            set.extend(package.version.as_deref());
        }
    }
    summary
        .packages
        .iter()
        .map(|p| PackageRow {
            name: p.name.clone(),
            versions: versions
                .get(p.name.as_str())
                .map(|v| v.iter().map(|v| v.to_string()).collect())
                .unwrap_or_default(),
            hosts: p.hosts,
            services: p.services,
            processes: p.processes,
        })
        .collect()
}

pub fn reboot_rows(summary: &FleetSummary, audited: &[(&str, &Report)]) -> Vec<RebootRow> {
    summary
        .hosts
        .iter()
        .zip(audited)
        .map(|(h, (_, report))| RebootRow {
            host: h.host.clone(),
            verdict: h.reboot.label(),
            tone: match h.reboot {
                RebootVerdict::NotNeeded => "ok",
                RebootVerdict::Needed { .. } => "warn",
                RebootVerdict::Unknown => "none",
            },
            reasons: match &h.reboot {
                RebootVerdict::Needed { reasons } => reasons.clone(),
                _ => Vec::new(),
            },
            remark: report.reboot.remark.clone(),
        })
        .collect()
}

pub fn integrity_rows(audited: &[(&str, &Report)]) -> Vec<IntegrityRow> {
    let mut rows = Vec::new();
    for (host, report) in audited {
        for f in report.integrity.iter().flat_map(|i| &i.findings) {
            rows.push(IntegrityRow {
                host: host.to_string(),
                path: f.path.clone(),
                package: f.package.clone(),
                problem: match f.problem {
                    Problem::Changed { .. } => "changed",
                    Problem::ChangedSinceBaseline { .. } => "changed since baseline",
                    Problem::ModifiedInUse { .. } => "changed, in use",
                    Problem::Missing => "missing",
                    Problem::Unreadable { .. } => "unreadable",
                },
                detail: match &f.problem {
                    Problem::ModifiedInUse { pids, .. } => Some(format!("PID {}", join_pids(pids))),
                    Problem::Unreadable { error } => Some(error.clone()),
                    Problem::Changed { .. }
                    | Problem::ChangedSinceBaseline { .. }
                    | Problem::Missing => None,
                },
                conffile: f.conffile,
                severity: match f.severity {
                    Severity::Low => "low",
                    Severity::Normal => "normal",
                    Severity::High => "high",
                },
            });
        }
    }
    rows
}
