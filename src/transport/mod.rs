//! SSH transport on russh and tokio: where to connect (inventory + ssh_config), whether to
//! trust the host (known_hosts), how to authenticate (agent, key files), and the session
//! itself, jump hosts included.

mod auth;
mod connector;
mod exec;
#[cfg(test)]
pub mod fake;
mod known_hosts;
mod local;
mod pattern;
mod session;
mod ssh_config;
mod target;

pub use auth::{Credentials, PassphrasePrompt};
pub use connector::{Connector, RusshConnector};
pub use exec::{Exec, ExecChannel, ExecEvent, RusshExec};
pub use known_hosts::{HostKeyAlgorithms, HostKeyCheck, KnownHosts, fingerprint};
pub use local::{LocalConnector, LocalHost};
pub use pattern::{pattern_list_match, wildcard_match};
pub use session::{
    ConnectError, ConnectFailure, ConnectStep, Connection, HostKeyChecker, JumpPool,
    SessionOptions, client_config, connect, host_config,
};
pub use ssh_config::{HostSettings, SshConfig};
pub use target::{Endpoint, Resolver, Route, SshTarget};
