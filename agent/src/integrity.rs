//! Placeholder until the integrity issue lands.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IntegrityReport {}
