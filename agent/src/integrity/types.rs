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
    /// Also report the SHA-256 of these packages' files, for a baseline that the
    /// controller writes or compares (`patchgap audit --baseline-write/--baseline`).
    pub baseline_hashes: Option<HashScope>,
}

/// Which packages' files get SHA-256 sums for a baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HashScope {
    /// Only packages that ship no `md5sums`: nothing else records their content.
    #[default]
    WithoutMd5sums,
    /// Every checked package (`--baseline-all`).
    All,
}

impl HashScope {
    /// The probe's command-line spelling (`--baseline-hashes WORD`).
    pub fn word(self) -> &'static str {
        match self {
            HashScope::WithoutMd5sums => "without-md5sums",
            HashScope::All => "all",
        }
    }

    /// Parses [`HashScope::word`].
    pub fn from_word(word: &str) -> Option<Self> {
        [HashScope::WithoutMd5sums, HashScope::All]
            .into_iter()
            .find(|s| s.word() == word)
    }
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
