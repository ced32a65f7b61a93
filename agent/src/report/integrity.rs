//! The `integrity` part of the report: packaged files whose content differs from dpkg's
//! sums. Also described in `docs/report-integrity.md`. Every enum is tagged so that
//! consumers in other languages can read it without guessing.

use serde::{Deserialize, Serialize};

use super::Severity;

/// Result of one integrity check of a host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IntegrityReport {
    /// Counts over the whole check.
    pub summary: IntegritySummary,
    /// The package name pattern the check was limited to, if any.
    pub package_filter: Option<String>,
    /// Every file that failed, sorted by path then package.
    pub findings: Vec<IntegrityFinding>,
    /// Installed packages that have files but no `info/NAME.md5sums`: their non-conffiles
    /// could not be verified. Info names (`NAME` or `NAME:ARCH`), sorted.
    pub packages_without_md5sums: Vec<String>,
    /// Listed files that are absent because a dpkg `path-exclude` rule kept them off the
    /// disk: not findings, counted here so nothing disappears silently.
    pub excluded_absent: u64,
    /// Problems that left parts of the check undone (an unreadable md5sums file, ...).
    pub warnings: Vec<String>,
    /// SHA-256 of the packages' files, only when a baseline was asked for
    /// (`--baseline-hashes`): the controller writes them to a baseline file or compares them
    /// with one. Absent otherwise, so reports without a baseline keep their shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_hashes: Option<Vec<PackageHashes>>,
}

/// The files of one package as they are now, for a checksum baseline (debsums `-g`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackageHashes {
    /// Info name (`bash`, `libssl3:amd64`), as in the findings.
    pub package: String,
    /// `Package:` name.
    pub name: String,
    /// `Architecture:`.
    pub arch: String,
    /// `Version:`: a baseline only applies to the version it was written for.
    pub version: String,
    /// Every listed non-conffile that is not a directory, sorted by path.
    pub files: Vec<FileHash>,
}

/// One file of a [`PackageHashes`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileHash {
    /// The path hashed, as in the findings (the diverted-to path for a diverted file).
    pub path: String,
    /// Lowercase hex SHA-256 of a regular file; absent when it could not be hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why there is no sum: `missing`, `symbolic link`, `permission denied`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts of one check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IntegritySummary {
    /// Installed packages whose files were checked.
    pub packages_checked: u64,
    /// Entries of the packages' file lists checked: files, directories and symlinks, one
    /// per package that lists the path.
    pub files_checked: u64,
    /// Of those, the files with a recorded sum, hashed when present.
    pub files_hashed: u64,
    /// Bytes read and hashed.
    pub bytes_hashed: u64,
    /// Non-conffiles whose content differs from the recorded sum (includes those in use).
    pub changed: u64,
    /// Non-conffiles that are absent (path-excluded files are not counted).
    pub missing: u64,
    /// Conffiles whose content differs: usually an admin's edit.
    pub conffiles_changed: u64,
    /// Conffiles that are absent.
    pub conffiles_missing: u64,
    /// Files that exist but could not be read (permissions, not a regular file).
    pub unreadable: u64,
    /// Changed files that running processes execute or map.
    pub modified_in_use: u64,
    /// Length of [`IntegrityReport::packages_without_md5sums`].
    pub packages_without_md5sums: u64,
    /// Hashing threads used.
    pub threads: u32,
    /// Wall time of the check, in milliseconds.
    pub duration_ms: u64,
}

/// One file that failed the check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntegrityFinding {
    /// The path checked, as dpkg spells it (the diverted-to path for a diverted file).
    pub path: String,
    /// Info name of the package whose sum was used (`bash`, `libssl3:amd64`).
    pub package: String,
    /// True for a conffile (checked against the `Conffiles:` field).
    pub conffile: bool,
    /// What is wrong with the file.
    pub problem: Problem,
    /// High for a modified file in use, Low for conffiles and unreadable files, Normal
    /// otherwise.
    pub severity: Severity,
}

/// What is wrong with a file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The content's MD5 differs from the recorded one.
    Changed {
        /// The recorded sum.
        expected: String,
        /// The sum of the file on disk.
        actual: String,
    },
    /// The content differs and processes run or map the file right now.
    ModifiedInUse {
        /// The recorded sum.
        expected: String,
        /// The sum of the file on disk.
        actual: String,
        /// The processes using the file, ascending.
        pids: Vec<u32>,
    },
    /// The content's SHA-256 differs from the checksum baseline (`--baseline`) while the
    /// package's version is the one the baseline recorded. Found by the controller.
    ChangedSinceBaseline {
        /// The SHA-256 the baseline recorded.
        expected: String,
        /// The SHA-256 of the file now, or why there is none, in parentheses
        /// (`(symbolic link)`).
        actual: String,
    },
    /// Nothing at the path (a dangling symlink counts as nothing, as for dpkg).
    Missing,
    /// Something at the path that could not be hashed.
    Unreadable {
        /// Why, e.g. "permission denied" or "not a regular file (directory)".
        error: String,
    },
}

impl IntegrityReport {
    /// True when something needs attention: a changed or missing non-conffile, or a
    /// modified file in use. Conffile edits and unreadable files alone do not count.
    pub fn has_findings(&self) -> bool {
        self.findings.iter().any(|f| match f.problem {
            Problem::ModifiedInUse { .. } => true,
            Problem::Changed { .. } | Problem::ChangedSinceBaseline { .. } | Problem::Missing => {
                !f.conffile
            }
            Problem::Unreadable { .. } => false,
        })
    }
}

impl Problem {
    /// The severity of this problem for a conffile or a plain file.
    pub fn severity(&self, conffile: bool) -> Severity {
        match self {
            Problem::ModifiedInUse { .. } => Severity::High,
            Problem::Unreadable { .. } => Severity::Low,
            Problem::Changed { .. } | Problem::ChangedSinceBaseline { .. } | Problem::Missing
                if conffile =>
            {
                Severity::Low
            }
            Problem::Changed { .. } | Problem::ChangedSinceBaseline { .. } | Problem::Missing => {
                Severity::Normal
            }
        }
    }
}
