//! What a notification says: a small, versioned summary of a run ([`Summary`]), the same
//! for every channel. Webhooks get it as JSON (docs/notifications.md documents it field by
//! field, [`PAYLOAD_VERSION`] follows the fleet report's rules); Slack, syslog and email get
//! its text ([`Summary::lines`]). It carries no link and no per-process detail: a chat
//! room or a mail archive is no place for a map of which PIDs run vulnerable code; the
//! report (attached to the mail) has that.

use serde::Serialize;

use crate::campaign::{CampaignKind, CampaignOutcome, HostStatus, RebootStatus, UnitStatus};
use crate::outcome::HostResult;
use crate::report::{FleetReport, failure_label, has_findings, stop_text};

/// Version of the webhook payload: adding an optional field keeps it, anything else
/// bumps it.
pub const PAYLOAD_VERSION: u32 = 1;

/// Hosts listed by name in a notification, at most; the counts are always complete.
pub const MAX_LISTED_HOSTS: usize = 50;

/// A run, summed up for a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Always `patchgap.notification`: receivers can route on it.
    pub kind: &'static str,
    pub format_version: u32,
    /// The command that ran: `audit`, `restart` or `reboot`.
    pub command: &'static str,
    /// One line for a subject or a chat message.
    pub title: String,
    /// Unix time the run finished.
    pub finished_at: i64,
    pub counts: Counts,
    /// The `--policy` level (`pass`, `warn`, `fail`), when a policy judged the run.
    pub policy: Option<&'static str>,
    /// Hosts with findings (audit) or with units restarted (restart), at most
    /// [`MAX_LISTED_HOSTS`].
    pub hosts_with_findings: Vec<HostFindings>,
    /// Hosts that could not be audited or whose campaign failed, at most
    /// [`MAX_LISTED_HOSTS`].
    pub failed_hosts: Vec<FailedHost>,
    /// (restart) Why the campaign stopped early, if it did.
    pub stopped: Option<String>,
}

/// Counts over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Counts {
    pub hosts: usize,
    pub hosts_with_findings: usize,
    pub hosts_failed: usize,
    /// (audit) Services to restart; (restart) units restarted and verified.
    pub services: usize,
    /// (audit) Hosts waiting for a reboot.
    pub reboots: usize,
}

/// One host with something to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFindings {
    pub host: String,
    /// Units to restart (audit) or restarted (restart), sorted.
    pub services: Vec<String>,
    pub reboot: bool,
    pub stale_processes: usize,
    /// Files that failed `--integrity`.
    pub integrity: usize,
}

/// One host that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedHost {
    pub host: String,
    /// The failure class (`unreachable`, `timeout`, `auth`, ...).
    pub failure: String,
}

impl Summary {
    /// An audit's report (a local audit as a fleet of one).
    pub fn of_audit(report: &FleetReport) -> Self {
        let mut counts = Counts {
            hosts: report.hosts.len(),
            ..Counts::default()
        };
        let mut with = Vec::new();
        let mut failed = Vec::new();
        for outcome in &report.hosts {
            match &outcome.result {
                HostResult::Failed { failure, .. } => {
                    counts.hosts_failed += 1;
                    failed.push(FailedHost {
                        host: outcome.host.clone(),
                        failure: failure_label(*failure).to_string(),
                    });
                }
                HostResult::Audited { report: probe, .. } => {
                    let probe = probe.report();
                    if !has_findings(probe) {
                        continue;
                    }
                    counts.hosts_with_findings += 1;
                    let mut services: Vec<String> = probe
                        .actions
                        .services
                        .iter()
                        .map(|s| s.unit.clone())
                        .collect();
                    services.sort();
                    counts.services += services.len();
                    counts.reboots += usize::from(probe.reboot.needed);
                    with.push(HostFindings {
                        host: outcome.host.clone(),
                        services,
                        reboot: probe.reboot.needed,
                        stale_processes: probe.processes.len(),
                        integrity: probe.integrity.as_ref().map_or(0, |i| i.findings.len()),
                    });
                }
            }
        }
        let policy = report.policy.as_ref().map(|p| p.level.as_str());
        let mut title = format!(
            "patchgap audit: {} of {} hosts need action",
            counts.hosts_with_findings, counts.hosts
        );
        if counts.hosts_failed > 0 {
            title.push_str(&format!(", {} failed", counts.hosts_failed));
        }
        if let Some(level) = policy {
            title.push_str(&format!(", policy {level}"));
        }
        Summary::new(
            "audit",
            title,
            report.controller.finished_at,
            counts,
            with,
            failed,
        )
        .with_policy(policy)
    }

    /// A restart or reboot campaign's outcome.
    pub fn of_campaign(outcome: &CampaignOutcome, kind: CampaignKind, finished_at: i64) -> Self {
        let mut counts = Counts {
            hosts: outcome.hosts.len(),
            services: outcome.verified_units(),
            ..Counts::default()
        };
        let mut with = Vec::new();
        let mut failed = Vec::new();
        for host in &outcome.hosts {
            if host.status.is_failure() {
                counts.hosts_failed += 1;
                failed.push(FailedHost {
                    host: host.host.clone(),
                    failure: match host.status {
                        HostStatus::Unreachable => "unreachable",
                        HostStatus::Timeout => "timeout",
                        _ => "failed",
                    }
                    .to_string(),
                });
            }
            let mut services: Vec<String> = host
                .units
                .iter()
                .filter(|u| !matches!(u.status, UnitStatus::Skipped { .. }))
                .map(|u| u.unit.clone())
                .collect();
            let rebooted = host
                .reboot
                .as_ref()
                .is_some_and(|r| !matches!(r.status, RebootStatus::Skipped { .. }));
            if !services.is_empty() || rebooted {
                counts.hosts_with_findings += 1;
                services.sort();
                with.push(HostFindings {
                    host: host.host.clone(),
                    services,
                    reboot: rebooted,
                    stale_processes: 0,
                    integrity: 0,
                });
            }
        }
        let mut title = match kind {
            CampaignKind::Restart => format!(
                "patchgap restart: {} units restarted on {} of {} hosts",
                counts.services, counts.hosts_with_findings, counts.hosts
            ),
            CampaignKind::Reboot => format!(
                "patchgap reboot: {} of {} hosts rebooted",
                counts.hosts_with_findings, counts.hosts
            ),
        };
        if counts.hosts_failed > 0 {
            title.push_str(&format!(", {} failed", counts.hosts_failed));
        }
        let stopped = outcome.stopped.as_ref().map(stop_text);
        if stopped.is_some() {
            title.push_str(", stopped early");
        }
        let mut summary = Summary::new(kind.command(), title, finished_at, counts, with, failed);
        summary.stopped = stopped;
        summary
    }

    fn new(
        command: &'static str,
        title: String,
        finished_at: i64,
        counts: Counts,
        mut with: Vec<HostFindings>,
        mut failed: Vec<FailedHost>,
    ) -> Self {
        with.truncate(MAX_LISTED_HOSTS);
        failed.truncate(MAX_LISTED_HOSTS);
        Summary {
            kind: "patchgap.notification",
            format_version: PAYLOAD_VERSION,
            command,
            title,
            finished_at,
            counts,
            policy: None,
            hosts_with_findings: with,
            failed_hosts: failed,
            stopped: None,
        }
    }

    fn with_policy(mut self, policy: Option<&'static str>) -> Self {
        self.policy = policy;
        self
    }

    /// Whether the run found something or failed somewhere: the syslog severity.
    pub fn is_clean(&self) -> bool {
        self.counts.hosts_with_findings == 0 && self.counts.hosts_failed == 0
    }

    /// The text of the summary: the title, then one line per listed host. Host-supplied
    /// names are kept as they are; each channel escapes them its own way.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.title.clone()];
        for host in &self.hosts_with_findings {
            let mut parts = Vec::new();
            if !host.services.is_empty() {
                parts.push(format!("restart {}", host.services.join(" ")));
            }
            if host.reboot {
                parts.push("reboot".into());
            }
            if host.stale_processes > 0 && host.services.is_empty() {
                parts.push(format!("{} stale processes", host.stale_processes));
            }
            if host.integrity > 0 {
                parts.push(format!("{} integrity findings", host.integrity));
            }
            lines.push(format!("{}: {}", host.host, parts.join(", ")));
        }
        for host in &self.failed_hosts {
            lines.push(format!("{}: failed ({})", host.host, host.failure));
        }
        if let Some(stopped) = &self.stopped {
            lines.push(stopped.clone());
        }
        let listed = self.hosts_with_findings.len() + self.failed_hosts.len();
        let total = self.counts.hosts_with_findings + self.counts.hosts_failed;
        if listed < total {
            lines.push(format!("... and {} more hosts", total - listed));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Failure;
    use crate::report::host_as_fleet;
    use crate::test_outcomes::failed_host;
    use crate::test_reports::{clean, with_findings};

    #[test]
    fn an_audit_counts_every_host_and_lists_those_with_something_to_do() {
        let mut report = host_as_fleet(&with_findings("web1")).expect("fleet");
        let other = host_as_fleet(&clean("web2")).expect("fleet");
        report.hosts.extend(other.hosts);
        report.hosts.push(failed_host("db1", Failure::Unreachable));
        let summary = Summary::of_audit(&report);
        assert_eq!(summary.counts.hosts, 3);
        assert_eq!(summary.counts.hosts_with_findings, 1);
        assert_eq!(summary.counts.hosts_failed, 1);
        assert_eq!(summary.hosts_with_findings[0].host, "web1");
        assert!(!summary.hosts_with_findings[0].services.is_empty());
        assert_eq!(summary.failed_hosts[0].host, "db1");
        assert_eq!(
            summary.title,
            "patchgap audit: 1 of 3 hosts need action, 1 failed"
        );
        let lines = summary.lines();
        assert!(lines[1].starts_with("web1: restart "), "{lines:?}");
        assert!(lines[2].starts_with("db1: failed ("), "{lines:?}");
    }

    #[test]
    fn a_campaign_counts_restarted_units_and_failed_hosts_and_says_why_it_stopped() {
        use crate::campaign::{HostCampaign, Stop, UnitOutcome};
        let host = |name: &str, status, units: Vec<(&str, UnitStatus)>| HostCampaign {
            host: name.into(),
            status,
            message: None,
            units: units
                .into_iter()
                .map(|(unit, status)| UnitOutcome {
                    unit: unit.into(),
                    status,
                })
                .collect(),
            reexec: None,
            manual: Vec::new(),
            batch: Some(0),
            reboot: None,
        };
        let outcome = CampaignOutcome {
            hosts: vec![
                host(
                    "web1",
                    HostStatus::Done,
                    vec![
                        ("nginx.service", UnitStatus::Verified),
                        ("cron.service", UnitStatus::Verified),
                    ],
                ),
                host("web2", HostStatus::Unreachable, Vec::new()),
                host("web3", HostStatus::NotReached, Vec::new()),
            ],
            stopped: Some(Stop::Canary {
                batch: 0,
                failed: 1,
            }),
        };
        let summary = Summary::of_campaign(&outcome, CampaignKind::Restart, 7);
        assert_eq!(summary.command, "restart");
        assert_eq!(
            (
                summary.counts.hosts,
                summary.counts.services,
                summary.counts.hosts_failed
            ),
            (3, 2, 1)
        );
        assert_eq!(
            summary.hosts_with_findings[0].services,
            ["cron.service", "nginx.service"]
        );
        assert_eq!(summary.failed_hosts[0].failure, "unreachable");
        assert_eq!(
            summary.title,
            "patchgap restart: 2 units restarted on 1 of 3 hosts, 1 failed, stopped early"
        );
        let stopped = summary.stopped.as_deref().expect("stopped");
        assert!(stopped.contains("canary"), "{stopped}");
        assert!(!summary.is_clean());
    }

    #[test]
    fn a_reboot_campaign_counts_the_hosts_rebooted_not_those_skipped() {
        use crate::campaign::{HostCampaign, RebootOutcome, Skip};
        let host = |name: &str, status, reboot: RebootStatus| HostCampaign {
            host: name.into(),
            status,
            message: None,
            units: Vec::new(),
            reexec: None,
            manual: Vec::new(),
            batch: Some(0),
            reboot: Some(RebootOutcome::new(reboot)),
        };
        let outcome = CampaignOutcome {
            hosts: vec![
                host("db1", HostStatus::Done, RebootStatus::Verified),
                host(
                    "db2",
                    HostStatus::Done,
                    RebootStatus::Skipped {
                        reason: Skip::FixedMeanwhile,
                    },
                ),
                host(
                    "db3",
                    HostStatus::Failed,
                    RebootStatus::NotReturned {
                        message: "not back".into(),
                    },
                ),
            ],
            stopped: None,
        };
        let summary = Summary::of_campaign(&outcome, CampaignKind::Reboot, 7);
        assert_eq!(summary.command, "reboot");
        let rebooted: Vec<(&str, bool)> = summary
            .hosts_with_findings
            .iter()
            .map(|h| (h.host.as_str(), h.reboot))
            .collect();
        assert_eq!(rebooted, [("db1", true), ("db3", true)]);
        assert_eq!(summary.counts.hosts_failed, 1);
        assert_eq!(
            summary.title,
            "patchgap reboot: 2 of 3 hosts rebooted, 1 failed"
        );
    }

    #[test]
    fn the_lists_are_bounded_and_the_counts_are_not() {
        let one = host_as_fleet(&with_findings("web")).expect("fleet");
        let mut report = one.clone();
        report.hosts = (0..MAX_LISTED_HOSTS + 7)
            .map(|i| {
                let mut host = one.hosts[0].clone();
                host.host = format!("web{i}");
                host
            })
            .collect();
        let summary = Summary::of_audit(&report);
        assert_eq!(summary.counts.hosts_with_findings, MAX_LISTED_HOSTS + 7);
        assert_eq!(summary.hosts_with_findings.len(), MAX_LISTED_HOSTS);
        assert_eq!(
            summary.lines().last().map(String::as_str),
            Some("... and 7 more hosts")
        );
    }
}
