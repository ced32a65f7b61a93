//! One command on a host, for a campaign: `systemctl restart`, `systemctl show`,
//! `journalctl`, health checks. It takes the audit's own way onto the host: the deploy
//! bootstrap (the script travels on stdin, so the login shell never parses it) and the
//! deploy options' privilege path (root as is, else `sudo -n`, or `sudo -S` with the
//! `--ask-become-pass` password), so a host that the audit reaches as root is restarted
//! as root the same way.
//!
//! The command's own stdin is `/dev/null`: the password that may follow the script on
//! stdin is for sudo alone, never for a health command.

use secrecy::ExposeSecret as _;
use tokio::io::AsyncWriteExt as _;
use zeroize::Zeroizing;

use crate::deploy::{BOOTSTRAP, DeployOptions, Escalation, shell_quote};
use crate::transport::{Exec, ExecChannel, ExecEvent};

/// Bytes of stdout and of stderr kept from one command.
const MAX_OUTPUT: usize = 256 * 1024;

/// As whom a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    /// Root, through the deploy options' privilege path.
    Root,
    /// The login user.
    Login,
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The exit status; `None` when the channel closed without one.
    pub status: Option<u32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Why the command failed, for a person: the status and the end of stderr.
    pub fn failure(&self) -> String {
        let status = match self.status {
            Some(status) => format!("exited with status {status}"),
            None => "ended without an exit status".to_string(),
        };
        let stderr = self.stderr.trim();
        if stderr.is_empty() {
            status
        } else {
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("{status}: {}", tail.join(" / "))
        }
    }
}

/// Runs the command as the first argument, under sudo when asked and not root already.
const SCRIPT: &str = r#"set -u
mode=$1 user=$2 cmd=$3
inner='exec </dev/null; eval "$1"'
if [ "$mode" = login ] || [ "$(id -u)" = 0 ]; then exec /bin/sh -c "$inner" patchgap "$cmd"; fi
case $mode in
  sudo-n) exec sudo -n -u "$user" /bin/sh -c "$inner" patchgap "$cmd" ;;
  sudo-S) exec sudo -S -p '' -u "$user" /bin/sh -c "$inner" patchgap "$cmd" ;;
  *) exec /bin/sh -c "$inner" patchgap "$cmd" ;;
esac
"#;

/// The bootstrap's stdin for `command`: length line, arguments, script.
fn script(options: &DeployOptions, who: As, command: &str) -> (Vec<u8>, bool) {
    let escalation = options.escalation();
    let mode = match (who, escalation) {
        (As::Login, _) | (As::Root, Escalation::None) => "login",
        (As::Root, Escalation::SudoNoPassword) => "sudo-n",
        (As::Root, Escalation::SudoPassword) => "sudo-S",
    };
    let mut text = format!(
        "set -- {} {} {}\n",
        shell_quote(mode),
        shell_quote(&options.host.become_user),
        shell_quote(command)
    );
    text.push_str(SCRIPT);
    let mut stdin = format!("{}\n", text.len()).into_bytes();
    stdin.extend_from_slice(text.as_bytes());
    (stdin, mode == "sudo-S")
}

/// Runs `command` on `host`; `Err` when it could not start or the connection was lost.
pub async fn run(
    host: &impl Exec,
    options: &DeployOptions,
    who: As,
    command: &str,
) -> Result<Output, String> {
    let (stdin_bytes, send_password) = script(options, who, command);
    let mut channel = host.exec(BOOTSTRAP).await?;
    let mut stdin = channel.stdin();
    // A few KiB: within any SSH window. A host that does not take them is seen when its
    // channel ends (or by the host timeout), so write errors are not fatal here.
    let written = async {
        stdin.write_all(&stdin_bytes).await?;
        if let (true, Some(password)) = (send_password, &options.become_password) {
            let line = Zeroizing::new(format!("{}\n", password.expose_secret()));
            stdin.write_all(line.as_bytes()).await?;
        }
        stdin.shutdown().await
    };
    let _ = written.await;
    let mut output = Output::default();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(event) = channel.recv().await {
        match event {
            ExecEvent::Stdout(data) => keep(&mut stdout, &data),
            ExecEvent::Stderr(data) => keep(&mut stderr, &data),
            ExecEvent::Exited(status) => output.status = Some(status),
            ExecEvent::Signaled(signal) => {
                stderr.extend_from_slice(format!("killed by signal {signal}").as_bytes());
            }
            ExecEvent::Eof => {}
        }
    }
    if output.status.is_none() && host.is_closed() {
        return Err(
            "the connection to the host was lost (it went down, or stopped answering \
                    SSH keepalives)"
                .to_string(),
        );
    }
    output.stdout = String::from_utf8_lossy(&stdout).into_owned();
    output.stderr = String::from_utf8_lossy(&stderr).into_owned();
    Ok(output)
}

fn keep(buffer: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(buffer.len());
    buffer.extend_from_slice(&data[..data.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::AsyncReadExt as _;

    use super::*;
    use crate::deploy::{HostDeploy, STALL_TIMEOUT};
    use crate::transport::fake::FakeHost;

    pub fn options(password: Option<&str>) -> DeployOptions {
        DeployOptions {
            probes: &[],
            probe_args: Vec::new(),
            cleanup: false,
            become_password: password.map(|p| Arc::new(p.to_string().into())),
            host: HostDeploy::default(),
            stall_timeout: STALL_TIMEOUT,
        }
    }

    #[tokio::test]
    async fn the_command_goes_on_stdin_through_the_privilege_path() {
        let host = FakeHost::default();
        let mut remote = host.push_channel(1 << 16);
        remote.say("ok\n");
        remote.send(ExecEvent::Stderr(b"warn\n".to_vec()));
        remote.exit(3);
        let out = run(
            &host,
            &options(Some("s3cret")),
            As::Root,
            "systemctl restart -- 'a.service'",
        )
        .await
        .expect("ran");
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, "ok\n");
        assert_eq!(out.failure(), "exited with status 3: warn");
        assert_eq!(host.commands(), [BOOTSTRAP]);
        let mut sent = String::new();
        remote.stdin.read_to_string(&mut sent).await.expect("stdin");
        let (length, rest) = sent.split_once('\n').expect("length line");
        let length: usize = length.parse().expect("length");
        let (script, after) = rest.split_at(length);
        assert!(
            script.starts_with(r"set -- 'sudo-S' 'root' 'systemctl restart -- '\''a.service'\'''"),
            "{script}"
        );
        assert_eq!(
            after, "s3cret\n",
            "the password follows the script, for sudo -S"
        );
    }

    #[tokio::test]
    async fn the_login_user_gets_no_password_and_a_lost_host_is_an_error() {
        let host = FakeHost::default();
        let mut remote = host.push_channel(1 << 16);
        remote.exit(0);
        run(&host, &options(Some("s3cret")), As::Login, "true")
            .await
            .expect("ran");
        let mut sent = String::new();
        remote.stdin.read_to_string(&mut sent).await.expect("stdin");
        assert!(sent.contains("set -- 'login'"), "{sent}");
        assert!(!sent.contains("s3cret"));
        let mut remote = host.push_channel(1 << 16);
        remote.hang_up();
        host.lost.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = run(&host, &options(None), As::Root, "true")
            .await
            .expect_err("lost");
        assert!(err.contains("connection to the host was lost"), "{err}");
    }
}
