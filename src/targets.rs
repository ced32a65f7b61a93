//! The one resolution step from what the user wrote to what the fleet runs: the command
//! line and the local environment (HOME, USER, `~/.ssh`) become the run's
//! [`FleetOptions`], and each inventory [`HostTarget`] becomes a transport [`SshTarget`].
//! Only this module reads the environment and `crate::cli` for a fleet run; the fleet
//! receives ready targets and options.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::cli::{ProbeArgs, SshArgs};
use crate::fleet::FleetOptions;
use crate::inventory::HostTarget;
use crate::transport::{
    Credentials, JumpPool, KnownHosts, PassphrasePrompt, Resolver, SessionOptions, SshConfig,
    SshTarget, client_config,
};

/// A run that cannot start: its known_hosts or ssh config is unreadable.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    KnownHosts(std::io::Error),
    #[error("{0}")]
    SshConfig(std::io::Error),
}

/// What the resolution takes from the local user's environment, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalEnv {
    /// `HOME`, when set (`~` in key paths expands to it).
    pub home: Option<PathBuf>,
    /// The login name for hosts that name no user (`USER`, then `LOGNAME`, then root).
    pub user: String,
}

impl LocalEnv {
    /// The environment of this process.
    pub fn from_process() -> Self {
        Self {
            home: std::env::var_os("HOME").map(PathBuf::from),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "root".into()),
        }
    }

    /// `HOME` as text ("" when unset or not UTF-8), as ssh_config tokens use it.
    fn home_text(&self) -> String {
        self.home
            .as_deref()
            .and_then(Path::to_str)
            .unwrap_or_default()
            .to_string()
    }
}

/// The options of a run from the command line. `prompt` asks for key passphrases (none
/// without a terminal); `become_password` comes from `--ask-become-pass`.
pub fn fleet_options(
    ssh: &SshArgs,
    probe: &ProbeArgs,
    prompt: Option<PassphrasePrompt>,
    become_password: Option<SecretString>,
    env: &LocalEnv,
) -> Result<FleetOptions, SetupError> {
    let home = env.home_text();
    let user_ssh = (!home.is_empty()).then(|| Path::new(&home).join(".ssh"));
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
    Ok(FleetOptions {
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
            local_user: env.user.clone(),
            home,
            private_key: ssh.private_key.clone(),
        }),
        probe_args: probe_arguments(probe),
        cleanup: ssh.cleanup,
        become_password: become_password.map(Arc::new),
    })
}

/// The SSH view of an inventory host.
pub fn ssh_target(host: &HostTarget, env: &LocalEnv) -> SshTarget {
    SshTarget {
        name: host.name.clone(),
        host: host.address.clone(),
        port: host.port,
        user: host.user.clone(),
        identity_files: host
            .private_key_file
            .iter()
            .map(|f| expand_home(f, env))
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
fn expand_home(path: &Path, env: &LocalEnv) -> PathBuf {
    match (path.strip_prefix("~"), &env.home) {
        (Ok(rest), Some(home)) => home.join(rest),
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

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::outcome::FleetEvent;

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
            ssh_target(&host, &LocalEnv::default()),
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
        let crate::cli::Command::Audit(audit) = cli.command else {
            panic!("an audit command line");
        };
        let env = LocalEnv::default();
        let options = fleet_options(&audit.ssh, &ProbeArgs::default(), None, None, &env)
            .expect("bad bytes do not fail the run");
        let (events, mut received) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let outcomes = runtime.block_on(crate::fleet::audit_fleet(Vec::new(), options, events));
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

    /// `~` in an inventory key path is the HOME the resolution was given (not whatever the
    /// process environment says), and the local user fills in hosts that name none.
    #[test]
    fn the_given_environment_is_the_one_used() {
        let env = LocalEnv {
            home: Some("/home/op".into()),
            user: "op".into(),
        };
        let host = HostTarget {
            name: "web1".into(),
            address: None,
            port: None,
            user: None,
            private_key_file: Some("~/.ssh/web".into()),
            r#become: false,
            become_user: None,
            proxy_jump: None,
            groups: vec!["all".into()],
            settings: crate::inventory::PatchgapVars::default(),
        };
        let target = ssh_target(&host, &env);
        assert_eq!(target.identity_files, [PathBuf::from("/home/op/.ssh/web")]);
        let unexpanded = ssh_target(&host, &LocalEnv::default());
        assert_eq!(unexpanded.identity_files, [PathBuf::from("~/.ssh/web")]);
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "patchgap",
            "audit",
            "--known-hosts",
            "/nonexistent/known_hosts",
            "--ssh-config",
            "none",
        ])
        .expect("command line");
        let crate::cli::Command::Audit(audit) = cli.command else {
            panic!("an audit command line");
        };
        let options =
            fleet_options(&audit.ssh, &ProbeArgs::default(), None, None, &env).expect("options");
        let route = options.resolver.route(&target);
        assert_eq!(route.target.user, "op");
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
