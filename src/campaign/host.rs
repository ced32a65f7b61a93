//! One host of a campaign, from connection to verdict: probe again (work done by hand
//! meanwhile is skipped), read each unit's `InvocationID`, record the restart in the
//! journal *before* asking for it, restart (one unit after the other, or `--together`),
//! wait until active with a new `InvocationID`, run the health checks, and probe once
//! more: a unit whose processes still run replaced code is `restarted_still_stale`.
//!
//! Everything happens within the host's timeout; what the host had not finished by then
//! ends as `timeout`.

use std::collections::{BTreeMap, HashMap};

use tokio::sync::mpsc;

use super::execute::{CampaignEvent, CampaignHost, Settings};
use super::journal::{Journal, Step};
use patchgap_probe::Report;

use super::outcome::{
    HostCampaign, HostStatus, RebootOutcome, RebootStatus, Skip, UnitOutcome, UnitStatus,
};
use super::plan::HostPlan;
use super::reboot::reboot_host;
use super::remote::{As, run};
use super::unit::{
    DAEMON_REEXEC, UnitState, fetch, journal_tail, parse_show, restart, show, tcp_connect,
    valid_unit,
};
use crate::deploy::deploy_and_run;
use crate::outcome::{Failure, HostResult};
use crate::transport::{ConnectFailure, Connector, Exec};

/// What the host reached, kept outside the timed future so a timeout keeps it.
#[derive(Default)]
pub(super) struct Progress {
    units: BTreeMap<String, UnitStatus>,
    reexec: Option<UnitStatus>,
    pub(super) message: Option<String>,
    pub(super) status: Option<HostStatus>,
    /// The journal could not be written: the campaign must stop.
    journal_failed: Option<String>,
    /// A reboot campaign's reboot, with the evidence gathered so far.
    pub(super) reboot: Option<RebootOutcome>,
}

/// What an earlier run of the campaign (`--resume`) recorded about a host.
#[derive(Debug, Clone, Default)]
pub struct Earlier {
    /// Units recorded as restarting, with their `InvocationID` then.
    pub restarting: HashMap<String, String>,
    /// The boot id recorded before asking for the host's reboot.
    pub boot_id: Option<String>,
}

/// What every host of a campaign shares.
pub struct Shared<'a> {
    pub settings: &'a Settings,
    pub journal: &'a Journal,
    pub events: &'a mpsc::UnboundedSender<CampaignEvent>,
}

/// Runs the plan of one host; never fails as `Err`. `earlier`: what an earlier run
/// recorded about the host. A reboot's wait (`--reboot-timeout`) comes on top of the
/// host's timeout.
pub async fn run_host<C: Connector>(
    connector: &C,
    job: &CampaignHost,
    plan: &HostPlan,
    shared: &Shared<'_>,
    earlier: &Earlier,
    batch: usize,
) -> (HostCampaign, Option<String>) {
    let mut progress = Progress::default();
    let limit = match plan.reboot {
        Some(_) => job.host_timeout + shared.settings.reboot.timeout,
        None => job.host_timeout,
    };
    let work = async {
        if plan.reboot.is_some() {
            reboot_host(connector, job, plan, shared, earlier, &mut progress).await;
        } else {
            work(
                connector,
                job,
                plan,
                shared,
                &earlier.restarting,
                &mut progress,
            )
            .await;
        }
    };
    let timed_out = tokio::time::timeout(limit, work).await.is_err();
    let message = match plan.reboot {
        Some(_) => format!(
            "the host did not finish within {}s (--host-timeout plus --reboot-timeout)",
            limit.as_secs()
        ),
        None => format!(
            "the host did not finish within {}s (--host-timeout)",
            limit.as_secs()
        ),
    };
    if timed_out {
        progress.status = Some(HostStatus::Timeout);
        progress.message = Some(message.clone());
        if let Some(reboot) = progress.reboot.as_mut() {
            reboot.status = RebootStatus::Timeout {
                message: message.clone(),
            };
        }
    }
    let units = plan
        .restart
        .iter()
        .map(|unit| UnitOutcome {
            unit: unit.clone(),
            status: progress
                .units
                .remove(unit)
                .unwrap_or_else(|| match progress.status {
                    Some(HostStatus::Unreachable) => UnitStatus::Unreachable {
                        message: progress.message.clone().unwrap_or_default(),
                    },
                    Some(HostStatus::Failed) => UnitStatus::Skipped {
                        reason: Skip::ProbeFailed,
                    },
                    _ => UnitStatus::Timeout {
                        message: message.clone(),
                    },
                }),
        })
        .collect();
    let reexec = match (plan.reexec, progress.reexec) {
        (true, None) if timed_out => Some(UnitStatus::Timeout { message }),
        (_, reexec) => reexec,
    };
    let mut outcome = HostCampaign {
        host: job.name.clone(),
        status: progress.status.unwrap_or(HostStatus::Done),
        message: progress.message,
        units,
        reexec,
        manual: plan.manual.clone(),
        batch: Some(batch),
        reboot: progress.reboot,
    };
    outcome.settle();
    (outcome, progress.journal_failed)
}

async fn work<C: Connector>(
    connector: &C,
    job: &CampaignHost,
    plan: &HostPlan,
    shared: &Shared<'_>,
    restarted_before: &HashMap<String, String>,
    progress: &mut Progress,
) {
    let connection = match connector
        .connect(&job.route, job.connect_timeout, |_| {})
        .await
    {
        Ok(connection) => connection,
        Err(err) => {
            progress.status = Some(match err.kind {
                ConnectFailure::Timeout => HostStatus::Timeout,
                _ => HostStatus::Unreachable,
            });
            progress.message = Some(err.message);
            if progress.status == Some(HostStatus::Timeout) {
                // The units end as `timeout` with this message.
                let message = progress.message.clone().unwrap_or_default();
                for unit in &plan.restart {
                    progress.units.insert(
                        unit.clone(),
                        UnitStatus::Timeout {
                            message: message.clone(),
                        },
                    );
                }
            }
            return;
        }
    };
    let host = Host {
        connection: &connection,
        job,
        settings: shared.settings,
        journal: shared.journal,
        events: shared.events,
    };
    host.carry_out(plan, restarted_before, progress).await;
    connector.disconnect(connection).await;
}

/// The connected host and what its steps share.
pub(super) struct Host<'a, E: Exec> {
    pub(super) connection: &'a E,
    pub(super) job: &'a CampaignHost,
    pub(super) settings: &'a Settings,
    pub(super) journal: &'a Journal,
    pub(super) events: &'a mpsc::UnboundedSender<CampaignEvent>,
}

/// The units the host's fresh probe lists as stale, or why there is no probe.
enum Probe {
    Stale(Vec<String>, bool),
    Failed(HostStatus, String),
}

impl<E: Exec> Host<'_, E> {
    /// A fresh probe report of the host, or how the probe failed.
    pub(super) async fn report(&self) -> Result<Report, (HostStatus, String)> {
        match deploy_and_run(self.connection, &self.job.deploy, |_| {}).await {
            HostResult::Audited { report, .. } => Ok(report.report().clone()),
            HostResult::Failed {
                failure, message, ..
            } => {
                let status = match failure {
                    Failure::Unreachable => HostStatus::Unreachable,
                    Failure::Timeout => HostStatus::Timeout,
                    _ => HostStatus::Failed,
                };
                Err((status, format!("the probe failed: {message}")))
            }
        }
    }

    async fn probe(&self) -> Probe {
        match self.report().await {
            Ok(report) => {
                let actions = &report.actions;
                let units = actions.services.iter().map(|s| s.unit.clone()).collect();
                Probe::Stale(units, !actions.system_manager.is_empty())
            }
            Err((status, message)) => Probe::Failed(status, message),
        }
    }

    pub(super) fn record(&self, step: Step, progress: &mut Progress) -> bool {
        match self.journal.record(step) {
            Ok(()) => true,
            Err(err) => {
                progress.journal_failed = Some(err.to_string());
                progress.status = Some(HostStatus::Failed);
                progress.message = Some(err.to_string());
                false
            }
        }
    }

    async fn states(&self, units: &[String]) -> Result<Vec<UnitState>, String> {
        let out = run(self.connection, &self.job.deploy, As::Login, &show(units)).await?;
        if !out.success() {
            return Err(format!("systemctl show {}", out.failure()));
        }
        Ok(parse_show(&out.stdout, units.len()))
    }

    async fn carry_out(
        &self,
        plan: &HostPlan,
        restarted_before: &HashMap<String, String>,
        progress: &mut Progress,
    ) {
        let (stale, manager_stale) = match self.probe().await {
            Probe::Stale(units, manager) => (units, manager),
            Probe::Failed(status, message) => {
                progress.status = Some(status);
                progress.message = Some(message);
                return;
            }
        };
        let mut todo = Vec::new();
        for unit in &plan.restart {
            // The plan checked every name; one read back from an edited journal is
            // checked again before it reaches a shell.
            if !valid_unit(unit) {
                let status = UnitStatus::RestartFailed {
                    message: "not a valid systemd unit name: not sent to the host".into(),
                    journal: Vec::new(),
                };
                progress.units.insert(unit.clone(), status);
            } else if stale.contains(unit) {
                todo.push(unit.clone());
            } else {
                let status = UnitStatus::Skipped {
                    reason: Skip::FixedMeanwhile,
                };
                progress.units.insert(unit.clone(), status);
            }
        }
        let mut restarted = Vec::new();
        if !todo.is_empty() {
            let before = match self.states(&todo).await {
                Ok(states) => states,
                Err(message) => {
                    progress.status = Some(HostStatus::Failed);
                    progress.message = Some(message);
                    return;
                }
            };
            let mut fresh = Vec::new();
            for (unit, state) in todo.iter().zip(before) {
                // Recorded as restarting by an earlier run, and started since: never again.
                match restarted_before.get(unit) {
                    Some(id) if *id != state.invocation_id => restarted.push(unit.clone()),
                    _ => fresh.push((unit.clone(), state)),
                }
            }
            let groups: Vec<Vec<(String, UnitState)>> = if self.settings.together {
                vec![fresh]
            } else {
                fresh.into_iter().map(|one| vec![one]).collect()
            };
            for group in groups.into_iter().filter(|g| !g.is_empty()) {
                let Some(done) = self.restart(group, progress).await else {
                    return;
                };
                restarted.extend(done);
            }
        }
        if plan.reexec && manager_stale {
            let out = run(self.connection, &self.job.deploy, As::Root, DAEMON_REEXEC).await;
            progress.reexec = Some(match out {
                Ok(out) if out.success() => UnitStatus::Verified,
                Ok(out) => UnitStatus::RestartFailed {
                    message: format!("systemctl daemon-reexec {}", out.failure()),
                    journal: Vec::new(),
                },
                Err(message) => UnitStatus::Unreachable { message },
            });
        } else if plan.reexec {
            progress.reexec = Some(UnitStatus::Skipped {
                reason: Skip::FixedMeanwhile,
            });
        }
        if restarted.is_empty() && progress.reexec.is_none() {
            return;
        }
        if let Some((check, message)) = self.health().await {
            for unit in restarted {
                let status = UnitStatus::HealthFailed {
                    check: check.clone(),
                    message: message.clone(),
                };
                progress.units.insert(unit, status);
            }
            return;
        }
        self.verify(restarted, progress).await;
    }

    /// Restarts one group of units and waits for each; the units that came back.
    async fn restart(
        &self,
        group: Vec<(String, UnitState)>,
        progress: &mut Progress,
    ) -> Option<Vec<String>> {
        let host = self.job.name.clone();
        let units: Vec<String> = group.iter().map(|(u, _)| u.clone()).collect();
        let invocations = group.iter().map(|(_, s)| s.invocation_id.clone()).collect();
        let step = Step::Restarting {
            host: host.clone(),
            units: units.clone(),
            invocations,
        };
        if !self.record(step, progress) {
            return None;
        }
        let _ = self.events.send(CampaignEvent::Restarting {
            host: host.clone(),
            units: units.clone(),
        });
        let out = run(
            self.connection,
            &self.job.deploy,
            As::Root,
            &restart(&units),
        )
        .await;
        let failed = match &out {
            Ok(out) if out.success() => None,
            Ok(out) => Some(format!("systemctl restart {}", out.failure())),
            Err(message) => {
                progress.status = Some(HostStatus::Unreachable);
                progress.message = Some(message.clone());
                return None;
            }
        };
        let ok = failed.is_none();
        if !self.record(Step::Restarted { host, units, ok }, progress) {
            return None;
        }
        let mut back = Vec::new();
        for (unit, before) in group {
            let problem = match &failed {
                Some(message) => Some(message.clone()),
                None => self.wait_active(&unit, &before).await.err(),
            };
            match problem {
                None => back.push(unit),
                Some(message) => {
                    let journal = self.journal_lines(&unit).await;
                    progress
                        .units
                        .insert(unit, UnitStatus::RestartFailed { message, journal });
                }
            }
        }
        Some(back)
    }

    /// Polls the unit until it is active with a new `InvocationID`.
    async fn wait_active(&self, unit: &str, before: &UnitState) -> Result<(), String> {
        let units = [unit.to_string()];
        let poll = async {
            loop {
                let now = self.states(&units).await?;
                let state = now.into_iter().next().unwrap_or_default();
                let restarted = state.invocation_id != before.invocation_id;
                if state.is_active() && restarted {
                    return Ok(());
                }
                if state.has_failed() {
                    return Err(format!(
                        "the unit failed after its restart ({}/{})",
                        state.active_state, state.sub_state
                    ));
                }
                tokio::time::sleep(self.settings.poll_interval).await;
            }
        };
        let limit = self.settings.restart_timeout;
        tokio::time::timeout(limit, poll).await.unwrap_or_else(|_| {
            Err(format!(
                "the unit was not active again within {}s (--restart-timeout)",
                limit.as_secs()
            ))
        })
    }

    async fn journal_lines(&self, unit: &str) -> Vec<String> {
        match run(
            self.connection,
            &self.job.deploy,
            As::Root,
            &journal_tail(unit),
        )
        .await
        {
            Ok(out) => out.stdout.lines().map(str::to_string).collect(),
            Err(message) => vec![format!("(journal not read: {message})")],
        }
    }

    /// The first health check that fails: `(check, why)`.
    pub(super) async fn health(&self) -> Option<(String, String)> {
        let health = &self.settings.health;
        let checks = health
            .cmd
            .iter()
            .map(|cmd| (format!("--health-cmd {cmd}"), cmd.clone()))
            .chain(
                health
                    .url
                    .iter()
                    .map(|url| (format!("--health-url {url}"), fetch(url))),
            )
            .chain(
                health
                    .tcp
                    .iter()
                    .map(|port| (format!("--health-tcp {port}"), tcp_connect(*port))),
            );
        for (check, command) in checks {
            let out = run(self.connection, &self.job.deploy, As::Login, &command).await;
            match out {
                Ok(out) if out.success() => {}
                Ok(out) => return Some((check, out.failure())),
                Err(message) => return Some((check, message)),
            }
        }
        None
    }

    /// The last probe: restarted units it still lists are `restarted_still_stale`.
    async fn verify(&self, restarted: Vec<String>, progress: &mut Progress) {
        let (stale, manager) = match self.probe().await {
            Probe::Stale(units, manager) => (units, manager),
            Probe::Failed(_, message) => {
                for unit in restarted {
                    let status = UnitStatus::HealthFailed {
                        check: "re-probe".into(),
                        message: message.clone(),
                    };
                    progress.units.insert(unit, status);
                }
                return;
            }
        };
        for unit in restarted {
            let status = if stale.contains(&unit) {
                UnitStatus::RestartedStillStale
            } else {
                UnitStatus::Verified
            };
            progress.units.insert(unit, status);
        }
        if manager && progress.reexec == Some(UnitStatus::Verified) {
            progress.reexec = Some(UnitStatus::RestartedStillStale);
        }
    }
}
