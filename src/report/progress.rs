//! The progress bar of a fleet audit on stderr: hosts done, the rate and the time left,
//! failures so far by class, hosts in flight and in which phase (connecting, uploading,
//! probing); of a restart campaign: hosts done, and what is being restarted where. It only
//! consumes [`FleetEvent`]s, so the executor stays testable without a terminal; it is
//! hidden when stderr is not a terminal or with `--quiet`. Terminal prompts (key
//! passphrases) suspend it so that they stay readable.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::aggregate::failure_label;
use crate::campaign::CampaignEvent;
use crate::outcome::{Failure, FleetEvent, Phase};
use crate::transport::PassphrasePrompt;

/// Counts kept from the events: what the bar shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tally {
    total: usize,
    done: usize,
    failed: usize,
    /// Failures so far by class, in the order of [`Failure`].
    failures: BTreeMap<Failure, usize>,
    /// Hosts being audited, with the phase each last reported (none until its first).
    in_flight: HashMap<String, Option<Phase>>,
}

impl Tally {
    fn apply(&mut self, event: &FleetEvent) {
        match event {
            FleetEvent::Started { hosts } => self.total = *hosts,
            FleetEvent::HostStarted { host } => {
                self.in_flight.insert(host.clone(), None);
            }
            FleetEvent::HostPhase { host, phase } => {
                if let Some(current) = self.in_flight.get_mut(host) {
                    *current = Some(*phase);
                }
            }
            FleetEvent::HostFinished { host, failure } => {
                self.in_flight.remove(host);
                self.done += 1;
                if let Some(failure) = failure {
                    self.failed += 1;
                    *self.failures.entry(*failure).or_default() += 1;
                }
            }
        }
    }

    /// `2 failed (1 unreachable, 1 timeout), 5 in flight (1 connecting, 4 probing)`: classes
    /// and phases with hosts in them only.
    fn message(&self) -> String {
        let counts: Vec<String> = PHASES
            .iter()
            .filter_map(|phase| {
                let count = self
                    .in_flight
                    .values()
                    .filter(|p| **p == Some(*phase))
                    .count();
                (count > 0).then(|| format!("{count} {}", phase_label(*phase)))
            })
            .collect();
        let mut message = format!("{} failed", self.failed);
        if !self.failures.is_empty() {
            let classes: Vec<String> = self
                .failures
                .iter()
                .map(|(failure, count)| format!("{count} {}", failure_label(*failure)))
                .collect();
            message.push_str(&format!(" ({})", classes.join(", ")));
        }
        message.push_str(&format!(", {} in flight", self.in_flight.len()));
        if !counts.is_empty() {
            message.push_str(&format!(" ({})", counts.join(", ")));
        }
        message
    }
}

/// The phases in the order a host goes through them.
const PHASES: [Phase; 4] = [
    Phase::Connecting,
    Phase::Authenticating,
    Phase::Uploading,
    Phase::Probing,
];

fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Connecting => "connecting",
        Phase::Authenticating => "authenticating",
        Phase::Uploading => "uploading",
        Phase::Probing => "probing",
    }
}

#[allow(clippy::print_stderr)]
fn note(bar: &ProgressBar, message: &str) {
    bar.suspend(|| eprintln!("patchgap: note: {message}"));
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
            "{spinner} {prefix} [{bar:30}] {pos}/{len} hosts, {per_sec}, {eta} left, {msg} \
             ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix("auditing");
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar }
    }

    /// Follows `events` until the sender side is dropped, then clears the bar.
    pub fn follow(&self, mut events: mpsc::UnboundedReceiver<FleetEvent>) -> JoinHandle<()> {
        let bar = self.bar.clone();
        tokio::spawn(async move {
            let mut tally = Tally::default();
            while let Some(event) = events.recv().await {
                tally.apply(&event);
                bar.set_length(tally.total as u64);
                bar.set_position(tally.done as u64);
                bar.set_message(tally.message());
            }
            bar.finish_and_clear();
        })
    }

    /// A warning on stderr, above the bar. Shown even with `--quiet` or without a
    /// terminal: it names a file the user has to fix (a skipped known_hosts line, say).
    /// Host-supplied text, so sanitised.
    #[allow(clippy::print_stderr)]
    pub fn warn(&self, message: &str) {
        self.bar.suspend(|| {
            eprintln!(
                "patchgap: warning: {}",
                super::sanitize::for_terminal(message)
            )
        });
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
    pub fn note(&self, message: &str) {
        note(&self.bar, message);
    }

    /// Follows a campaign's events until the sender is dropped: hosts finished over
    /// hosts planned, and what is being restarted or rebooted where. Waits for a window and
    /// stops, and hosts waiting for a FleetLock slot are noted above the bar, even with
    /// `--quiet`.
    pub fn follow_campaign(
        &self,
        mut events: mpsc::UnboundedReceiver<CampaignEvent>,
    ) -> JoinHandle<()> {
        let bar = self.bar.clone();
        bar.set_prefix("restarting");
        tokio::spawn(async move {
            let mut done = 0u64;
            while let Some(event) = events.recv().await {
                match event {
                    CampaignEvent::Started { hosts, .. } => bar.set_length(hosts as u64),
                    CampaignEvent::BatchStarted { batch, hosts } => {
                        bar.set_message(format!("batch {} ({} hosts)", batch + 1, hosts.len()))
                    }
                    CampaignEvent::Restarting { host, units } => bar.set_message(format!(
                        "{}: {}",
                        super::sanitize::for_terminal(&host),
                        super::sanitize::for_terminal(&units.join(", "))
                    )),
                    CampaignEvent::Rebooting { host } => {
                        bar.set_prefix("rebooting");
                        bar.set_message(format!(
                            "{}: rebooting, waiting for it to come back",
                            super::sanitize::for_terminal(&host)
                        ))
                    }
                    CampaignEvent::WaitingForLock { host, why } => note(
                        &bar,
                        &format!(
                            "{}: the FleetLock server gives no slot yet ({}); asking again \
                             until the host's timeout (--host-timeout)",
                            super::sanitize::for_terminal(&host),
                            super::sanitize::for_terminal(&why)
                        ),
                    ),
                    CampaignEvent::HostFinished(_) => {
                        done += 1;
                        bar.set_position(done);
                    }
                    CampaignEvent::Waiting { until } => note(
                        &bar,
                        &format!("no maintenance window is open: waiting until {until}"),
                    ),
                    CampaignEvent::HostStarted { .. }
                    | CampaignEvent::BatchFinished { .. }
                    | CampaignEvent::Stopped(_) => {}
                }
            }
            bar.finish_and_clear();
        })
    }

    /// Shows `text` on stderr and asks `question`; true only for `y` or `yes`.
    #[allow(clippy::print_stderr)]
    pub fn confirm(&self, text: &str, question: &str) -> std::io::Result<bool> {
        self.bar.suspend(|| {
            eprint!("{text}\n{question} [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            Ok(matches!(
                answer.trim().to_ascii_lowercase().as_str(),
                "y" | "yes"
            ))
        })
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

    fn failed(host: &str) -> FleetEvent {
        failed_with(host, Failure::Unreachable)
    }

    fn failed_with(host: &str, failure: Failure) -> FleetEvent {
        FleetEvent::HostFinished {
            host: host.into(),
            failure: Some(failure),
        }
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
            tally.in_flight.keys().collect::<Vec<_>>(),
            [&"b".to_string()]
        );
        assert_eq!(tally.message(), "1 failed (1 unreachable), 1 in flight");
        tally.apply(&failed("b"));
        assert_eq!((tally.done, tally.failed), (2, 2));
    }

    #[test]
    fn the_tally_counts_hosts_by_phase() {
        let mut tally = Tally::default();
        let phase = |host: &str, phase| FleetEvent::HostPhase {
            host: host.into(),
            phase,
        };
        for event in [
            FleetEvent::Started { hosts: 4 },
            FleetEvent::HostStarted { host: "a".into() },
            FleetEvent::HostStarted { host: "b".into() },
            FleetEvent::HostStarted { host: "c".into() },
            phase("a", Phase::Connecting),
            phase("b", Phase::Connecting),
            phase("a", Phase::Uploading),
            phase("a", Phase::Probing),
            // A phase of a host that already finished (or never started) is not counted.
            phase("zz", Phase::Uploading),
        ] {
            tally.apply(&event);
        }
        assert_eq!(
            tally.message(),
            "0 failed, 3 in flight (1 connecting, 1 probing)"
        );
        tally.apply(&failed_with("b", Failure::Timeout));
        assert_eq!(
            tally.message(),
            "1 failed (1 timeout), 2 in flight (1 probing)"
        );
        tally.apply(&failed("a"));
        tally.apply(&failed_with("c", Failure::Timeout));
        assert_eq!(
            tally.message(),
            "3 failed (1 unreachable, 2 timeout), 0 in flight"
        );
    }
}
