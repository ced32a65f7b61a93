//! Bounded fan-out over the hosts of an inventory. Every target ends in exactly one
//! [`HostOutcome`], in inventory order, whatever happens to it (timeout, panic, refusal):
//! one bad host never loses the others' results. The executor never prints; it sends
//! [`FleetEvent`]s that reporters (progress bar, logs) turn into output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::cli::{ProbeArgs, SshArgs};
use secrecy::SecretString;

use crate::deploy::{DeployOptions, EmbeddedProbe, STALL_TIMEOUT, deploy_and_run, embedded_probes};
use crate::inventory::HostTarget;
use crate::outcome::{Failure, FleetEvent, HostOutcome, HostResult, Phase};
use crate::transport::{
    ConnectFailure, ConnectStep, Connector, Credentials, JumpPool, KnownHosts, PassphrasePrompt,
    Resolver, RusshConnector, SessionOptions, SshConfig, SshTarget, client_config,
};

/// A run that cannot start: its known_hosts or ssh config is unreadable.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    KnownHosts(std::io::Error),
    #[error("{0}")]
    SshConfig(std::io::Error),
}

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
    pub become_password: Option<Arc<SecretString>>,
}

impl FleetOptions {
    /// The options of a run from the command line. `prompt` asks for key passphrases
    /// (none without a terminal); `become_password` comes from `--ask-become-pass`.
    pub fn from_args(
        ssh: &SshArgs,
        probe: &ProbeArgs,
        prompt: Option<PassphrasePrompt>,
        become_password: Option<SecretString>,
    ) -> Result<Self, SetupError> {
        let home = std::env::var("HOME").unwrap_or_default();
        let user_ssh = (!home.is_empty()).then(|| std::path::Path::new(&home).join(".ssh"));
        let (files, write_to) = match &ssh.known_hosts {
            Some(file) => (vec![file.clone()], Some(file.clone())),
            None => {
                let user = user_ssh.as_ref().map(|dir| dir.join("known_hosts"));
                let mut files: Vec<_> = user.iter().cloned().collect();
                files.push("/etc/ssh/ssh_known_hosts".into());
                (files, user)
            }
        };
        let known_hosts = KnownHosts::load(&files, write_to).map_err(SetupError::KnownHosts)?;
        let config = match &ssh.ssh_config {
            Some(file) if file.as_os_str() == "none" => SshConfig::default(),
            Some(file) => SshConfig::load(file).map_err(SetupError::SshConfig)?,
            None => match &user_ssh {
                Some(dir) => SshConfig::load(&dir.join("config")).map_err(SetupError::SshConfig)?,
                None => SshConfig::default(),
            },
        };
        let local_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".into());
        Ok(Self {
            forks: ssh.forks,
            host_timeout: Duration::from_secs(ssh.host_timeout),
            session: Arc::new(SessionOptions {
                connect_timeout: Duration::from_secs(ssh.connect_timeout),
                known_hosts: Arc::new(known_hosts),
                accept_new_host_keys: ssh.accept_new_host_keys,
                credentials: Arc::new(Credentials::new(true, prompt)),
                ssh: Arc::new(client_config()),
                jumps: JumpPool::default(),
            }),
            resolver: Arc::new(Resolver {
                config,
                local_user,
                home,
                private_key: ssh.private_key.clone(),
            }),
            probe_args: probe_arguments(probe),
            cleanup: ssh.cleanup,
            become_password: become_password.map(Arc::new),
        })
    }
}

/// The SSH view of an inventory host.
pub fn ssh_target(host: &HostTarget) -> SshTarget {
    SshTarget {
        name: host.name.clone(),
        host: host.address.clone(),
        port: host.port,
        user: host.user.clone(),
        identity_files: host
            .private_key_file
            .iter()
            .map(|f| expand_home(f))
            .collect(),
        proxy_jump: host.proxy_jump.clone(),
        r#become: host.r#become,
        become_user: host.become_user.clone(),
        sudo: host.settings.sudo,
        connect_timeout: host.settings.connect_timeout,
        host_timeout: host.settings.host_timeout,
        cache_dir: host
            .settings
            .cache_dir
            .as_ref()
            .map(|dir| dir.display().to_string()),
    }
}

/// `~/key` as ssh and Ansible read it; other paths unchanged.
fn expand_home(path: &std::path::Path) -> std::path::PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// The probe's command line for `probe` (the same flags as the controller's).
pub fn probe_arguments(probe: &ProbeArgs) -> Vec<String> {
    let mut args = Vec::new();
    if probe.integrity {
        args.push("--integrity".to_string());
    }
    if let Some(pattern) = &probe.integrity_packages {
        args.extend(["--integrity-packages".to_string(), pattern.clone()]);
    }
    for regex in &probe.ignore {
        args.extend(["--ignore".to_string(), regex.clone()]);
    }
    if probe.no_default_ignores {
        args.push("--no-default-ignores".to_string());
    }
    args
}

/// Audits `targets` over SSH, at most `forks` at a time, sending progress on `events` (a
/// closed receiver is fine). Returns one outcome per target, in the order given. What the
/// setup skipped (known_hosts or ssh_config lines that are not UTF-8) goes out first as
/// [`FleetEvent::Warning`]s.
pub async fn audit_fleet(
    targets: Vec<SshTarget>,
    options: FleetOptions,
    events: mpsc::UnboundedSender<FleetEvent>,
) -> Vec<HostOutcome> {
    let setup_warnings = options.session.known_hosts.warnings().iter();
    for warning in setup_warnings.chain(options.resolver.config.warnings()) {
        let _ = events.send(FleetEvent::Warning(warning.clone()));
    }
    let connector = RusshConnector {
        session: options.session.clone(),
    };
    let plan = Plan {
        forks: options.forks,
        host_timeout: options.host_timeout,
        resolver: options.resolver,
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
    pub resolver: Arc<Resolver>,
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
    targets: Vec<SshTarget>,
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
    target: &SshTarget,
    plan: &Plan,
    events: &mpsc::UnboundedSender<FleetEvent>,
) -> HostOutcome {
    let started = Instant::now();
    let route = plan.resolver.route(target);
    let host_timeout = target
        .host_timeout
        .map_or(plan.host_timeout, Duration::from_secs);
    let connect_timeout = target.connect_timeout.map(Duration::from_secs);
    let phase = |phase| {
        let _ = events.send(FleetEvent::HostPhase {
            host: target.name.clone(),
            phase,
        });
    };
    let work = async {
        let step = move |step| phase(connect_phase(step));
        let connection = match connector.connect(&route, connect_timeout, step).await {
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
            become_user: target.become_user.clone().unwrap_or_else(|| "root".into()),
            escalate: target.sudo != Some(false),
            become_required: target.r#become,
            cache_dir: target.cache_dir.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_hosts_keep_their_ssh_settings() {
        let host = HostTarget {
            name: "web1".into(),
            address: Some("10.0.0.1".into()),
            port: Some(2200),
            user: Some("ops".into()),
            private_key_file: Some("/keys/web".into()),
            r#become: true,
            become_user: Some("admin".into()),
            proxy_jump: Some("bastion".into()),
            groups: vec!["all".into()],
            settings: crate::inventory::PatchgapVars {
                sudo: Some(false),
                connect_timeout: Some(3),
                host_timeout: Some(30),
                cache_dir: Some("/opt/patchgap".into()),
                ..Default::default()
            },
        };
        assert_eq!(
            ssh_target(&host),
            SshTarget {
                name: "web1".into(),
                host: Some("10.0.0.1".into()),
                port: Some(2200),
                user: Some("ops".into()),
                identity_files: vec!["/keys/web".into()],
                proxy_jump: Some("bastion".into()),
                r#become: true,
                become_user: Some("admin".into()),
                sudo: Some(false),
                connect_timeout: Some(3),
                host_timeout: Some(30),
                cache_dir: Some("/opt/patchgap".into()),
            }
        );
    }

    /// Regression: a known_hosts or ssh_config line that is not UTF-8 aborted the run; now
    /// it is skipped and the user is told through the run's events.
    #[test]
    fn setup_warnings_reach_the_event_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let known = dir.path().join("known_hosts");
        std::fs::write(&known, b"bad\xff line\n").expect("write");
        let config = dir.path().join("config");
        std::fs::write(&config, b"Host *\n  User \xff\n").expect("write");
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "patchgap".as_ref(),
            "audit".as_ref(),
            "--known-hosts".as_ref(),
            known.as_os_str(),
            "--ssh-config".as_ref(),
            config.as_os_str(),
        ])
        .expect("command line");
        let crate::cli::Command::Audit(audit) = cli.command;
        let options = FleetOptions::from_args(&audit.ssh, &ProbeArgs::default(), None, None)
            .expect("bad bytes do not fail the run");
        let (events, mut received) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let outcomes = runtime.block_on(audit_fleet(Vec::new(), options, events));
        assert!(outcomes.is_empty());
        let mut warnings = Vec::new();
        while let Ok(event) = received.try_recv() {
            if let FleetEvent::Warning(message) = event {
                warnings.push(message);
            }
        }
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("known_hosts") && warnings[0].contains("line 1"));
        assert!(warnings[1].contains("ssh config") && warnings[1].contains("line 2"));
    }

    #[test]
    fn probe_flags_pass_through() {
        let probe = ProbeArgs {
            integrity: true,
            integrity_packages: Some("libssl*".into()),
            ignore: vec!["^/opt/".into(), "x y".into()],
            no_default_ignores: true,
            show_ignored: true,
        };
        assert_eq!(
            probe_arguments(&probe),
            [
                "--integrity",
                "--integrity-packages",
                "libssl*",
                "--ignore",
                "^/opt/",
                "--ignore",
                "x y",
                "--no-default-ignores"
            ]
        );
    }
}

#[cfg(test)]
#[path = "fan_out_tests.rs"]
mod fan_out_tests;
