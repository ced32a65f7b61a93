//! One remote command on an SSH exec channel, as the deploy exchange sees it: a stdin that
//! is written concurrently with everything else, and a stream of [`ExecEvent`]s (stdout,
//! stderr, exit status, end of output).
//!
//! Splitting the channel is what keeps a host that stops reading from hanging the
//! controller: a write that waits for the host's SSH window runs beside the reads, so the
//! host's error line and its close are still seen, and the write is dropped. The traits
//! are the seam that lets the exchange be tested against an in-memory host.

use std::future::Future;

use russh::ChannelMsg;
use russh::client::Msg;
use tokio::io::AsyncWrite;

use super::Connection;

/// What the remote command sends back, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The command exited with this status.
    Exited(u32),
    /// The command was killed by this signal (`TERM`, `KILL`, ...).
    Signaled(String),
    /// The host will send no more output (it may still send the exit status).
    Eof,
}

/// A running remote command.
pub trait ExecChannel: Send {
    /// Writes the command's stdin; shutting it down sends EOF.
    type Stdin: AsyncWrite + Unpin + Send + 'static;

    /// A writer for the command's stdin, independent of reads and of [`Self::close`].
    fn stdin(&self) -> Self::Stdin;

    /// The next event; `None` once the channel is closed (by either side, or because the
    /// connection is gone).
    fn recv(&mut self) -> impl Future<Output = Option<ExecEvent>> + Send;

    /// Asks the host to close the channel (the command gets SIGPIPE/EOF); events already
    /// in flight may still arrive.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// Something that runs commands: an SSH connection, or a fake host in tests.
pub trait Exec: Sync {
    type Channel: ExecChannel;

    /// Starts `command` through the host's login shell; `Err` says why it could not.
    fn exec(&self, command: &str) -> impl Future<Output = Result<Self::Channel, String>> + Send;

    /// Whether the connection itself is gone (the host went down, or stopped answering
    /// keepalives), as opposed to one command ending.
    fn is_closed(&self) -> bool;
}

/// The russh exec channel, split so that writes never block reads.
pub struct RusshExec {
    read: russh::ChannelReadHalf,
    write: russh::ChannelWriteHalf<Msg>,
}

impl ExecChannel for RusshExec {
    type Stdin = Box<dyn AsyncWrite + Unpin + Send>;

    fn stdin(&self) -> Self::Stdin {
        Box::new(self.write.make_writer())
    }

    async fn recv(&mut self) -> Option<ExecEvent> {
        loop {
            let event = match self.read.wait().await? {
                ChannelMsg::Data { data } => ExecEvent::Stdout(data.to_vec()),
                ChannelMsg::ExtendedData { data, ext: 1 } => ExecEvent::Stderr(data.to_vec()),
                ChannelMsg::ExitStatus { exit_status } => ExecEvent::Exited(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    ExecEvent::Signaled(format!("{signal_name:?}"))
                }
                ChannelMsg::Eof => ExecEvent::Eof,
                ChannelMsg::Close => return None,
                _ => continue,
            };
            return Some(event);
        }
    }

    async fn close(&mut self) {
        let _ = self.write.close().await;
    }
}

impl Exec for Connection {
    type Channel = RusshExec;

    async fn exec(&self, command: &str) -> Result<RusshExec, String> {
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|err| format!("cannot open an SSH session channel: {err}"))?;
        if let Err(err) = channel.exec(true, command).await {
            let _ = channel.close().await;
            return Err(format!("the host refused to run a command: {err}"));
        }
        let (read, write) = channel.split();
        Ok(RusshExec { read, write })
    }

    fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}
