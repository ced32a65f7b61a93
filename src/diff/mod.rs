//! `patchgap diff OLD.json NEW.json`: what changed between two audits, host by host. This
//! module is the pure comparison (two [`FleetReport`]s in, a [`DiffReport`] out); reading
//! the files is [`input`], rendering is `report::diff_table` (and JSON), the wiring is
//! `commands/diff.rs`. The document is versioned and described in docs/diff.md.
//!
//! Things are matched by what survives a restart, never by PID: services by unit; other
//! stale processes by their unit when they have one, else by command name and executable,
//! within their owner (a session's user, a container); packages by name; integrity findings
//! by path, package and kind. So a service restarted onto the old library again is "still
//! pending", not "fixed and new".

pub mod input;

use std::collections::BTreeSet;

use patchgap_probe::Report;
use patchgap_probe::report::{Owner, StaleProcess};
use serde::{Deserialize, Serialize};

use crate::outcome::{HostOutcome, HostResult};
use crate::policy::ProblemKind;
use crate::report::{FleetReport, PolicyOutcome, failure_label};

/// Version of the diff document's shape; same rules as the fleet report's.
pub const DIFF_FORMAT_VERSION: u32 = 1;

/// Two reports compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    pub format_version: u32,
    /// The earlier report.
    pub old: Side,
    /// The later report.
    pub new: Side,
    /// Every host of either report: the later report's order, then the hosts gone from it
    /// in the earlier report's order.
    pub hosts: Vec<HostDiff>,
    /// The verdict of `--policy` on the later report, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyOutcome>,
}

/// One of the two reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The file, as given on the command line.
    pub file: String,
    /// Unix time the audit finished (the fleet run's end, or the local scan's start).
    pub audited_at: i64,
}

/// How a host's state changed between the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostChange {
    /// Audited in both.
    Audited,
    /// Only in the later report.
    Added,
    /// Only in the earlier report.
    Gone,
    /// Audited before, failed now (unreachable, timeout, ...).
    BecameUnreachable,
    /// Failed before, audited now.
    BecameReachable,
    /// Failed in both.
    StillUnreachable,
}

impl HostChange {
    /// The word of the JSON document (`became_unreachable`), for CSV cells and labels.
    pub fn word(self) -> &'static str {
        match self {
            HostChange::Audited => "audited",
            HostChange::Added => "added",
            HostChange::Gone => "gone",
            HostChange::BecameUnreachable => "became_unreachable",
            HostChange::BecameReachable => "became_reachable",
            HostChange::StillUnreachable => "still_unreachable",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            HostChange::Audited => "audited",
            HostChange::Added => "added",
            HostChange::Gone => "gone",
            HostChange::BecameUnreachable => "failing now",
            HostChange::BecameReachable => "audited again",
            HostChange::StillUnreachable => "still failing",
        }
    }
}

/// What is fixed, new and still pending in one kind of thing. Sorted, no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// In the earlier report only.
    pub fixed: Vec<String>,
    /// In the later report only.
    pub new: Vec<String>,
    /// In both.
    pub pending: Vec<String>,
}

impl Changes {
    fn between(old: BTreeSet<String>, new: BTreeSet<String>) -> Changes {
        Changes {
            fixed: old.difference(&new).cloned().collect(),
            new: new.difference(&old).cloned().collect(),
            pending: old.intersection(&new).cloned().collect(),
        }
    }

    /// The items in `column`.
    pub fn pick(&self, column: Column) -> &[String] {
        match column {
            Column::Fixed => &self.fixed,
            Column::New => &self.new,
            Column::Pending => &self.pending,
        }
    }

    /// Each column with its items, fixed, new, then pending.
    pub fn columns(&self) -> [(Column, &[String]); 3] {
        Column::ALL.map(|c| (c, self.pick(c)))
    }

    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.new.is_empty() && self.pending.is_empty()
    }
}

/// One side of the comparison of a host, as renderers list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Fixed,
    New,
    Pending,
}

impl Column {
    /// Every column, in the order the formats list them.
    pub const ALL: [Column; 3] = [Column::Fixed, Column::New, Column::Pending];

    /// The column's word in CSV cells and metric names.
    pub fn word(self) -> &'static str {
        match self {
            Column::Fixed => "fixed",
            Column::New => "new",
            Column::Pending => "pending",
        }
    }
}

/// One change of a host, as the formats with a row per change list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// `host`, `reboot`, or a word of [`HostDiff::categories`].
    pub area: &'static str,
    /// The thing (unit, process, package, integrity finding); empty for `host` and `reboot`.
    pub item: &'a str,
    /// A [`Column::word`], or for `host` a [`HostChange::word`].
    pub change: &'static str,
}

/// Whether a reboot was needed before and now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootChange {
    /// Needed in neither report (or not known in either).
    #[default]
    None,
    /// Needed before, not now.
    Fixed,
    /// Needed now, not before.
    New,
    /// Needed in both.
    Pending,
}

/// One host compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostDiff {
    pub host: String,
    pub change: HostChange,
    /// Why the host failed in the later report, when it did.
    pub failure: Option<String>,
    /// Services to restart, by unit.
    pub services: Changes,
    /// Stale processes that belong to no system service (those are in `services`): by
    /// unit, else command name and executable, prefixed with their owner.
    pub processes: Changes,
    /// Packages behind the findings, by name (`CONTEXT NAME` outside the host's own
    /// database).
    pub packages: Changes,
    pub reboot: RebootChange,
    /// Integrity findings: `PATH (PACKAGE): KIND`.
    pub integrity: Changes,
}

impl HostDiff {
    /// Whether something appeared: a new item of any kind, a reboot newly needed, or a
    /// host that fails now and did not before.
    pub fn has_new(&self) -> bool {
        let failed_now = matches!(
            self.change,
            HostChange::BecameUnreachable | HostChange::Added
        ) && self.failure.is_some();
        failed_now
            || self.reboot == RebootChange::New
            || self.categories().iter().any(|(_, c)| !c.new.is_empty())
    }

    /// Whether something was fixed.
    pub fn has_fixed(&self) -> bool {
        self.reboot == RebootChange::Fixed
            || self.categories().iter().any(|(_, c)| !c.fixed.is_empty())
    }

    /// Whether anything is still pending.
    pub fn has_pending(&self) -> bool {
        self.reboot == RebootChange::Pending
            || self.categories().iter().any(|(_, c)| !c.pending.is_empty())
    }

    /// Everything in one column, for renderers: `reboot` first when it belongs there, then
    /// each kind's items with its word (`service nginx.service`, `package libssl3:amd64`).
    pub fn column(&self, column: Column) -> Vec<String> {
        let (pick, reboot): (fn(&Changes) -> &Vec<String>, RebootChange) = match column {
            Column::Fixed => (|c| &c.fixed, RebootChange::Fixed),
            Column::New => (|c| &c.new, RebootChange::New),
            Column::Pending => (|c| &c.pending, RebootChange::Pending),
        };
        let mut lines: Vec<String> = Vec::new();
        if self.reboot == reboot {
            lines.push("reboot".into());
        }
        for (word, changes) in self.categories() {
            lines.extend(pick(changes).iter().map(|item| format!("{word} {item}")));
        }
        lines
    }

    /// Every change of this host, one entry per area x item x change, for the formats
    /// with a row per change (CSV, HTML): first the host's own state (area `host`, change
    /// its [`HostChange::word`]), then `reboot` when it changed or is pending, then each
    /// kind's items, fixed, new, then pending.
    pub fn entries(&self) -> Vec<Entry<'_>> {
        let mut entries = vec![Entry {
            area: "host",
            item: "",
            change: self.change.word(),
        }];
        if let Some(column) = self.reboot_column() {
            entries.push(Entry {
                area: "reboot",
                item: "",
                change: column.word(),
            });
        }
        for (area, changes) in self.categories() {
            for (column, items) in changes.columns() {
                entries.extend(items.iter().map(|item| Entry {
                    area,
                    item,
                    change: column.word(),
                }));
            }
        }
        entries
    }

    /// The column the reboot is in, if it changed or is pending.
    pub fn reboot_column(&self) -> Option<Column> {
        match self.reboot {
            RebootChange::None => None,
            RebootChange::Fixed => Some(Column::Fixed),
            RebootChange::New => Some(Column::New),
            RebootChange::Pending => Some(Column::Pending),
        }
    }

    /// How many things of `area` (a word of [`HostDiff::categories`], or `reboot`) are in
    /// `column`: the figures of the Nagios perfdata and the metrics.
    pub fn count(&self, area: &str, column: Column) -> usize {
        if area == "reboot" {
            return usize::from(self.reboot_column() == Some(column));
        }
        self.categories()
            .iter()
            .filter(|(word, _)| *word == area)
            .map(|(_, c)| c.pick(column).len())
            .sum()
    }

    /// The kinds of things compared, each with the word renderers put before its items.
    pub fn categories(&self) -> [(&'static str, &Changes); 4] {
        [
            ("service", &self.services),
            ("process", &self.processes),
            ("package", &self.packages),
            ("integrity", &self.integrity),
        ]
    }
}

impl DiffReport {
    /// Hosts where something new appeared: what makes `patchgap diff` exit 1.
    pub fn hosts_with_new(&self) -> usize {
        self.hosts.iter().filter(|h| h.has_new()).count()
    }
}

/// Compares two fleet reports (a local report is a fleet of one), host by host by name.
pub fn compare(old: &FleetReport, old_file: &str, new: &FleetReport, new_file: &str) -> DiffReport {
    let mut hosts: Vec<HostDiff> = new
        .hosts
        .iter()
        .map(|after| {
            let before = old.hosts.iter().find(|h| h.host == after.host);
            host_diff(&after.host, before, Some(after))
        })
        .collect();
    hosts.extend(
        old.hosts
            .iter()
            .filter(|before| !new.hosts.iter().any(|h| h.host == before.host))
            .map(|before| host_diff(&before.host, Some(before), None)),
    );
    DiffReport {
        format_version: DIFF_FORMAT_VERSION,
        old: side(old, old_file),
        new: side(new, new_file),
        hosts,
        policy: None,
    }
}

fn side(report: &FleetReport, file: &str) -> Side {
    Side {
        file: file.to_string(),
        audited_at: report.controller.finished_at,
    }
}

/// A host's report, or its failure's label.
fn state(outcome: &HostOutcome) -> Result<&Report, &'static str> {
    match &outcome.result {
        HostResult::Audited { report, .. } => Ok(report.report()),
        HostResult::Failed { failure, .. } => Err(failure_label(*failure)),
    }
}

fn host_diff(host: &str, before: Option<&HostOutcome>, after: Option<&HostOutcome>) -> HostDiff {
    let before = before.map(state);
    let after = after.map(state);
    let change = match (&before, &after) {
        (None, _) => HostChange::Added,
        (_, None) => HostChange::Gone,
        (Some(Ok(_)), Some(Ok(_))) => HostChange::Audited,
        (Some(Ok(_)), Some(Err(_))) => HostChange::BecameUnreachable,
        (Some(Err(_)), Some(Ok(_))) => HostChange::BecameReachable,
        (Some(Err(_)), Some(Err(_))) => HostChange::StillUnreachable,
    };
    let failure = match after {
        Some(Err(label)) => Some(label.to_string()),
        _ => None,
    };
    // A host gone, or failed now, tells nothing about what was fixed: only a later audit
    // can. A host with no earlier audit has everything as new.
    let (old, new) = match (before, after) {
        (_, None | Some(Err(_))) => (None, None),
        (Some(Ok(old)), Some(Ok(new))) => (Some(old), Some(new)),
        (None | Some(Err(_)), Some(Ok(new))) => (None, Some(new)),
    };
    let compare = |items: fn(&Report) -> BTreeSet<String>| {
        if new.is_none() {
            return Changes::default();
        }
        Changes::between(
            old.map(items).unwrap_or_default(),
            new.map(items).unwrap_or_default(),
        )
    };
    let needed = |r: Option<&Report>| r.is_some_and(|r| r.reboot.needed);
    HostDiff {
        host: host.to_string(),
        change,
        failure,
        services: compare(services),
        processes: compare(processes),
        packages: compare(packages),
        reboot: match (needed(old), needed(new)) {
            _ if new.is_none() => RebootChange::None,
            (true, true) => RebootChange::Pending,
            (true, false) => RebootChange::Fixed,
            (false, true) => RebootChange::New,
            (false, false) => RebootChange::None,
        },
        integrity: compare(integrity),
    }
}

fn services(report: &Report) -> BTreeSet<String> {
    report
        .actions
        .services
        .iter()
        .map(|s| s.unit.clone())
        .collect()
}

fn processes(report: &Report) -> BTreeSet<String> {
    report.processes.iter().filter_map(process_key).collect()
}

/// What identifies a stale process across restarts; `None` for a system service's
/// processes, which `services` covers by unit.
pub fn process_key(process: &StaleProcess) -> Option<String> {
    let program = || match &process.exe {
        Some(exe) => format!("{} ({exe})", process.comm),
        None => process.comm.clone(),
    };
    Some(match &process.owner {
        Owner::Service { .. } => return None,
        Owner::SystemManager => format!("system manager: {}", program()),
        Owner::UserManager { uid, unit } => match unit {
            Some(unit) => format!("user@{uid}.service: {unit}"),
            None => format!("user@{uid}.service: {}", program()),
        },
        // Session ids change at every login: the user identifies the session's programs.
        Owner::Session { uid, .. } => match uid {
            Some(uid) => format!("session of uid {uid}: {}", program()),
            None => format!("session: {}", program()),
        },
        Owner::Container { runtime, id, unit } => match unit {
            Some(unit) => format!("container {runtime}:{id}: {unit}"),
            None => format!("container {runtime}:{id}: {}", program()),
        },
        Owner::Other { .. } => program(),
    })
}

fn packages(report: &Report) -> BTreeSet<String> {
    report
        .packages
        .iter()
        .map(|p| match p.context.as_str() {
            "host" => p.name.clone(),
            context => format!("{context} {}", p.name),
        })
        .collect()
}

fn integrity(report: &Report) -> BTreeSet<String> {
    report
        .integrity
        .iter()
        .flat_map(|i| &i.findings)
        .map(|f| {
            format!(
                "{} ({}): {}",
                f.path,
                f.package,
                ProblemKind::of(f).as_str()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
