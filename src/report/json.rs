//! `--format json`: the probe's report for one host (docs/report-format.md), the fleet
//! document for a fleet run (docs/fleet-report.md). Pretty-printed, one trailing newline;
//! host-supplied strings are kept as they are, since serde escapes them.

use std::io::{self, Write};

use patchgap_probe::Report;

use super::document::FleetReport;
use super::render::Render;

/// The JSON renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Json {
    fn write(value: &impl serde::Serialize, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, value)?;
        out.write_all(b"\n")
    }
}

impl Render for Json {
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        Json::write(report, out)
    }

    /// Each host's probe report is written as the probe printed it.
    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
        Json::write(report, out)
    }
}
