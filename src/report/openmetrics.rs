//! `--format openmetrics`: gauges for node_exporter's textfile collector, in the Prometheus
//! text format 0.0.4 (what the collector reads: no `# EOF`, no timestamps on samples). The
//! `.prom` file is written atomically like every report file, so the collector never reads
//! half of it.
//!
//! Families (all gauges, each with `# HELP` and `# TYPE`), per host (label `host`) and
//! fleet-wide, are listed in docs/formats.md; the shape follows needrestart's own metrics
//! (`_info` with the version, a numeric kernel status). A host that could not be audited
//! has `patchgap_audit_success 0` and a `patchgap_audit_failure` sample naming why, and no
//! other per-host sample: absent, not zero, since nothing is known.
//!
//! Label values escape `\`, `"` and newline as the format says; other control characters
//! and bidirectional overrides are replaced by `?`, so no host can break a line of the file
//! or make a label read backwards.

use std::fmt::Write as _;
use std::io::{self, Write};

use patchgap_probe::Report;
use patchgap_probe::report::KernelStatus;

use super::aggregate::failure_label;
use super::document::FleetReport;
use super::policy_outcome::Level;
use super::render::{Render, host_as_fleet};
use crate::outcome::{HostOutcome, HostResult};

/// The OpenMetrics / textfile renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenMetrics;

/// A label value as the text format reads it back.
pub fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            // Controls, and the bidirectional overrides that make a label read differently
            // on a dashboard from what it holds.
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push('?')
            }
            c => out.push(c),
        }
    }
    out
}

/// needrestart's numbering (0 unknown, 1 current, 2 ABI update, 3 version update), plus 4
/// for a kernel that comes from no package.
pub fn kernel_status_value(status: KernelStatus) -> u8 {
    match status {
        KernelStatus::Unknown => 0,
        KernelStatus::Current => 1,
        KernelStatus::AbiUpdatePending => 2,
        KernelStatus::VersionUpdatePending => 3,
        KernelStatus::NotPackaged => 4,
    }
}

/// One metric family being written: its header once, then its samples.
pub(super) struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    pub(super) fn new(out: &'a mut String, name: &str, help: &str) -> Self {
        // `write!` to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        Family { out }
    }

    pub(super) fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
            .collect();
        let _ = if labels.is_empty() {
            writeln!(self.out, "{name} {value}")
        } else {
            writeln!(self.out, "{name}{{{}}} {value}", labels.join(","))
        };
    }
}

/// A per-host family: one sample for every audited host.
fn per_host(
    out: &mut String,
    hosts: &[(&HostOutcome, &Report)],
    name: &str,
    help: &str,
    value: impl Fn(&Report) -> Option<u64>,
) {
    let mut family = Family::new(out, name, help);
    for (outcome, report) in hosts {
        if let Some(v) = value(report) {
            family.sample(name, &[("host", &outcome.host)], v);
        }
    }
}

fn render(report: &FleetReport) -> String {
    let mut out = String::new();
    let audited: Vec<(&HostOutcome, &Report)> = report
        .hosts
        .iter()
        .filter_map(|h| match &h.result {
            HostResult::Audited { report, .. } => Some((h, report.report())),
            HostResult::Failed { .. } => None,
        })
        .collect();
    let c = &report.controller;
    Family::new(
        &mut out,
        "patchgap_info",
        "The patchgap controller that wrote this file.",
    )
    .sample(
        "patchgap_info",
        &[
            ("version", &c.version),
            ("probe_schema_version", &c.probe_schema_version.to_string()),
        ],
        1,
    );
    Family::new(
        &mut out,
        "patchgap_last_audit_timestamp_seconds",
        "Unix time the last audit finished.",
    )
    .sample("patchgap_last_audit_timestamp_seconds", &[], c.finished_at);
    let mut success = Family::new(
        &mut out,
        "patchgap_audit_success",
        "1 if the host was audited, 0 if it could not be.",
    );
    for h in &report.hosts {
        let ok = u8::from(matches!(h.result, HostResult::Audited { .. }));
        success.sample("patchgap_audit_success", &[("host", &h.host)], ok);
    }
    let mut failures = Family::new(
        &mut out,
        "patchgap_audit_failure",
        "1 for a host that could not be audited, labelled with why.",
    );
    for h in &report.hosts {
        if let HostResult::Failed { failure, .. } = &h.result {
            let why = failure_label(*failure);
            failures.sample(
                "patchgap_audit_failure",
                &[("host", &h.host), ("failure", why)],
                1,
            );
        }
    }
    let mut partial = Family::new(
        &mut out,
        "patchgap_audit_partial",
        "1 if the audit ran without root and could not inspect every process.",
    );
    for h in &report.hosts {
        if let HostResult::Audited { partial: p, report } = &h.result {
            let p = *p || report.report().scan.partial;
            partial.sample("patchgap_audit_partial", &[("host", &h.host)], u8::from(p));
        }
    }
    per_host(
        &mut out,
        &audited,
        "patchgap_stale_processes",
        "Processes running replaced code.",
        |r| u64::try_from(r.processes.len()).ok(),
    );
    per_host(
        &mut out,
        &audited,
        "patchgap_services_to_restart",
        "Services to restart.",
        |r| u64::try_from(r.actions.services.len()).ok(),
    );
    per_host(
        &mut out,
        &audited,
        "patchgap_reboot_required",
        "1 if the host waits for a reboot.",
        |r| Some(u64::from(r.reboot.needed)),
    );
    per_host(
        &mut out,
        &audited,
        "patchgap_kernel_status",
        "Running against next-boot kernel: 0 unknown, 1 current, 2 ABI update pending, \
         3 version update pending, 4 not from a package.",
        |r| Some(u64::from(kernel_status_value(r.kernel.status))),
    );
    per_host(
        &mut out,
        &audited,
        "patchgap_integrity_findings",
        "Packaged files that differ from dpkg's sums (only hosts checked with --integrity).",
        |r| {
            r.integrity
                .as_ref()
                .and_then(|i| u64::try_from(i.findings.len()).ok())
        },
    );
    fleet_families(&mut out, report, &audited);
    out
}

fn fleet_families(out: &mut String, report: &FleetReport, audited: &[(&HostOutcome, &Report)]) {
    let failed = report.hosts.len() - audited.len();
    let mut hosts = Family::new(out, "patchgap_fleet_hosts", "Hosts selected, by state.");
    hosts.sample(
        "patchgap_fleet_hosts",
        &[("state", "audited")],
        audited.len(),
    );
    hosts.sample("patchgap_fleet_hosts", &[("state", "failed")], failed);
    let sum = |f: &dyn Fn(&Report) -> usize| audited.iter().map(|(_, r)| f(r)).sum::<usize>();
    for (name, help, value) in [
        (
            "patchgap_fleet_stale_processes",
            "Processes running replaced code, over all audited hosts.",
            sum(&|r| r.processes.len()),
        ),
        (
            "patchgap_fleet_services_to_restart",
            "Services to restart, over all audited hosts.",
            sum(&|r| r.actions.services.len()),
        ),
        (
            "patchgap_fleet_reboot_required_hosts",
            "Audited hosts waiting for a reboot.",
            sum(&|r| usize::from(r.reboot.needed)),
        ),
    ] {
        Family::new(out, name, help).sample(name, &[], value);
    }
    if let Some(policy) = &report.policy {
        let level = |l: Level| match l {
            Level::Pass => 0,
            Level::Warn => 1,
            Level::Fail => 2,
        };
        Family::new(
            out,
            "patchgap_policy_level",
            "Verdict of the --policy file: 0 pass, 1 warn, 2 fail.",
        )
        .sample("patchgap_policy_level", &[], level(policy.level));
        let mut rules = Family::new(
            out,
            "patchgap_policy_rule_level",
            "Verdict of each policy rule: 0 pass, 1 warn, 2 fail.",
        );
        for rule in &policy.rules {
            rules.sample(
                "patchgap_policy_rule_level",
                &[("rule", &rule.id)],
                level(rule.level),
            );
        }
    }
}

impl Render for OpenMetrics {
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.fleet(&host_as_fleet(report)?, out)
    }

    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render(report).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_what_the_format_says_and_drop_controls() {
        assert_eq!(label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(label_value("a\nb\rc\u{1b}[31m"), "a\\nb?c?[31m");
        assert_eq!(label_value("ünïcødé"), "ünïcødé");
        assert_eq!(label_value("rtl\u{202e}txt"), "rtl?txt");
    }
}
