//! What a campaign ends in, per host and unit: the data the campaign report renders, the
//! journal records and `exit.rs` counts. Per-host failures are data here, as in the audit.

use serde::{Deserialize, Serialize};

use super::plan::ManualItem;

/// Why a unit planned for a restart was not restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// The host's fresh probe no longer lists it: fixed by hand (or by another restart).
    FixedMeanwhile,
    /// The campaign stopped (max-fail, canary, window) before reaching the host.
    NotReached,
    /// No window was open and `--outside-window stop` was given.
    OutsideWindow,
    /// The host's probe failed before any restart: nothing was touched.
    ProbeFailed,
}

/// The end of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnitStatus {
    /// Restarted, active, healthy, and the re-probe finds no replaced code in it.
    Verified,
    /// Restarted and active, but its processes still run replaced code.
    RestartedStillStale,
    /// `systemctl restart` failed, or the unit did not become active in time.
    RestartFailed {
        message: String,
        /// The unit's last journal lines (`journalctl -u UNIT -n 20`).
        journal: Vec<String>,
    },
    /// Restarted, but a health check failed afterwards.
    HealthFailed {
        check: String,
        message: String,
    },
    Skipped {
        reason: Skip,
    },
    /// The host could not be reached (or the connection was lost).
    Unreachable {
        message: String,
    },
    /// The host did not finish within `--host-timeout`.
    Timeout {
        message: String,
    },
}

impl UnitStatus {
    /// Whether this unit makes its host count as failed.
    pub fn is_failure(&self) -> bool {
        !matches!(self, UnitStatus::Verified | UnitStatus::Skipped { .. })
    }

    /// A word for tables and counts.
    pub fn label(&self) -> &'static str {
        match self {
            UnitStatus::Verified => "verified",
            UnitStatus::RestartedStillStale => "restarted_still_stale",
            UnitStatus::RestartFailed { .. } => "restart_failed",
            UnitStatus::HealthFailed { .. } => "health_failed",
            UnitStatus::Skipped { .. } => "skipped",
            UnitStatus::Unreachable { .. } => "unreachable",
            UnitStatus::Timeout { .. } => "timeout",
        }
    }
}

/// One unit of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitOutcome {
    pub unit: String,
    pub status: UnitStatus,
}

/// How a host ended, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// Every planned unit verified or skipped.
    Done,
    /// Some unit failed (restart, health, still stale).
    Failed,
    Unreachable,
    Timeout,
    /// The campaign stopped before this host.
    NotReached,
    /// Nothing to restart (the host is listed for its manual actions).
    NothingToDo,
}

impl HostStatus {
    /// Counts towards `--max-fail` and the canary (unreachable hosts count as failed).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            HostStatus::Failed | HostStatus::Unreachable | HostStatus::Timeout
        )
    }
}

/// One host of the campaign report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCampaign {
    pub host: String,
    pub status: HostStatus,
    /// What went wrong with the host as a whole (connection, probe, timeout).
    pub message: Option<String>,
    pub units: Vec<UnitOutcome>,
    /// `systemctl daemon-reexec` ran (`--reexec`): its result.
    pub reexec: Option<UnitStatus>,
    /// Left to a person.
    pub manual: Vec<ManualItem>,
    /// The batch the host was in (0 is the first, the canary's when there is one).
    pub batch: Option<usize>,
    /// A reboot campaign's reboot of the host: how it went and what proves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<RebootOutcome>,
}

/// How a host's reboot ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RebootStatus {
    /// Back with a new boot id, the expected kernel, no stale process, the system
    /// running, the health checks passed.
    Verified,
    /// Back with a new boot id, but something of the verification failed.
    VerifyFailed {
        message: String,
    },
    /// Back, but a health check failed.
    HealthFailed {
        check: String,
        message: String,
    },
    /// Not back within `--reboot-timeout`; its lock slot is kept.
    NotReturned {
        message: String,
    },
    /// `--pre-cmd`, the reboot command or `--post-cmd` failed.
    CommandFailed {
        step: String,
        message: String,
    },
    /// The FleetLock server refused the slot, or could not be asked.
    LockFailed {
        message: String,
    },
    /// Not rebooted: fixed meanwhile (a new boot, no reason left), or never reached.
    Skipped {
        reason: Skip,
    },
    Unreachable {
        message: String,
    },
    Timeout {
        message: String,
    },
}

impl RebootStatus {
    /// Whether this reboot makes its host count as failed.
    pub fn is_failure(&self) -> bool {
        !matches!(self, RebootStatus::Verified | RebootStatus::Skipped { .. })
    }

    /// A word for tables and counts: the JSON report's `kind`, from the one place that
    /// names it (serde's).
    pub fn label(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// One host's reboot, with the evidence of its verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootOutcome {
    pub status: RebootStatus,
    /// The boot id before the reboot and after it.
    pub boot_id_before: Option<String>,
    pub boot_id_after: Option<String>,
    /// The kernel release the audit expected, and the one running after the reboot.
    pub kernel_expected: Option<String>,
    pub kernel_running: Option<String>,
    /// Why the kernel was not compared (a container, no next-boot kernel known).
    pub kernel_note: Option<String>,
    /// `systemctl is-system-running` after the reboot.
    pub system_state: Option<String>,
    /// The controller was restarted (`--resume`) after asking for this reboot, and the
    /// boot id had changed: the host was verified, not rebooted again.
    pub resumed: bool,
    /// What happened to the host's lock slot when it is not given back (FleetLock).
    pub lock_note: Option<String>,
}

impl RebootOutcome {
    /// A reboot that ended as `status` before any evidence was gathered.
    pub fn new(status: RebootStatus) -> Self {
        RebootOutcome {
            status,
            boot_id_before: None,
            boot_id_after: None,
            kernel_expected: None,
            kernel_running: None,
            kernel_note: None,
            system_state: None,
            resumed: false,
            lock_note: None,
        }
    }
}

impl HostCampaign {
    /// Derives the host's status from its units (for hosts that were worked on).
    pub fn settle(&mut self) {
        let failed = self.units.iter().any(|u| u.status.is_failure())
            || self.reexec.as_ref().is_some_and(UnitStatus::is_failure)
            || self.reboot.as_ref().is_some_and(|r| r.status.is_failure());
        if failed && self.status == HostStatus::Done {
            self.status = HostStatus::Failed;
        }
    }
}

/// Why the campaign stopped early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Stop {
    /// A host of the canary batch failed.
    Canary { batch: usize, failed: usize },
    /// A batch had more failed hosts than `--max-fail` allows.
    MaxFail {
        batch: usize,
        failed: usize,
        size: usize,
    },
    /// No window was open (`--outside-window stop`).
    OutsideWindow { batch: usize },
    /// The journal could not be written: going on would lose the record of restarts.
    Journal { message: String },
}

/// The campaign's result: every host of the plan, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignOutcome {
    pub hosts: Vec<HostCampaign>,
    pub stopped: Option<Stop>,
}

impl CampaignOutcome {
    /// Hosts whose campaign failed (unreachable and timed out included).
    pub fn failed_hosts(&self) -> usize {
        self.hosts.iter().filter(|h| h.status.is_failure()).count()
    }

    /// Hosts rebooted and verified.
    pub fn verified_reboots(&self) -> usize {
        self.hosts
            .iter()
            .filter_map(|h| h.reboot.as_ref())
            .filter(|r| r.status == RebootStatus::Verified)
            .count()
    }

    /// Units restarted and verified.
    pub fn verified_units(&self) -> usize {
        self.hosts
            .iter()
            .flat_map(|h| &h.units)
            .filter(|u| u.status == UnitStatus::Verified)
            .count()
    }
}
