/*!
The patchgap controller: audits this machine in-process, or a fleet over SSH by pushing
the static probe to each host, and renders what it finds for people and pipelines.
*/

pub mod atomic;
pub mod cli;
pub mod deploy;
pub mod exit;
pub mod fleet;
pub mod fleet_report;
pub mod glob;
pub mod inventory;
pub mod limit;
pub mod local;
pub mod open_files;
pub mod outcome;
pub mod output;
pub mod probe_output;
pub mod progress;
pub mod render;
pub mod run;
pub mod sanitize;
pub mod targets;
pub mod transport;

#[cfg(test)]
mod test_reports;
