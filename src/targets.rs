//! The one resolution step from what the user wrote to what the fleet runs: the command
//! line and the local environment (HOME, USER, `~/.ssh`) become a [`RunSetup`] (the run's
//! [`FleetOptions`], the ssh-config [`Resolver`], and what the setup had to skip), and each
//! inventory [`HostTarget`] becomes a ready [`Target`]: its connection settings resolved
//! into a route, its deploy settings (sudo, cache directory) apart. Only this module reads
//! the environment and `crate::cli` for a fleet run; the fleet receives ready targets and
//! options.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::cli::{ProbeArgs, SshArgs};
use crate::deploy::HostDeploy;
use crate::fleet::{FleetOptions, Target};
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

/// Everything a run needs besides its hosts.
#[derive(Debug)]
pub struct RunSetup {
    /// What every host of the run shares.
    pub options: FleetOptions,
    /// Completes each host's connection settings from the ssh config.
    pub resolver: Resolver,
    /// known_hosts and ssh_config lines that were skipped (not UTF-8), in words: the run
    /// goes on without them, and the user is told (progress and report).
    pub warnings: Vec<String>,
}

impl RunSetup {
    /// The ready target of one inventory host.
    pub fn target(&self, host: &HostTarget, env: &LocalEnv) -> Target {
        Target {
            name: host.name.clone(),
            route: self.resolver.route(&ssh_target(host, env)),
            connect_timeout: host.settings.connect_timeout.map(Duration::from_secs),
            host_timeout: host.settings.host_timeout.map(Duration::from_secs),
            deploy: host_deploy(host),
        }
    }
}

/// The setup of a run from the command line. `prompt` asks for key passphrases (none
/// without a terminal); `become_password` comes from `--ask-become-pass`.
pub fn run_setup(
    ssh: &SshArgs,
    probe: &ProbeArgs,
    prompt: Option<PassphrasePrompt>,
    become_password: Option<SecretString>,
    env: &LocalEnv,
) -> Result<RunSetup, SetupError> {
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
    let warnings = known_hosts
        .warnings()
        .iter()
        .chain(config.warnings())
        .cloned()
        .collect();
    let options = FleetOptions {
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
        probe_args: probe_arguments(probe),
        cleanup: ssh.cleanup,
        become_password: become_password.map(Arc::new),
    };
    Ok(RunSetup {
        options,
        resolver: Resolver {
            config,
            local_user: env.user.clone(),
            home,
            private_key: ssh.private_key.clone(),
        },
        warnings,
    })
}

/// How the inventory says to run the probe on a host.
fn host_deploy(host: &HostTarget) -> HostDeploy {
    HostDeploy {
        become_user: host.become_user.clone().unwrap_or_else(|| "root".into()),
        escalate: host.settings.sudo != Some(false),
        become_required: host.r#become,
        cache_dir: host
            .settings
            .cache_dir
            .as_ref()
            .map(|dir| dir.display().to_string()),
    }
}

/// The connection settings of an inventory host.
fn ssh_target(host: &HostTarget, env: &LocalEnv) -> SshTarget {
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
    if probe.no_interpreters {
        args.push("--no-interpreters".to_string());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The setup of `patchgap audit ARGS...` (with `--known-hosts` and `--ssh-config` so
    /// nothing of the machine running the tests is read).
    fn setup(args: &[&std::ffi::OsStr], env: &LocalEnv) -> RunSetup {
        let mut line: Vec<&std::ffi::OsStr> = vec!["patchgap".as_ref(), "audit".as_ref()];
        line.extend(args);
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(line).expect("command line");
        let crate::cli::Command::Audit(audit) = cli.command else {
            panic!("an audit command line");
        };
        run_setup(&audit.ssh, &ProbeArgs::default(), None, None, env).expect("setup")
    }

    fn isolated(env: &LocalEnv) -> RunSetup {
        setup(
            &[
                "--known-hosts".as_ref(),
                "/nonexistent/known_hosts".as_ref(),
                "--ssh-config".as_ref(),
                "none".as_ref(),
            ],
            env,
        )
    }

    /// Connection settings go to the route, deploy settings apart, per-host timeouts
    /// override the run's.
    #[test]
    fn inventory_hosts_keep_their_settings() {
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
            }
        );
        let target = isolated(&LocalEnv::default()).target(&host, &LocalEnv::default());
        assert_eq!(target.name, "web1");
        assert_eq!(
            (target.route.target.host.as_str(), target.route.target.port),
            ("10.0.0.1", 2200)
        );
        assert_eq!(target.route.jumps[0].host, "bastion");
        assert_eq!(target.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(target.host_timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            target.deploy,
            HostDeploy {
                become_user: "admin".into(),
                escalate: false,
                become_required: true,
                cache_dir: Some("/opt/patchgap".into()),
            }
        );
    }

    /// Regression: a known_hosts or ssh_config line that is not UTF-8 aborted the run; now
    /// it is skipped and the setup says so, for the progress and the report.
    #[test]
    fn setup_warnings_name_the_skipped_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let known = dir.path().join("known_hosts");
        std::fs::write(&known, b"bad\xff line\n").expect("write");
        let config = dir.path().join("config");
        std::fs::write(&config, b"Host *\n  User \xff\n").expect("write");
        let warnings = setup(
            &[
                "--known-hosts".as_ref(),
                known.as_os_str(),
                "--ssh-config".as_ref(),
                config.as_os_str(),
            ],
            &LocalEnv::default(),
        )
        .warnings;
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
        let route = isolated(&env).target(&host, &env).route;
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
            no_interpreters: true,
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
                "--no-default-ignores",
                "--no-interpreters"
            ]
        );
    }
}
