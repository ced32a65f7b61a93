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
