//! A campaign's two documents: the plan (`--plan`, and what the confirmation shows) and
//! the campaign report, each as a table or as JSON. Restarts (docs/restart.md) are per
//! host and unit: verified, restarted_still_stale, restart_failed with the unit's journal
//! lines, health_failed, skipped with the reason, unreachable, timeout. Reboots
//! (docs/reboot.md) are per host, with the evidence: boot ids, kernels, system state, the
//! lock slot a host keeps. Host-supplied text passes [`cell`] before a terminal.

use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use super::text::{cell, new_table};
use crate::campaign::{
    CampaignKind, CampaignOutcome, CampaignPlan, HostCampaign, Manual, ManualItem, RebootOutcome,
    RebootStatus, Skip, Stop, UnitStatus,
};

/// Version of the plan and campaign JSON documents.
pub const CAMPAIGN_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct PlanDocument<'a> {
    format_version: u32,
    kind: &'static str,
    plan: &'a CampaignPlan,
}

#[derive(Serialize)]
struct CampaignDocument<'a> {
    format_version: u32,
    kind: &'static str,
    /// The journal, for `--resume`.
    state_file: Option<&'a str>,
    campaign: &'a CampaignOutcome,
}

fn json(value: &impl Serialize, out: &mut dyn io::Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
}

/// The plan as JSON.
pub fn plan_json(plan: &CampaignPlan, out: &mut dyn io::Write) -> io::Result<()> {
    json(
        &PlanDocument {
            format_version: CAMPAIGN_FORMAT_VERSION,
            kind: match plan.kind {
                CampaignKind::Restart => "restart_plan",
                CampaignKind::Reboot => "reboot_plan",
            },
            plan,
        },
        out,
    )
}

/// The campaign report as JSON.
pub fn campaign_json(
    outcome: &CampaignOutcome,
    kind: CampaignKind,
    state_file: Option<&str>,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    json(
        &CampaignDocument {
            format_version: CAMPAIGN_FORMAT_VERSION,
            kind: match kind {
                CampaignKind::Restart => "restart_campaign",
                CampaignKind::Reboot => "reboot_campaign",
            },
            state_file,
            campaign: outcome,
        },
        out,
    )
}

/// Why something is left to a person, in words.
pub fn manual_reason(why: &Manual) -> String {
    match why {
        Manual::RestartRefused => "restart refused (disruptive: restart it by hand)".into(),
        Manual::Never { pattern } => format!("--never {pattern}"),
        Manual::NeverRestartVar { pattern } => format!("patchgap_never_restart {pattern}"),
        Manual::NotSelected => "not selected by --units".into(),
        Manual::Excluded { pattern } => format!("--exclude-units {pattern}"),
        Manual::InvalidUnitName => "not a valid unit name: not touched".into(),
        Manual::SystemManager => "systemctl daemon-reexec (or --reexec)".into(),
        Manual::Session => "user session: log out and in again".into(),
        Manual::Container => "container: restart or rebuild it".into(),
        Manual::OtherProcesses => "no unit owns them: restart by hand".into(),
    }
}

/// The table of what is left to a person, host by host (nothing when nothing is).
fn manual_table<'a>(
    hosts: impl Iterator<Item = (&'a str, &'a [ManualItem])>,
    width: Option<u16>,
    out: &mut String,
) {
    let mut table = new_table(&["host", "needs manual action", "why"], width);
    for (host, manual) in hosts {
        for item in manual {
            table.add_row(vec![cell(host), cell(&item.name), manual_reason(&item.why)]);
        }
    }
    if !table.is_empty() {
        let _ = writeln!(out, "{table}\n");
    }
}

/// The plan as tables: batches, then what is left to a person.
pub fn plan_table(plan: &CampaignPlan, width: Option<u16>) -> String {
    let mut out = String::new();
    let units: usize = plan.hosts.iter().map(|h| h.restart.len()).sum();
    let hosts = plan.batches.iter().map(Vec::len).sum::<usize>();
    let canary = if plan.canary > 0 {
        format!(", the first a canary of {}", plan.canary)
    } else {
        String::new()
    };
    let (title, column) = match plan.kind {
        CampaignKind::Restart => (format!("Restart plan: {units} unit(s) on "), "restart"),
        CampaignKind::Reboot => ("Reboot plan: ".to_string(), "reboot because"),
    };
    let batches = plan.batches.len();
    let _ = writeln!(
        out,
        "{title}{hosts} host(s) in {batches} batch(es){canary}\n"
    );
    if !plan.batches.is_empty() {
        let mut table = new_table(&["batch", "host", column], width);
        for (index, batch) in plan.batches.iter().enumerate() {
            for host in batch {
                let Some(host_plan) = plan.host(host) else {
                    continue;
                };
                let mut what: Vec<String> = host_plan.restart.iter().map(|u| cell(u)).collect();
                if host_plan.reexec {
                    what.push("daemon-reexec".into());
                }
                if let Some(reboot) = &host_plan.reboot {
                    what.extend(reboot.reasons.iter().map(|r| cell(r)));
                    if reboot.reasons.is_empty() {
                        what.push("--all (the probe asks for none)".into());
                    }
                }
                let join = if host_plan.reboot.is_some() {
                    "\n"
                } else {
                    ", "
                };
                table.add_row(vec![(index + 1).to_string(), cell(host), what.join(join)]);
            }
        }
        let _ = writeln!(out, "{table}\n");
    }
    let manual = plan
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.manual.as_slice()));
    manual_table(manual, width, &mut out);
    if !plan.unplanned.is_empty() {
        let mut table = new_table(&["host", "not audited", "why"], width);
        for host in &plan.unplanned {
            table.add_row(vec![
                cell(&host.host),
                host.failure.clone(),
                cell(&host.message),
            ]);
        }
        let _ = writeln!(out, "{table}\n");
    }
    if plan.is_empty() {
        let _ = match plan.kind {
            CampaignKind::Restart => writeln!(out, "Nothing to restart."),
            CampaignKind::Reboot => writeln!(out, "No host needs a reboot."),
        };
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn detail(status: &UnitStatus) -> String {
    match status {
        UnitStatus::Verified => String::new(),
        UnitStatus::RestartedStillStale => "its processes still run replaced code".into(),
        UnitStatus::RestartFailed { message, journal } => {
            let mut text = cell(message);
            for line in journal {
                text.push('\n');
                text.push_str(&cell(line));
            }
            text
        }
        UnitStatus::HealthFailed { check, message } => cell(&format!("{check}: {message}")),
        UnitStatus::Skipped { reason } => skip_text(reason),
        UnitStatus::Unreachable { message } | UnitStatus::Timeout { message } => cell(message),
    }
}

/// Why a campaign stopped early, in words (tables, notifications).
pub fn stop_text(stop: &Stop) -> String {
    match stop {
        Stop::Canary { failed, .. } => {
            format!("stopped: {failed} host(s) of the canary batch failed")
        }
        Stop::MaxFail {
            batch,
            failed,
            size,
        } => format!(
            "stopped by --max-fail: {failed} of {size} host(s) failed in batch {}",
            batch + 1
        ),
        Stop::OutsideWindow { batch } => format!(
            "stopped before batch {}: outside the maintenance window (--outside-window stop)",
            batch + 1
        ),
        Stop::Journal { message } => format!("stopped: {}", cell(message)),
    }
}

fn skip_text(reason: &Skip) -> String {
    match reason {
        Skip::FixedMeanwhile => "no longer stale (fixed meanwhile)".into(),
        Skip::NotReached => "not reached: the campaign stopped".into(),
        Skip::OutsideWindow => "not reached: outside the maintenance window".into(),
        Skip::ProbeFailed => "not restarted: the host's probe failed".into(),
    }
}

/// A reboot's result and its evidence, in words.
fn reboot_detail(reboot: &RebootOutcome) -> String {
    let mut lines = Vec::new();
    match &reboot.status {
        RebootStatus::Verified => {}
        RebootStatus::VerifyFailed { message }
        | RebootStatus::NotReturned { message }
        | RebootStatus::LockFailed { message }
        | RebootStatus::Unreachable { message }
        | RebootStatus::Timeout { message } => lines.push(cell(message)),
        RebootStatus::HealthFailed { check, message } => {
            lines.push(cell(&format!("{check}: {message}")))
        }
        RebootStatus::CommandFailed { step, message } => {
            lines.push(cell(&format!("{step}: {message}")))
        }
        RebootStatus::Skipped { reason } => lines.push(match reason {
            Skip::FixedMeanwhile => "no reboot needed any more (rebooted meanwhile)".into(),
            Skip::ProbeFailed => "not rebooted: the host's probe failed".into(),
            other => skip_text(other),
        }),
    }
    if let (Some(before), Some(after)) = (&reboot.boot_id_before, &reboot.boot_id_after) {
        lines.push(format!("boot {} -> {}", cell(before), cell(after)));
    }
    match (&reboot.kernel_running, &reboot.kernel_note) {
        (_, Some(note)) => lines.push(cell(note)),
        (Some(running), None) => lines.push(format!("kernel {}", cell(running))),
        (None, None) => {}
    }
    if let Some(state) = &reboot.system_state {
        lines.push(format!("system {}", cell(state)));
    }
    if reboot.resumed {
        lines.push("rebooted by the interrupted run: verified, not rebooted again".into());
    }
    if let Some(note) = &reboot.lock_note {
        lines.push(cell(note));
    }
    lines.join("\n")
}

fn host_rows(host: &HostCampaign, table: &mut comfy_table::Table) {
    let name = cell(&host.host);
    if let Some(reboot) = &host.reboot {
        let mut why = reboot_detail(reboot);
        if let (true, Some(message)) = (why.is_empty(), &host.message) {
            why = cell(message);
        }
        table.add_row(vec![name, "reboot".into(), reboot.status.label(), why]);
        return;
    }
    if host.units.is_empty() && host.reexec.is_none() {
        let state = format!("{:?}", host.status).to_lowercase();
        let message = host.message.as_deref().map(cell).unwrap_or_default();
        table.add_row(vec![name.clone(), "-".into(), state, message]);
    }
    for unit in &host.units {
        let mut why = detail(&unit.status);
        if let (true, Some(message)) = (why.is_empty(), &host.message) {
            why = cell(message);
        }
        table.add_row(vec![
            name.clone(),
            cell(&unit.unit),
            unit.status.label().into(),
            why,
        ]);
    }
    if let Some(reexec) = &host.reexec {
        table.add_row(vec![
            name,
            "daemon-reexec".into(),
            reexec.label().into(),
            detail(reexec),
        ]);
    }
}

/// The campaign report as tables.
pub fn campaign_table(outcome: &CampaignOutcome, kind: CampaignKind, width: Option<u16>) -> String {
    let mut out = String::new();
    let worked: Vec<&HostCampaign> = outcome
        .hosts
        .iter()
        .filter(|h| {
            !h.units.is_empty() || h.reexec.is_some() || h.reboot.is_some() || h.status.is_failure()
        })
        .collect();
    let stopped = outcome
        .stopped
        .as_ref()
        .map(|s| format!("; {}", stop_text(s)))
        .unwrap_or_default();
    let failed = outcome.failed_hosts();
    let (title, column) = match kind {
        CampaignKind::Restart => (
            format!(
                "Restart campaign: {} unit(s) verified",
                outcome.verified_units()
            ),
            "unit",
        ),
        CampaignKind::Reboot => (
            format!(
                "Reboot campaign: {} host(s) verified",
                outcome.verified_reboots()
            ),
            "step",
        ),
    };
    let _ = writeln!(out, "{title}, {failed} host(s) failed{stopped}\n");
    if !worked.is_empty() {
        let mut table = new_table(&["host", column, "result", "details"], width);
        for host in worked {
            host_rows(host, &mut table);
        }
        let _ = writeln!(out, "{table}\n");
    }
    let manual = outcome
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.manual.as_slice()));
    manual_table(manual, width, &mut out);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
#[path = "campaign_tests.rs"]
mod tests;
