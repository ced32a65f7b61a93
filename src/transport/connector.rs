//! The connect side of the transport seam: something that turns a [`Route`] into a
//! connection that runs commands ([`Exec`]). The fleet's fan-out is generic over it, so
//! its guarantees (order, `--forks`, timeouts, a failing host alone) are tested against
//! in-memory hosts; [`RusshConnector`] is the real one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::exec::Exec;
use super::session::{ConnectError, ConnectStep, Connection, SessionOptions, connect};
use super::target::Route;

/// Opens connections to hosts.
pub trait Connector: Send + Sync + 'static {
    type Connection: Exec + Send + 'static;

    /// Connects along `route`, reporting each step. `connect_timeout` is the host's own
    /// (`patchgap_connect_timeout`); `None` means the run's.
    fn connect(
        &self,
        route: &Route,
        connect_timeout: Option<Duration>,
        step: impl FnMut(ConnectStep) + Send,
    ) -> impl Future<Output = Result<Self::Connection, ConnectError>> + Send;

    /// Ends one connection politely.
    fn disconnect(&self, connection: Self::Connection) -> impl Future<Output = ()> + Send;

    /// Ends what the run's connections share (jump sessions), once every host is done.
    fn finish(&self) -> impl Future<Output = ()> + Send;
}

/// SSH connections with russh: [`connect`], and the run's [`super::JumpPool`].
#[derive(Debug, Clone)]
pub struct RusshConnector {
    pub session: Arc<SessionOptions>,
}

impl Connector for RusshConnector {
    type Connection = Connection;

    async fn connect(
        &self,
        route: &Route,
        connect_timeout: Option<Duration>,
        step: impl FnMut(ConnectStep) + Send,
    ) -> Result<Connection, ConnectError> {
        let timeout = connect_timeout.unwrap_or(self.session.connect_timeout);
        connect(route, &self.session, timeout, step).await
    }

    async fn disconnect(&self, connection: Connection) {
        connection.close().await;
    }

    async fn finish(&self) {
        self.session.jumps.close().await;
    }
}
