//! The fleet summary as terminal tables. Formatting only: the figures come from
//! [`super::aggregate`]. Every string that came from a host (or an inventory) is passed
//! through [`for_terminal`] here, the last step before it reaches a terminal.

use std::fmt::Write;

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};

use super::actions::{ActionKind, PendingAction, RebootVerdict};
use super::aggregate::{FleetSummary, HostSummary, failure_label};
use crate::sanitize::for_terminal;

/// Most packages listed; the JSON report has them all.
const MAX_PACKAGES: usize = 20;

/// The width of stdout when it is a terminal, for [`render_summary`]; `None` for pipes
/// and files, whose tables are as wide as their content.
pub fn stdout_width() -> Option<u16> {
    Table::new().width()
}

/// The summary as text. `width` is the terminal's width, if stdout is one; tables wrap to
/// it, otherwise they are as wide as their content.
pub fn render_summary(summary: &FleetSummary, width: Option<u16>) -> String {
    let mut out = String::new();
    section(&mut out, &headline(summary), states_table(summary, width));
    let pending: Vec<&HostSummary> = summary.hosts.iter().filter(|h| h.has_pending()).collect();
    if !pending.is_empty() {
        section(&mut out, "Restarts pending", pending_table(&pending, width));
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

fn section(out: &mut String, title: &str, table: Table) {
    let _ = writeln!(out, "{title}\n{table}\n");
}

fn new_table(header: &[&str], width: Option<u16>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_header(header.to_vec());
    if let Some(width) = width {
        table.set_content_arrangement(ContentArrangement::Dynamic);
        table.set_width(width);
    }
    table
}

fn right_align(table: &mut Table, columns: &[usize]) {
    for index in columns {
        if let Some(column) = table.column_mut(*index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Host-supplied text made safe for the terminal; tabs become spaces so column widths
/// stay right.
fn cell(text: &str) -> String {
    for_terminal(text).replace('\t', " ")
}

fn states_table(summary: &FleetSummary, width: Option<u16>) -> Table {
    let mut table = new_table(&["State", "Hosts"], width);
    for (state, count) in &summary.states {
        table.add_row(vec![state.label().to_string(), count.to_string()]);
    }
    right_align(&mut table, &[1]);
    table
}

fn pending_table(hosts: &[&HostSummary], width: Option<u16>) -> Table {
    let mut table = new_table(&["Host", "Services to restart", "Also", "Reboot"], width);
    for host in hosts {
        let services: Vec<String> = host.services().map(service_label).collect();
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
        table.add_row(vec![
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

fn reboot_table(summary: &FleetSummary, width: Option<u16>) -> Table {
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

fn packages_table(summary: &FleetSummary, width: Option<u16>) -> Table {
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

fn failed_table(summary: &FleetSummary, width: Option<u16>) -> Table {
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
