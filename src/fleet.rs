//! Bounded fan-out over the hosts of an inventory. Every target ends in exactly one
//! [`HostOutcome`], in inventory order, whatever happens to it (timeout, panic, refusal):
//! one bad host never loses the others' results. The executor never prints; it sends
//! [`FleetEvent`]s that reporters (progress bar, logs) turn into output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::deploy::{DeployOptions, Validator, deploy_and_run};
use crate::outcome::{Failure, FleetEvent, HostOutcome, HostResult};
use crate::transport::{Resolver, SessionOptions, SshTarget, connect};

/// What every host of a run shares.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Hosts audited at once (`--forks`).
    pub forks: usize,
    /// Everything one host may take (`--host-timeout`).
    pub host_timeout: Duration,
    pub session: Arc<SessionOptions>,
    pub resolver: Arc<Resolver>,
    pub probe_args: Vec<String>,
    pub cleanup: bool,
    pub become_password: Option<String>,
    pub validate: Validator,
}

/// Audits `targets`, at most `forks` at a time, sending progress on `events` (a closed
/// receiver is fine). Returns one outcome per target, in the order given.
pub async fn audit_fleet(
    targets: Vec<SshTarget>,
    options: FleetOptions,
    events: mpsc::UnboundedSender<FleetEvent>,
) -> Vec<HostOutcome> {
    let _ = events.send(FleetEvent::Started {
        hosts: targets.len(),
    });
    let options = Arc::new(options);
    let slots = Arc::new(Semaphore::new(options.forks.max(1)));
    let mut outcomes: Vec<Option<HostOutcome>> = vec![None; targets.len()];
    let mut tasks = JoinSet::new();
    let mut task_index = std::collections::HashMap::new();
    for (index, target) in targets.iter().cloned().enumerate() {
        let (options, slots, events) = (options.clone(), slots.clone(), events.clone());
        let handle = tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only fails if it were.
            let _slot = slots.acquire_owned().await.ok();
            let _ = events.send(FleetEvent::HostStarted {
                host: target.name.clone(),
            });
            let outcome = audit_host(&target, &options, &events).await;
            let _ = events.send(FleetEvent::HostFinished(Box::new(outcome.clone())));
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
                    let _ = events.send(FleetEvent::HostFinished(Box::new(outcome.clone())));
                    outcomes[index] = Some(outcome);
                }
            }
        }
    }
    outcomes
        .into_iter()
        .zip(&targets)
        .map(|(outcome, target)| {
            outcome.unwrap_or_else(|| internal_failure(target, "the host was never audited".into()))
        })
        .collect()
}

/// One host from connection to result, within the whole-host timeout.
async fn audit_host(
    target: &SshTarget,
    options: &FleetOptions,
    events: &mpsc::UnboundedSender<FleetEvent>,
) -> HostOutcome {
    let started = Instant::now();
    let route = options.resolver.route(target);
    let phase = |phase| {
        let _ = events.send(FleetEvent::HostPhase {
            host: target.name.clone(),
            phase,
        });
    };
    let work = async {
        let connection = match connect(&route, &options.session, phase).await {
            Ok(connection) => connection,
            Err(err) => {
                return HostResult::Failed {
                    failure: err.failure,
                    message: err.message,
                    stderr_tail: None,
                };
            }
        };
        let deploy = DeployOptions {
            probe_args: options.probe_args.clone(),
            cleanup: options.cleanup,
            become_password: options.become_password.clone(),
            become_user: target.become_user.clone().unwrap_or_else(|| "root".into()),
            become_required: target.r#become,
            cache_dir: None,
            validate: options.validate,
        };
        let result = deploy_and_run(&connection, &deploy, phase).await;
        connection.close().await;
        result
    };
    let result = tokio::time::timeout(options.host_timeout, work)
        .await
        .unwrap_or_else(|_| HostResult::Failed {
            failure: Failure::Timeout,
            message: format!(
                "the host did not finish within {}s (--host-timeout)",
                options.host_timeout.as_secs()
            ),
            stderr_tail: None,
        });
    HostOutcome {
        host: target.name.clone(),
        address: route.target.host,
        port: route.target.port,
        user: route.target.user,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        result,
    }
}

/// An outcome for a host whose task died; there is no better-fitting failure than this.
fn internal_failure(target: &SshTarget, message: String) -> HostOutcome {
    HostOutcome {
        host: target.name.clone(),
        address: target.host.clone().unwrap_or_else(|| target.name.clone()),
        port: target.port.unwrap_or(22),
        user: target.user.clone().unwrap_or_default(),
        elapsed_ms: 0,
        result: HostResult::Failed {
            failure: Failure::ProbeFailed,
            message: format!("internal error: {message}"),
            stderr_tail: None,
        },
    }
}
