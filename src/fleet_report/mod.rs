//! The fleet report: every host's outcome aggregated into figures, rendered as terminal
//! tables or written as JSON. Aggregation, rendering and output are separate modules so
//! each output format reads the same figures.

mod actions;
mod aggregate;
mod document;
mod table;

#[cfg(test)]
mod tests;

pub use actions::{
    ActionKind, PendingAction, RebootVerdict, has_findings, pending_actions, reboot_verdict,
    services_to_restart,
};
pub use aggregate::{
    FailedHost, FleetSummary, HostState, HostSummary, PackageSpread, failure_label, fleet_exit,
    summarize,
};
pub use document::{ControllerInfo, FORMAT_VERSION, FleetReport, write_json, write_json_file};
pub use table::{render_summary, stdout_width};
