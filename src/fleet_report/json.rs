//! JSON output of the fleet report, to any writer or atomically to a file.

use std::io::Write;
use std::path::Path;

use super::model::FleetReport;
use crate::atomic::{AtomicWriteError, write_atomic};

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
