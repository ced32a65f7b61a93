//! Exit statuses of `patchgap`, documented for pipelines in README.md.

/// What a run ends with. The numbers are a stable interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing pending: no stale process, no reboot, no integrity finding.
    Clean = 0,
    /// Restarts, a reboot or integrity findings are pending.
    Findings = 1,
    /// The command line was wrong (clap's own status).
    Usage = 2,
    /// patchgap itself failed (unreadable inventory, unwritable report, ...).
    Error = 3,
    /// Some hosts could not be audited; the others' results are in the report.
    HostsFailed = 4,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error in what the user asked for (a bad pattern, conflicting options), as opposed
/// to a failure while doing it: it exits with [`Exit::Usage`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit status for an error that ended the run.
pub fn for_error(e: &anyhow::Error) -> Exit {
    if e.downcast_ref::<UsageError>().is_some() {
        Exit::Usage
    } else {
        Exit::Error
    }
}
