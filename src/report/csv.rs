//! `--format csv` and `--format csv-hosts`: RFC 4180 files (CRLF line ends, quoted where
//! needed, by the `csv` crate) for spreadsheets. Two shapes, each with a header row:
//!
//! - findings (`csv`): one row per host x stale process x stale file. A host that could not
//!   be audited has one row with its state and failure, so no host is ever missing;
//! - hosts (`csv-hosts`): one row per host, audited or not.
//!
//! Every cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return; OWASP "CSV Injection") is prefixed with `'`. Columns: docs/formats.md.

use std::io::{self, Write};

use patchgap_probe::Report;
use patchgap_probe::report::{FindingKind, Owner, StaleProcess};

use super::actions::{ActionKind, pending_actions, reboot_verdict};
use super::document::FleetReport;
use super::render::{Render, host_as_fleet};
use crate::outcome::{HostOutcome, HostResult};

/// Which CSV shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csv {
    /// One row per host x process x stale file.
    Findings,
    /// One row per host.
    Hosts,
    /// The `--policy` verdict: one row per rule that passed, one per thing that broke a
    /// rule (a rule broken on three hosts has three rows). Only the header without a policy.
    Policy,
}

const POLICY_HEADER: [&str; 6] = ["rule", "description", "level", "host", "subject", "detail"];

const FINDINGS_HEADER: [&str; 14] = [
    "host",
    "state",
    "owner_kind",
    "owner",
    "pid",
    "comm",
    "file",
    "reason",
    "package",
    "installed_version",
    "previous_version",
    "stale_since",
    "failure",
    "message",
];

const HOSTS_HEADER: [&str; 15] = [
    "host",
    "address",
    "state",
    "services_to_restart",
    "stale_processes",
    "system_manager",
    "sessions",
    "containers",
    "other_processes",
    "reboot",
    "reboot_reasons",
    "kernel_status",
    "integrity_findings",
    "failure",
    "message",
];

/// A cell as a spreadsheet can show it without running it.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// Unix time as RFC 3339 UTC, which spreadsheets read as a date.
pub fn rfc3339(time: Option<i64>) -> String {
    time.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The state word of a host, as every row shows it.
pub fn state_word(outcome: &HostOutcome) -> &'static str {
    match &outcome.result {
        HostResult::Audited { partial, report } if *partial || report.report().scan.partial => {
            "partial"
        }
        HostResult::Audited { .. } => "audited",
        HostResult::Failed { .. } => "failed",
    }
}

fn owner(owner: &Owner) -> (&'static str, String) {
    match owner {
        Owner::Service { unit } => ("service", unit.clone()),
        Owner::SystemManager => ("system_manager", "systemd (PID 1)".into()),
        Owner::UserManager { uid, unit } => (
            "user_manager",
            unit.clone()
                .unwrap_or_else(|| format!("user@{uid}.service")),
        ),
        Owner::Session { id, .. } => ("session", format!("session-{id}.scope")),
        Owner::Container { runtime, id, .. } => ("container", format!("{runtime}:{id}")),
        Owner::Other { cgroup } => ("other", cgroup.clone().unwrap_or_default()),
    }
}

fn reason(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::ExeDeleted => "exe_deleted",
        FindingKind::ExeReplaced => "exe_replaced",
        FindingKind::MapDeleted => "map_deleted",
        FindingKind::MapReplaced => "map_replaced",
        FindingKind::OpenDeleted => "open_deleted",
        FindingKind::ScriptChanged => "script_changed",
        FindingKind::ModuleChanged => "module_changed",
    }
}

/// The package database a process is judged against, as `PackageChange::context` names it.
fn context(process: &StaleProcess) -> String {
    match &process.owner {
        Owner::Container { runtime, id, .. } => format!("container:{runtime}:{id}"),
        _ => "host".into(),
    }
}

/// The CSV writer every shape writes through (the diff's too).
pub(super) type Writer<'a> = ::csv::Writer<&'a mut dyn Write>;

/// An RFC 4180 writer on `out`: CRLF line ends, quoted where needed.
pub(super) fn writer(out: &mut dyn Write) -> Writer<'_> {
    ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(out)
}

/// One record, every cell [`neutralise`]d.
pub(super) fn row<'s>(
    writer: &mut Writer<'_>,
    cells: impl IntoIterator<Item = &'s str>,
) -> io::Result<()> {
    writer
        .write_record(cells.into_iter().map(neutralise))
        .map_err(io::Error::other)
}

fn findings_rows(
    outcome: &HostOutcome,
    report: &Report,
    state: &str,
    writer: &mut Writer<'_>,
) -> io::Result<()> {
    for process in &report.processes {
        let (kind, name) = owner(&process.owner);
        let pid = process.pid.to_string();
        let since = rfc3339(process.stale_since);
        let ctx = context(process);
        for finding in &process.findings {
            let package = finding.package.as_deref().unwrap_or_default();
            let change = report
                .packages
                .iter()
                .find(|p| p.name == package && p.context == ctx);
            row(
                writer,
                [
                    outcome.host.as_str(),
                    state,
                    kind,
                    &name,
                    &pid,
                    &process.comm,
                    &finding.path,
                    reason(finding.kind),
                    package,
                    change
                        .and_then(|c| c.version.as_deref())
                        .unwrap_or_default(),
                    change
                        .and_then(|c| c.previous_version.as_deref())
                        .unwrap_or_default(),
                    &since,
                    "",
                    "",
                ],
            )?;
        }
    }
    Ok(())
}

fn kernel_status(report: &Report) -> &'static str {
    use patchgap_probe::report::KernelStatus;
    match report.kernel.status {
        KernelStatus::Current => "current",
        KernelStatus::AbiUpdatePending => "abi_update_pending",
        KernelStatus::VersionUpdatePending => "version_update_pending",
        KernelStatus::NotPackaged => "not_packaged",
        KernelStatus::Unknown => "unknown",
    }
}

fn hosts_row(
    outcome: &HostOutcome,
    report: &Report,
    state: &str,
    writer: &mut Writer<'_>,
) -> io::Result<()> {
    let actions = pending_actions(report);
    let count = |kind: ActionKind| {
        actions
            .iter()
            .filter(|a| a.kind == kind)
            .count()
            .to_string()
    };
    let reboot = reboot_verdict(report);
    let reasons: Vec<&str> = report
        .reboot
        .reasons
        .iter()
        .map(|r| r.message.as_str())
        .collect();
    let integrity = report
        .integrity
        .as_ref()
        .map(|i| i.findings.len().to_string())
        .unwrap_or_default();
    row(
        writer,
        [
            outcome.host.as_str(),
            &outcome.address,
            state,
            &count(ActionKind::Service),
            &report.processes.len().to_string(),
            if report.actions.system_manager.is_empty() {
                "no"
            } else {
                "yes"
            },
            &count(ActionKind::Session),
            &count(ActionKind::Container),
            &count(ActionKind::Other),
            reboot.label(),
            &reasons.join("; "),
            kernel_status(report),
            &integrity,
            "",
            "",
        ],
    )
}

/// The `csv-policy` shape: every rule, and what broke it.
fn policy_rows(report: &FleetReport, writer: &mut Writer<'_>) -> io::Result<()> {
    row(writer, POLICY_HEADER)?;
    let Some(policy) = &report.policy else {
        return Ok(());
    };
    for rule in &policy.rules {
        let head = [rule.id.as_str(), &rule.description, rule.level.as_str()];
        if rule.violations.is_empty() {
            row(writer, head.into_iter().chain(["", "", ""]))?;
        }
        for violation in &rule.violations {
            let cells = [
                violation.host.as_deref().unwrap_or(""),
                &violation.subject,
                &violation.detail,
            ];
            row(writer, head.into_iter().chain(cells))?;
        }
    }
    Ok(())
}

/// The rows of one audited host, in one shape.
type AuditedRows = fn(&HostOutcome, &Report, &str, &mut Writer<'_>) -> io::Result<()>;

/// A header, then each host's rows: an audited host's from `audited`, a failed host's as
/// one row holding its name, state and failure in the columns of those names.
fn write_shape<const N: usize>(
    report: &FleetReport,
    header: [&str; N],
    audited: AuditedRows,
    writer: &mut Writer<'_>,
) -> io::Result<()> {
    row(writer, header)?;
    for outcome in &report.hosts {
        let state = state_word(outcome);
        match &outcome.result {
            HostResult::Audited { report, .. } => audited(outcome, report.report(), state, writer)?,
            HostResult::Failed {
                failure, message, ..
            } => row(
                writer,
                header.map(|column| match column {
                    "host" => outcome.host.as_str(),
                    "address" => &outcome.address,
                    "state" => state,
                    "failure" => super::aggregate::failure_label(*failure),
                    "message" => message,
                    _ => "",
                }),
            )?,
        }
    }
    Ok(())
}

impl Render for Csv {
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.fleet(&host_as_fleet(report)?, out)
    }

    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
        let mut writer = writer(out);
        match self {
            Csv::Findings => write_shape(report, FINDINGS_HEADER, findings_rows, &mut writer)?,
            Csv::Hosts => write_shape(report, HOSTS_HEADER, hosts_row, &mut writer)?,
            Csv::Policy => policy_rows(report, &mut writer)?,
        }
        writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for (cell, shown) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@x", "'@x"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("nginx.service", "nginx.service"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(neutralise(cell), shown, "{cell:?}");
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(None), "");
    }
}
