//! Carries a [`CampaignPlan`] out, batch after batch, over any transport [`Connector`]
//! (SSH, this machine, or the fake network of the tests). Between batches it decides:
//! the canary batch stops the campaign on any failure, `--max-fail` on too many, a
//! closed window waits or stops, `--pause` waits. Within a batch, hosts run at once (up
//! to `--forks`). It never prints: [`CampaignEvent`]s go to a channel, and every step to
//! the [`Journal`] first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::batches::MaxFail;
use super::fleetlock::FleetLock;
use super::host::{Earlier, Shared, run_host};
use super::journal::{Journal, Replay, Step};
use super::outcome::{
    CampaignOutcome, HostCampaign, HostStatus, RebootOutcome, RebootStatus, Skip, Stop,
    UnitOutcome, UnitStatus,
};
use super::plan::{CampaignPlan, HostPlan, Unplanned};
use super::window::Schedule;
use crate::deploy::{DeployOptions, STALL_TIMEOUT, embedded_probes};
use crate::fleet::{FleetOptions, Target};
use crate::transport::{Connector, Route};

/// One host, ready to connect to.
#[derive(Debug, Clone)]
pub struct CampaignHost {
    pub name: String,
    pub route: Route,
    pub connect_timeout: Option<Duration>,
    /// Everything the host may take, probes and restarts included.
    pub host_timeout: Duration,
    /// How to probe it and how to become root on it.
    pub deploy: DeployOptions,
}

impl CampaignHost {
    /// A host of the inventory as the audit reaches it: the same route, timeouts, probe
    /// and privilege path.
    pub fn new(target: Target, options: &FleetOptions) -> Self {
        CampaignHost {
            name: target.name,
            route: target.route,
            connect_timeout: target.connect_timeout,
            host_timeout: target.host_timeout.unwrap_or(options.host_timeout),
            deploy: DeployOptions {
                probes: embedded_probes(),
                probe_args: options.probe_args.clone(),
                cleanup: options.cleanup,
                become_password: options.become_password.clone(),
                host: target.deploy,
                stall_timeout: STALL_TIMEOUT,
            },
        }
    }
}

/// Checks after the restarts of a host, each run on the host.
#[derive(Debug, Clone, Default)]
pub struct HealthChecks {
    /// `--health-cmd`: a shell command, run as the login user; status 0 is healthy.
    pub cmd: Option<String>,
    /// `--health-url`: fetched from the host with curl, else wget.
    pub url: Option<String>,
    /// `--health-tcp`: a TCP connection from the host to its own 127.0.0.1:PORT.
    pub tcp: Option<u16>,
}

/// What to do when no window is open before a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutsideWindow {
    /// Wait for the next window.
    #[default]
    Wait,
    /// Stop the campaign; the hosts left are `skipped (outside window)`.
    Stop,
}

/// How the campaign runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hosts of a batch worked on at once.
    pub forks: usize,
    /// `--together`: one `systemctl restart` for all units of a host.
    pub together: bool,
    pub restart_timeout: Duration,
    /// Between two `systemctl show` while waiting for a unit.
    pub poll_interval: Duration,
    pub health: HealthChecks,
    pub max_fail: MaxFail,
    /// `--pause`: between batches.
    pub pause: Duration,
    pub schedule: Schedule,
    pub outside_window: OutsideWindow,
    /// How hosts are rebooted (reboot campaigns only).
    pub reboot: RebootSettings,
}

/// How a reboot campaign reboots a host and waits for it.
#[derive(Debug, Clone, Default)]
pub struct RebootSettings {
    /// `--reboot-timeout`: from asking for the reboot until the host is back and its
    /// system running.
    pub timeout: Duration,
    /// `--allow-degraded`: `systemctl is-system-running` may say `degraded`.
    pub allow_degraded: bool,
    /// `--pre-cmd` and `--post-cmd`: shell commands on the host, as the login user.
    pub pre_cmd: Option<String>,
    pub post_cmd: Option<String>,
    /// `--fleetlock`: a slot of this server's group per host, instead of the
    /// controller's lock.
    pub fleetlock: Option<FleetLock>,
}

/// Progress of a campaign, for reporters.
#[derive(Debug, Clone)]
pub enum CampaignEvent {
    Started {
        hosts: usize,
        batches: usize,
    },
    BatchStarted {
        batch: usize,
        hosts: Vec<String>,
    },
    HostStarted {
        host: String,
    },
    Restarting {
        host: String,
        units: Vec<String>,
    },
    /// The FleetLock server refused a slot for the host: asking again until the host's
    /// timeout.
    WaitingForLock {
        host: String,
        why: String,
    },
    /// The host was asked to reboot; waiting for it to come back.
    Rebooting {
        host: String,
    },
    HostFinished(Box<HostCampaign>),
    BatchFinished {
        batch: usize,
        failed: usize,
    },
    /// No window is open: waiting until this time (RFC 3339).
    Waiting {
        until: String,
    },
    Stopped(Stop),
}

/// Carries out `plan` on `hosts` (every host of a batch must be among them). With
/// `replay`, the campaign resumes: finished hosts keep their recorded result, and units
/// recorded as restarting are never restarted again once their `InvocationID` changed.
pub async fn execute<C: Connector + Clone>(
    connector: C,
    hosts: Vec<CampaignHost>,
    plan: &CampaignPlan,
    settings: Settings,
    journal: Arc<Journal>,
    replay: Option<&Replay>,
    events: mpsc::UnboundedSender<CampaignEvent>,
) -> CampaignOutcome {
    let _ = events.send(CampaignEvent::Started {
        hosts: plan.batches.iter().map(Vec::len).sum(),
        batches: plan.batches.len(),
    });
    let settings = Arc::new(settings);
    let jobs: HashMap<String, CampaignHost> =
        hosts.into_iter().map(|h| (h.name.clone(), h)).collect();
    let mut results: HashMap<String, HostCampaign> = HashMap::new();
    let mut stopped: Option<Stop> = None;
    for (index, batch) in plan.batches.iter().enumerate() {
        if stopped.is_some() {
            break;
        }
        let recorded: Vec<HostCampaign> = batch
            .iter()
            .filter_map(|h| replay.and_then(|r| r.finished.get(h)).cloned())
            .collect();
        let todo: Vec<&String> = batch
            .iter()
            .filter(|h| !recorded.iter().any(|r| &r.host == *h))
            .collect();
        if !todo.is_empty() {
            if let Some(stop) = wait_for_window(&settings, index, &events).await {
                stopped = Some(stop);
                break;
            }
            if index > 0 && !settings.pause.is_zero() {
                tokio::time::sleep(settings.pause).await;
            }
        }
        if let Err(err) = journal.record(Step::BatchStarted { batch: index }) {
            stopped = Some(Stop::Journal {
                message: err.to_string(),
            });
            break;
        }
        let _ = events.send(CampaignEvent::BatchStarted {
            batch: index,
            hosts: batch.clone(),
        });
        let (mut done, journal_error) = run_batch(
            &connector, &jobs, plan, &settings, &journal, replay, &events, &todo, index,
        )
        .await;
        done.extend(recorded);
        let failed = done.iter().filter(|h| h.status.is_failure()).count();
        for host in done {
            results.insert(host.host.clone(), host);
        }
        let _ = journal.record(Step::BatchFinished {
            batch: index,
            failed,
        });
        let _ = events.send(CampaignEvent::BatchFinished {
            batch: index,
            failed,
        });
        stopped = if let Some(message) = journal_error {
            Some(Stop::Journal { message })
        } else if index == 0 && plan.canary > 0 && failed > 0 {
            Some(Stop::Canary {
                batch: index,
                failed,
            })
        } else if settings.max_fail.stops(failed, batch.len()) {
            Some(Stop::MaxFail {
                batch: index,
                failed,
                size: batch.len(),
            })
        } else {
            None
        };
    }
    let skip = match &stopped {
        Some(Stop::OutsideWindow { .. }) => Skip::OutsideWindow,
        _ => Skip::NotReached,
    };
    let mut hosts: Vec<HostCampaign> = plan
        .hosts
        .iter()
        .map(|h| {
            results
                .remove(&h.host)
                .unwrap_or_else(|| not_run(h, skip.clone()))
        })
        .collect();
    hosts.extend(plan.unplanned.iter().map(unaudited));
    let _ = journal.record(match &stopped {
        Some(stop) => Step::Stopped { stop: stop.clone() },
        None => Step::Finished,
    });
    if let Some(stop) = &stopped {
        let _ = events.send(CampaignEvent::Stopped(stop.clone()));
    }
    connector.finish().await;
    CampaignOutcome { hosts, stopped }
}

/// Waits for a window, or says the campaign stops. `None`: go.
async fn wait_for_window(
    settings: &Settings,
    batch: usize,
    events: &mpsc::UnboundedSender<CampaignEvent>,
) -> Option<Stop> {
    let now = jiff::Timestamp::now();
    if settings.schedule.is_open(now) {
        return None;
    }
    let next = match settings.outside_window {
        OutsideWindow::Stop => return Some(Stop::OutsideWindow { batch }),
        OutsideWindow::Wait => settings.schedule.next_open(now)?,
    };
    let _ = events.send(CampaignEvent::Waiting {
        until: next.to_string(),
    });
    let wait = next.duration_since(now).unsigned_abs();
    tokio::time::sleep(wait).await;
    None
}

/// The hosts of one batch, at most `forks` at once; their results in batch order, and
/// the journal's error if it failed.
#[allow(clippy::too_many_arguments)]
async fn run_batch<C: Connector + Clone>(
    connector: &C,
    jobs: &HashMap<String, CampaignHost>,
    plan: &CampaignPlan,
    settings: &Arc<Settings>,
    journal: &Arc<Journal>,
    replay: Option<&Replay>,
    events: &mpsc::UnboundedSender<CampaignEvent>,
    todo: &[&String],
    batch: usize,
) -> (Vec<HostCampaign>, Option<String>) {
    let slots = Arc::new(Semaphore::new(settings.forks.max(1)));
    let mut tasks = JoinSet::new();
    let mut results: Vec<Option<HostCampaign>> = vec![None; todo.len()];
    let mut journal_error = None;
    for (index, name) in todo.iter().enumerate() {
        let Some(host_plan) = plan.host(name).cloned() else {
            continue;
        };
        let Some(job) = jobs.get(*name).cloned() else {
            let mut missing = not_run(&host_plan, Skip::NotReached);
            missing.status = HostStatus::Unreachable;
            missing.message = Some("the host is not in the inventory any more".into());
            results[index] = Some(missing);
            continue;
        };
        let earlier = Earlier {
            restarting: replay
                .map(|r| {
                    r.restarting
                        .iter()
                        .filter(|((host, _), _)| host == *name)
                        .map(|((_, unit), id)| (unit.clone(), id.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            boot_id: replay.and_then(|r| r.rebooting.get(*name).cloned()),
        };
        let (connector, settings, journal, events, slots) = (
            connector.clone(),
            settings.clone(),
            journal.clone(),
            events.clone(),
            slots.clone(),
        );
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.ok();
            let _ = events.send(CampaignEvent::HostStarted {
                host: job.name.clone(),
            });
            let shared = Shared {
                settings: &settings,
                journal: &journal,
                events: &events,
            };
            let (outcome, journal_error) =
                run_host(&connector, &job, &host_plan, &shared, &earlier, batch).await;
            if journal_error.is_none() {
                let step = Step::HostFinished {
                    outcome: outcome.clone(),
                };
                if let Err(err) = journal.record(step) {
                    return (index, outcome, Some(err.to_string()));
                }
            }
            let _ = events.send(CampaignEvent::HostFinished(Box::new(outcome.clone())));
            (index, outcome, journal_error)
        });
    }
    // A panicked host task leaves its slot empty; it is filled below.
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, outcome, error)) = joined {
            results[index] = Some(outcome);
            journal_error = journal_error.or(error);
        }
    }
    let done = results
        .into_iter()
        .zip(todo)
        .filter_map(|(result, name)| {
            let host_plan = plan.host(name)?;
            Some(result.unwrap_or_else(|| {
                let mut failed = not_run(host_plan, Skip::NotReached);
                failed.status = HostStatus::Failed;
                failed.message = Some("internal error: the host's task failed".into());
                failed
            }))
        })
        .collect();
    (done, journal_error)
}

/// A host whose audit failed before the plan: it is in the report, as failed.
fn unaudited(host: &Unplanned) -> HostCampaign {
    HostCampaign {
        host: host.host.clone(),
        status: match host.failure.as_str() {
            "unreachable" => HostStatus::Unreachable,
            "timeout" => HostStatus::Timeout,
            _ => HostStatus::Failed,
        },
        message: Some(host.message.clone()),
        units: Vec::new(),
        reexec: None,
        manual: Vec::new(),
        batch: None,
        reboot: None,
    }
}

/// A host the campaign did not work on: nothing to do, or never reached.
fn not_run(plan: &HostPlan, skip: Skip) -> HostCampaign {
    HostCampaign {
        host: plan.host.clone(),
        status: if plan.has_work() {
            HostStatus::NotReached
        } else {
            HostStatus::NothingToDo
        },
        message: None,
        units: plan
            .restart
            .iter()
            .map(|unit| UnitOutcome {
                unit: unit.clone(),
                status: UnitStatus::Skipped {
                    reason: skip.clone(),
                },
            })
            .collect(),
        reexec: None,
        manual: plan.manual.clone(),
        batch: None,
        reboot: plan.reboot.as_ref().map(|r| RebootOutcome {
            kernel_expected: r.kernel.clone(),
            boot_id_before: r.boot_id.clone(),
            ..RebootOutcome::new(RebootStatus::Skipped { reason: skip })
        }),
    }
}

#[cfg(test)]
#[path = "execute_tests.rs"]
pub(crate) mod tests;
