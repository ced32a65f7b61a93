//! What one host's report asks an admin to do, in a form both the fleet summary and the
//! single-host view can render: services to restart, other things to restart or log out of,
//! and the reboot verdict.

use patchgap_probe::Report;
use patchgap_probe::report::ServiceAction;

/// What fixes a group of stale processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ActionKind {
    /// `systemctl restart UNIT`.
    Service,
    /// PID 1 runs replaced code: `systemctl daemon-reexec`.
    SystemManager,
    /// A user manager or login session: the user logs out, or the manager is restarted.
    Session,
    /// Restart or rebuild the container.
    Container,
    /// No owner patchgap knows how to restart.
    Other,
}

/// One thing to restart (or log out of) on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAction {
    pub kind: ActionKind,
    /// Unit, session or container name; for [`ActionKind::Other`], `pid N`.
    pub name: String,
    pub pids: Vec<u32>,
    /// Packages behind it, as the probe names them.
    pub packages: Vec<String>,
    /// A restart the probe flags as disruptive: shown, never done without being asked.
    pub restart_refused: bool,
}

/// The host's services to restart, sorted by unit name.
pub fn services_to_restart(report: &Report) -> Vec<&ServiceAction> {
    let mut services: Vec<&ServiceAction> = report.actions.services.iter().collect();
    services.sort_by(|a, b| a.unit.cmp(&b.unit));
    services
}

/// Everything the report asks to restart, services first, each kind sorted by name.
pub fn pending_actions(report: &Report) -> Vec<PendingAction> {
    let actions = &report.actions;
    let mut pending: Vec<PendingAction> = services_to_restart(report)
        .into_iter()
        .map(|s| PendingAction {
            kind: ActionKind::Service,
            name: s.unit.clone(),
            pids: s.pids.clone(),
            packages: s.packages.clone(),
            restart_refused: s.restart_refused,
        })
        .collect();
    if !actions.system_manager.is_empty() {
        pending.push(PendingAction {
            kind: ActionKind::SystemManager,
            name: "systemd (PID 1)".into(),
            pids: actions.system_manager.clone(),
            packages: Vec::new(),
            restart_refused: false,
        });
    }
    let mut rest: Vec<PendingAction> = actions
        .sessions
        .iter()
        .map(|s| PendingAction {
            kind: ActionKind::Session,
            name: s.name.clone(),
            pids: s.pids.clone(),
            packages: s.packages.clone(),
            restart_refused: false,
        })
        .chain(actions.containers.iter().map(|c| PendingAction {
            kind: ActionKind::Container,
            name: format!("{}:{}", c.runtime, c.id),
            pids: c.pids.clone(),
            packages: c.packages.clone(),
            restart_refused: false,
        }))
        .chain(actions.other_pids.iter().map(|pid| PendingAction {
            kind: ActionKind::Other,
            name: format!("pid {pid}"),
            pids: vec![*pid],
            packages: Vec::new(),
            restart_refused: false,
        }))
        .collect();
    rest.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    pending.extend(rest);
    pending
}

/// Whether a host must reboot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootVerdict {
    NotNeeded,
    Needed {
        reasons: Vec<String>,
    },
    /// The report does not say (an older probe, or the check could not run).
    Unknown,
}

impl RebootVerdict {
    pub fn label(&self) -> &'static str {
        match self {
            RebootVerdict::NotNeeded => "not needed",
            RebootVerdict::Needed { .. } => "needed",
            RebootVerdict::Unknown => "unknown",
        }
    }
}

/// The host's reboot verdict, with the probe's reasons.
pub fn reboot_verdict(report: &Report) -> RebootVerdict {
    let r = &report.reboot;
    if r.needed {
        RebootVerdict::Needed {
            reasons: r.reasons.iter().map(|x| x.message.clone()).collect(),
        }
    } else {
        RebootVerdict::NotNeeded
    }
}

/// True when the host waits for a restart or a reboot: what makes the run's exit status
/// [`Findings`](crate::exit::Exit::Findings).
pub fn has_findings(report: &Report) -> bool {
    report.action_needed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::{clean, with_findings};

    #[test]
    fn services_are_sorted_and_other_actions_follow() {
        let report = with_findings("web1");
        let units: Vec<&str> = services_to_restart(&report)
            .iter()
            .map(|s| s.unit.as_str())
            .collect();
        assert_eq!(units, ["dbus.service", "nginx.service", "ssh.service"]);
        let pending = pending_actions(&report);
        let kinds: Vec<ActionKind> = pending.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [
                ActionKind::Service,
                ActionKind::Service,
                ActionKind::Service,
                ActionKind::Session
            ]
        );
        assert!(pending[0].restart_refused);
        assert_eq!(pending[3].name, "session-4.scope");
    }

    #[test]
    fn system_manager_containers_and_stray_pids() {
        let mut report = clean("h");
        report.actions.system_manager = vec![1];
        report.actions.other_pids = vec![77];
        report.actions.containers = vec![patchgap_probe::report::ContainerAction {
            runtime: "docker".into(),
            id: "abc".into(),
            pids: vec![5],
            packages: vec![],
        }];
        let names: Vec<String> = pending_actions(&report)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["systemd (PID 1)", "docker:abc", "pid 77"]);
    }

    #[test]
    fn findings_follow_the_processes() {
        assert!(has_findings(&with_findings("a")));
        assert!(!has_findings(&clean("b")));
        assert_eq!(reboot_verdict(&clean("b")).label(), "not needed");
        let mut reboot = clean("c");
        reboot.reboot.needed = true;
        reboot
            .reboot
            .reasons
            .push(patchgap_probe::report::RebootReason {
                kind: patchgap_probe::report::ReasonKind::Kernel,
                message: "kernel 6.1.0-28-amd64 installed, running 6.1.0-27-amd64".into(),
                packages: vec![],
            });
        assert!(has_findings(&reboot), "a pending reboot is a finding");
        match reboot_verdict(&reboot) {
            RebootVerdict::Needed { reasons } => assert!(reasons[0].contains("6.1.0-28")),
            other => panic!("expected needed, got {other:?}"),
        }
    }
}
