//! Bounded fan-out over the hosts of an inventory. Every target ends in exactly one
//! [`HostOutcome`], in inventory order, whatever happens to it (timeout, panic, refusal):
//! one bad host never loses the others' results. The executor never prints; it sends
//! [`FleetEvent`]s that reporters (progress bar, logs) turn into output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use secrecy::SecretString;

use crate::deploy::{
    DeployOptions, EmbeddedProbe, HostDeploy, STALL_TIMEOUT, deploy_and_run, embedded_probes,
};
use crate::outcome::{Failure, FleetEvent, HostOutcome, HostResult, Phase};
use crate::transport::{
    ConnectFailure, ConnectStep, Connector, Route, RusshConnector, SessionOptions,
};

/// One host of a run, ready to audit: built by `crate::targets` from the inventory, the
/// ssh config and the command line, so the fleet neither resolves nor reads anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Inventory name (the report's key).
    pub name: String,
    /// Where to connect and as whom, jump hosts first.
    pub route: Route,
    /// `patchgap_connect_timeout`, overriding the run's.
    pub connect_timeout: Option<Duration>,
    /// `patchgap_host_timeout`, overriding the run's `--host-timeout`.
    pub host_timeout: Option<Duration>,
    /// How the probe is run there (sudo, cache directory).
    pub deploy: HostDeploy,
}

impl Target {
    /// A host with the run's timeouts and the default deploy settings.
    pub fn new(name: impl Into<String>, route: Route) -> Self {
        Target {
            name: name.into(),
            route,
            connect_timeout: None,
            host_timeout: None,
            deploy: HostDeploy::default(),
        }
    }
}

/// What every host of a run shares, ready to use: built by `crate::targets` from the
/// command line and the environment, which the fleet never reads.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Hosts audited at once (`--forks`).
    pub forks: usize,
    /// Everything one host may take (`--host-timeout`).
    pub host_timeout: Duration,
    pub session: Arc<SessionOptions>,
    pub probe_args: Vec<String>,
    pub cleanup: bool,
    pub become_password: Option<Arc<SecretString>>,
}

/// Audits `targets` over SSH, at most `forks` at a time, sending progress on `events` (a
/// closed receiver is fine). Returns one outcome per target, in the order given.
pub async fn audit_fleet(
    targets: Vec<Target>,
    options: FleetOptions,
    events: mpsc::UnboundedSender<FleetEvent>,
) -> Vec<HostOutcome> {
    let connector = RusshConnector {
        session: options.session.clone(),
    };
    let plan = Plan {
        forks: options.forks,
        host_timeout: options.host_timeout,
        probes: embedded_probes(),
        probe_args: options.probe_args,
        cleanup: options.cleanup,
        become_password: options.become_password,
        stall_timeout: STALL_TIMEOUT,
    };
    fan_out(connector, targets, plan, events).await
}

/// What the fan-out needs besides the transport.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Hosts audited at once (`--forks`).
    pub forks: usize,
    /// Everything one host may take (`--host-timeout`), unless the host sets its own.
    pub host_timeout: Duration,
    /// The probe binaries that can be uploaded (the embedded ones, but for tests).
    pub probes: &'static [EmbeddedProbe],
    pub probe_args: Vec<String>,
    pub cleanup: bool,
    pub become_password: Option<Arc<SecretString>>,
    /// See [`DeployOptions::stall_timeout`].
    pub stall_timeout: Duration,
}

/// Audits `targets` through `connector`, at most `plan.forks` at a time. Every target ends
/// in exactly one outcome, in the order given, whatever happens to the others.
pub async fn fan_out<C: Connector + Clone>(
    connector: C,
    targets: Vec<Target>,
    plan: Plan,
    events: mpsc::UnboundedSender<FleetEvent>,
) -> Vec<HostOutcome> {
    let _ = events.send(FleetEvent::Started {
        hosts: targets.len(),
    });
    let plan = Arc::new(plan);
    let slots = Arc::new(Semaphore::new(plan.forks.max(1)));
    let mut outcomes: Vec<Option<HostOutcome>> = vec![None; targets.len()];
    let mut tasks = JoinSet::new();
    let mut task_index = std::collections::HashMap::new();
    for (index, target) in targets.iter().cloned().enumerate() {
        let (plan, slots, events) = (plan.clone(), slots.clone(), events.clone());
        let connector = connector.clone();
        let handle = tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only fails if it were.
            let _slot = slots.acquire_owned().await.ok();
            let _ = events.send(FleetEvent::HostStarted {
                host: target.name.clone(),
            });
            let outcome = audit_host(&connector, &target, &plan, &events).await;
            let _ = events.send(FleetEvent::finished(&outcome));
            (index, outcome)
        });
        task_index.insert(handle.id(), index);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, (index, outcome))) => outcomes[index] = Some(outcome),
            Err(err) => {
                if let Some(&index) = task_index.get(&err.id()) {
                    let outcome =
                        internal_failure(&targets[index], format!("the audit task failed: {err}"));
                    let _ = events.send(FleetEvent::finished(&outcome));
                    outcomes[index] = Some(outcome);
                }
            }
        }
    }
    connector.finish().await;
    outcomes
        .into_iter()
        .zip(&targets)
        .map(|(outcome, target)| {
            outcome.unwrap_or_else(|| internal_failure(target, "the host was never audited".into()))
        })
        .collect()
}

/// The report's name for a transport failure.
fn connect_failure(kind: ConnectFailure) -> Failure {
    match kind {
        ConnectFailure::Unreachable => Failure::Unreachable,
        ConnectFailure::Timeout => Failure::Timeout,
        ConnectFailure::AuthFailed => Failure::AuthFailed,
        ConnectFailure::HostKeyUnknown => Failure::HostKeyUnknown,
        ConnectFailure::HostKeyChanged => Failure::HostKeyChanged,
    }
}

/// The progress phase of a connection step.
fn connect_phase(step: ConnectStep) -> Phase {
    match step {
        ConnectStep::Connecting => Phase::Connecting,
        ConnectStep::Authenticating => Phase::Authenticating,
    }
}

/// One host from connection to result, within the whole-host timeout.
async fn audit_host<C: Connector>(
    connector: &C,
    target: &Target,
    plan: &Plan,
    events: &mpsc::UnboundedSender<FleetEvent>,
) -> HostOutcome {
    let started = Instant::now();
    let route = &target.route;
    let host_timeout = target.host_timeout.unwrap_or(plan.host_timeout);
    let phase = |phase| {
        let _ = events.send(FleetEvent::HostPhase {
            host: target.name.clone(),
            phase,
        });
    };
    let work = async {
        let step = move |step| phase(connect_phase(step));
        let connection = match connector.connect(route, target.connect_timeout, step).await {
            Ok(connection) => connection,
            Err(err) => {
                return HostResult::Failed {
                    failure: connect_failure(err.kind),
                    message: err.message,
                    stderr_tail: None,
                };
            }
        };
        let deploy = DeployOptions {
            probes: plan.probes,
            probe_args: plan.probe_args.clone(),
            cleanup: plan.cleanup,
            become_password: plan.become_password.clone(),
            host: target.deploy.clone(),
            stall_timeout: plan.stall_timeout,
        };
        let result = deploy_and_run(&connection, &deploy, phase).await;
        connector.disconnect(connection).await;
        result
    };
    let result = tokio::time::timeout(host_timeout, work)
        .await
        .unwrap_or_else(|_| HostResult::Failed {
            failure: Failure::Timeout,
            message: format!(
                "the host did not finish within {}s (--host-timeout)",
                host_timeout.as_secs()
            ),
            stderr_tail: None,
        });
    HostOutcome {
        host: target.name.clone(),
        address: route.target.host.clone(),
        port: route.target.port,
        user: route.target.user.clone(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        result,
    }
}

/// An outcome for a host whose task died; there is no better-fitting failure than this.
fn internal_failure(target: &Target, message: String) -> HostOutcome {
    HostOutcome {
        host: target.name.clone(),
        address: target.route.target.host.clone(),
        port: target.route.target.port,
        user: target.route.target.user.clone(),
        elapsed_ms: 0,
        result: HostResult::Failed {
            failure: Failure::ProbeFailed,
            message: format!("internal error: {message}"),
            stderr_tail: None,
        },
    }
}

#[cfg(test)]
mod tests;
