//! The options that shape an integrity check, and its errors. The `integrity` part of the
//! report is in `crate::report`.

use std::path::PathBuf;

use crate::dpkg::DpkgError;

/// What to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityOptions {
    /// Glob (`fnmatch`, as dpkg) on package names, e.g. `libssl*`: only matching packages
    /// are checked. Matched against the bare name and against `NAME:ARCH`.
    pub packages: Option<String>,
    /// Hashing threads; all cores when `None`.
    pub threads: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("failed to read the dpkg database: {0}")]
    Dpkg(#[from] DpkgError),
    #[error("no dpkg database at {0}: integrity checks need a Debian-based host")]
    NoDatabase(PathBuf),
    #[error("failed to start hashing threads: {0}")]
    Threads(std::io::Error),
}
