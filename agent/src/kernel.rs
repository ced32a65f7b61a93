//! Placeholder until the kernel, microcode and reboot issue lands.

use serde::{Deserialize, Serialize};

use crate::roots::Roots;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct KernelReport {}

pub fn collect(_roots: &Roots) -> KernelReport {
    KernelReport {}
}
