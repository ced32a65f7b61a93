//! The probe's report: the versioned JSON document that `patchgap-probe` prints and the
//! controller parses. Every type of that document is here, each field documented where it
//! is declared (the lint below keeps it so); `docs/report-format.md`,
//! `docs/report-kernel.md` and `docs/report-integrity.md` describe it for readers, keep
//! them in step.
//!
//! - [`Report`], [`HostInfo`], [`ScanStats`]: the document and its header (this file);
//! - `processes`: stale processes, packages, actions, ignored findings;
//! - `exposure`: what the stale code lacks (CVEs, security updates), listening sockets,
//!   risk;
//! - `kernel`, `microcode`, `reboot`, `integrity`: the parts of the same names.
//!
//! The modules that fill a part (`crate::kernel`, ...) hold the logic; this one holds only
//! the shape, so a change to the JSON shows up here and nowhere else.
//!
//! Compatibility rules: adding an optional field keeps [`SCHEMA_VERSION`]; renaming,
//! removing or changing the meaning of a field bumps it. Field order is the JSON's key
//! order. No `flatten`, no `untagged`: every enum is tagged so consumers in other
//! languages can read it without guessing.

#![warn(missing_docs)]

mod exposure;
mod integrity;
mod kernel;
mod microcode;
mod processes;
mod reboot;

use serde::{Deserialize, Serialize};

pub use exposure::{
    AddressClass, Exposure, ListeningSocket, PackageExposure, ProcessExposure, Protocol, Risk,
    RiskLevel, Security, ServiceRisk, VersionOrigin,
};
pub use integrity::{
    FileHash, IntegrityFinding, IntegrityReport, IntegritySummary, PackageHashes, Problem,
};
pub use kernel::{
    BootDefault, BootSource, ContainerInfo, InstalledKernel, KernelReport, KernelStatus,
    RunningKernel, VersionSource,
};
pub use microcode::{CpuMicrocode, MicrocodeReport, MicrocodeStatus};
pub use processes::{
    Actions, ContainerAction, Finding, FindingKind, IgnoredFinding, NowAtPath, Owner,
    PackageChange, ServiceAction, SessionAction, Severity, StaleProcess,
};
pub use reboot::{ReasonKind, RebootReason, RebootReport, UpgradedPackage};

/// Version of the report's shape. Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Version of the probe that wrote a report.
pub const PROBE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One host's audit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Version of the probe that wrote the report.
    pub probe_version: String,
    /// Who was scanned, and when.
    pub host: HostInfo,
    /// How the process scan went: what was seen, skipped and why.
    pub scan: ScanStats,
    /// Every process found running replaced code, with its findings.
    pub processes: Vec<StaleProcess>,
    /// The packages behind the findings, one entry per package and context.
    pub packages: Vec<PackageChange>,
    /// The stale processes grouped by what an admin must do about them.
    pub actions: Actions,
    /// Findings matched by an ignore rule: counted and shown, never dropped.
    pub ignored: Vec<IgnoredFinding>,
    /// Running versus installed kernel.
    pub kernel: KernelReport,
    /// Running versus available CPU microcode.
    pub microcode: MicrocodeReport,
    /// Whether the host needs a reboot, and every reason why.
    pub reboot: RebootReport,
    /// Package file integrity; present only when it was asked for.
    pub integrity: Option<IntegrityReport>,
    /// Problems that made parts of the report incomplete (unreadable dpkg database, ...).
    pub warnings: Vec<String>,
    /// Which stale process matters: CVEs and security updates the running code lacks,
    /// listening sockets, risk. Absent in reports of probes before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<Exposure>,
}

/// Identity of the scanned host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HostInfo {
    /// `/proc/sys/kernel/hostname`.
    pub hostname: String,
    /// `/etc/machine-id`, when readable.
    pub machine_id: Option<String>,
    /// `/proc/sys/kernel/random/boot_id`: changes on every boot.
    pub boot_id: Option<String>,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os: Option<String>,
    /// CPU architecture the probe was built for (`x86_64`, `aarch64`).
    pub arch: String,
    /// Unix time the host booted (`btime` of `/proc/stat`).
    pub booted_at: Option<i64>,
    /// Unix time the scan started.
    pub scanned_at: i64,
    /// Effective user id of the probe. Not 0 means the scan is partial.
    pub euid: u32,
}

/// Counts of the process scan. Nothing found is dropped without being counted here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ScanStats {
    /// Process directories found under `/proc`.
    pub processes_seen: u32,
    /// Processes whose memory maps were read.
    pub processes_inspected: u32,
    /// Processes that exited while being scanned (normal).
    pub processes_vanished: u32,
    /// Processes that could not be inspected, with the reason.
    pub processes_denied: u32,
    /// Kernel threads, which map no files.
    pub kernel_threads: u32,
    /// True when some processes could not be inspected, so findings may be missing.
    pub partial: bool,
    /// Why processes could not be inspected, e.g. "permission denied: run as root".
    pub denied_reasons: Vec<String>,
    /// Mappings whose file could not be compared (anonymous device numbers, unreadable
    /// paths): not reported as stale, counted here.
    pub unverifiable_mappings: u32,
    /// Interpreter processes (Python, Perl, Ruby, Node.js) whose scripts were checked.
    /// Absent (0) in reports of probes before interpreters were checked.
    #[serde(default)]
    pub interpreters_checked: u32,
    /// Script and module files of those processes that were looked at.
    #[serde(default)]
    pub interpreted_files_checked: u32,
    /// Script or module files that exist but could not be checked (unreadable, refused,
    /// outside what the probe may read), and interpreter processes whose root could not
    /// be opened: a change in them would go unseen.
    #[serde(default)]
    pub unverifiable_scripts: u32,
    /// Wall time of the whole probe, in milliseconds.
    pub duration_ms: u64,
}

impl Report {
    /// True when processes run replaced code and wait for a restart.
    pub fn restarts_pending(&self) -> bool {
        !self.processes.is_empty()
    }

    /// True when anything on the host waits for an admin: a restart, a reboot, or
    /// modified packaged files.
    pub fn action_needed(&self) -> bool {
        self.restarts_pending()
            || self.reboot.needed
            || self.integrity.as_ref().is_some_and(|i| i.has_findings())
    }
}
