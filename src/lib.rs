/*!
The patchgap controller: audits this machine in-process, or a fleet over SSH by pushing
the static probe to each host, and renders what it finds for people and pipelines.
*/

pub mod cli;
pub mod exit;
pub mod inventory;
pub mod outcome;
