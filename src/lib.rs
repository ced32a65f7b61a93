/*!
The patchgap controller: audits this machine in-process, or a fleet over SSH by pushing
the static probe to each host, and renders what it finds for people and pipelines.

One host's journey, file by file: `inventory/` (YAML, `--limit` in `limit.rs`) →
`targets.rs` (ready targets: the route resolved from the ssh config, the deploy settings
apart; the run's options and setup warnings; the only reader of the user's environment) →
`fleet/` (bounded fan-out, [`outcome::FleetEvent`]s) → `transport/` (the `Connector` and
`Exec` seam; russh behind it) → `deploy/` (upload, run, [`deploy::probe_output`] validates
what the probe printed) → [`outcome::HostOutcome`] → `report/` (document, figures, one
renderer per format, the `-o` outputs, stdout or file, progress) → `commands/audit.rs` (the
wiring; `commands/report.rs` renders a saved report) → `exit.rs` (the status).
`open_files.rs` sizes `--forks` to the open-files limit.
*/

pub mod baseline;
pub mod campaign;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod diff;
pub mod exit;
pub mod fleet;
pub mod glob;
pub mod inventory;
pub mod limit;
pub mod notify;
pub mod open_files;
pub mod outcome;
pub mod policy;
pub mod report;
pub mod shard;
pub mod targets;
pub mod transport;

#[cfg(test)]
mod test_outcomes;
#[cfg(test)]
mod test_reports;
