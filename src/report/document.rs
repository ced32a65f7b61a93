//! The fleet report document written by `--format json`: controller metadata and every
//! selected host's outcome in inventory order, each audited host's probe report embedded
//! unchanged. [`super::Json`] writes it.
//! Documented in docs/fleet-report.md; [`FORMAT_VERSION`] follows the same rules as the
//! probe's `SCHEMA_VERSION` (adding an optional field keeps it, anything else bumps it).

use serde::{Deserialize, Serialize};

use patchgap_probe::Report;

use super::policy_outcome::PolicyOutcome;
use crate::baseline::BaselineOutcome;
use crate::deploy::probe_output::ProbeReport;
use crate::outcome::{HostOutcome, HostResult};

/// Version of the fleet report's shape.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "Saved")]
pub struct FleetReport {
    pub format_version: u32,
    pub controller: ControllerInfo,
    /// One entry per selected host, audited or failed: no host is ever missing.
    pub hosts: Vec<HostOutcome>,
    /// The verdict of `--policy`, when one was given. Optional, so the format version
    /// stays: older reports read as "no policy".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyOutcome>,
    /// What `--baseline-write` or `--baseline` did (controller-side: the hosts' probe
    /// reports stay as printed). Optional, so the format version stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineOutcome>,
}

/// A fleet report as saved. Reading one back merges its `baseline` outcome into the
/// hosts' parsed reports again ([`crate::baseline::apply`]), so it renders, exits and is
/// judged as it was when written.
#[derive(Deserialize)]
struct Saved {
    format_version: u32,
    controller: ControllerInfo,
    hosts: Vec<HostOutcome>,
    #[serde(default)]
    policy: Option<PolicyOutcome>,
    #[serde(default)]
    baseline: Option<BaselineOutcome>,
}

impl From<Saved> for FleetReport {
    fn from(saved: Saved) -> Self {
        let mut report = FleetReport {
            format_version: saved.format_version,
            controller: saved.controller,
            hosts: saved.hosts,
            policy: saved.policy,
            baseline: saved.baseline,
        };
        crate::baseline::apply(&mut report);
        report
    }
}

/// Who ran the audit, on what, and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControllerInfo {
    /// Version of the `patchgap` controller.
    pub version: String,
    /// Probe report schema this controller reads.
    pub probe_schema_version: u32,
    /// Unix time the run started.
    pub started_at: i64,
    /// Unix time the last host finished.
    pub finished_at: i64,
    /// Inventory files, as given with `-i`.
    pub inventories: Vec<String>,
    /// The `--limit` pattern, if any.
    pub limit: Option<String>,
    /// Hosts selected but left out by `patchgap_skip`.
    pub skipped: Vec<String>,
    /// What the setup skipped and the run went on without (a known_hosts or ssh_config
    /// line that is not UTF-8), in words, for the user to fix. Optional: absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The part of the selected hosts this run audited (`--shard`); absent when the run
    /// was not sharded, and in the report `patchgap merge` writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// The shard of a run, as its fleet report records it, so that `patchgap merge` can check
/// the shards and put the hosts back in the unsharded order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard's number, from 1.
    pub index: u32,
    /// How many shards the run was split into.
    pub count: u32,
    /// How many hosts the whole run selected, all shards together.
    pub selected: usize,
    /// For each host of this report, in order, its position among all the selected hosts.
    pub positions: Vec<usize>,
}

impl ControllerInfo {
    /// Metadata of this controller; the caller measures the times (this module reads no
    /// clock, so reports are reproducible in tests).
    pub fn new(started_at: i64, finished_at: i64) -> Self {
        ControllerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            probe_schema_version: patchgap_probe::SCHEMA_VERSION,
            started_at,
            finished_at,
            inventories: Vec::new(),
            limit: None,
            skipped: Vec::new(),
            warnings: Vec::new(),
            shard: None,
        }
    }
}

impl FleetReport {
    pub fn new(controller: ControllerInfo, hosts: Vec<HostOutcome>) -> Self {
        FleetReport {
            format_version: FORMAT_VERSION,
            controller,
            hosts,
            policy: None,
            baseline: None,
        }
    }

    /// A local audit seen as a fleet of one, so that every format beyond table and JSON
    /// has a single code path: the host is named by its hostname, reached at `localhost`
    /// as the user the probe ran as.
    pub fn single_host(report: Report, controller: ControllerInfo) -> serde_json::Result<Self> {
        let partial = report.scan.partial;
        let host = HostOutcome {
            host: report.host.hostname.clone(),
            address: "localhost".to_string(),
            port: 0,
            user: if report.host.euid == 0 {
                "root".to_string()
            } else {
                report.host.euid.to_string()
            },
            elapsed_ms: report.scan.duration_ms,
            result: HostResult::Audited {
                partial,
                report: Box::new(ProbeReport::from_report(report)?),
            },
        };
        Ok(FleetReport::new(controller, vec![host]))
    }
}
