//! What auditing one host ends in: exactly one [`HostOutcome`] per inventory host, either
//! its probe report or a named failure. Per-host failures are data, never `Err`, so one
//! bad host cannot stop the others or lose their results.

use serde::{Deserialize, Serialize};

use crate::deploy::probe_output::ProbeReport;

/// The result of one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostOutcome {
    /// Inventory name.
    pub host: String,
    /// Address connected to (after inventory and ssh_config resolution).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Wall time spent on this host.
    pub elapsed_ms: u64,
    pub result: HostResult,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HostResult {
    /// The probe ran and its report passed validation.
    Audited {
        /// True when the probe ran without root (sudo unavailable) and could not inspect
        /// every process.
        partial: bool,
        /// The parsed report and the exact JSON the probe printed; serialized as that
        /// JSON, so fields of a newer probe reach the fleet report unchanged.
        report: Box<ProbeReport>,
    },
    Failed {
        failure: Failure,
        /// What went wrong and how to fix it, for a person.
        message: String,
        /// Last lines the probe wrote on stderr, when it ran and failed.
        stderr_tail: Option<String>,
    },
}

/// Why a host could not be audited.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No TCP connection (refused, no route, DNS).
    Unreachable,
    /// A connect, authentication or whole-host timeout expired.
    Timeout,
    AuthFailed,
    /// The host key is not in known_hosts (and `--accept-new-host-keys` was not given).
    HostKeyUnknown,
    /// The host key differs from the one recorded: possible man-in-the-middle.
    HostKeyChanged,
    /// `sudo -n` was refused and a full audit needs root.
    SudoRefused,
    /// No probe is built for the host's architecture.
    UnsupportedArch,
    /// The probe could not be uploaded (no space, noexec cache directory, ...).
    DeployFailed,
    /// The probe ran and exited with an error.
    ProbeFailed,
    /// The probe's output was too large, not JSON, or not a report of a known schema.
    ProbeOutputInvalid,
}

/// Progress of the fan-out, for reporters (progress bars, logs). The executor only emits
/// these; it never prints.
#[derive(Debug, Clone)]
pub enum FleetEvent {
    /// The run starts with this many hosts.
    Started { hosts: usize },
    /// Work on a host began.
    HostStarted { host: String },
    /// A host moved to another phase (connect, upload, probe).
    HostPhase { host: String, phase: Phase },
    /// A host is done: audited, or failed with this failure. Only the verdict travels:
    /// the outcome itself (with its probe report) goes once, to the caller, so a large run
    /// never copies a report per host for its progress.
    HostFinished {
        host: String,
        failure: Option<Failure>,
    },
}

impl FleetEvent {
    /// The event that says `outcome` is done.
    pub fn finished(outcome: &HostOutcome) -> Self {
        FleetEvent::HostFinished {
            host: outcome.host.clone(),
            failure: match &outcome.result {
                HostResult::Audited { .. } => None,
                HostResult::Failed { failure, .. } => Some(*failure),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Authenticating,
    Uploading,
    Probing,
}
