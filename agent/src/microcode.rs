//! Placeholder until the kernel, microcode and reboot issue lands.

use serde::{Deserialize, Serialize};

use crate::roots::Roots;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MicrocodeReport {}

pub fn collect(_roots: &Roots) -> MicrocodeReport {
    MicrocodeReport {}
}
