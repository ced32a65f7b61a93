//! Placeholder until the kernel, microcode and reboot issue lands.

use serde::{Deserialize, Serialize};

use crate::roots::Roots;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RebootReport {}

pub fn collect(_roots: &Roots) -> RebootReport {
    RebootReport {}
}
