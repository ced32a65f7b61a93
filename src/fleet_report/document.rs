//! The fleet report document written by `--format json`: controller metadata and every
//! selected host's outcome, each audited host's probe report embedded unchanged; and its
//! output, to any writer or atomically to a file.
//! Documented in docs/fleet-report.md; [`FORMAT_VERSION`] follows the same rules as the
//! probe's `SCHEMA_VERSION` (adding an optional field keeps it, anything else bumps it).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::{AtomicWriteError, write_atomic};
use crate::outcome::HostOutcome;

/// Version of the fleet report's shape.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetReport {
    pub format_version: u32,
    pub controller: ControllerInfo,
    /// One entry per selected host, audited or failed: no host is ever missing.
    pub hosts: Vec<HostOutcome>,
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
        }
    }
}

impl FleetReport {
    pub fn new(controller: ControllerInfo, hosts: Vec<HostOutcome>) -> Self {
        FleetReport {
            format_version: FORMAT_VERSION,
            controller,
            hosts,
        }
    }

    /// Puts the outcomes in inventory order (the fan-out finishes hosts in any order), so
    /// two runs over the same fleet diff cleanly. Hosts not in `order` go last, by name.
    pub fn sort_hosts(&mut self, order: &[String]) {
        let position = |host: &str| order.iter().position(|o| o == host).unwrap_or(usize::MAX);
        self.hosts
            .sort_by(|a, b| (position(&a.host), &a.host).cmp(&(position(&b.host), &b.host)));
    }
}

/// Pretty JSON followed by a newline. Each host's probe report is written as the probe
/// printed it.
pub fn write_json(report: &FleetReport, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// Writes the report to `path` so that the file is either the previous one or the whole
/// new report, never a part of it.
pub fn write_json_file(report: &FleetReport, path: &Path) -> Result<(), AtomicWriteError> {
    write_atomic(path, |out| write_json(report, out))
}
