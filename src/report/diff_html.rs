//! `patchgap diff` as one self-contained page (`templates/diff.html`), built like the fleet
//! page ([`super::html`]): its inline style and script (sorting and filtering, the view in
//! the URL fragment), its Content-Security-Policy that lets nothing load and nothing else
//! run, and its escaper for every string from a report. A table of hosts (change, failure,
//! counts), then one table per change kind, new, fixed and still pending, a row per host x
//! area x item.

use std::io::{self, Write};

use askama::Template;

use crate::diff::{Column, DiffReport};

use super::csv::rfc3339;
use super::html::{SCRIPT, STYLE, content_security_policy};

/// One host's row of the hosts table.
struct HostRow<'a> {
    host: &'a str,
    change: &'static str,
    failure: &'a str,
    new: usize,
    fixed: usize,
    pending: usize,
}

/// The table of one change kind: host, area, item.
struct KindTable<'a> {
    id: &'static str,
    table: &'static str,
    title: &'static str,
    rows: Vec<(&'a str, &'static str, &'a str)>,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct Page<'a> {
    csp: &'a str,
    style: &'static str,
    script: &'static str,
    old_file: &'a str,
    new_file: &'a str,
    old: String,
    new: String,
    hosts_with_new: usize,
    /// The policy's level and file.
    policy: Option<(&'static str, &'a str)>,
    hosts: Vec<HostRow<'a>>,
    tables: Vec<KindTable<'a>>,
}

/// Writes the comparison as a page.
pub fn diff_html(diff: &DiffReport, out: &mut dyn Write) -> io::Result<()> {
    let count = |h: &crate::diff::HostDiff, c| h.column(c).len();
    let hosts = diff
        .hosts
        .iter()
        .map(|h| HostRow {
            host: &h.host,
            change: h.change.label(),
            failure: h.failure.as_deref().unwrap_or_default(),
            new: count(h, Column::New),
            fixed: count(h, Column::Fixed),
            pending: count(h, Column::Pending),
        })
        .collect();
    let tables = [
        (Column::New, "new", "t-new", "New"),
        (Column::Fixed, "fixed", "t-fixed", "Fixed"),
        (Column::Pending, "pending", "t-pending", "Still pending"),
    ]
    .into_iter()
    .map(|(column, id, table, title)| KindTable {
        id,
        table,
        title,
        rows: diff
            .hosts
            .iter()
            .flat_map(|h| {
                h.entries()
                    .into_iter()
                    .filter(|e| e.area != "host" && e.change == column.word())
                    .map(|e| (h.host.as_str(), e.area, e.item))
            })
            .collect(),
    })
    .collect();
    let page = Page {
        csp: &content_security_policy(),
        style: STYLE,
        script: SCRIPT,
        old_file: &diff.old.file,
        new_file: &diff.new.file,
        old: rfc3339(Some(diff.old.audited_at)),
        new: rfc3339(Some(diff.new.audited_at)),
        hosts_with_new: diff.hosts_with_new(),
        policy: diff
            .policy
            .as_ref()
            .map(|p| (p.level.as_str(), p.source.as_str())),
        hosts,
        tables,
    };
    let html = page.render().map_err(io::Error::other)?;
    out.write_all(html.as_bytes())
}
