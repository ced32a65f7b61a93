//! This machine behind the transport seam: `exec` runs the command with `/bin/sh -c` as a
//! child process, so `patchgap restart` without an inventory goes through the very engine
//! (deploy script, privilege path, restarts, re-probe) that a fleet campaign uses over SSH.

use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

use super::connector::Connector;
use super::exec::{Exec, ExecChannel, ExecEvent};
use super::session::{ConnectError, ConnectStep};
use super::target::Route;

/// Connects to this machine: every "connection" runs local processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalConnector;

/// This machine, running commands.
#[derive(Debug, Default)]
pub struct LocalHost;

impl Connector for LocalConnector {
    type Connection = LocalHost;

    async fn connect(
        &self,
        _route: &Route,
        _connect_timeout: Option<Duration>,
        _step: impl FnMut(ConnectStep) + Send,
    ) -> Result<LocalHost, ConnectError> {
        Ok(LocalHost)
    }

    async fn disconnect(&self, _connection: LocalHost) {}

    async fn finish(&self) {}
}

/// A local command: its output arrives as [`ExecEvent`]s from a reader task.
pub struct LocalChannel {
    events: mpsc::UnboundedReceiver<ExecEvent>,
    stdin: Mutex<Option<ChildStdin>>,
    kill: Option<oneshot::Sender<()>>,
}

impl Exec for LocalHost {
    type Channel = LocalChannel;

    async fn exec(&self, command: &str) -> Result<LocalChannel, String> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot run /bin/sh on this machine: {err}"))?;
        let stdin = child.stdin.take();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (kill, killed) = oneshot::channel();
        tokio::spawn(follow(child, events_tx, killed));
        Ok(LocalChannel {
            events,
            stdin: Mutex::new(stdin),
            kill: Some(kill),
        })
    }

    fn is_closed(&self) -> bool {
        false
    }
}

/// Forwards the child's output, then its exit, until it ends or is killed.
async fn follow(
    mut child: Child,
    events: mpsc::UnboundedSender<ExecEvent>,
    killed: oneshot::Receiver<()>,
) {
    let stdout = pump(child.stdout.take(), events.clone(), ExecEvent::Stdout);
    let stderr = pump(child.stderr.take(), events.clone(), ExecEvent::Stderr);
    let run = async {
        tokio::join!(stdout, stderr);
        child.wait().await
    };
    let status = tokio::select! {
        status = run => status,
        _ = killed => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    let _ = events.send(ExecEvent::Eof);
    if let Ok(status) = status {
        use std::os::unix::process::ExitStatusExt as _;
        let event = match (status.code(), status.signal()) {
            (Some(code), _) => ExecEvent::Exited(u32::try_from(code).unwrap_or(255)),
            (None, Some(signal)) => ExecEvent::Signaled(signal.to_string()),
            (None, None) => return,
        };
        let _ = events.send(event);
    }
}

async fn pump(
    stream: Option<impl AsyncRead + Unpin>,
    events: mpsc::UnboundedSender<ExecEvent>,
    wrap: fn(Vec<u8>) -> ExecEvent,
) {
    let Some(mut stream) = stream else { return };
    let mut buffer = vec![0u8; 32 * 1024];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 || events.send(wrap(buffer[..n].to_vec())).is_err() {
            return;
        }
    }
}

impl ExecChannel for LocalChannel {
    type Stdin = Box<dyn AsyncWrite + Unpin + Send>;

    fn stdin(&self) -> Self::Stdin {
        match self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(stdin) => Box::new(stdin),
            None => Box::new(tokio::io::sink()),
        }
    }

    async fn recv(&mut self) -> Option<ExecEvent> {
        self.events.recv().await
    }

    async fn close(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;

    use super::*;

    #[tokio::test]
    async fn a_local_command_reads_stdin_and_reports_output_and_status() {
        let mut channel = LocalHost
            .exec("cat; echo oops >&2; exit 3")
            .await
            .expect("exec");
        let mut stdin = channel.stdin();
        stdin.write_all(b"hello\n").await.expect("write");
        stdin.shutdown().await.expect("eof");
        drop(stdin);
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        while let Some(event) = channel.recv().await {
            match event {
                ExecEvent::Stdout(data) => stdout.extend(data),
                ExecEvent::Stderr(data) => stderr.extend(data),
                ExecEvent::Exited(code) => status = Some(code),
                _ => {}
            }
        }
        assert_eq!(stdout, b"hello\n");
        assert_eq!(stderr, b"oops\n");
        assert_eq!(status, Some(3));
    }

    #[tokio::test]
    async fn closing_kills_the_command() {
        let mut channel = LocalHost.exec("exec sleep 3600").await.expect("exec");
        channel.close().await;
        let mut ended = None;
        while let Some(event) = channel.recv().await {
            if let ExecEvent::Signaled(signal) = event {
                ended = Some(signal);
            }
        }
        assert_eq!(ended.as_deref(), Some("9"), "killed with SIGKILL");
    }
}
