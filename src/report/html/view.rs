//! What the HTML page shows, as plain rows of strings and numbers: built from the fleet
//! report (and [`summarize`]'s figures) before the template sees it, so the template only
//! lays out and escapes. Dates come from the report's own times (no clock is read), which
//! keeps a page reproducible from its JSON.

mod failures;
mod restarts;

use patchgap_probe::Report;

pub use failures::{FailedRow, PolicyView, WarningRow};
pub use restarts::{IntegrityRow, OtherRow, PackageRow, RebootRow, ServiceRow};

use super::chart::{self, Bars, Histogram};
use crate::outcome::HostResult;
use crate::report::aggregate::{FleetSummary, HostState, summarize};
use crate::report::document::FleetReport;

/// The whole page's content.
#[derive(Debug)]
pub struct View {
    pub meta: Meta,
    pub cards: Vec<Card>,
    pub states: Vec<StateRow>,
    pub hosts: Vec<HostRow>,
    pub services: Vec<ServiceRow>,
    pub others: Vec<OtherRow>,
    pub packages: Vec<PackageRow>,
    pub reboots: Vec<RebootRow>,
    /// True when any host ran the integrity check, so "no finding" means something.
    pub integrity_ran: bool,
    pub integrity: Vec<IntegrityRow>,
    pub failed: Vec<FailedRow>,
    pub warnings: Vec<WarningRow>,
    pub policy: Option<PolicyView>,
    pub package_chart: Bars,
    pub age_chart: Histogram,
}

/// Who ran the audit, when, on what.
#[derive(Debug)]
pub struct Meta {
    pub version: String,
    pub started: String,
    pub finished: String,
    pub inventories: Vec<String>,
    pub limit: Option<String>,
    pub skipped: Vec<String>,
}

/// A headline figure. `tone` is a fixed CSS class: `ok`, `warn`, `bad` or `none`.
#[derive(Debug)]
pub struct Card {
    pub label: &'static str,
    pub value: usize,
    pub tone: &'static str,
}

#[derive(Debug)]
pub struct StateRow {
    pub state: &'static str,
    pub hosts: usize,
    pub tone: &'static str,
}

#[derive(Debug)]
pub struct HostRow {
    pub host: String,
    pub address: Address,
    pub state: &'static str,
    pub tone: &'static str,
    pub stale_processes: Option<usize>,
    pub services: Option<usize>,
    pub reboot: &'static str,
}

/// Everything the page shows of `report`.
pub fn build(report: &FleetReport) -> View {
    let summary = summarize(&report.hosts);
    let audited: Vec<(&str, &Report)> = report
        .hosts
        .iter()
        .filter_map(|h| match &h.result {
            HostResult::Audited { report, .. } => Some((h.host.as_str(), report.report())),
            HostResult::Failed { .. } => None,
        })
        .collect();
    View {
        meta: meta(report),
        cards: cards(&summary),
        states: summary
            .states
            .iter()
            .map(|(state, hosts)| StateRow {
                state: state.label(),
                hosts: *hosts,
                tone: state_tone(*state),
            })
            .collect(),
        hosts: host_rows(report, &summary),
        services: restarts::service_rows(&audited),
        others: restarts::other_rows(&summary, &audited),
        packages: restarts::package_rows(&summary, &audited),
        reboots: restarts::reboot_rows(&summary, &audited),
        integrity_ran: audited.iter().any(|(_, r)| r.integrity.is_some()),
        integrity: restarts::integrity_rows(&audited),
        failed: failures::failed_rows(report, &summary),
        warnings: summary
            .hosts
            .iter()
            .flat_map(|h| {
                h.warnings.iter().map(|w| WarningRow {
                    host: h.host.clone(),
                    warning: w.clone(),
                })
            })
            .collect(),
        policy: report.policy.as_ref().map(failures::policy_view),
        package_chart: chart::bars(
            summary
                .packages
                .iter()
                .filter(|p| p.services > 0)
                .map(|p| (p.name.clone(), p.services as u64)),
        ),
        age_chart: chart::exposure(audited.iter().flat_map(|(_, r)| {
            r.processes
                .iter()
                .map(|p| p.stale_since.map(|s| r.host.scanned_at.saturating_sub(s)))
        })),
    }
}

fn meta(report: &FleetReport) -> Meta {
    let c = &report.controller;
    Meta {
        version: c.version.clone(),
        started: date(c.started_at),
        finished: date(c.finished_at),
        inventories: c.inventories.clone(),
        limit: c.limit.clone(),
        skipped: c.skipped.clone(),
    }
}

fn cards(summary: &FleetSummary) -> Vec<Card> {
    let restart = summary
        .hosts
        .iter()
        .filter(|h| h.stale_processes > 0)
        .count();
    let services: usize = summary.hosts.iter().map(|h| h.services().count()).sum();
    let tone = |n: usize, bad: &'static str| if n == 0 { "ok" } else { bad };
    vec![
        Card {
            label: "hosts",
            value: summary.total,
            tone: "none",
        },
        Card {
            label: "audited",
            value: summary.hosts.len(),
            tone: "none",
        },
        Card {
            label: "failed",
            value: summary.failed.len(),
            tone: tone(summary.failed.len(), "bad"),
        },
        Card {
            label: "hosts with stale processes",
            value: restart,
            tone: tone(restart, "warn"),
        },
        Card {
            label: "services to restart",
            value: services,
            tone: tone(services, "warn"),
        },
        Card {
            label: "hosts to reboot",
            value: summary.reboot_needed.len(),
            tone: tone(summary.reboot_needed.len(), "warn"),
        },
    ]
}

fn state_tone(state: HostState) -> &'static str {
    match state {
        HostState::Audited => "ok",
        HostState::Partial => "warn",
        HostState::Failed(_) => "bad",
    }
}

fn host_rows(report: &FleetReport, summary: &FleetSummary) -> Vec<HostRow> {
    let mut audited = summary.hosts.iter();
    report
        .hosts
        .iter()
        .map(|outcome| {
            let (state, stale, services, reboot) = match &outcome.result {
                HostResult::Failed { failure, .. } => (HostState::Failed(*failure), None, None, ""),
                HostResult::Audited { .. } => match audited.next() {
                    Some(h) => (
                        if h.partial {
                            HostState::Partial
                        } else {
                            HostState::Audited
                        },
                        Some(h.stale_processes),
                        Some(h.services().count()),
                        h.reboot.label(),
                    ),
                    None => (HostState::Audited, None, None, ""),
                },
            };
            HostRow {
                host: outcome.host.clone(),
                address: address(&outcome.address, outcome.port),
                state: state.label(),
                tone: state_tone(state),
                stale_processes: stale,
                services,
                reboot,
            }
        })
        .collect()
}

/// Where a host was reached: its address (the host's or inventory's string, shown
/// isolated) and port, none for a local audit.
#[derive(Debug, Default)]
pub struct Address {
    pub host: String,
    pub port: Option<u16>,
}

fn address(address: &str, port: u16) -> Address {
    Address {
        host: address.to_string(),
        port: (port != 0).then_some(port),
    }
}

/// A Unix time as `2026-11-30 08:15 UTC`; an impossible one as the number.
pub fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(
        || unix.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// A duration in seconds for a person: `45 min`, `5 h`, `3 d 4 h`.
pub fn age(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, h) => format!("{h} h"),
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
}
