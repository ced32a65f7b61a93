//! The process part of the report: stale processes, their findings, the packages behind
//! them and what to do about them (`processes`, `packages`, `actions`, `ignored`).

use serde::{Deserialize, Serialize};

/// A process running replaced code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StaleProcess {
    /// Process id (in the namespace the probe runs in).
    pub pid: u32,
    /// Parent process id.
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
    /// What is stale: the program itself, a mapped library, an open file, or an
    /// interpreted script or module.
    pub kind: FindingKind,
    /// The file as the process sees it, without the ` (deleted)` mark.
    pub path: String,
    /// The package that owns the path (in the process's own dpkg database), if any.
    /// Names an entry of [`Report::packages`](super::Report::packages) with the same `context`.
    pub package: Option<String>,
    /// What the path names now: another file (an upgrade put a new version there) or
    /// nothing (the file was removed).
    pub now_at_path: NowAtPath,
    /// Low for unowned files (not from a package), normal otherwise.
    pub severity: Severity,
}

/// What the path of a stale file names now.
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

/// What kind of replaced file a process still uses.
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
    /// The main script of an interpreter process (Python, Perl, Ruby, Node.js) changed
    /// after the process started: it runs the code it read before (docs/interpreters.md).
    ScriptChanged,
    /// A module that an interpreter process's script imports (directly or through other
    /// modules) changed after the process started.
    ModuleChanged,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Unowned files (not from a package), conffiles and unreadable files.
    Low,
    /// A replaced packaged file, or a changed one.
    Normal,
    /// A modified packaged file that runs right now.
    High,
}

/// Who owns a process, which decides what fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    /// A system service: `systemctl restart UNIT`.
    Service {
        /// The unit (`nginx.service`).
        unit: String,
    },
    /// The system manager, PID 1: `systemctl daemon-reexec`.
    SystemManager,
    /// A user's systemd manager (`user@UID.service`), or a unit it runs.
    UserManager {
        /// The user the manager runs for.
        uid: u32,
        /// The unit of that manager the process belongs to, if any.
        unit: Option<String>,
    },
    /// A login session (`session-N.scope`): the user has to log in again.
    Session {
        /// The session id (`N` of `session-N.scope`).
        id: String,
        /// The session's user, when known.
        uid: Option<u32>,
    },
    /// A process in a container, judged against the container's own dpkg database.
    Container {
        /// Container runtime (`docker`, `podman`, `lxc`, ...), `unknown` when only a
        /// foreign PID namespace told.
        runtime: String,
        /// The container's id from its cgroup path, or `pidns:INODE`.
        id: String,
        /// The service inside the container the process belongs to, if its cgroup names one.
        unit: Option<String>,
    },
    /// Anything else (a scope, no systemd, unknown cgroup).
    Other {
        /// The process's cgroup path, when readable.
        cgroup: Option<String>,
    },
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

/// One service to restart, with the processes and packages behind it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceAction {
    /// The systemd unit (`nginx.service`).
    pub unit: String,
    /// PIDs of its stale processes.
    pub pids: Vec<u32>,
    /// Names of the packages behind it (host context).
    pub packages: Vec<String>,
    /// Restarting it is known to be disruptive (dbus, display managers, networking, ...):
    /// a restart campaign never does it without being told to.
    pub restart_refused: bool,
}

/// One user manager or login session with stale processes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionAction {
    /// `user@UID.service` or `session-N.scope`.
    pub name: String,
    /// The user, when known.
    pub uid: Option<u32>,
    /// PIDs of its stale processes.
    pub pids: Vec<u32>,
    /// Names of the packages behind it.
    pub packages: Vec<String>,
}

/// One container with stale processes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerAction {
    /// Container runtime (`docker`, `podman`, `systemd-nspawn`, ...).
    pub runtime: String,
    /// The container's id or name as its runtime reports it.
    pub id: String,
    /// PIDs of its stale processes.
    pub pids: Vec<u32>,
    /// Names of the packages behind it, in the container's own database.
    pub packages: Vec<String>,
}

/// A finding an ignore rule matched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IgnoredFinding {
    /// Process id.
    pub pid: u32,
    /// Command name, as in [`StaleProcess::comm`].
    pub comm: String,
    /// What would have been reported.
    pub kind: FindingKind,
    /// The file, as in [`Finding::path`].
    pub path: String,
    /// The rule that matched, as written.
    pub rule: String,
}
