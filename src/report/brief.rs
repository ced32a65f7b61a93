//! `--format brief`: a few lines an admin reads at the end of `apt upgrade`, as
//! needrestart's summary: which services to restart (and the command that does it), whether
//! systemd itself or sessions run replaced code, whether a reboot is due. The APT hook
//! (`src/dist/apt/`) prints this after every dpkg run, so it stays short: one line per kind
//! of action, never a table, and one line when nothing is pending.
//!
//! Every line starts with `patchgap:` so it stands out among dpkg's output; with more than
//! one host each line names its host. Host-supplied names pass the terminal sanitiser.

use std::io::{self, Write};

use patchgap_probe::Report;

use super::actions::{ActionKind, PendingAction, RebootVerdict};
use super::aggregate::{HostSummary, failure_label, summarize};
use super::document::FleetReport;
use super::render::{Render, host_as_fleet};
use super::sanitize::for_terminal;

/// The brief renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Brief;

impl Render for Brief {
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.fleet(&host_as_fleet(report)?, out)
    }

    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
        let summary = summarize(&report.hosts);
        let named = summary.total > 1;
        for host in &summary.hosts {
            let prefix = if named {
                format!("patchgap: {}: ", one_line(&host.host))
            } else {
                "patchgap: ".to_string()
            };
            host_lines(host, &prefix, out)?;
        }
        for failed in &summary.failed {
            writeln!(
                out,
                "patchgap: {}: not audited: {}",
                one_line(&failed.host),
                failure_label(failed.failure)
            )?;
        }
        Ok(())
    }
}

/// Host-supplied text on one line: made safe for a terminal, and the line breaks and tabs
/// the terminal sanitiser keeps (for table cells) turned into spaces.
fn one_line(text: &str) -> String {
    for_terminal(text)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Names of `actions`, sanitised, space-separated.
fn names<'a>(actions: impl Iterator<Item = &'a PendingAction>) -> String {
    actions
        .map(|a| one_line(&a.name))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One host's lines.
fn host_lines(host: &HostSummary, prefix: &str, out: &mut dyn Write) -> io::Result<()> {
    let of_kind = |kind| host.actions.iter().filter(move |a| a.kind == kind);
    let services: Vec<&PendingAction> = of_kind(ActionKind::Service).collect();
    let (manual, automatic): (Vec<&PendingAction>, Vec<&PendingAction>) =
        services.iter().partition(|s| s.restart_refused);
    if !services.is_empty() {
        writeln!(
            out,
            "{prefix}{} to restart: {}",
            if services.len() == 1 {
                "1 service".to_string()
            } else {
                format!("{} services", services.len())
            },
            names(services.iter().copied())
        )?;
    }
    if !automatic.is_empty() {
        writeln!(
            out,
            "{prefix}  systemctl restart {}",
            names(automatic.into_iter())
        )?;
    }
    if !manual.is_empty() {
        writeln!(
            out,
            "{prefix}  by hand (a restart would cut off users or the network): {}",
            names(manual.into_iter())
        )?;
    }
    if of_kind(ActionKind::SystemManager).next().is_some() {
        writeln!(
            out,
            "{prefix}systemd (PID 1) runs replaced code: systemctl daemon-reexec"
        )?;
    }
    for (kind, what) in [
        (ActionKind::Session, "sessions to log out of or restart"),
        (ActionKind::Container, "containers to restart"),
        (ActionKind::Other, "other processes running replaced code"),
    ] {
        if of_kind(kind).next().is_some() {
            writeln!(out, "{prefix}{what}: {}", names(of_kind(kind)))?;
        }
    }
    if let RebootVerdict::Needed { reasons } = &host.reboot {
        let reasons: Vec<String> = reasons.iter().map(|r| one_line(r)).collect();
        writeln!(out, "{prefix}reboot needed: {}", reasons.join("; "))?;
    }
    if host.actions.is_empty() && !matches!(host.reboot, RebootVerdict::Needed { .. }) {
        writeln!(out, "{prefix}no process runs replaced code")?;
    }
    if host.partial {
        writeln!(
            out,
            "{prefix}partial view: run as root to see every process"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::{clean, stale_services};

    fn brief(report: &Report) -> String {
        let mut out = Vec::new();
        Brief.host(report, &mut out).expect("rendered");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn names_the_services_and_the_command_that_restarts_them() {
        let text = brief(&stale_services(
            "web1",
            &[("pgtestd.service", false), ("dbus.service", true)],
        ));
        assert_eq!(
            text,
            "patchgap: 2 services to restart: dbus.service pgtestd.service\n\
             patchgap:   systemctl restart pgtestd.service\n\
             patchgap:   by hand (a restart would cut off users or the network): dbus.service\n"
        );
    }

    #[test]
    fn a_clean_host_is_one_line() {
        assert_eq!(
            brief(&clean("web1")),
            "patchgap: no process runs replaced code\n"
        );
    }

    #[test]
    fn a_fleet_names_each_host_and_hostile_names_are_made_safe() {
        let report = super::super::hostile::hostile_fleet();
        let mut out = Vec::new();
        Brief.fleet(&report, &mut out).expect("rendered");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.lines().all(|l| l.starts_with("patchgap: ")), "{text}");
        assert!(
            text.contains("patchgap: +gone"),
            "a failed host has its line: {text}"
        );
    }
}
