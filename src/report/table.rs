//! The fleet summary as terminal tables. Formatting only: the figures come from
//! [`super::aggregate`]. Every string that came from a host (or an inventory) is passed
//! through [`cell`] here, the last step before it reaches a terminal. The same renderer
//! shows one host's report through [`super::host_table`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use std::io;

use comfy_table::Table as Grid;
use patchgap_probe::Report;
use patchgap_probe::report::{Risk, RiskLevel};

use super::actions::{ActionKind, PendingAction, RebootVerdict};
use super::aggregate::{FleetSummary, HostSummary, failure_label, summarize};
use super::baseline_table::render_baseline;
use super::document::FleetReport;
use super::host_table;
use super::policy_table::render_policy;
use super::render::Render;
use super::text::{cell, new_table, right_align};
use crate::outcome::{HostOutcome, HostResult};

pub use super::text::stdout_width;

/// `--format table`: readable tables for a terminal. Every host-supplied string goes
/// through [`cell`] first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Table {
    /// A terminal's width to wrap the tables to; `None`: as wide as their content.
    pub width: Option<u16>,
    /// List the findings ignore rules matched instead of only counting them.
    pub show_ignored: bool,
    /// `--min-risk`: hide services and processes the probe ranked below it.
    pub min_risk: Option<RiskLevel>,
}

impl Render for Table {
    fn host(&self, report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
        let text = host_table::render(report, self.show_ignored, self.width, self.min_risk);
        out.write_all(text.as_bytes())
    }

    fn fleet(&self, report: &FleetReport, out: &mut dyn io::Write) -> io::Result<()> {
        let risk = FleetRisk::of(&report.hosts);
        let text = render_summary(&summarize(&report.hosts), &risk, self.width, self.min_risk);
        out.write_all(text.as_bytes())?;
        if let Some(baseline) = &report.baseline {
            write!(out, "\n{}", render_baseline(baseline, self.width))?;
        }
        self.policy(report, out)
    }
}

impl Table {
    /// The `--policy` verdict after the tables, when there is one.
    pub fn policy(&self, report: &FleetReport, out: &mut dyn io::Write) -> io::Result<()> {
        match &report.policy {
            Some(outcome) => {
                let text = render_policy(outcome, self.width);
                write!(out, "\n{}\n", text.trim_end())
            }
            None => Ok(()),
        }
    }
}

/// The risk facts of a fleet's reports that the summary shows: each service's risk,
/// each host's highest, and which CVEs still run on how many services and hosts.
#[derive(Debug, Default)]
pub struct FleetRisk {
    /// (host, unit) -> the risk the probe gave the service.
    services: HashMap<(String, String), Risk>,
    /// Host -> the highest risk of its stale processes, when its probe ranked them.
    hosts: HashMap<String, RiskLevel>,
    /// CVE -> (services lacking its fix, hosts where a stale process lacks it).
    cves: BTreeMap<String, (usize, BTreeSet<String>)>,
}

impl FleetRisk {
    pub fn of(outcomes: &[HostOutcome]) -> Self {
        let mut out = FleetRisk::default();
        for o in outcomes {
            let HostResult::Audited { report, .. } = &o.result else {
                continue;
            };
            let Some(e) = &report.report().exposure else {
                continue;
            };
            for s in &e.services {
                out.services
                    .insert((o.host.clone(), s.unit.clone()), s.risk.clone());
                for cve in &s.cves {
                    out.cves.entry(cve.clone()).or_default().0 += 1;
                }
            }
            for cve in e.packages.iter().flat_map(|p| &p.cves) {
                out.cves
                    .entry(cve.clone())
                    .or_default()
                    .1
                    .insert(o.host.clone());
            }
            if let Some(top) = e.processes.iter().map(|p| p.risk.level).max() {
                out.hosts.insert(o.host.clone(), top);
            }
        }
        out
    }

    fn service(&self, host: &str, unit: &str) -> Option<&Risk> {
        self.services.get(&(host.to_string(), unit.to_string()))
    }

    /// "CVE-2024-1234: 14 services on 6 hosts", most widespread first.
    fn cve_lines(&self) -> Vec<String> {
        let mut spread: Vec<(&String, &(usize, BTreeSet<String>))> = self.cves.iter().collect();
        spread.sort_by_key(|(_, (services, hosts))| std::cmp::Reverse((hosts.len(), *services)));
        spread
            .into_iter()
            .map(|(cve, (services, hosts))| {
                format!(
                    "{}: {services} service{} on {} host{}",
                    cell(cve),
                    if *services == 1 { "" } else { "s" },
                    hosts.len(),
                    if hosts.len() == 1 { "" } else { "s" }
                )
            })
            .collect()
    }
}

/// Most packages listed; the JSON report has them all.
const MAX_PACKAGES: usize = 20;

/// The summary as text. `width` is the terminal's width, if stdout is one; tables wrap to
/// it, otherwise they are as wide as their content.
pub fn render_summary(
    summary: &FleetSummary,
    risk: &FleetRisk,
    width: Option<u16>,
    min_risk: Option<RiskLevel>,
) -> String {
    let mut out = String::new();
    section(&mut out, &headline(summary), states_table(summary, width));
    let mut pending: Vec<&HostSummary> = summary.hosts.iter().filter(|h| h.has_pending()).collect();
    // Riskiest hosts first; hosts an older probe did not rank keep their place after them.
    pending.sort_by_key(|h| std::cmp::Reverse(risk.hosts.get(&h.host).copied()));
    if !pending.is_empty() {
        section(
            &mut out,
            "Restarts pending",
            pending_table(&pending, risk, width, min_risk),
        );
    }
    let cves = risk.cve_lines();
    if !cves.is_empty() {
        let _ = writeln!(out, "CVEs still live\n{}\n", cves.join("\n"));
    }
    let clean = summary.hosts.len() - pending.len();
    if clean > 0 {
        let _ = writeln!(out, "{clean} audited host(s) have nothing to restart.\n");
    }
    if !summary.hosts.is_empty() {
        section(&mut out, "Reboot", reboot_table(summary, width));
    }
    if !summary.packages.is_empty() {
        section(
            &mut out,
            "Packages behind the findings",
            packages_table(summary, width),
        );
    }
    if !summary.failed.is_empty() {
        section(&mut out, "Failed hosts", failed_table(summary, width));
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn headline(summary: &FleetSummary) -> String {
    format!(
        "{} host(s): {} audited, {} failed",
        summary.total,
        summary.hosts.len(),
        summary.failed.len()
    )
}

fn section(out: &mut String, title: &str, table: Grid) {
    let _ = writeln!(out, "{title}\n{table}\n");
}

fn states_table(summary: &FleetSummary, width: Option<u16>) -> Grid {
    let mut table = new_table(&["State", "Hosts"], width);
    for (state, count) in &summary.states {
        table.add_row(vec![state.label().to_string(), count.to_string()]);
    }
    right_align(&mut table, &[1]);
    table
}

fn pending_table(
    hosts: &[&HostSummary],
    risk: &FleetRisk,
    width: Option<u16>,
    min_risk: Option<RiskLevel>,
) -> Grid {
    let mut table = new_table(
        &["Risk", "Host", "Services to restart", "Also", "Reboot"],
        width,
    );
    for host in hosts {
        let mut ranked: Vec<(&PendingAction, Option<&Risk>)> = host
            .services()
            .map(|a| (a, risk.service(&host.host, &a.name)))
            .filter(|(_, r)| host_table::at_least(*r, min_risk))
            .collect();
        ranked.sort_by_key(|(_, r)| std::cmp::Reverse(r.map(|r| r.level)));
        let hidden = host.services().count() - ranked.len();
        let mut services: Vec<String> = ranked
            .into_iter()
            .map(|(a, r)| match r {
                Some(r) => format!("{}: {}", r.level.as_str(), service_label(a)),
                None => service_label(a),
            })
            .collect();
        if let (Some(m), 1..) = (min_risk, hidden) {
            services.push(format!("+{hidden} below {}", m.as_str()));
        }
        let also: Vec<String> = host
            .actions
            .iter()
            .filter(|a| a.kind != ActionKind::Service)
            .map(other_label)
            .collect();
        let mut name = cell(&host.host);
        if host.partial {
            name.push_str(" (partial)");
        }
        let level = risk.hosts.get(&host.host).map_or("?", |l| l.as_str());
        table.add_row(vec![
            level.to_string(),
            name,
            services.join("\n"),
            also.join("\n"),
            reboot_cell(&host.reboot),
        ]);
    }
    table
}

/// `needed: first reason (+N more)`, or the bare verdict.
fn reboot_cell(verdict: &RebootVerdict) -> String {
    match verdict {
        RebootVerdict::Needed { reasons } if !reasons.is_empty() => {
            let more = match reasons.len() - 1 {
                0 => String::new(),
                n => format!(" (+{n} more)"),
            };
            format!("needed: {}{more}", cell(&reasons[0]))
        }
        other => other.label().to_string(),
    }
}

fn service_label(action: &PendingAction) -> String {
    let mut label = cell(&action.name);
    if action.restart_refused {
        label.push_str(" (not restarted automatically)");
    }
    label
}

fn other_label(action: &PendingAction) -> String {
    let what = match action.kind {
        ActionKind::SystemManager => "daemon-reexec",
        ActionKind::Session => "session",
        ActionKind::Container => "container",
        ActionKind::Other | ActionKind::Service => "process",
    };
    format!("{what} {}", cell(&action.name))
}

fn reboot_table(summary: &FleetSummary, width: Option<u16>) -> Grid {
    let mut table = new_table(&["Reboot", "Hosts", "Which"], width);
    let needed: Vec<String> = summary.reboot_needed.iter().map(|h| cell(h)).collect();
    for (verdict, count, which) in [
        (
            RebootVerdict::Needed {
                reasons: Vec::new(),
            },
            needed.len(),
            needed.join(", "),
        ),
        (
            RebootVerdict::NotNeeded,
            summary.reboot_not_needed,
            String::new(),
        ),
        (
            RebootVerdict::Unknown,
            summary.reboot_unknown,
            String::new(),
        ),
    ] {
        if count > 0 {
            table.add_row(vec![verdict.label().to_string(), count.to_string(), which]);
        }
    }
    right_align(&mut table, &[1]);
    table
}

fn packages_table(summary: &FleetSummary, width: Option<u16>) -> Grid {
    let mut table = new_table(&["Package", "Hosts", "Services", "Processes"], width);
    for package in summary.packages.iter().take(MAX_PACKAGES) {
        table.add_row(vec![
            cell(&package.name),
            package.hosts.to_string(),
            package.services.to_string(),
            package.processes.to_string(),
        ]);
    }
    if summary.packages.len() > MAX_PACKAGES {
        let more = summary.packages.len() - MAX_PACKAGES;
        table.add_row(vec![format!("... {more} more (see --format json)")]);
    }
    right_align(&mut table, &[1, 2, 3]);
    table
}

fn failed_table(summary: &FleetSummary, width: Option<u16>) -> Grid {
    let mut table = new_table(&["Host", "State", "Message"], width);
    for failed in &summary.failed {
        let mut message = cell(&failed.message);
        if let Some(tail) = &failed.stderr_tail {
            let _ = write!(message, "\nstderr: {}", cell(tail.trim_end()));
        }
        table.add_row(vec![
            cell(&failed.host),
            failure_label(failed.failure).to_string(),
            message,
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_reasons_are_shortened_and_sanitised() {
        let verdict = RebootVerdict::Needed {
            reasons: vec![
                "kernel 6.1.0-28\u{1b}[2J installed".into(),
                "microcode".into(),
            ],
        };
        assert_eq!(
            reboot_cell(&verdict),
            "needed: kernel 6.1.0-28? installed (+1 more)"
        );
        let bare = RebootVerdict::Needed { reasons: vec![] };
        assert_eq!(reboot_cell(&bare), "needed");
        assert_eq!(reboot_cell(&RebootVerdict::NotNeeded), "not needed");
    }
}
