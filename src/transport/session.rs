//! Opening an authenticated SSH session to a host, through its jump hosts if any: TCP with
//! nodelay, SSH keepalives, host-key checking on every hop, and failures classified for the
//! fleet report.
//!
//! A jump hop is an SSH session whose `direct-tcpip` channel carries the next hop's SSH
//! session, so no `ssh` binary is involved and each hop's host key is checked here. Jump
//! sessions are shared by all the targets behind them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::{Preferred, SshId};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use super::auth::Credentials;
use super::known_hosts::{HostKeyAlgorithms, HostKeyCheck, KnownHosts, fingerprint};
use super::target::{Endpoint, Route};

/// What every connection of a run shares.
#[derive(Debug)]
pub struct SessionOptions {
    pub connect_timeout: Duration,
    pub known_hosts: Arc<KnownHosts>,
    pub accept_new_host_keys: bool,
    pub credentials: Arc<Credentials>,
    pub ssh: Arc<client::Config>,
    /// Jump sessions shared by the run's targets.
    pub jumps: JumpPool,
}

/// The russh client configuration patchgap uses: nodelay (the exchange is many small
/// round trips) and keepalives so that a frozen host is noticed.
pub fn client_config() -> client::Config {
    client::Config {
        nodelay: true,
        keepalive_interval: Some(Duration::from_secs(10)),
        keepalive_max: 3,
        ..client::Config::default()
    }
}

/// `base` with the host key algorithms of one host: the types known_hosts records for it
/// first, and certificates when an `@cert-authority` line covers it (see
/// [`KnownHosts::host_key_algorithms`]). russh's `Config` is not `Clone`, hence the copy
/// field by field.
pub fn host_config(base: &client::Config, algorithms: HostKeyAlgorithms) -> client::Config {
    let client_id = match &base.client_id {
        SshId::Standard(id) => SshId::Standard(id.clone()),
        SshId::Raw(id) => SshId::Raw(id.clone()),
    };
    client::Config {
        client_id,
        limits: base.limits.clone(),
        window_size: base.window_size,
        maximum_packet_size: base.maximum_packet_size,
        channel_buffer_size: base.channel_buffer_size,
        preferred: Preferred {
            key: Cow::Owned(algorithms.keys),
            host_key_certificates: Cow::Owned(algorithms.certificates),
            ..base.preferred.clone()
        },
        inactivity_timeout: base.inactivity_timeout,
        keepalive_interval: base.keepalive_interval,
        keepalive_max: base.keepalive_max,
        anonymous: base.anonymous,
        gex: base.gex.clone(),
        nodelay: base.nodelay,
    }
}

/// Why a connection failed, in the transport's own terms; the fleet maps it onto the
/// report's `Failure` so that the transport does not depend on the report's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// No TCP connection, or no SSH handshake (refused, no route, DNS, jump host).
    Unreachable,
    /// The handshake or the authentication took longer than the connect timeout.
    Timeout,
    AuthFailed,
    /// The host key is not in known_hosts (or could not be recorded there).
    HostKeyUnknown,
    /// The host key differs from the one recorded, is revoked, or its certificate is bad.
    HostKeyChanged,
}

/// How far a connection got, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectStep {
    Connecting,
    Authenticating,
}

/// A host that could not be reached, authenticated to, or trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    pub kind: ConnectFailure,
    pub message: String,
}

impl ConnectError {
    pub fn new(kind: ConnectFailure, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// An authenticated session; keeps the jump sessions it runs through alive.
pub struct Connection {
    pub handle: Handle<HostKeyChecker>,
    _via: Option<Arc<Handle<HostKeyChecker>>>,
}

impl Connection {
    /// Ends the session politely so sshd frees its slot at once. Jump sessions are shared
    /// by the run and closed by [`JumpPool::close`].
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

type Chain = Result<Vec<Arc<Handle<HostKeyChecker>>>, ConnectError>;

/// Jump-host sessions shared by every target behind the same jumps: one SSH connection to
/// a bastion carries the `direct-tcpip` channels of all its targets, instead of one
/// handshake per target. A jump that fails fails each of its targets the same way.
#[derive(Default)]
pub struct JumpPool {
    chains: Mutex<HashMap<Vec<Endpoint>, Arc<OnceCell<Chain>>>>,
}

impl std::fmt::Debug for JumpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JumpPool").finish_non_exhaustive()
    }
}

impl JumpPool {
    /// The session of the last jump of `jumps`, connected on first use.
    async fn last_hop(
        &self,
        jumps: &[Endpoint],
        options: &SessionOptions,
    ) -> Result<Arc<Handle<HostKeyChecker>>, ConnectError> {
        let cell = {
            let mut chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
            chains.entry(jumps.to_vec()).or_default().clone()
        };
        let chain = cell
            .get_or_init(|| async {
                let mut chain: Vec<Arc<Handle<HostKeyChecker>>> = Vec::new();
                for hop in jumps {
                    let what = format!("jump host {}:{}", hop.host, hop.port);
                    let via = chain.last().map(|h| h.as_ref());
                    let timeout = options.connect_timeout;
                    let hop = open_hop(hop, via, options, timeout, &what, |_| {}).await?;
                    chain.push(Arc::new(hop));
                }
                Ok(chain)
            })
            .await;
        match chain {
            Ok(chain) => chain
                .last()
                .cloned()
                .ok_or_else(|| ConnectError::new(ConnectFailure::Unreachable, "empty jump chain")),
            Err(err) => Err(err.clone()),
        }
    }

    /// Disconnects every jump session, innermost first.
    pub async fn close(&self) {
        let cells: Vec<Arc<OnceCell<Chain>>> = {
            let chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
            chains.values().cloned().collect()
        };
        for cell in cells {
            if let Some(Ok(chain)) = cell.get() {
                for hop in chain.iter().rev() {
                    let _ = hop
                        .disconnect(russh::Disconnect::ByApplication, "", "en")
                        .await;
                }
            }
        }
    }
}

/// Connects along `route`, reporting the phase as it goes. `connect_timeout` is the
/// target's own (jump hosts use the run's).
pub async fn connect(
    route: &Route,
    options: &SessionOptions,
    connect_timeout: Duration,
    mut phase: impl FnMut(ConnectStep),
) -> Result<Connection, ConnectError> {
    phase(ConnectStep::Connecting);
    let via = if route.jumps.is_empty() {
        None
    } else {
        Some(options.jumps.last_hop(&route.jumps, options).await?)
    };
    let target = &route.target;
    let what = format!("{}:{}", target.host, target.port);
    let handle = open_hop(
        target,
        via.as_deref(),
        options,
        connect_timeout,
        &what,
        phase,
    )
    .await?;
    Ok(Connection { handle, _via: via })
}

/// One authenticated SSH session to `hop`, over TCP or over a `direct-tcpip` channel of
/// the session `via`. `what` names the hop in messages.
async fn open_hop(
    hop: &Endpoint,
    via: Option<&Handle<HostKeyChecker>>,
    options: &SessionOptions,
    connect_timeout: Duration,
    what: &str,
    mut phase: impl FnMut(ConnectStep),
) -> Result<Handle<HostKeyChecker>, ConnectError> {
    let (checker, refusal) = HostKeyChecker::new(hop, options);
    let config = Arc::new(host_config(
        &options.ssh,
        options.known_hosts.host_key_algorithms(&hop.host, hop.port),
    ));
    let handshake = async {
        match via {
            None => {
                let tcp = TcpStream::connect((hop.host.as_str(), hop.port))
                    .await
                    .map_err(|err| {
                        ConnectError::new(
                            ConnectFailure::Unreachable,
                            format!("cannot connect to {what}: {err}"),
                        )
                    })?;
                let _ = tcp.set_nodelay(true);
                client::connect_stream(config.clone(), tcp, checker).await
            }
            Some(previous) => {
                let channel = previous
                    .channel_open_direct_tcpip(
                        hop.host.clone(),
                        u32::from(hop.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|err| {
                        ConnectError::new(
                            ConnectFailure::Unreachable,
                            format!("the jump host could not reach {what}: {err}"),
                        )
                    })?;
                client::connect_stream(config.clone(), channel.into_stream(), checker).await
            }
        }
        .map_err(|err| {
            let refused = refusal.lock().unwrap_or_else(|e| e.into_inner()).take();
            refused.unwrap_or_else(|| {
                ConnectError::new(
                    ConnectFailure::Unreachable,
                    format!("ssh handshake with {what} failed: {err}"),
                )
            })
        })
    };
    let mut handle = tokio::time::timeout(connect_timeout, handshake)
        .await
        .map_err(|_| {
            ConnectError::new(
                ConnectFailure::Timeout,
                format!(
                    "no SSH handshake with {what} within {}s (--connect-timeout)",
                    connect_timeout.as_secs()
                ),
            )
        })??;
    phase(ConnectStep::Authenticating);
    let auth = options
        .credentials
        .authenticate(&mut handle, &hop.user, &hop.identity_files);
    tokio::time::timeout(connect_timeout, auth)
        .await
        .map_err(|_| {
            ConnectError::new(
                ConnectFailure::Timeout,
                format!(
                    "authentication on {what} took longer than {}s (--connect-timeout)",
                    connect_timeout.as_secs()
                ),
            )
        })?
        .map_err(|why| ConnectError::new(ConnectFailure::AuthFailed, format!("{what}: {why}")))?;
    Ok(handle)
}

/// The russh handler of one hop: checks the server's key against known_hosts and keeps
/// the reason of a refusal for the report.
pub struct HostKeyChecker {
    host: String,
    port: u16,
    known_hosts: Arc<KnownHosts>,
    accept_new: bool,
    refusal: Arc<Mutex<Option<ConnectError>>>,
}

impl HostKeyChecker {
    fn new(hop: &Endpoint, options: &SessionOptions) -> (Self, Arc<Mutex<Option<ConnectError>>>) {
        let refusal = Arc::new(Mutex::new(None));
        let checker = Self {
            host: hop.host.clone(),
            port: hop.port,
            known_hosts: options.known_hosts.clone(),
            accept_new: options.accept_new_host_keys,
            refusal: refusal.clone(),
        };
        (checker, refusal)
    }

    /// `host` as known_hosts names it, for messages.
    fn name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    /// Decides on what the server presented; `Err` carries why it is refused.
    fn judge(&self, presented: &PublicKeyOrCertificate) -> Result<(), ConnectError> {
        let (key, check) = match presented {
            PublicKeyOrCertificate::PublicKey { key, .. } => (
                key.clone(),
                self.known_hosts.check(&self.host, self.port, key),
            ),
            PublicKeyOrCertificate::Certificate(certificate) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let key = russh::keys::PublicKey::new(certificate.public_key().clone(), "");
                let check =
                    self.known_hosts
                        .check_certificate(&self.host, self.port, certificate, now);
                (key, check)
            }
        };
        if check == HostKeyCheck::Unknown && self.accept_new {
            return self
                .known_hosts
                .record(&self.host, self.port, &key)
                .map(|_| ())
                .map_err(|err| {
                    ConnectError::new(
                        ConnectFailure::HostKeyUnknown,
                        format!("cannot record the host key of {}: {err}", self.name()),
                    )
                });
        }
        match refusal(&self.name(), &self.host, self.port, &key, check) {
            None => Ok(()),
            Some(refused) => Err(refused),
        }
    }
}

/// Why a host is refused, for the report, or `None` when it is trusted.
fn refusal(
    name: &str,
    host: &str,
    port: u16,
    key: &russh::keys::PublicKey,
    check: HostKeyCheck,
) -> Option<ConnectError> {
    let print = fingerprint(key);
    let offered = key.algorithm();
    let (failure, message) = match check {
        HostKeyCheck::Trusted => return None,
        HostKeyCheck::Changed { file, line } => (
            ConnectFailure::HostKeyChanged,
            format!(
                "HOST KEY CHANGED for {name}: it now presents {offered} {print}, unlike line \
                 {line} of {}. Someone may be intercepting the connection, or the host was \
                 reinstalled. Verify the new key out of band, then remove the old line \
                 (ssh-keygen -R '{name}')",
                file.display()
            ),
        ),
        HostKeyCheck::Revoked { file, line } => (
            ConnectFailure::HostKeyChanged,
            format!(
                "{name} presents {offered} {print}, a key (or a certificate signed by a CA) \
                 marked @revoked at line {line} of {}",
                file.display()
            ),
        ),
        HostKeyCheck::OtherTypes { recorded } => (
            ConnectFailure::HostKeyChanged,
            format!(
                "{name} is known with other key types ({}); the server offered {offered} \
                 {print}. patchgap offers the recorded types first, so the server no longer \
                 has a key of a recorded type, or someone is intercepting the connection. If \
                 the host really changed keys, verify the new key out of band, then replace \
                 its lines (ssh-keygen -R '{name}', then ssh-keyscan -p {port} {host}); \
                 --accept-new-host-keys never records a key for a known host",
                recorded.join(", ")
            ),
        ),
        HostKeyCheck::CertificateExpected => (
            ConnectFailure::HostKeyUnknown,
            format!(
                "an @cert-authority line covers {name}, but it presented a plain {offered} \
                 key {print} and no certificate; configure a HostCertificate in its sshd, or \
                 record the key in known_hosts after verifying it out of band \
                 (--accept-new-host-keys does not record keys of hosts a CA covers)"
            ),
        ),
        HostKeyCheck::CertificateInvalid { reason } => (
            ConnectFailure::HostKeyChanged,
            format!(
                "{name} presented a host certificate for {offered} key {print} that is not \
                 trusted: {reason}"
            ),
        ),
        HostKeyCheck::Unknown => (
            ConnectFailure::HostKeyUnknown,
            format!(
                "the host key of {name} is not known ({offered} {print}); if that is the \
                 right key, run with --accept-new-host-keys, or add it with \
                 `ssh-keyscan -p {port} {host} >> ~/.ssh/known_hosts`"
            ),
        ),
    };
    Some(ConnectError::new(failure, message))
}

impl client::Handler for HostKeyChecker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = self.judge(server_key);
        match verdict {
            Ok(()) => Ok(true),
            Err(refusal) => {
                *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(refusal);
                Ok(false)
            }
        }
    }
}
