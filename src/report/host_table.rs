//! The terminal view of one host's report (a local audit): what to restart, what else is
//! stale, the packages behind it and for how long.

use std::fmt::Write as _;

use patchgap_probe::Report;
use patchgap_probe::report::{IntegrityReport, Problem, Risk, RiskLevel, ServiceAction};
use patchgap_probe::report::{Owner, PackageChange, StaleProcess};

use super::text::{cell, duration, new_table};

fn pids_text(p: &[u32]) -> String {
    p.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

/// How long the longest-stale of these processes has run replaced code.
fn stale_for(report: &Report, pids: &[u32]) -> String {
    report
        .processes
        .iter()
        .filter(|p| pids.contains(&p.pid))
        .filter_map(|p| p.stale_since)
        .min()
        .map_or_else(|| "?".into(), |t| duration(report.host.scanned_at - t))
}

fn describe_owner(p: &StaleProcess) -> (String, String) {
    match &p.owner {
        Owner::Service { unit } => ("service".into(), unit.clone()),
        Owner::SystemManager => ("system manager".into(), "systemctl daemon-reexec".into()),
        Owner::UserManager { uid, unit } => (
            "user manager".into(),
            format!(
                "user@{uid}.service{}",
                unit.as_ref().map(|u| format!(" {u}")).unwrap_or_default()
            ),
        ),
        Owner::Session { id, uid } => (
            "session".into(),
            format!(
                "session-{id}{}",
                uid.map(|u| format!(" (uid {u})")).unwrap_or_default()
            ),
        ),
        Owner::Container { runtime, id, unit } => (
            format!("container ({runtime})"),
            format!(
                "{id}{}",
                unit.as_ref().map(|u| format!(" {u}")).unwrap_or_default()
            ),
        ),
        Owner::Other { cgroup } => ("process".into(), cgroup.clone().unwrap_or_default()),
    }
}

fn package_row(report: &Report, p: &PackageChange) -> Vec<String> {
    let changed = p.changed_at.map_or_else(
        || "?".into(),
        |t| format!("{} ago", duration(report.host.scanned_at - t)),
    );
    let context = if p.context == "host" {
        String::new()
    } else {
        format!(" [{}]", p.context)
    };
    vec![
        cell(&format!("{}{context}", p.name)),
        cell(p.previous_version.as_deref().unwrap_or("?")),
        cell(p.version.as_deref().unwrap_or("?")),
        changed,
        p.processes.to_string(),
    ]
}

/// Most integrity findings listed before the rest are only counted.
const INTEGRITY_ROWS: usize = 50;

fn render_integrity(out: &mut String, i: &IntegrityReport, width: Option<u16>) {
    let s = &i.summary;
    let _ = writeln!(
        out,
        "integrity: {} packages, {} files checked: {} changed, {} missing, {} modified in use, \
         {} conffiles changed, {} unreadable, {} packages without md5sums",
        s.packages_checked,
        s.files_checked,
        s.changed,
        s.missing,
        s.modified_in_use,
        s.conffiles_changed,
        s.unreadable,
        s.packages_without_md5sums
    );
    for w in &i.warnings {
        let _ = writeln!(out, "integrity: {}", cell(w));
    }
    if i.findings.is_empty() {
        return;
    }
    let mut findings: Vec<_> = i.findings.iter().collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.path.cmp(&b.path)));
    let mut t = new_table(&["Modified file", "Package", "Problem", "Severity"], width);
    for f in findings.iter().take(INTEGRITY_ROWS) {
        let problem = match &f.problem {
            Problem::Changed { .. } => "changed".to_string(),
            Problem::ChangedSinceBaseline { .. } => "changed since baseline".to_string(),
            Problem::ModifiedInUse { pids, .. } => {
                format!("changed, in use by {}", pids_text(pids))
            }
            Problem::Missing => "missing".to_string(),
            Problem::Unreadable { error } => format!("unreadable: {error}"),
        };
        let what = if f.conffile { " (conffile)" } else { "" };
        t.add_row(vec![
            cell(&format!("{}{what}", f.path)),
            cell(&f.package),
            cell(&problem),
            format!("{:?}", f.severity).to_lowercase(),
        ]);
    }
    let _ = writeln!(out, "{t}");
    if findings.len() > INTEGRITY_ROWS {
        let _ = writeln!(
            out,
            "... and {} more (--format json lists all)",
            findings.len() - INTEGRITY_ROWS
        );
    }
}

/// The host's services, riskiest first (the probe's order), then those it ranked not
/// (reports of older probes), in the actions' order.
fn ranked_services(report: &Report) -> Vec<(&ServiceAction, Option<&Risk>)> {
    let ranked = report
        .exposure
        .as_ref()
        .map(|e| &e.services[..])
        .unwrap_or(&[]);
    let mut out: Vec<(&ServiceAction, Option<&Risk>)> = ranked
        .iter()
        .filter_map(|r| {
            let s = report.actions.services.iter().find(|s| s.unit == r.unit)?;
            Some((s, Some(&r.risk)))
        })
        .collect();
    for s in &report.actions.services {
        if !ranked.iter().any(|r| r.unit == s.unit) {
            out.push((s, None));
        }
    }
    out
}

/// The risk the probe gave process `pid`, if it ranked it.
fn process_risk(report: &Report, pid: u32) -> Option<&Risk> {
    let e = report.exposure.as_ref()?;
    e.processes.iter().find(|p| p.pid == pid).map(|p| &p.risk)
}

/// Whether a row of risk `risk` is shown under `--min-risk`. Rows a probe did not rank
/// (an older probe) are always shown: unknown is not low.
pub fn at_least(risk: Option<&Risk>, min: Option<RiskLevel>) -> bool {
    match (risk, min) {
        (Some(r), Some(m)) => r.level >= m,
        _ => true,
    }
}

/// The level as a table cell; `?` when the probe did not rank it.
pub fn level_text(risk: Option<&Risk>) -> String {
    risk.map_or("?", |r| r.level.as_str()).to_string()
}

/// "2 services below --min-risk high not shown".
fn hidden_line(out: &mut String, hidden: usize, what: &str, min: Option<RiskLevel>) {
    if let (Some(m), 1..) = (min, hidden) {
        let _ = writeln!(
            out,
            "{hidden} {what} below --min-risk {} not shown",
            m.as_str()
        );
    }
}

/// "CVEs still live: CVE-2024-1234 (libssl3), ..." for the packages behind findings.
fn cve_line(report: &Report) -> Option<String> {
    let e = report.exposure.as_ref()?;
    let cves: Vec<String> = e
        .packages
        .iter()
        .filter(|p| !p.cves.is_empty())
        .map(|p| format!("{} ({})", p.cves.join(", "), p.name))
        .collect();
    (!cves.is_empty()).then(|| format!("CVEs still live: {}", cell(&cves.join("; "))))
}

/// Renders one host's report for a terminal, its tables wrapped to `width` if given.
/// `show_ignored` lists ignored findings instead of only counting them; `min_risk` hides
/// services and processes the probe ranked below it.
pub fn render(
    report: &Report,
    show_ignored: bool,
    width: Option<u16>,
    min_risk: Option<RiskLevel>,
) -> String {
    let mut out = String::new();
    let h = &report.host;
    let _ = writeln!(
        out,
        "{} ({}): {} services to restart, {} stale processes",
        cell(&h.hostname),
        cell(h.os.as_deref().unwrap_or("unknown OS")),
        report.actions.services.len(),
        report.processes.len()
    );
    let _ = writeln!(out, "{}", cell(&report.reboot.verdict()));
    if let Some(line) = cve_line(report) {
        let _ = writeln!(out, "{line}");
    }
    let services = ranked_services(report);
    let shown: Vec<&(&ServiceAction, Option<&Risk>)> = services
        .iter()
        .filter(|(_, r)| at_least(*r, min_risk))
        .collect();
    if !shown.is_empty() {
        let mut t = new_table(
            &[
                "Risk",
                "Service to restart",
                "PIDs",
                "Packages",
                "Stale for",
                "Why",
            ],
            width,
        );
        for (s, risk) in shown.iter().copied() {
            let mut why: Vec<String> = risk.map(|r| r.reasons.clone()).unwrap_or_default();
            if s.restart_refused {
                why.push("restart with care (not automatic)".into());
            }
            t.add_row(vec![
                level_text(*risk),
                cell(&s.unit),
                pids_text(&s.pids),
                cell(&s.packages.join(" ")),
                stale_for(report, &s.pids),
                cell(&why.join("\n")),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    hidden_line(&mut out, services.len() - shown.len(), "services", min_risk);
    let all_others: Vec<&StaleProcess> = report
        .processes
        .iter()
        .filter(|p| !matches!(p.owner, Owner::Service { .. }))
        .collect();
    let others: Vec<&StaleProcess> = all_others
        .iter()
        .copied()
        .filter(|p| at_least(process_risk(report, p.pid), min_risk))
        .collect();
    hidden_line(
        &mut out,
        all_others.len() - others.len(),
        "other stale processes",
        min_risk,
    );
    if !others.is_empty() {
        let mut t = new_table(
            &[
                "Risk",
                "Other stale process",
                "PID",
                "Owner",
                "Action",
                "Files",
            ],
            width,
        );
        for p in others {
            let (kind, what) = describe_owner(p);
            let files: Vec<String> = p
                .findings
                .iter()
                .map(|f| match &f.package {
                    Some(pkg) => format!("{} ({pkg})", f.path),
                    None => format!("{} (no package)", f.path),
                })
                .collect();
            t.add_row(vec![
                level_text(process_risk(report, p.pid)),
                cell(&p.comm),
                p.pid.to_string(),
                kind,
                cell(&what),
                cell(&files.join("\n")),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    if !report.packages.is_empty() {
        let mut t = new_table(
            &["Package", "Previous", "Installed", "Changed", "Processes"],
            width,
        );
        for p in &report.packages {
            t.add_row(package_row(report, p));
        }
        let _ = writeln!(out, "{t}");
    }
    if let Some(i) = &report.integrity {
        render_integrity(&mut out, i, width);
    }
    if show_ignored && !report.ignored.is_empty() {
        let mut t = new_table(&["Ignored", "PID", "File", "Rule"], width);
        for i in &report.ignored {
            t.add_row(vec![
                cell(&i.comm),
                i.pid.to_string(),
                cell(&i.path),
                cell(&i.rule),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    let s = &report.scan;
    let _ = write!(
        out,
        "scanned {} processes ({} inspected, {} kernel threads, {} exited meanwhile) in {} ms; {} findings ignored",
        s.processes_seen,
        s.processes_inspected,
        s.kernel_threads,
        s.processes_vanished,
        s.duration_ms,
        report.ignored.len()
    );
    if !show_ignored && !report.ignored.is_empty() {
        out.push_str(" (--show-ignored lists them)");
    }
    out.push('\n');
    if s.processes_denied > 0 {
        let _ = writeln!(
            out,
            "partial: {} processes could not be inspected: {}",
            s.processes_denied,
            cell(&s.denied_reasons.join("; "))
        );
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {}", cell(w));
    }
    out
}
