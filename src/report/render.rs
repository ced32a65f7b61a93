//! The one interface every output format implements. A renderer writes a whole document
//! to a writer and decides nothing: what goes where is the [`Sink`](super::Sink)'s job,
//! and the exit status is `exit.rs`'s.

use std::io::{self, Write};

use patchgap_probe::Report;

use super::document::FleetReport;

/// An output format (`--format`): table and JSON today; CSV, HTML, JUnit, Nagios and
/// OpenMetrics each add one file implementing this.
pub trait Render {
    /// One host's report: the local audit.
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;

    /// A fleet run: every selected host's outcome.
    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()>;
}

/// A local audit as a fleet of one ([`FleetReport::single_host`]), for the formats that
/// render every report through [`Render::fleet`]: one code path per format. The run's times
/// are the scan's own, so the same report always renders the same.
pub fn host_as_fleet(report: &Report) -> io::Result<FleetReport> {
    let started = report.host.scanned_at;
    let finished =
        started.saturating_add(i64::try_from(report.scan.duration_ms / 1000).unwrap_or(i64::MAX));
    FleetReport::single_host(
        report.clone(),
        super::document::ControllerInfo::new(started, finished),
    )
    .map_err(io::Error::other)
}
