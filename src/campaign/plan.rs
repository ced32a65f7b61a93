//! What a campaign will do, decided from the hosts' reports before anything is touched: per
//! host, the units to restart and everything left for a person ("needs manual action",
//! with the reason), then the batches. Pure: no I/O, so `--plan` and the tests see
//! exactly what the executor would run.
//!
//! A unit is restarted only when the probe lists it in `actions.services` and nothing
//! refuses it: not the probe (`restart_refused`: dbus, logind, display managers, ...), not
//! `--never`, not the host's `patchgap_never_restart`, and it passes `--units` /
//! `--exclude-units`. The system manager is re-executed only with `--reexec`. Sessions,
//! user managers, containers and unowned processes are listed, never touched.

use patchgap_probe::Report;
use serde::{Deserialize, Serialize};

use super::batches::{Serial, split};
use super::unit::valid_unit;
use crate::glob::matches;

/// The user's choice of units, from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFilter {
    /// `--units GLOB`: only these (all when empty).
    pub units: Vec<String>,
    /// `--exclude-units GLOB`.
    pub exclude: Vec<String>,
    /// `--never GLOB`.
    pub never: Vec<String>,
    /// `--reexec`: `systemctl daemon-reexec` when PID 1 runs replaced code.
    pub reexec: bool,
}

/// One audited host, as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct HostInput<'a> {
    pub host: &'a str,
    /// The host's `patchgap_never_restart` globs.
    pub never: &'a [String],
    pub report: &'a Report,
}

/// Why something is left to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Manual {
    /// The probe marks the unit disruptive to restart (dbus, logind, networking, ...).
    RestartRefused,
    /// `--never PATTERN` matched.
    Never { pattern: String },
    /// The host's `patchgap_never_restart` matched.
    NeverRestartVar { pattern: String },
    /// `--units` did not select it.
    NotSelected,
    /// `--exclude-units PATTERN` matched.
    Excluded { pattern: String },
    /// The report names a unit that is not a valid systemd unit name: never sent to a shell.
    InvalidUnitName,
    /// PID 1 runs replaced code and `--reexec` was not given.
    SystemManager,
    /// A user manager or login session: the user logs out, or restarts it.
    Session,
    /// A container: restart or rebuild it.
    Container,
    /// Stale processes no unit owns.
    OtherProcesses,
}

/// One thing a person has to do on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualItem {
    /// The unit, session, container or PIDs.
    pub name: String,
    pub why: Manual,
}

/// One host's part of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlan {
    pub host: String,
    /// Units to restart, in the report's order.
    pub restart: Vec<String>,
    /// `systemctl daemon-reexec` (only with `--reexec`).
    pub reexec: bool,
    /// Left to a person, with the reason.
    pub manual: Vec<ManualItem>,
    /// A reboot campaign's reboot of the host (absent in restart campaigns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<RebootPlan>,
}

impl HostPlan {
    /// Whether the campaign has anything to do on the host.
    pub fn has_work(&self) -> bool {
        !self.restart.is_empty() || self.reexec || self.reboot.is_some()
    }
}

/// Why and how a host is rebooted, from its audit: what the verification after the
/// reboot compares against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootPlan {
    /// The probe's reasons, for a person (empty when `--all` reboots a host that needs none).
    pub reasons: Vec<String>,
    /// The audit's boot id: a host whose boot id changed since and needs no reboot any
    /// more was rebooted meanwhile.
    pub boot_id: Option<String>,
    /// The kernel release the audit said would boot next, when it could tell.
    pub kernel: Option<String>,
    /// The host is a container: its kernel is its host's, and is not compared.
    pub container: bool,
}

/// Why the host needs a reboot, by its probe report (empty: it needs none): the probe's
/// reasons, and nothing else. In a container the probe already judges what a restart of
/// the container settles (its own packages and `/run/reboot-required`, not the kernel).
pub fn reboot_reasons(report: &Report) -> Vec<String> {
    let reboot = &report.reboot;
    let mut reasons: Vec<String> = reboot.reasons.iter().map(|r| r.message.clone()).collect();
    if reasons.is_empty() && reboot.needed {
        reasons.push("the probe asks for a reboot".into());
    }
    reasons
}

/// The reboot plan of one host from its report: no reboot when it needs none and `all`
/// (`--all`) is not given.
pub fn plan_reboot(input: HostInput<'_>, all: bool) -> HostPlan {
    let report = input.report;
    let reasons = reboot_reasons(report);
    let needed = !reasons.is_empty();
    HostPlan {
        host: input.host.to_string(),
        restart: Vec::new(),
        reexec: false,
        manual: Vec::new(),
        reboot: (needed || all).then(|| RebootPlan {
            reasons,
            boot_id: report.host.boot_id.clone(),
            kernel: report
                .kernel
                .boot_default
                .as_ref()
                .map(|d| d.release.clone()),
            container: report.kernel.container.is_some() || report.reboot.container,
        }),
    }
}

fn first_match<'p>(patterns: &'p [String], unit: &str) -> Option<&'p String> {
    let short = unit.strip_suffix(".service").unwrap_or(unit);
    patterns
        .iter()
        .find(|p| matches(p, unit) || matches(p, short))
}

/// Why `unit` is not restarted, if it is not.
fn refusal(unit: &str, refused: bool, filter: &UnitFilter, never_var: &[String]) -> Option<Manual> {
    if !valid_unit(unit) {
        return Some(Manual::InvalidUnitName);
    }
    if refused {
        return Some(Manual::RestartRefused);
    }
    if let Some(pattern) = first_match(&filter.never, unit) {
        return Some(Manual::Never {
            pattern: pattern.clone(),
        });
    }
    if let Some(pattern) = first_match(never_var, unit) {
        return Some(Manual::NeverRestartVar {
            pattern: pattern.clone(),
        });
    }
    if !filter.units.is_empty() && first_match(&filter.units, unit).is_none() {
        return Some(Manual::NotSelected);
    }
    first_match(&filter.exclude, unit).map(|pattern| Manual::Excluded {
        pattern: pattern.clone(),
    })
}

/// The plan of one host from its report.
pub fn plan_host(input: HostInput<'_>, filter: &UnitFilter) -> HostPlan {
    let actions = &input.report.actions;
    let mut restart = Vec::new();
    let mut manual = Vec::new();
    for service in &actions.services {
        match refusal(&service.unit, service.restart_refused, filter, input.never) {
            None => restart.push(service.unit.clone()),
            Some(why) => manual.push(ManualItem {
                name: service.unit.clone(),
                why,
            }),
        }
    }
    let stale_manager = !actions.system_manager.is_empty();
    if stale_manager && !filter.reexec {
        manual.push(ManualItem {
            name: "systemd (PID 1)".into(),
            why: Manual::SystemManager,
        });
    }
    manual.extend(actions.sessions.iter().map(|s| ManualItem {
        name: s.name.clone(),
        why: Manual::Session,
    }));
    manual.extend(actions.containers.iter().map(|c| ManualItem {
        name: format!("{} {}", c.runtime, c.id),
        why: Manual::Container,
    }));
    if !actions.other_pids.is_empty() {
        let pids: Vec<String> = actions.other_pids.iter().map(u32::to_string).collect();
        manual.push(ManualItem {
            name: format!("pids {}", pids.join(",")),
            why: Manual::OtherProcesses,
        });
    }
    HostPlan {
        host: input.host.to_string(),
        restart,
        reexec: stale_manager && filter.reexec,
        manual,
        reboot: None,
    }
}

/// A host the plan could not include: its audit failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unplanned {
    pub host: String,
    /// The audit's failure, as a word (`unreachable`, `timeout`, ...).
    pub failure: String,
    pub message: String,
}

/// What a campaign does to its hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// `patchgap restart`: restart stale units.
    #[default]
    Restart,
    /// `patchgap reboot`: reboot hosts and prove they came back new.
    Reboot,
}

impl CampaignKind {
    /// The command that runs (and resumes) such a campaign.
    pub fn command(self) -> &'static str {
        match self {
            CampaignKind::Restart => "restart",
            CampaignKind::Reboot => "reboot",
        }
    }

    fn is_restart(&self) -> bool {
        *self == CampaignKind::Restart
    }
}

/// The whole campaign, before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignPlan {
    /// Restart or reboot (absent, restart, in the documents of restart campaigns).
    #[serde(default, skip_serializing_if = "CampaignKind::is_restart")]
    pub kind: CampaignKind,
    /// Every audited host, in the order given, with or without work.
    pub hosts: Vec<HostPlan>,
    /// Hosts that could not be audited.
    pub unplanned: Vec<Unplanned>,
    /// Names of the hosts with work, batch by batch (the canary batch first).
    pub batches: Vec<Vec<String>>,
    /// The canary batch's size (0: none).
    pub canary: usize,
}

impl CampaignPlan {
    /// Plans `hosts` (in order): per-host units, then batches of the hosts with work.
    pub fn new(
        hosts: &[HostInput<'_>],
        unplanned: Vec<Unplanned>,
        filter: &UnitFilter,
        serial: &Serial,
        canary: usize,
    ) -> Self {
        let hosts: Vec<HostPlan> = hosts.iter().map(|h| plan_host(*h, filter)).collect();
        Self::batched(CampaignKind::Restart, hosts, unplanned, serial, canary)
    }

    /// Plans a reboot campaign: the hosts whose probe asks for a reboot (every host with
    /// `all`), with the reasons, then batches of them.
    pub fn reboot(
        hosts: &[HostInput<'_>],
        unplanned: Vec<Unplanned>,
        all: bool,
        serial: &Serial,
        canary: usize,
    ) -> Self {
        let hosts: Vec<HostPlan> = hosts.iter().map(|h| plan_reboot(*h, all)).collect();
        Self::batched(CampaignKind::Reboot, hosts, unplanned, serial, canary)
    }

    /// Batches of the hosts with work, the canary batch first.
    fn batched(
        kind: CampaignKind,
        hosts: Vec<HostPlan>,
        unplanned: Vec<Unplanned>,
        serial: &Serial,
        canary: usize,
    ) -> Self {
        let busy: Vec<String> = hosts
            .iter()
            .filter(|h| h.has_work())
            .map(|h| h.host.clone())
            .collect();
        let batches = split(&busy, canary, serial);
        CampaignPlan {
            kind,
            canary: canary.min(busy.len()),
            hosts,
            unplanned,
            batches,
        }
    }

    /// Whether there is nothing to restart anywhere.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn host(&self, name: &str) -> Option<&HostPlan> {
        self.hosts.iter().find(|h| h.host == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::{clean, stale_services};
    use patchgap_probe::report::{ContainerAction, SessionAction};

    fn report() -> Report {
        let mut report = stale_services(
            "web1",
            &[
                ("nginx.service", false),
                ("ssh.service", false),
                ("dbus.service", true),
                ("pgtestd.service", false),
                ("evil;rm -rf /.service", false),
            ],
        );
        report.actions.system_manager = vec![1];
        report.actions.sessions = vec![SessionAction {
            name: "session-3.scope".into(),
            uid: Some(1000),
            pids: vec![77],
            packages: vec!["libssl3".into()],
        }];
        report.actions.containers = vec![ContainerAction {
            runtime: "docker".into(),
            id: "abc".into(),
            pids: vec![88],
            packages: vec![],
        }];
        report.actions.other_pids = vec![5, 6];
        report
    }

    fn plan(filter: &UnitFilter, never: &[String]) -> HostPlan {
        let report = report();
        plan_host(
            HostInput {
                host: "web1",
                never,
                report: &report,
            },
            filter,
        )
    }

    fn reasons(plan: &HostPlan) -> Vec<(String, Manual)> {
        plan.manual
            .iter()
            .map(|m| (m.name.clone(), m.why.clone()))
            .collect()
    }

    #[test]
    fn only_services_nothing_refuses_are_restarted() {
        let plan = plan(&UnitFilter::default(), &[]);
        assert_eq!(
            plan.restart,
            ["nginx.service", "ssh.service", "pgtestd.service"]
        );
        assert!(!plan.reexec);
        assert_eq!(
            reasons(&plan),
            [
                ("dbus.service".into(), Manual::RestartRefused),
                ("evil;rm -rf /.service".into(), Manual::InvalidUnitName),
                ("systemd (PID 1)".into(), Manual::SystemManager),
                ("session-3.scope".into(), Manual::Session),
                ("docker abc".into(), Manual::Container),
                ("pids 5,6".into(), Manual::OtherProcesses),
            ]
        );
    }

    #[test]
    fn never_units_and_excludes_narrow_with_a_reason() {
        let filter = UnitFilter {
            units: vec!["nginx*".into(), "ssh".into(), "pgtestd".into()],
            exclude: vec!["pgtest*".into()],
            never: vec!["ssh".into()],
            reexec: true,
        };
        let plan = plan(&filter, &["nginx.service".to_string()]);
        assert!(plan.restart.is_empty());
        assert!(plan.reexec, "--reexec");
        let got = reasons(&plan);
        assert_eq!(
            got[..3],
            [
                (
                    "nginx.service".into(),
                    Manual::NeverRestartVar {
                        pattern: "nginx.service".into()
                    }
                ),
                (
                    "ssh.service".into(),
                    Manual::Never {
                        pattern: "ssh".into()
                    }
                ),
                ("dbus.service".into(), Manual::RestartRefused),
            ]
        );
        assert!(got.contains(&(
            "pgtestd.service".into(),
            Manual::Excluded {
                pattern: "pgtest*".into()
            }
        )));
        let only = UnitFilter {
            units: vec!["nginx".into()],
            ..UnitFilter::default()
        };
        let plan = super::tests::plan(&only, &[]);
        assert_eq!(plan.restart, ["nginx.service"]);
        assert!(reasons(&plan).contains(&("ssh.service".into(), Manual::NotSelected)));
    }

    #[test]
    fn the_campaign_batches_only_hosts_with_work() {
        let busy = report();
        let idle = clean("db1");
        let inputs = [
            HostInput {
                host: "web1",
                never: &[],
                report: &busy,
            },
            HostInput {
                host: "db1",
                never: &[],
                report: &idle,
            },
            HostInput {
                host: "web2",
                never: &[],
                report: &busy,
            },
        ];
        let serial: Serial = "1".parse().expect("serial");
        let plan = CampaignPlan::new(&inputs, Vec::new(), &UnitFilter::default(), &serial, 0);
        assert_eq!(
            plan.batches,
            [vec!["web1".to_string()], vec!["web2".into()]]
        );
        assert_eq!(plan.hosts.len(), 3, "idle hosts stay in the plan");
        assert!(!plan.is_empty());
        let none = CampaignPlan::new(
            &inputs[1..2],
            Vec::new(),
            &UnitFilter::default(),
            &serial,
            1,
        );
        assert!(none.is_empty());
        assert_eq!(none.canary, 0);
    }
}
