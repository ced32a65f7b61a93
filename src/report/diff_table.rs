//! `patchgap diff`'s output. `--format json`: the [`DiffReport`] document (docs/diff.md).
//! `--format table`: one row per host where something changed or is still
//! pending, with what was fixed, what is new and what is still pending, then the `--policy`
//! section when there is one. Every string from a
//! report (hosts, units, paths, file names) goes through [`cell`].

use std::fmt::Write;
use std::io;

use crate::diff::{Column, DiffReport, HostChange, HostDiff};

use super::policy_table::render_policy;
use super::text::{cell, new_table};

/// Most items listed in one cell; the JSON has them all.
const MAX_ITEMS: usize = 15;

/// The comparison as pretty-printed JSON, one trailing newline.
pub fn diff_json(diff: &DiffReport, out: &mut dyn io::Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, diff)?;
    out.write_all(b"\n")
}

/// The comparison as text, ending with one newline.
pub fn render_diff(diff: &DiffReport, width: Option<u16>) -> String {
    let mut out = String::new();
    let fixed = diff.hosts.iter().filter(|h| h.has_fixed()).count();
    let _ = writeln!(
        out,
        "{} compared with {}: {} host(s), {} with something new, {} with fixes",
        cell(&diff.new.file),
        cell(&diff.old.file),
        diff.hosts.len(),
        diff.hosts_with_new(),
        fixed
    );
    let shown: Vec<&HostDiff> = diff.hosts.iter().filter(|h| worth_a_row(h)).collect();
    if !shown.is_empty() {
        let mut table = new_table(&["Host", "Change", "Fixed", "New", "Still pending"], width);
        for host in &shown {
            let mut change = host.change.label().to_string();
            if let Some(failure) = &host.failure {
                let _ = write!(change, " ({})", cell(failure));
            }
            table.add_row(vec![
                cell(&host.host),
                change,
                items(host, Column::Fixed),
                items(host, Column::New),
                items(host, Column::Pending),
            ]);
        }
        let _ = writeln!(out, "{table}");
    }
    let quiet = diff.hosts.len() - shown.len();
    if quiet > 0 {
        let _ = writeln!(out, "{quiet} host(s) unchanged with nothing pending.");
    }
    if let Some(policy) = &diff.policy {
        let _ = write!(out, "\n{}\n", render_policy(policy, width).trim_end());
    }
    out
}

/// A host gets a row when its state changed or it has anything to show.
fn worth_a_row(host: &HostDiff) -> bool {
    host.change != HostChange::Audited || host.has_new() || host.has_fixed() || host.has_pending()
}

/// One column's items, sanitised, at most [`MAX_ITEMS`] of them.
fn items(host: &HostDiff, column: Column) -> String {
    let mut lines: Vec<String> = host.column(column).iter().map(|l| cell(l)).collect();
    if lines.len() > MAX_ITEMS {
        let more = lines.len() - MAX_ITEMS;
        lines.truncate(MAX_ITEMS);
        lines.push(format!("... {more} more (see --format json)"));
    }
    lines.join("\n")
}
