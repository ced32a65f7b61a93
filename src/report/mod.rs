//! Everything patchgap shows or writes: the fleet document, the figures aggregated from it,
//! one renderer per format behind [`Render`] (table, JSON, CSV, HTML, JUnit,
//! Nagios, OpenMetrics, brief), the outputs of a run (`-o`, [`write_outputs`]), the sinks the bytes go to
//! (stdout, or a file replaced atomically), the sanitiser every host-supplied string passes
//! before a terminal, and the progress bar fed by the fleet's events. Only this module (and
//! `main`, for the final error) prints.

mod actions;
mod aggregate;
pub mod atomic;
mod baseline_table;
mod brief;
mod campaign;
mod csv;
mod diff_csv;
mod diff_html;
mod diff_junit;
mod diff_metrics;
mod diff_nagios;
mod diff_table;
mod document;
mod host_table;
mod html;
mod json;
mod junit;
mod nagios;
mod openmetrics;
mod outputs;
mod policy_outcome;
mod policy_table;
mod progress;
mod render;
pub mod sanitize;
mod sink;
mod table;
mod text;

#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod hostile;
#[cfg(test)]
mod tests;

pub use actions::{
    ActionKind, PendingAction, RebootVerdict, has_findings, pending_actions, reboot_verdict,
    services_to_restart,
};
pub use aggregate::{
    FailedHost, FleetSummary, HostState, HostSummary, PackageSpread, failure_label, host_verdict,
    summarize, verdict,
};
pub use brief::Brief;
pub use campaign::{
    CAMPAIGN_FORMAT_VERSION, campaign_json, campaign_table, manual_reason, plan_json, plan_table,
    stop_text,
};
pub use csv::Csv;
pub use diff_csv::diff_csv;
pub use diff_html::diff_html;
pub use diff_junit::diff_junit;
pub use diff_metrics::diff_metrics;
pub use diff_nagios::{diff_nagios, diff_nagios_status};
pub use diff_table::{diff_json, render_diff};
pub use document::{ControllerInfo, FORMAT_VERSION, FleetReport, ShardInfo};
pub use html::Html;
pub use json::Json;
pub use junit::Junit;
pub use nagios::{LimitSpec, LimitSpecError, Nagios, NagiosStatus, Thresholds, nagios_status};
pub use openmetrics::OpenMetrics;
pub use outputs::{
    Audited, Output, OutputSpecError, OutputsFailed, RenderOptions, Target, plan_outputs,
    stdout_format, write_outputs,
};
pub use policy_outcome::{Level, PolicyOutcome, RuleOutcome, Violation};
pub use policy_table::render_policy;
pub use progress::Progress;
pub use render::{Render, host_as_fleet};
pub use sink::Sink;
pub use table::{Table, stdout_width};
