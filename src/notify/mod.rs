//! Notifications at the end of a run (`--notify URL`, repeatable): a webhook, the local
//! syslog, or a mail (docs/notifications.md). A command builds one [`Notifier`] from its
//! arguments before it contacts any host (a bad URL is a usage error), then hands it what
//! it found: [`Notifier::audit`] a fleet report, [`Notifier::restart`] a campaign outcome.
//!
//! A notification that fails (a 500, a refused connection, a timeout, a bad password) is a
//! warning on stderr and, for an audit, a line in the report's `controller.warnings`; it
//! never changes the command's result or exit status. Each channel is bounded by
//! `--notify-timeout`, so a server that never answers cannot hold the run.

mod email;
mod state;
mod summary;
mod syslog;
mod target;
mod webhook;

use std::path::PathBuf;
use std::time::Duration;

pub use email::ATTACHMENT_NAME;
pub use state::{Change, default_path as default_state_path};
pub use summary::{Counts, FailedHost, HostFindings, MAX_LISTED_HOSTS, PAYLOAD_VERSION, Summary};
pub use syslog::MAX_MESSAGE as MAX_SYSLOG_MESSAGE;
pub use target::{Channel, DEFAULT_PASSWORD_ENV, DEFAULT_SYSLOG_SOCKET, TargetError};

use crate::campaign::{CampaignKind, CampaignOutcome};
use crate::cli::{NotifyArgs, NotifyOn};
use crate::exit::UsageError;
use crate::report::{FleetReport, Html, Progress, Render as _};

/// Why one notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("no SMTP password: {0}")]
    Password(String),
    #[error("cannot send to the syslog socket: {0}")]
    Syslog(std::io::Error),
    #[error("no answer within {0} s (--notify-timeout)")]
    Timeout(u64),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl NotifyError {
    /// reqwest's message, then its causes (the TLS or IO error), without the URL: its
    /// path is often the webhook's secret token.
    fn http(e: reqwest::Error) -> Self {
        let e = e.without_url();
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        NotifyError::Http(message)
    }

    fn smtp(e: impl std::fmt::Display) -> Self {
        NotifyError::Smtp(e.to_string())
    }
}

/// Every `--notify` of a run, and how to send them.
#[derive(Debug)]
pub struct Notifier {
    channels: Vec<Channel>,
    /// `--notify-ca`: PEM certificates trusted besides the system's.
    ca: Option<Vec<u8>>,
    timeout: Duration,
    on: NotifyOn,
    state: PathBuf,
}

impl Notifier {
    /// The notifier of `args`; `None` without `--notify`. A bad URL or an unreadable
    /// `--notify-ca` is the user's to fix.
    pub fn from_args(args: &NotifyArgs) -> anyhow::Result<Option<Self>> {
        if args.notify.is_empty() {
            return Ok(None);
        }
        let channels = args
            .notify
            .iter()
            .map(|v| Channel::parse(v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| UsageError(e.to_string()))?;
        let ca = match &args.notify_ca {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                UsageError(format!(
                    "--notify-ca {}: cannot read it: {e}; give a PEM file of CA certificates",
                    path.display()
                ))
            })?),
            None => None,
        };
        Ok(Some(Notifier {
            channels,
            ca,
            timeout: Duration::from_secs(args.notify_timeout.max(1)),
            on: args.notify_on,
            state: args.notify_state.clone().unwrap_or_else(default_state_path),
        }))
    }

    /// Notifies about an audit's report (`--notify-on change`: only if something is new
    /// since the state file's audit), then records it as the last audit. Failures are
    /// warned about and added to `report.controller.warnings`.
    pub fn audit(&self, report: &mut FleetReport, progress: &Progress) {
        let mut failures = Vec::new();
        if self.on == NotifyOn::Change {
            let change = state::compare_with(&self.state, report);
            if let Change::Unreadable(why) = &change {
                failures.push(format!(
                    "the notification state {} is unreadable ({why}); notifying as on a first run",
                    self.state.display()
                ));
            }
            let undelivered = if change.notifies() {
                self.send_audit(report)
            } else {
                Vec::new()
            };
            // A failed delivery keeps the old state, so the next run tries again.
            if undelivered.is_empty()
                && let Err(e) = state::record(&self.state, report)
            {
                failures.push(format!(
                    "cannot record the notification state {}: {e}",
                    self.state.display()
                ));
            }
            failures.extend(undelivered);
        } else {
            failures = self.send_audit(report);
        }
        for failure in failures {
            progress.warn(&failure);
            report.controller.warnings.push(failure);
        }
    }

    fn send_audit(&self, report: &FleetReport) -> Vec<String> {
        let html = self
            .channels
            .iter()
            .any(|c| matches!(c, Channel::Email(_)))
            .then(|| {
                let mut page = Vec::new();
                Html.fleet(report, &mut page).ok()?;
                String::from_utf8(page).ok()
            })
            .flatten();
        self.send(&Summary::of_audit(report), html.as_deref())
    }

    /// Notifies about a finished restart or reboot campaign; `--notify-on change` sends
    /// only when it restarted or rebooted something, failed somewhere or stopped early.
    /// Failures are warned about.
    pub fn campaign(&self, outcome: &CampaignOutcome, kind: CampaignKind, progress: &Progress) {
        let summary = Summary::of_campaign(outcome, kind, jiff::Timestamp::now().as_second());
        if self.on == NotifyOn::Change && summary.is_clean() && summary.stopped.is_none() {
            return;
        }
        for failure in self.send(&summary, None) {
            progress.warn(&failure);
        }
    }

    /// Sends `summary` to every channel, one after the other, each bounded by the
    /// timeout; returns a message per failed channel, naming it.
    pub fn send(&self, summary: &Summary, html: Option<&str>) -> Vec<String> {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                return vec![format!(
                    "notifications not sent: {}",
                    NotifyError::Runtime(e)
                )];
            }
        };
        runtime.block_on(async {
            let mut failures = Vec::new();
            for channel in &self.channels {
                let sent =
                    tokio::time::timeout(self.timeout, self.send_one(channel, summary, html))
                        .await
                        .unwrap_or(Err(NotifyError::Timeout(self.timeout.as_secs())));
                if let Err(e) = sent {
                    failures.push(format!(
                        "notification to {} failed: {e} (the run's result is unchanged)",
                        channel.label()
                    ));
                }
            }
            failures
        })
    }

    async fn send_one(
        &self,
        channel: &Channel,
        summary: &Summary,
        html: Option<&str>,
    ) -> Result<(), NotifyError> {
        match channel {
            Channel::Webhook { url, slack } => {
                let client = webhook::client(self.ca.as_deref(), self.timeout)?;
                webhook::send(&client, url, *slack, summary).await
            }
            Channel::Syslog { socket } => {
                let line = syslog::format(
                    summary,
                    &syslog::hostname(),
                    // RFC 5424 allows at most 6 digits of a second.
                    &format!("{:.6}", jiff::Timestamp::now()),
                    std::process::id(),
                );
                syslog::send(socket, &line, self.timeout).map_err(NotifyError::Syslog)
            }
            Channel::Email(email) => {
                email::send(email, summary, html, self.ca.as_deref(), self.timeout).await
            }
        }
    }
}
