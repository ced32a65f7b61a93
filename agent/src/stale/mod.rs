//! Stale processes: which processes run replaced code, which package is behind each file,
//! and what an admin does about it.

mod actions;
mod attribute;
mod identity;
mod scan;

pub use actions::{group, restart_refused};
pub use attribute::{Attributed, PROBE_ITSELF, UNOWNED_OPEN_FILE, attribute};
pub use identity::{Identity, compare, namespace_inode, split_dev};
pub use scan::{Candidate, Context, Inspected, ScanOutput, scan};
