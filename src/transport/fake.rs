//! An in-memory host for tests of everything above the transport: each `exec` hands out the
//! next scripted channel, and the test plays the host's side through a [`Remote`]: the
//! events it sends back, and a stdin pipe it may read, or never read, like a host that
//! stopped taking input. [`FakeConnector`] is a network of such hosts (or of failures)
//! for the fleet's fan-out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWrite, DuplexStream};
use tokio::sync::mpsc;

use super::connector::Connector;
use super::exec::{Exec, ExecChannel, ExecEvent};
use super::session::{ConnectError, ConnectFailure, ConnectStep};
use super::target::Route;

/// A fake host: the channels its commands get, in order, and the commands it was given.
#[derive(Default)]
pub struct FakeHost {
    channels: Mutex<VecDeque<FakeChannel>>,
    commands: Mutex<Vec<String>>,
    /// Set by the test: the connection is gone.
    pub lost: std::sync::atomic::AtomicBool,
}

impl FakeHost {
    /// Adds a channel for the next command; `stdin_buffer` is how many bytes the host's
    /// stdin pipe holds before a write waits for the host to read.
    pub fn push_channel(&self, stdin_buffer: usize) -> Remote {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (controller_end, host_end) = tokio::io::duplex(stdin_buffer);
        let closed = Arc::new(Mutex::new(false));
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(FakeChannel {
                events,
                stdin: Mutex::new(Some(controller_end)),
                closed: closed.clone(),
            });
        Remote {
            events: Some(events_tx),
            stdin: host_end,
            closed,
        }
    }

    /// The commands run so far.
    pub fn commands(&self) -> Vec<String> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Exec for FakeHost {
    type Channel = FakeChannel;

    async fn exec(&self, command: &str) -> Result<FakeChannel, String> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(command.to_string());
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .ok_or_else(|| "the fake host has no channel for this command".to_string())
    }

    fn is_closed(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The controller's end of a fake exec channel.
pub struct FakeChannel {
    events: mpsc::UnboundedReceiver<ExecEvent>,
    stdin: Mutex<Option<DuplexStream>>,
    closed: Arc<Mutex<bool>>,
}

impl ExecChannel for FakeChannel {
    type Stdin = Box<dyn AsyncWrite + Unpin + Send>;

    fn stdin(&self) -> Self::Stdin {
        match self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(pipe) => Box::new(pipe),
            None => Box::new(tokio::io::sink()),
        }
    }

    async fn recv(&mut self) -> Option<ExecEvent> {
        self.events.recv().await
    }

    async fn close(&mut self) {
        *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }
}

/// The host's end of a fake exec channel.
pub struct Remote {
    events: Option<mpsc::UnboundedSender<ExecEvent>>,
    /// What the controller wrote on the command's stdin.
    pub stdin: DuplexStream,
    closed: Arc<Mutex<bool>>,
}

impl Remote {
    /// Sends an event to the controller (ignored once the channel is closed).
    pub fn send(&self, event: ExecEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    /// Sends `text` on stdout.
    pub fn say(&self, text: &str) {
        self.send(ExecEvent::Stdout(text.as_bytes().to_vec()));
    }

    /// The command exits with `status` and the channel closes.
    pub fn exit(&mut self, status: u32) {
        self.send(ExecEvent::Exited(status));
        self.send(ExecEvent::Eof);
        self.hang_up();
    }

    /// The channel closes: the controller's `recv` ends after the events already sent.
    pub fn hang_up(&mut self) {
        self.events = None;
    }

    /// Whether the controller asked to close the channel.
    pub fn closed(&self) -> bool {
        *self.closed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a [`FakeConnector`] does when asked for one host.
pub enum FakeTarget {
    /// Connects, after `delay`, to this host.
    Host { delay: Duration, host: FakeHost },
    /// Refuses the connection, after `delay`.
    Fail {
        delay: Duration,
        error: ConnectError,
    },
    /// Never answers: the connection attempt waits forever.
    Hang,
    /// The connection attempt panics.
    Panic,
}

/// A fake network: [`FakeTarget`]s per host address (the route's target host), one per
/// connection, in order (a host that reboots is several connections), and counts of what
/// the fan-out did with them.
#[derive(Default)]
pub struct FakeConnector {
    targets: Mutex<HashMap<String, VecDeque<FakeTarget>>>,
    /// Connection attempts in progress or connected, and the most there ever were.
    busy: AtomicUsize,
    pub most_busy: AtomicUsize,
    /// Connections ended by `disconnect`, and calls of `finish`.
    pub disconnected: AtomicUsize,
    pub finished: AtomicUsize,
}

impl FakeConnector {
    /// Sets what the next connection to `address` not yet scripted does.
    pub fn add(&self, address: &str, target: FakeTarget) {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(address.to_string())
            .or_default()
            .push_back(target);
    }
}

/// A connection of a [`FakeConnector`]: its host, busy until it is dropped.
pub struct FakeConnection {
    host: FakeHost,
    _busy: Busy,
}

impl Exec for FakeConnection {
    type Channel = FakeChannel;

    async fn exec(&self, command: &str) -> Result<FakeChannel, String> {
        self.host.exec(command).await
    }

    fn is_closed(&self) -> bool {
        self.host.is_closed()
    }
}

/// One unit of [`FakeConnector`]'s busy count, from the connection attempt until the
/// attempt fails, is cancelled (timeout) or its connection is dropped.
struct Busy(Arc<FakeConnector>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connector for Arc<FakeConnector> {
    type Connection = FakeConnection;

    async fn connect(
        &self,
        route: &Route,
        _connect_timeout: Option<Duration>,
        mut step: impl FnMut(ConnectStep) + Send,
    ) -> Result<FakeConnection, ConnectError> {
        step(ConnectStep::Connecting);
        let now = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_busy.fetch_max(now, Ordering::SeqCst);
        let busy = Busy(self.clone());
        let target = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&route.target.host)
            .and_then(VecDeque::pop_front);
        match target {
            Some(FakeTarget::Host { delay, host }) => {
                tokio::time::sleep(delay).await;
                step(ConnectStep::Authenticating);
                Ok(FakeConnection { host, _busy: busy })
            }
            Some(FakeTarget::Fail { delay, error }) => {
                tokio::time::sleep(delay).await;
                Err(error)
            }
            Some(FakeTarget::Hang) => std::future::pending().await,
            Some(FakeTarget::Panic) => {
                panic!("the fake connector panics for {}", route.target.host)
            }
            None => Err(ConnectError::new(
                ConnectFailure::Unreachable,
                format!("the fake network has no host {}", route.target.host),
            )),
        }
    }

    async fn disconnect(&self, connection: FakeConnection) {
        self.disconnected.fetch_add(1, Ordering::SeqCst);
        drop(connection);
    }

    async fn finish(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}
