//! Checksum baselines, debsums `-g` parity (issue 18): `patchgap audit --integrity
//! --baseline-write FILE` records the SHA-256 of the files of packages that ship no
//! `md5sums` (all packages with `--baseline-all`), per host and with each package's
//! version; `--baseline FILE` compares a later audit with it. The document is described in
//! docs/report-integrity.md.
//!
//! Design: the probe only *reports* current sums (`--baseline-hashes`, in
//! `integrity.baseline_hashes`) and the controller writes and compares here. The other
//! way, handing each host its slice of the baseline, has no channel fit for it: argv is
//! capped per argument (128 KiB) and in all (a `--baseline-all` slice is megabytes), and
//! the deploy channel's stdin carries the probe upload and the sudo password. Comparing
//! here is also one code path for the local audit and for every fleet host: both end as a
//! probe report in a [`FleetReport`] (a local audit through `FleetReport::single_host`).
//!
//! The host's probe report stays byte for byte what the probe printed. What the comparison
//! finds is recorded in the fleet report's controller-side `baseline` field
//! ([`BaselineOutcome`]), and is also merged into the *parsed* report of the host
//! ([`apply`]), which every renderer, the exit status and the policy read: a file changed
//! since the baseline is an integrity finding like any other, of kind
//! `changed_since_baseline`.
//!
//! A package whose version differs from the baseline's was upgraded (or downgraded): its
//! new files are not tampering, so they are not compared; the host gets a note "baseline
//! outdated for PKG (v1 → v2)" and the count. A host the baseline has no section for gets
//! a warning naming it and the fix.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use patchgap_probe::integrity::HashScope;
use patchgap_probe::report::{IntegrityFinding, IntegrityReport, PackageHashes, Problem};
use serde::{Deserialize, Serialize};

use crate::outcome::{HostOutcome, HostResult};
use crate::report::FleetReport;
use crate::report::atomic::{AtomicWriteError, write_atomic};

/// The `format` field of a baseline document.
pub const FORMAT: &str = "patchgap-baseline";
/// Version of the baseline document's shape.
pub const VERSION: u32 = 1;
/// Largest baseline file read: far above a `--baseline-all` baseline of a large fleet
/// section (about 100 bytes per file), and a bound on what a bad file makes us hold.
pub const MAX_BYTES: u64 = 1 << 30;

/// Which packages a baseline covers, as the document spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Packages that ship no `md5sums` (the default).
    WithoutMd5sums,
    /// Every package (`--baseline-all`).
    All,
}

impl Scope {
    /// The probe's scope for this baseline.
    pub fn probe(self) -> HashScope {
        match self {
            Scope::WithoutMd5sums => HashScope::WithoutMd5sums,
            Scope::All => HashScope::All,
        }
    }
}

/// A baseline document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written by this patchgap.
    pub version: u32,
    /// Unix time the audit that wrote it started.
    pub created_at: i64,
    pub scope: Scope,
    /// One section per host, by inventory name (the hostname for a local audit).
    pub hosts: BTreeMap<String, HostSection>,
}

/// What one host's packages held when the baseline was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSection {
    /// Packages by info name, each with its version and the sums of its regular files.
    pub packages: Vec<PackageHashes>,
}

/// Why a baseline file could not be used. Each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(
        "cannot read the baseline {}: {source}; write one first with \
         `patchgap audit --integrity --baseline-write FILE`", path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the baseline {} is larger than {MAX_BYTES} bytes: not a baseline patchgap wrote; \
         write it again with --baseline-write", path.display()
    )]
    TooLarge { path: PathBuf },
    #[error(
        "the baseline {} is truncated (it ends at line {line}, column {column}); write it \
         again with --baseline-write", path.display()
    )]
    Truncated {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error(
        "the baseline {} is not a patchgap baseline ({message}); write it again with \
         --baseline-write", path.display()
    )]
    Invalid { path: PathBuf, message: String },
    #[error(
        "the baseline {} has version {found}, this patchgap reads version {VERSION}; \
         upgrade patchgap or write the baseline again with --baseline-write", path.display()
    )]
    Version { path: PathBuf, found: u64 },
    #[error("cannot write the baseline: {0}")]
    Write(#[from] AtomicWriteError),
}

impl Baseline {
    /// Reads and checks a baseline file: bounded, then its format and version, then its
    /// shape.
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let read_error = |source| BaselineError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let too_large = || BaselineError::TooLarge {
            path: path.to_path_buf(),
        };
        if file.metadata().map_err(read_error)?.len() > MAX_BYTES {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        file.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        // A file that grew since its size was read, or that has no size (a FIFO).
        if bytes.len() as u64 > MAX_BYTES {
            return Err(too_large());
        }
        Self::parse(path, &bytes)
    }

    /// Parses the text of the baseline `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Baseline, BaselineError> {
        let invalid = |message: String| BaselineError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let json_error = |e: serde_json::Error| {
            if e.is_eof() {
                BaselineError::Truncated {
                    path: path.to_path_buf(),
                    line: e.line(),
                    column: e.column(),
                }
            } else {
                invalid(e.to_string())
            }
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(json_error)?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(invalid(format!("no \"format\": \"{FORMAT}\"")));
        }
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(found) => {
                return Err(BaselineError::Version {
                    path: path.to_path_buf(),
                    found,
                });
            }
            None => return Err(invalid("no whole-number \"version\"".into())),
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }

    /// The baseline of the audited hosts: each host's sums of files that could be hashed.
    /// Also returns, in words, the hosts that have no section and why.
    pub fn from_outcomes(
        outcomes: &[HostOutcome],
        scope: Scope,
        created_at: i64,
    ) -> (Baseline, BTreeMap<String, String>) {
        let mut hosts = BTreeMap::new();
        let mut missing = BTreeMap::new();
        for outcome in outcomes {
            let hashes = match &outcome.result {
                HostResult::Audited { report, .. } => report
                    .report()
                    .integrity
                    .as_ref()
                    .and_then(|i| i.baseline_hashes.as_ref()),
                HostResult::Failed { .. } => None,
            };
            let Some(hashes) = hashes else {
                missing.insert(
                    outcome.host.clone(),
                    format!(
                        "host {} has no section in the baseline: it was not audited or its \
                     integrity check did not run; audit it again with --baseline-write",
                        outcome.host
                    ),
                );
                continue;
            };
            let packages = hashes
                .iter()
                .map(|p| PackageHashes {
                    files: p
                        .files
                        .iter()
                        .filter(|f| f.sha256.is_some())
                        .cloned()
                        .collect(),
                    ..p.clone()
                })
                .collect();
            hosts.insert(outcome.host.clone(), HostSection { packages });
        }
        let baseline = Baseline {
            format: FORMAT.to_string(),
            version: VERSION,
            created_at,
            scope,
            hosts,
        };
        (baseline, missing)
    }

    /// Writes the baseline to `path` atomically (readable by its owner only), pretty
    /// printed so that a diff of two baselines reads well.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        write_atomic(path, |out| {
            serde_json::to_writer_pretty(&mut *out, self).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        })?;
        Ok(())
    }
}

/// What this run does with a baseline, decided (and the file read and checked) before any
/// host is audited: a bad baseline is the user's to fix before the fleet is contacted.
#[derive(Debug)]
pub enum Run {
    /// `--baseline-write FILE [--baseline-all]`.
    Write { file: PathBuf, scope: Scope },
    /// `--baseline FILE`.
    Verify { file: PathBuf, baseline: Baseline },
}

impl Run {
    /// The run the arguments ask for, if any.
    pub fn from_args(
        write: Option<&Path>,
        all: bool,
        verify: Option<&Path>,
    ) -> Result<Option<Run>, BaselineError> {
        Ok(match (write, verify) {
            (Some(file), _) => Some(Run::Write {
                file: file.to_path_buf(),
                scope: if all {
                    Scope::All
                } else {
                    Scope::WithoutMd5sums
                },
            }),
            (None, Some(file)) => Some(Run::Verify {
                file: file.to_path_buf(),
                baseline: Baseline::read(file)?,
            }),
            (None, None) => None,
        })
    }

    /// What the probe must hash: what is written, or what the baseline holds.
    pub fn scope(&self) -> HashScope {
        match self {
            Run::Write { scope, .. } => scope.probe(),
            Run::Verify { baseline, .. } => baseline.scope.probe(),
        }
    }

    /// After the audit: writes the baseline of `fleet`'s hosts, or compares them with it.
    /// Either way `fleet.baseline` says what was done and the hosts' parsed reports carry
    /// the outcome (see [`apply`]).
    pub fn finish(&self, fleet: &mut FleetReport, started_at: i64) -> Result<(), BaselineError> {
        match self {
            Run::Verify { file, baseline } => verify(fleet, baseline, file),
            Run::Write { file, scope } => {
                let (baseline, warnings) =
                    Baseline::from_outcomes(&fleet.hosts, *scope, started_at);
                baseline.write(file)?;
                let hosts = baseline
                    .hosts
                    .iter()
                    .map(|(name, section)| {
                        let check = HostCheck {
                            packages_compared: section.packages.len() as u64,
                            files_compared: section
                                .packages
                                .iter()
                                .map(|p| p.files.len() as u64)
                                .sum(),
                            ..HostCheck::default()
                        };
                        (name.clone(), check)
                    })
                    .collect();
                fleet.baseline = Some(BaselineOutcome {
                    file: file.display().to_string(),
                    mode: BaselineMode::Write,
                    hosts,
                    warnings,
                });
                apply(fleet);
            }
        }
        Ok(())
    }
}

/// The controller-side `baseline` field of a fleet report: what was done with a baseline
/// file, per host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineOutcome {
    /// The baseline file, as given.
    pub file: String,
    /// `write` (`--baseline-write`) or `verify` (`--baseline`).
    pub mode: BaselineMode,
    /// Audited hosts by name; a host without a section (or whose check did not run) is
    /// absent here and named in `warnings`.
    pub hosts: BTreeMap<String, HostCheck>,
    /// By host name: why the baseline could not be written for or compared on that host,
    /// with the fix.
    pub warnings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineMode {
    Write,
    Verify,
}

/// One host's comparison with its baseline section (or, when writing, what was recorded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostCheck {
    /// Packages of the section whose version is unchanged, so their files were compared
    /// (written, when writing).
    pub packages_compared: u64,
    /// Files compared (written).
    pub files_compared: u64,
    /// Integrity findings against the baseline, sorted by path then package; also merged
    /// into the host's `integrity.findings` as the renderers, the exit status and the policy
    /// see them.
    pub findings: Vec<IntegrityFinding>,
    /// Packages whose version changed since the baseline (or that are gone): not
    /// compared, since an upgrade is not tampering.
    pub outdated: Vec<Outdated>,
}

/// A package of the baseline at another version now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outdated {
    /// Info name.
    pub package: String,
    /// The version the baseline recorded.
    pub baseline_version: String,
    /// The version installed now; `null` when the package is no longer checked: removed,
    /// left out by `--integrity-packages`, or (for a `without_md5sums` baseline) it has
    /// md5sums now, so dpkg's sums check it.
    pub version: Option<String>,
}

impl std::fmt::Display for Outdated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "baseline outdated for {} ({} → {}): its files were not compared; write the \
             baseline again with --baseline-write",
            self.package,
            self.baseline_version,
            self.version.as_deref().unwrap_or("no longer checked")
        )
    }
}

/// Compares one host's current sums (from its integrity report) with its baseline
/// section. Files the probe's own check already reports (missing, unreadable, changed
/// against dpkg's sums) are not reported twice.
pub fn compare(section: &HostSection, integrity: &IntegrityReport) -> HostCheck {
    let current: HashMap<&str, &PackageHashes> = integrity
        .baseline_hashes
        .iter()
        .flatten()
        .map(|p| (p.package.as_str(), p))
        .collect();
    let known: std::collections::HashSet<(&str, &str)> = integrity
        .findings
        .iter()
        .map(|f| (f.path.as_str(), f.package.as_str()))
        .collect();
    let mut check = HostCheck::default();
    for old in &section.packages {
        let now = match current.get(old.package.as_str()) {
            Some(now) if now.version == old.version => now,
            other => {
                check.outdated.push(Outdated {
                    package: old.package.clone(),
                    baseline_version: old.version.clone(),
                    version: other.map(|p| p.version.clone()),
                });
                continue;
            }
        };
        check.packages_compared += 1;
        let files: HashMap<&str, _> = now.files.iter().map(|f| (f.path.as_str(), f)).collect();
        for file in &old.files {
            let Some(expected) = &file.sha256 else {
                continue;
            };
            check.files_compared += 1;
            if known.contains(&(file.path.as_str(), old.package.as_str())) {
                continue;
            }
            let problem = match files.get(file.path.as_str()) {
                Some(f) if f.sha256.as_ref() == Some(expected) => continue,
                Some(f) => match (&f.sha256, f.error.as_deref()) {
                    (Some(actual), _) => Problem::ChangedSinceBaseline {
                        expected: expected.clone(),
                        actual: actual.clone(),
                    },
                    (None, Some("missing")) => Problem::Missing,
                    (None, error) => Problem::ChangedSinceBaseline {
                        expected: expected.clone(),
                        actual: format!("({})", error.unwrap_or("not hashed")),
                    },
                },
                // No longer in the package's file list at the same version.
                None => Problem::Missing,
            };
            check.findings.push(IntegrityFinding {
                path: file.path.clone(),
                package: old.package.clone(),
                conffile: false,
                severity: problem.severity(false),
                problem,
            });
        }
    }
    check
        .findings
        .sort_by(|a, b| (&a.path, &a.package).cmp(&(&b.path, &b.package)));
    check
}

/// The baseline outcome of shards merged into one report (`patchgap merge`): the union of
/// their hosts and warnings when every shard used the same file the same way, else none
/// (the hosts' parsed reports keep what each shard found either way).
pub fn merged<'a>(
    mut shards: impl Iterator<Item = Option<&'a BaselineOutcome>>,
) -> Option<BaselineOutcome> {
    let mut all = shards.next()??.clone();
    for shard in shards {
        let shard = shard?;
        if (&shard.file, shard.mode) != (&all.file, all.mode) {
            return None;
        }
        all.hosts
            .extend(shard.hosts.iter().map(|(k, v)| (k.clone(), v.clone())));
        all.warnings
            .extend(shard.warnings.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Some(all)
}

/// Compares every audited host of `fleet` with `baseline`, records the outcome in
/// `fleet.baseline` and merges it into the hosts' parsed reports (see [`apply`]).
pub fn verify(fleet: &mut FleetReport, baseline: &Baseline, file: &Path) {
    let mut outcome = BaselineOutcome {
        file: file.display().to_string(),
        mode: BaselineMode::Verify,
        hosts: BTreeMap::new(),
        warnings: BTreeMap::new(),
    };
    for host in &fleet.hosts {
        let HostResult::Audited { report, .. } = &host.result else {
            continue;
        };
        let integrity = report.report().integrity.as_ref();
        match (baseline.hosts.get(&host.host), integrity) {
            (Some(section), Some(integrity)) if integrity.baseline_hashes.is_some() => {
                outcome
                    .hosts
                    .insert(host.host.clone(), compare(section, integrity));
            }
            (Some(_), _) => {
                let why = format!(
                    "host {}: the integrity check did not run, so it was not compared with \
                     the baseline {}; see the integrity warnings",
                    host.host,
                    file.display()
                );
                outcome.warnings.insert(host.host.clone(), why);
            }
            (None, _) => {
                let why = format!(
                    "host {} is not in the baseline {}: record it with `patchgap audit \
                     --integrity --baseline-write FILE`",
                    host.host,
                    file.display()
                );
                outcome.warnings.insert(host.host.clone(), why);
            }
        }
    }
    fleet.baseline = Some(outcome);
    apply(fleet);
}

/// Merges `fleet.baseline` into the parsed report of each host: findings into
/// `integrity.findings` (counted in the summary as changed or missing files), outdated
/// packages and warnings into `integrity.warnings` / `warnings`. The probe's JSON is
/// untouched. Also what makes a saved fleet report render the same when read back.
pub fn apply(fleet: &mut FleetReport) {
    let Some(outcome) = &fleet.baseline else {
        return;
    };
    for host in &mut fleet.hosts {
        let HostResult::Audited { report, .. } = &mut host.result else {
            continue;
        };
        let report = report.report_mut();
        report
            .warnings
            .extend(outcome.warnings.get(&host.host).cloned());
        let (Some(check), Some(integrity)) =
            (outcome.hosts.get(&host.host), report.integrity.as_mut())
        else {
            continue;
        };
        for f in &check.findings {
            match f.problem {
                Problem::Missing => integrity.summary.missing += 1,
                _ => integrity.summary.changed += 1,
            }
            integrity.findings.push(f.clone());
        }
        integrity
            .findings
            .sort_by(|a, b| (&a.path, &a.package).cmp(&(&b.path, &b.package)));
        integrity
            .warnings
            .extend(check.outdated.iter().map(ToString::to_string));
    }
}

#[cfg(test)]
mod tests;
