//! The progress bar of a fleet audit on stderr: hosts done, failed and in flight. It only
//! consumes [`FleetEvent`]s, so the executor stays testable without a terminal; it is
//! hidden when stderr is not a terminal or with `--quiet`. Terminal prompts (key
//! passphrases) suspend it so that they stay readable.

use std::collections::HashSet;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::outcome::{FleetEvent, HostResult};
use crate::transport::PassphrasePrompt;

/// Counts kept from the events; also what the bar shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    pub in_flight: HashSet<String>,
    /// The run's warnings, in the order they came.
    pub warnings: Vec<String>,
}

impl Tally {
    pub fn apply(&mut self, event: &FleetEvent) {
        match event {
            FleetEvent::Started { hosts } => self.total = *hosts,
            FleetEvent::HostStarted { host } => {
                self.in_flight.insert(host.clone());
            }
            FleetEvent::HostPhase { .. } => {}
            FleetEvent::Warning(message) => self.warnings.push(message.clone()),
            FleetEvent::HostFinished(outcome) => {
                self.in_flight.remove(&outcome.host);
                self.done += 1;
                if matches!(outcome.result, HostResult::Failed { .. }) {
                    self.failed += 1;
                }
            }
        }
    }

    fn message(&self) -> String {
        format!("{} failed, {} in flight", self.failed, self.in_flight.len())
    }
}

/// The progress bar; cheap to clone (shares one bar).
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        let style = ProgressStyle::with_template(
            "{spinner} auditing [{bar:30}] {pos}/{len} hosts, {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar }
    }

    /// Follows `events` until the sender side is dropped, then clears the bar.
    pub fn follow(&self, mut events: mpsc::UnboundedReceiver<FleetEvent>) -> JoinHandle<Tally> {
        let bar = self.bar.clone();
        tokio::spawn(async move {
            let mut tally = Tally::default();
            while let Some(event) = events.recv().await {
                tally.apply(&event);
                if let FleetEvent::Warning(message) = &event {
                    // Warnings are shown even with --quiet or without a terminal: they name
                    // a file the user has to fix. This reporter owns stderr.
                    #[allow(clippy::print_stderr)]
                    bar.suspend(|| {
                        eprintln!(
                            "patchgap: warning: {}",
                            super::sanitize::for_terminal(message)
                        )
                    });
                }
                bar.set_length(tally.total as u64);
                bar.set_position(tally.done as u64);
                bar.set_message(tally.message());
            }
            bar.finish_and_clear();
            tally
        })
    }

    /// A passphrase prompt on the terminal that hides the bar while it asks.
    pub fn passphrase_prompt(&self) -> Option<PassphrasePrompt> {
        if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = self.bar.clone();
        Some(Arc::new(move |key: &Path| {
            bar.suspend(|| {
                rpassword::prompt_password(format!("Enter passphrase for key {}: ", key.display()))
                    .ok()
            })
        }))
    }

    /// A note for the user on stderr, above the bar (shown even with `--quiet`: it says
    /// the run differs from what was asked).
    #[allow(clippy::print_stderr)]
    pub fn note(&self, message: &str) {
        self.bar.suspend(|| eprintln!("patchgap: note: {message}"));
    }

    /// Asks once for the sudo password (`--ask-become-pass`).
    pub fn ask_become_password(&self) -> std::io::Result<secrecy::SecretString> {
        self.bar
            .suspend(|| rpassword::prompt_password("BECOME password: "))
            .map(secrecy::SecretString::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, HostOutcome};

    fn failed(host: &str) -> FleetEvent {
        let result = HostResult::Failed {
            failure: Failure::Unreachable,
            message: String::new(),
            stderr_tail: None,
        };
        FleetEvent::HostFinished(Box::new(HostOutcome {
            host: host.into(),
            address: host.into(),
            port: 22,
            user: "root".into(),
            elapsed_ms: 1,
            result,
        }))
    }

    #[test]
    fn the_tally_counts_done_failed_and_in_flight() {
        let mut tally = Tally::default();
        for event in [
            FleetEvent::Started { hosts: 3 },
            FleetEvent::HostStarted { host: "a".into() },
            FleetEvent::HostStarted { host: "b".into() },
            failed("a"),
        ] {
            tally.apply(&event);
        }
        assert_eq!((tally.total, tally.done, tally.failed), (3, 1, 1));
        assert_eq!(
            tally.in_flight.iter().collect::<Vec<_>>(),
            [&"b".to_string()]
        );
        assert_eq!(tally.message(), "1 failed, 1 in flight");
        tally.apply(&failed("b"));
        assert_eq!((tally.done, tally.failed), (2, 2));
    }
}
