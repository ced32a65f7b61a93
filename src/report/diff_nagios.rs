//! `patchgap diff` as a Nagios/Icinga plugin's output: one status line,
//! `PATCHGAP STATUS - text | perfdata`, then one detail line per host where something is
//! new. WARNING when something new appeared on any host (what makes `diff` exit 1), else
//! OK; a `--policy` verdict raises it (warn: WARNING, fail: CRITICAL), as for the fleet
//! report. Perfdata: items new, fixed and still pending over all hosts (the reboot counts
//! as one item), hosts with something new, hosts compared.
//!
//! The status line holds counts only; host-supplied text goes through the fleet plugin's
//! [`clean`] (terminal-safe, one line, no `|`).

use std::io::{self, Write};

use crate::diff::{Column, DiffReport};

use super::nagios::{NagiosStatus, clean, plural, policy_status};
use super::policy_outcome::Level;

/// The plugin status of a comparison: what `exit.rs` uses when stdout gets this format.
pub fn diff_nagios_status(diff: &DiffReport) -> NagiosStatus {
    let new = if diff.hosts_with_new() > 0 {
        NagiosStatus::Warning
    } else {
        NagiosStatus::Ok
    };
    new.max(policy_status(diff.policy.as_ref()))
}

/// Items in `column` over every host (the reboot counts as one).
fn total(diff: &DiffReport, column: Column) -> usize {
    diff.hosts.iter().map(|h| h.column(column).len()).sum()
}

/// Writes the status line and the detail lines.
pub fn diff_nagios(diff: &DiffReport, out: &mut dyn Write) -> io::Result<()> {
    let status = diff_nagios_status(diff);
    let [fixed, new, pending] = Column::ALL.map(|c| total(diff, c));
    let with_new = diff.hosts_with_new();
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let mut text = format!(
        "{} new, {} fixed, {} still pending",
        plural(
            count(with_new),
            "host with something",
            "hosts with something"
        ),
        plural(count(fixed), "item", "items"),
        plural(count(pending), "item", "items"),
    );
    if let Some(policy) = &diff.policy
        && policy.level != Level::Pass
    {
        text.push_str(&format!(", policy {}", policy.level.as_str()));
    }
    writeln!(
        out,
        "PATCHGAP {} - {text} ({}) | 'new'={new};;;0; 'fixed'={fixed};;;0; \
         'pending'={pending};;;0; 'hosts_with_new'={with_new};;;0; 'hosts'={};;;0;",
        status.label(),
        plural(count(diff.hosts.len()), "host compared", "hosts compared"),
        diff.hosts.len(),
    )?;
    for host in diff.hosts.iter().filter(|h| h.has_new()) {
        let mut parts: Vec<String> = host.column(Column::New).iter().map(|l| clean(l)).collect();
        if let Some(failure) = &host.failure {
            parts.insert(0, format!("{} ({})", host.change.label(), clean(failure)));
        }
        writeln!(out, "{}: new {}", clean(&host.host), parts.join(", "))?;
    }
    Ok(())
}
