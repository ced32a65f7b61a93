//! Package file integrity: every installed package's files checked against the MD5 sums
//! dpkg recorded, joined with the files that running processes execute.
//!
//! The check reads `/var/lib/dpkg/info/*.md5sums` and the `Conffiles:` field directly and
//! hashes in parallel with one fixed buffer per thread; it forks nothing. Field-by-field
//! documentation of the report is in `docs/report-integrity.md`.

mod baseline;
mod filter;
mod hash;
mod md5lanes;
mod plan;
mod streams;
mod types;
mod verify;

pub use filter::{PathFilter, fnmatch};
pub use types::{HashScope, IntegrityError, IntegrityOptions};
pub use verify::{verify, verify_with};
