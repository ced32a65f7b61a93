//! The exposure part of the report (`exposure`): which stale process matters. For each
//! package behind findings, the changelog entries the running code lacks (CVEs, urgency,
//! security uploads); for each stale process, its listening sockets; for processes and
//! services, a risk level with its reasons in words. The rule is in `docs/risk.md`.

use serde::{Deserialize, Serialize};

/// Everything that ranks the stale processes of one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Exposure {
    /// One entry per package of [`Report::packages`](super::Report::packages), same order.
    pub packages: Vec<PackageExposure>,
    /// One entry per stale process of [`Report::processes`](super::Report::processes),
    /// same order.
    pub processes: Vec<ProcessExposure>,
    /// One entry per service of [`Actions::services`](super::Actions::services), ordered
    /// by risk, highest first (then by unit name).
    pub services: Vec<ServiceRisk>,
}

/// What the running code of a package lacks, from its Debian changelog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageExposure {
    /// As [`PackageChange::context`](super::PackageChange::context).
    pub context: String,
    /// As [`PackageChange::name`](super::PackageChange::name).
    pub name: String,
    /// The version installed now.
    pub installed_version: Option<String>,
    /// The version the stale processes run: the one the last upgrade replaced.
    pub running_version: Option<String>,
    /// Where [`running_version`](Self::running_version) comes from.
    pub running_version_from: VersionOrigin,
    /// Whether the changes between the two versions include a security fix.
    pub security: Security,
    /// Why [`security`](Self::security) is what it is, in words: the security suite an
    /// entry was uploaded to, an entry that says it fixes a security issue, or why the
    /// changelog could not tell ("no changelog: /usr/share/doc is excluded by ...").
    pub security_reasons: Vec<String>,
    /// CVE identifiers named by the entries between the two versions, sorted, unique.
    pub cves: Vec<String>,
    /// The highest `urgency=` of those entries (`low`, `medium`, `high`, `emergency`,
    /// `critical`), when any entry was read.
    pub urgency: Option<String>,
    /// Number of changelog entries between the two versions.
    pub entries: u32,
    /// The changelog files read, inside the package's root (`/usr/share/doc/...`).
    pub changelogs: Vec<String>,
}

/// Where the version a process runs was learnt.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VersionOrigin {
    /// `/var/log/dpkg.log`.
    DpkgLog,
    /// A rotated dpkg log (`dpkg.log.1`, `dpkg.log.N.gz`).
    RotatedDpkgLog,
    /// Not found in any log: only the installed version's own changelog entry is taken
    /// as missing from the running code.
    Unknown,
}

/// Whether an upgrade that a process ignores fixed a security issue.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// The changelog was read and no entry in the range names a CVE, a security suite or
    /// a security fix.
    NotSecurity,
    /// No changelog could be read: the reasons say why. Never taken as "not security".
    Unknown,
    /// An entry in the range names a CVE, was uploaded to a `*-security` suite, or says it
    /// fixes a security issue.
    Security,
}

/// The listening sockets and the risk of one stale process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessExposure {
    /// As [`StaleProcess::pid`](super::StaleProcess::pid).
    pub pid: u32,
    /// TCP sockets in `LISTEN` state and unconnected bound UDP sockets the process holds.
    pub sockets: Vec<ListeningSocket>,
    /// Why the sockets could not be read (the fd table or the network namespace's
    /// tables were unreadable), when they could not: then `sockets` may be incomplete.
    pub sockets_unknown: Option<String>,
    /// The process's risk.
    pub risk: Risk,
}

/// One listening socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListeningSocket {
    /// `tcp` or `udp`.
    pub protocol: Protocol,
    /// The local address as text (`0.0.0.0`, `::`, `127.0.0.1`, `fe80::1`).
    pub address: String,
    /// The local port.
    pub port: u16,
    /// Who can reach the address.
    pub class: AddressClass,
}

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP, IPv4 or IPv6.
    Tcp,
    /// UDP, IPv4 or IPv6.
    Udp,
}

/// Who can reach a local address, from least to most exposed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AddressClass {
    /// `127.0.0.0/8`, `::1`: this host only.
    Loopback,
    /// Private, link-local and shared ranges (`10/8`, `172.16/12`, `192.168/16`,
    /// `169.254/16`, `100.64/10`, `fc00::/7`, `fe80::/10`).
    Private,
    /// A public unicast address.
    Public,
    /// The wildcard (`0.0.0.0`, `::`): every interface, public ones included.
    Any,
}

/// A risk level with the facts behind it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Risk {
    /// The level.
    pub level: RiskLevel,
    /// The facts that led to it, in words, most important first.
    pub reasons: Vec<String>,
}

/// How urgently a stale process or service should be restarted. Ordered: `low` is the
/// least urgent.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// A non-security update, or a file no package owns.
    Low,
    /// A security update not reachable from the network, or an update of unknown kind
    /// that is.
    Medium,
    /// A security update reachable from this host or a private network, or one ignored
    /// for a week.
    High,
    /// A security update in a process listening on every interface or a public address.
    Critical,
}

impl RiskLevel {
    /// Every level, lowest first.
    pub const ALL: [RiskLevel; 4] = [
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::Critical,
    ];

    /// The level as the JSON and the command line spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }
}

/// The risk of one service: the highest of its stale processes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceRisk {
    /// The systemd unit, as in [`ServiceAction::unit`](super::ServiceAction::unit).
    pub unit: String,
    /// The risk of its riskiest process, with that process's reasons.
    pub risk: Risk,
    /// CVEs its processes still lack, sorted, unique.
    pub cves: Vec<String>,
}
