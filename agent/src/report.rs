//! The probe's report: the versioned JSON document that `patchgap-probe` prints and the
//! controller parses. Field-by-field documentation lives in `docs/report-format.md`;
//! keep the two in step.
//!
//! Compatibility rules: adding an optional field keeps [`SCHEMA_VERSION`]; renaming,
//! removing or changing the meaning of a field bumps it. No `flatten`, no `untagged`:
//! every enum is tagged so consumers in other languages can read it without guessing.

use serde::{Deserialize, Serialize};

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
    pub kernel: crate::kernel::KernelReport,
    /// Running versus available CPU microcode.
    pub microcode: crate::microcode::MicrocodeReport,
    /// Whether the host needs a reboot, and every reason why.
    pub reboot: crate::reboot::RebootReport,
    /// Package file integrity; present only when it was asked for.
    pub integrity: Option<crate::integrity::IntegrityReport>,
    /// Problems that made parts of the report incomplete (unreadable dpkg database, ...).
    pub warnings: Vec<String>,
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
    /// Wall time of the whole probe, in milliseconds.
    pub duration_ms: u64,
}

/// A process running replaced code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StaleProcess {
    pub pid: u32,
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Command name from `/proc/PID/stat` (at most 15 bytes, may contain anything).
    pub comm: String,
    /// Executable path, without the kernel's ` (deleted)` mark.
    pub exe: Option<String>,
    /// Unix time the process started.
    pub started_at: Option<i64>,
    /// Who owns the process: the unit to restart, a session, a container, ...
    pub owner: Owner,
    /// Unix time since which the process has run replaced code: the latest change time of
    /// the packages behind its findings, or its start time if that is later.
    pub stale_since: Option<i64>,
    /// What is stale in this process.
    pub findings: Vec<Finding>,
}

/// One replaced file that a process still uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub kind: FindingKind,
    /// The file as the process sees it, without the ` (deleted)` mark.
    pub path: String,
    /// The package that owns the path (in the process's own dpkg database), if any.
    /// Names an entry of [`Report::packages`] with the same `context`.
    pub package: Option<String>,
    /// What the path names now: another file (an upgrade put a new version there) or
    /// nothing (the file was removed).
    pub now_at_path: NowAtPath,
    /// Low for unowned files (not from a package), normal otherwise.
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum NowAtPath {
    /// Another file: the usual result of an upgrade.
    AnotherFile,
    /// Nothing: the file was removed (package removed, or a manual delete).
    Nothing,
    /// Could not be checked.
    Unknown,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The program's file is gone from the filesystem (no link left): the usual result of
    /// dpkg upgrading or removing the program.
    ExeDeleted,
    /// The program's path names another file now, while the old file still exists under
    /// another name (a hard link, a file moved aside, another mount).
    ExeReplaced,
    /// An executable mapping (typically a shared library) of a file that is gone from the
    /// filesystem: the usual result of an upgrade.
    MapDeleted,
    /// An executable mapping whose path names another file now, while the mapped file
    /// still exists elsewhere (hard link, moved aside, bind mount, other namespace).
    MapReplaced,
    /// An open file descriptor to a deleted packaged file (a `.jar`, say).
    OpenDeleted,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Normal,
    High,
}

/// Who owns a process, which decides what fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    /// A system service: `systemctl restart UNIT`.
    Service { unit: String },
    /// The system manager, PID 1: `systemctl daemon-reexec`.
    SystemManager,
    /// A user's systemd manager (`user@UID.service`), or a unit it runs.
    UserManager { uid: u32, unit: Option<String> },
    /// A login session (`session-N.scope`): the user has to log in again.
    Session { id: String, uid: Option<u32> },
    /// A process in a container, judged against the container's own dpkg database.
    Container {
        runtime: String,
        id: String,
        unit: Option<String>,
    },
    /// Anything else (a scope, no systemd, unknown cgroup).
    Other { cgroup: Option<String> },
}

/// A package behind findings, in the context (host or container) it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageChange {
    /// `host`, or `container:RUNTIME:ID` for a container's own database.
    pub context: String,
    /// Package name, with `:arch` for Multi-Arch: same packages (as dpkg names its files).
    pub name: String,
    /// Version installed now.
    pub version: Option<String>,
    /// Unix time of the last install or upgrade (mtime of its dpkg file list).
    pub changed_at: Option<i64>,
    /// The version replaced by the last upgrade, from `/var/log/dpkg.log`, when it is there.
    pub previous_version: Option<String>,
    /// Number of stale processes using files of this package.
    pub processes: u32,
}

/// Stale processes grouped by what fixes them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Actions {
    /// Services to restart.
    pub services: Vec<ServiceAction>,
    /// PIDs of the system manager when it runs replaced code (`systemctl daemon-reexec`).
    pub system_manager: Vec<u32>,
    /// User managers and sessions: users must log out, or their manager be restarted.
    pub sessions: Vec<SessionAction>,
    /// Containers with stale processes: restart or rebuild the container.
    pub containers: Vec<ContainerAction>,
    /// Stale processes that belong to none of the above.
    pub other_pids: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceAction {
    pub unit: String,
    pub pids: Vec<u32>,
    /// Names of the packages behind it (host context).
    pub packages: Vec<String>,
    /// Restarting it is known to be disruptive (dbus, display managers, networking, ...):
    /// a restart campaign never does it without being told to.
    pub restart_refused: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionAction {
    /// `user@UID.service` or `session-N.scope`.
    pub name: String,
    pub uid: Option<u32>,
    pub pids: Vec<u32>,
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerAction {
    pub runtime: String,
    pub id: String,
    pub pids: Vec<u32>,
    pub packages: Vec<String>,
}

/// A finding an ignore rule matched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IgnoredFinding {
    pub pid: u32,
    pub comm: String,
    pub kind: FindingKind,
    pub path: String,
    /// The rule that matched, as written.
    pub rule: String,
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
