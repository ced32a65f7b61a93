//! CPU microcode: the revision each CPU model runs against the newest revision in
//! `/lib/firmware`, read from the vendors' file formats by the probe itself (no
//! `iucode_tool`).

mod amd;
mod collect;
mod cpuinfo;
mod intel;

pub use amd::{AmdContainer, AmdPatch, parse_amd_container};
pub use collect::collect;
pub use cpuinfo::{Cpu, cpuid_signature, parse_cpuinfo};
pub use intel::{IntelUpdate, parse_intel_file};
