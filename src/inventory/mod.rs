//! The Ansible YAML inventory: which hosts to audit, how to reach them, and patchgap's own
//! per-host settings (`patchgap_*` variables). The only module that parses YAML.

mod caps;
mod errors;
mod graph;
mod hosts;
mod lines;
mod parse;
mod ranges;
mod ssh_args;
mod vars;

#[cfg(test)]
pub(crate) mod proptests;
#[cfg(test)]
mod tests;

pub use errors::{InventoryError, Location, Shown, shown};
pub use hosts::{HostTarget, Inventory, load, load_str};
pub use vars::{PATCHGAP_VARS, PatchgapVars};
