//! One host of a reboot campaign, from connection to verdict: probe again (a host that
//! needs no reboot any more is skipped), take a FleetLock slot (`--fleetlock`; asked
//! again while the group is full), `--pre-cmd`, record the boot id in the journal
//! *before* asking for the reboot, `systemctl reboot` through the audit's privilege path
//! (the connection dropping is expected), then reconnect until the boot id changed
//! (`--reboot-timeout`; the host key is checked as on every connection), wait while the
//! system is `starting`, and verify: a new boot, the kernel the audit expected, no
//! process running replaced code, `running` (or `degraded` with `--allow-degraded`), the
//! health checks; then `--post-cmd`, and the slot is given back.
//!
//! A host that does not come back keeps its slot, as FleetLock intends: the rollout stops
//! until a person looks. On `--resume`, a host recorded as rebooting whose boot id has
//! changed is verified, never rebooted again.

use std::time::Duration;

use tokio::time::Instant;

use super::execute::{CampaignEvent, CampaignHost, RebootSettings};
use super::fleetlock::{Answer, FleetLock};
use super::host::{Earlier, Host, Progress, Shared};
use super::journal::Step;
use super::outcome::{HostStatus, RebootOutcome, RebootStatus, Skip};
use super::plan::{HostPlan, RebootPlan, reboot_reasons};
use super::remote::{As, run};
use crate::transport::{ConnectFailure, Connector, Exec};

/// Reads the kernel's id of the current boot.
const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";

/// The system manager's state; the status is not 0 for anything but `running`, the
/// state is on stdout either way.
const SYSTEM_STATE: &str = "systemctl is-system-running";

/// The reboot, through systemd.
const REBOOT: &str = "systemctl reboot";

/// Reboots the host of `plan` and verifies it; the result goes to `progress.reboot`.
pub(super) async fn reboot_host<C: Connector>(
    connector: &C,
    job: &CampaignHost,
    plan: &HostPlan,
    shared: &Shared<'_>,
    earlier: &Earlier,
    progress: &mut Progress,
) {
    let Some(reboot) = &plan.reboot else {
        return;
    };
    let mut outcome = RebootOutcome::new(RebootStatus::Timeout {
        message: String::new(),
    });
    outcome.kernel_expected = reboot.kernel.clone();
    progress.reboot = Some(outcome);
    let steps = Steps {
        connector,
        job,
        plan: reboot,
        shared,
        settings: &shared.settings.reboot,
    };
    let status = steps.run(earlier.boot_id.as_deref(), progress).await;
    if let Some(outcome) = progress.reboot.as_mut() {
        outcome.status = status;
    }
}

/// The evidence of the host's reboot (set up by [`reboot_host`]).
fn evidence(progress: &mut Progress) -> &mut RebootOutcome {
    progress.reboot.get_or_insert_with(|| {
        RebootOutcome::new(RebootStatus::Timeout {
            message: String::new(),
        })
    })
}

/// What the steps of one host's reboot share.
struct Steps<'a, C: Connector> {
    connector: &'a C,
    job: &'a CampaignHost,
    plan: &'a RebootPlan,
    shared: &'a Shared<'a>,
    settings: &'a RebootSettings,
}

/// How waiting for a host ended.
enum Back<T> {
    /// Connected, with the host's boot id.
    Up(T, String),
    /// Not back in time (or not as itself): why.
    NotBack(String),
}

impl<C: Connector> Steps<'_, C> {
    fn host<'h>(&'h self, connection: &'h C::Connection) -> Host<'h, C::Connection> {
        Host {
            connection,
            job: self.job,
            settings: self.shared.settings,
            journal: self.shared.journal,
            events: self.shared.events,
        }
    }

    async fn run(&self, earlier: Option<&str>, progress: &mut Progress) -> RebootStatus {
        // A host recorded as rebooting may still be down: wait for it as after a reboot.
        let (connection, boot_id) = match earlier {
            Some(_) => match self.wait_up(None, self.settings.timeout).await {
                Back::Up(connection, boot_id) => (connection, boot_id),
                Back::NotBack(message) => return self.not_back(message, progress),
            },
            None => match self.connect_once().await {
                Ok(up) => up,
                Err((status, message)) => {
                    progress.status = Some(status);
                    progress.message = Some(message.clone());
                    return match status {
                        HostStatus::Timeout => RebootStatus::Timeout { message },
                        _ => RebootStatus::Unreachable { message },
                    };
                }
            },
        };
        let before = earlier.unwrap_or(&boot_id).to_string();
        evidence(progress).boot_id_before = Some(before.clone());
        if before != boot_id {
            // Rebooted since the killed run asked for it: verify only.
            evidence(progress).resumed = true;
            let status = self.after_boot(&connection, boot_id, progress).await;
            self.connector.disconnect(connection).await;
            return status;
        }
        let status = self.reboot(connection, &before, progress).await;
        match status {
            Ok(connection) => {
                let status = match evidence(progress).boot_id_after.clone() {
                    Some(after) => self.after_boot(&connection, after, progress).await,
                    None => RebootStatus::NotReturned {
                        message: "the host came back without a boot id".into(),
                    },
                };
                self.connector.disconnect(connection).await;
                status
            }
            Err(status) => status,
        }
    }

    /// Connects and reads the boot id, once.
    async fn connect_once(&self) -> Result<(C::Connection, String), (HostStatus, String)> {
        let connection = self
            .connector
            .connect(&self.job.route, self.job.connect_timeout, |_| {})
            .await
            .map_err(|err| {
                let status = match err.kind {
                    ConnectFailure::Timeout => HostStatus::Timeout,
                    _ => HostStatus::Unreachable,
                };
                (status, err.message)
            })?;
        match boot_id(&self.host(&connection)).await {
            Ok(id) => Ok((connection, id)),
            Err(message) => {
                self.connector.disconnect(connection).await;
                Err((HostStatus::Failed, message))
            }
        }
    }

    /// Everything up to the host being back with a new boot: probe, lock, pre-cmd,
    /// journal, reboot, wait. `Err`: how the host ended.
    async fn reboot(
        &self,
        connection: C::Connection,
        before: &str,
        progress: &mut Progress,
    ) -> Result<C::Connection, RebootStatus> {
        let host = self.host(&connection);
        let report = match host.report().await {
            Ok(report) => report,
            Err((status, message)) => {
                progress.status = Some(status);
                progress.message = Some(message);
                self.connector.disconnect(connection).await;
                return Err(RebootStatus::Skipped {
                    reason: Skip::ProbeFailed,
                });
            }
        };
        let planned_for_reasons = !self.plan.reasons.is_empty();
        if planned_for_reasons && reboot_reasons(&report).is_empty() {
            self.connector.disconnect(connection).await;
            return Err(RebootStatus::Skipped {
                reason: Skip::FixedMeanwhile,
            });
        }
        if let Err(status) = self.take_slot(progress).await {
            self.connector.disconnect(connection).await;
            return Err(status);
        }
        if let Some(cmd) = &self.settings.pre_cmd
            && let Err(message) = command(&host, cmd).await
        {
            // A slot not given back stays in the report (its lock note).
            let _ = self.give_back(progress).await;
            self.connector.disconnect(connection).await;
            return Err(RebootStatus::CommandFailed {
                step: "--pre-cmd".into(),
                message,
            });
        }
        let step = Step::Rebooting {
            host: self.job.name.clone(),
            boot_id: before.to_string(),
        };
        if !host.record(step, progress) {
            // A slot not given back stays in the report (its lock note).
            let _ = self.give_back(progress).await;
            self.connector.disconnect(connection).await;
            return Err(RebootStatus::CommandFailed {
                step: "journal".into(),
                message: progress.message.clone().unwrap_or_default(),
            });
        }
        let _ = self.shared.events.send(CampaignEvent::Rebooting {
            host: self.job.name.clone(),
        });
        let asked = Instant::now();
        // The connection may drop before the command's status comes back: expected.
        match run(&connection, &self.job.deploy, As::Root, REBOOT).await {
            Ok(out) if out.status.is_some() && !out.success() => {
                // A slot not given back stays in the report (its lock note).
                let _ = self.give_back(progress).await;
                self.connector.disconnect(connection).await;
                return Err(RebootStatus::CommandFailed {
                    step: REBOOT.into(),
                    message: format!("{REBOOT} {}", out.failure()),
                });
            }
            _ => {}
        }
        self.connector.disconnect(connection).await;
        let left = self.settings.timeout.saturating_sub(asked.elapsed());
        match self.wait_up(Some(before), left).await {
            Back::Up(connection, after) => {
                evidence(progress).boot_id_after = Some(after);
                Ok(connection)
            }
            Back::NotBack(message) => Err(self.not_back(message, progress)),
        }
    }

    /// A host that did not come back: it fails, and keeps its lock slot (its lock note,
    /// set when the slot was granted, stays).
    fn not_back(&self, message: String, progress: &mut Progress) -> RebootStatus {
        progress.message = Some(message.clone());
        RebootStatus::NotReturned { message }
    }

    /// Connects again and again until the host answers with a boot id other than
    /// `before` (any boot id when `None`), within `limit`. A host key that changed ends
    /// the wait at once: that is not the host coming back.
    async fn wait_up(&self, before: Option<&str>, limit: Duration) -> Back<C::Connection> {
        let deadline = Instant::now() + limit;
        let poll = self.shared.settings.poll_interval;
        let mut last = String::from("no connection was tried");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Back::NotBack(format!(
                    "the host did not come back within {}s (--reboot-timeout); last: {last}",
                    limit.as_secs()
                ));
            }
            let connect_timeout = self.job.connect_timeout.map_or(left, |c| c.min(left));
            let attempt = tokio::time::timeout(
                left,
                self.connector
                    .connect(&self.job.route, Some(connect_timeout), |_| {}),
            )
            .await;
            match attempt {
                Ok(Ok(connection)) => match boot_id(&self.host(&connection)).await {
                    Ok(id) if Some(id.as_str()) != before => return Back::Up(connection, id),
                    Ok(_) => {
                        last = "the host still runs the boot before the reboot".into();
                        self.connector.disconnect(connection).await;
                    }
                    Err(message) => {
                        last = message;
                        self.connector.disconnect(connection).await;
                    }
                },
                Ok(Err(err)) => {
                    if matches!(
                        err.kind,
                        ConnectFailure::HostKeyChanged | ConnectFailure::HostKeyUnknown
                    ) {
                        return Back::NotBack(format!(
                            "the host came back with a host key that is not trusted: {}",
                            err.message
                        ));
                    }
                    last = err.message;
                }
                Err(_) => last = "the connection attempt did not finish".into(),
            }
            tokio::time::sleep(poll.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// The verification of a host back from its reboot, then `--post-cmd` and the
    /// slot given back.
    async fn after_boot(
        &self,
        connection: &C::Connection,
        boot_id: String,
        progress: &mut Progress,
    ) -> RebootStatus {
        let host = self.host(connection);
        evidence(progress).boot_id_after = Some(boot_id);
        let status = self.verify(&host, progress).await;
        if status != RebootStatus::Verified {
            // Not healthy: the slot stays taken, as FleetLock intends.
            return status;
        }
        let post = match &self.settings.post_cmd {
            Some(cmd) => command(&host, cmd).await.err(),
            None => None,
        };
        if let Err(status) = self.give_back(progress).await {
            return status;
        }
        match post {
            Some(message) => RebootStatus::CommandFailed {
                step: "--post-cmd".into(),
                message,
            },
            None => RebootStatus::Verified,
        }
    }

    /// Waits while the system is starting, then checks the boot, kernel, processes and
    /// health.
    async fn verify(
        &self,
        host: &Host<'_, C::Connection>,
        progress: &mut Progress,
    ) -> RebootStatus {
        let state = match self.system_state(host).await {
            Ok(state) => state,
            Err(message) => return RebootStatus::VerifyFailed { message },
        };
        evidence(progress).system_state = Some(state.clone());
        let accepted = state == "running" || (state == "degraded" && self.settings.allow_degraded);
        if !accepted {
            let hint = if state == "degraded" {
                " (some unit failed: `systemctl --failed`; --allow-degraded accepts it)"
            } else {
                ""
            };
            return RebootStatus::VerifyFailed {
                message: format!("systemctl is-system-running says {state}{hint}"),
            };
        }
        let report = match host.report().await {
            Ok(report) => report,
            Err((_, message)) => return RebootStatus::VerifyFailed { message },
        };
        let outcome = evidence(progress);
        if report.host.boot_id.is_some() && report.host.boot_id != outcome.boot_id_after {
            return RebootStatus::VerifyFailed {
                message: "the probe saw another boot id than the reconnection".into(),
            };
        }
        outcome.kernel_running = report.kernel.running.release.clone();
        let mut problems = Vec::new();
        if self.plan.container || report.kernel.container.is_some() {
            outcome.kernel_note =
                Some("a container: the kernel is its host's, and was not compared".into());
        } else {
            match (&self.plan.kernel, &outcome.kernel_running) {
                (None, _) => {
                    outcome.kernel_note =
                        Some("the audit could not tell which kernel boots next".into())
                }
                (Some(expected), Some(running)) if expected == running => {}
                (Some(expected), running) => problems.push(format!(
                    "kernel {} runs, the audit expected {expected} to boot",
                    running.as_deref().unwrap_or("(unknown)")
                )),
            }
        }
        if !report.processes.is_empty() {
            problems.push(format!(
                "{} process(es) still run replaced code",
                report.processes.len()
            ));
        }
        let left = reboot_reasons(&report);
        if !left.is_empty() {
            problems.push(format!(
                "the probe still asks for a reboot: {}",
                left.join("; ")
            ));
        }
        if !problems.is_empty() {
            return RebootStatus::VerifyFailed {
                message: problems.join("; "),
            };
        }
        match host.health().await {
            Some((check, message)) => RebootStatus::HealthFailed { check, message },
            None => RebootStatus::Verified,
        }
    }

    /// `systemctl is-system-running`, asked again while it says `starting` or
    /// `initializing`, within `--reboot-timeout`.
    async fn system_state(&self, host: &Host<'_, C::Connection>) -> Result<String, String> {
        let poll = async {
            loop {
                let out = run(host.connection, &self.job.deploy, As::Login, SYSTEM_STATE).await?;
                let state = out.stdout.trim().to_string();
                if !matches!(state.as_str(), "starting" | "initializing") {
                    return Ok(state);
                }
                tokio::time::sleep(self.shared.settings.poll_interval).await;
            }
        };
        let limit = self.settings.timeout;
        tokio::time::timeout(limit, poll).await.unwrap_or_else(|_| {
            Err(format!(
                "the system was still starting after {}s (--reboot-timeout)",
                limit.as_secs()
            ))
        })
    }

    /// Takes the host's FleetLock slot, asking again while the group is full (the
    /// host's timeout bounds the wait).
    async fn take_slot(&self, progress: &mut Progress) -> Result<(), RebootStatus> {
        let Some(lock) = &self.settings.fleetlock else {
            return Ok(());
        };
        let mut said = false;
        loop {
            match lock.pre_reboot(&self.job.name).await {
                Ok(Answer::Granted) => {
                    evidence(progress).lock_note = Some(kept_slot(lock, &self.job.name));
                    return Ok(());
                }
                Ok(Answer::Refused { kind, value }) => {
                    if !said {
                        let _ = self.shared.events.send(CampaignEvent::WaitingForLock {
                            host: self.job.name.clone(),
                            why: format!("{kind}: {value}"),
                        });
                        said = true;
                    }
                }
                Err(message) => return Err(RebootStatus::LockFailed { message }),
            }
            tokio::time::sleep(self.shared.settings.poll_interval).await;
        }
    }

    /// Gives the host's slot back (FleetLock); the controller's own lock is the
    /// campaign's and stays.
    async fn give_back(&self, progress: &mut Progress) -> Result<(), RebootStatus> {
        let Some(lock) = &self.settings.fleetlock else {
            return Ok(());
        };
        match lock.steady_state(&self.job.name).await {
            Ok(Answer::Granted) => {
                evidence(progress).lock_note = None;
                Ok(())
            }
            Ok(Answer::Refused { kind, value }) => Err(RebootStatus::LockFailed {
                message: format!("the FleetLock server refused steady-state: {kind}: {value}"),
            }),
            Err(message) => Err(RebootStatus::LockFailed { message }),
        }
    }
}

/// What the report says about a slot a host keeps.
fn kept_slot(lock: &FleetLock, id: &str) -> String {
    format!(
        "FleetLock slot of id {id} in group {} kept: give it back (POST /v1/steady-state) once \
         the host is healthy",
        lock.group()
    )
}

/// The host's boot id.
async fn boot_id(host: &Host<'_, impl Exec>) -> Result<String, String> {
    let out = run(host.connection, &host.job.deploy, As::Login, BOOT_ID).await?;
    let id = out.stdout.trim();
    if out.success() && !id.is_empty() {
        Ok(id.to_string())
    } else {
        Err(format!(
            "cannot read the boot id: {BOOT_ID} {}",
            out.failure()
        ))
    }
}

/// A user's command (`--pre-cmd`, `--post-cmd`) on the host, as the login user.
async fn command(host: &Host<'_, impl Exec>, cmd: &str) -> Result<(), String> {
    let out = run(host.connection, &host.job.deploy, As::Login, cmd).await?;
    if out.success() {
        Ok(())
    } else {
        Err(out.failure())
    }
}

#[cfg(test)]
#[path = "reboot_tests.rs"]
mod tests;
