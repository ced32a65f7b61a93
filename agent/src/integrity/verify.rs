//! The check itself: plan, hash, then join the failures with the files running processes
//! use, which no peer tool does.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::num::NonZero;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use super::baseline;
use super::filter::PathFilter;
use super::hash::{self, Outcome};
use super::plan::{Plan, Sum, to_hex};
use super::types::{IntegrityError, IntegrityOptions};
use crate::dpkg::{Database, other_spelling};
use crate::report::{IntegrityFinding, IntegrityReport, IntegritySummary, Problem};
use crate::roots::{Roots, under};

/// Verifies the installed packages of the host at `roots.fs` against their recorded MD5
/// sums.
///
/// `in_use`: every file currently executed or mapped executable by a process of this host
/// (path as the process sees it -> pids), from the stale-process scan. A changed file found
/// there, under either merged-/usr spelling or as the same inode, becomes a
/// [`Problem::ModifiedInUse`].
pub fn verify(
    roots: &Roots,
    opts: &IntegrityOptions,
    in_use: &BTreeMap<String, Vec<u32>>,
) -> Result<IntegrityReport, IntegrityError> {
    verify_with(roots, &Database::new(&roots.fs), opts, in_use)
}

/// [`verify`] with the host's dpkg database, shared with the other collectors of a run.
pub fn verify_with(
    roots: &Roots,
    db: &Database,
    opts: &IntegrityOptions,
    in_use: &BTreeMap<String, Vec<u32>>,
) -> Result<IntegrityReport, IntegrityError> {
    let started = Instant::now();
    if !db.exists() {
        return Err(IntegrityError::NoDatabase(db.admin_dir().to_path_buf()));
    }
    let filter = PathFilter::load(&roots.fs);
    let plan = Plan::build(db, &filter, opts.packages.as_deref())?;
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZero::get));
    let hashed = hash::run(&roots.fs, &plan.checks, threads).map_err(IntegrityError::Threads)?;
    let users = Users::new(&roots.fs, in_use, &hashed.failures);
    let (baseline_hashes, baseline_bytes) = match opts.baseline_hashes {
        Some(scope) => {
            let (packages, bytes) = baseline::hashes(&roots.fs, &plan, scope, threads);
            (Some(packages), bytes)
        }
        None => (None, 0),
    };

    let mut summary = IntegritySummary {
        packages_checked: plan.packages.len() as u64,
        files_checked: plan.checks.len() as u64,
        files_hashed: hashed.hashed,
        bytes_hashed: hashed.bytes + baseline_bytes,
        packages_without_md5sums: plan.without_md5sums.len() as u64,
        threads: u32::try_from(hashed.threads).unwrap_or(u32::MAX),
        ..IntegritySummary::default()
    };
    let mut excluded_absent = 0;
    let mut findings = Vec::new();
    for (index, outcome) in hashed.failures {
        let check = &plan.checks[index];
        let path = String::from_utf8_lossy(&check.path).into_owned();
        let problem = match outcome {
            Outcome::Missing if check.excluded => {
                excluded_absent += 1;
                continue;
            }
            Outcome::Missing => Problem::Missing,
            Outcome::Unreadable(error) => Problem::Unreadable { error },
            Outcome::Differs { actual, dev, ino } => {
                let (expected, actual) = (
                    check.sum.as_ref().map(Sum::text).unwrap_or_default(),
                    to_hex(&actual),
                );
                let pids = users.pids(&path, dev, ino);
                if pids.is_empty() {
                    Problem::Changed { expected, actual }
                } else {
                    Problem::ModifiedInUse {
                        expected,
                        actual,
                        pids,
                    }
                }
            }
        };
        count(&mut summary, &problem, check.conffile);
        findings.push(IntegrityFinding {
            severity: problem.severity(check.conffile),
            package: plan.packages[check.package as usize].clone(),
            path,
            conffile: check.conffile,
            problem,
        });
    }
    findings.sort_by(|a, b| (&a.path, &a.package).cmp(&(&b.path, &b.package)));
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(IntegrityReport {
        summary,
        package_filter: opts.packages.clone(),
        findings,
        packages_without_md5sums: plan.without_md5sums,
        excluded_absent,
        warnings: plan.warnings,
        baseline_hashes,
    })
}

fn count(summary: &mut IntegritySummary, problem: &Problem, conffile: bool) {
    let counter = match (problem, conffile) {
        (Problem::Unreadable { .. }, _) => &mut summary.unreadable,
        (Problem::Missing, true) => &mut summary.conffiles_missing,
        (Problem::Missing, false) => &mut summary.missing,
        (_, true) => &mut summary.conffiles_changed,
        (_, false) => &mut summary.changed,
    };
    *counter += 1;
    if matches!(problem, Problem::ModifiedInUse { .. }) {
        summary.modified_in_use += 1;
    }
}

/// The processes behind each file in use, found by path or by inode.
struct Users<'a> {
    by_path: &'a BTreeMap<String, Vec<u32>>,
    by_inode: HashMap<(u64, u64), Vec<u32>>,
}

impl<'a> Users<'a> {
    /// Stats the files in use only when some file changed: a clean host costs nothing.
    fn new(
        fs_root: &Path,
        in_use: &'a BTreeMap<String, Vec<u32>>,
        failures: &[(usize, Outcome)],
    ) -> Self {
        let mut by_inode: HashMap<(u64, u64), Vec<u32>> = HashMap::new();
        if failures
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Differs { .. }))
        {
            for (path, pids) in in_use {
                // A file that vanished or cannot be stat'ed can still match by path.
                if let Ok(meta) = fs::metadata(under(fs_root, Path::new(path))) {
                    by_inode
                        .entry((meta.dev(), meta.ino()))
                        .or_default()
                        .extend(pids);
                }
            }
        }
        Users {
            by_path: in_use,
            by_inode,
        }
    }

    fn pids(&self, path: &str, dev: u64, ino: u64) -> Vec<u32> {
        let other = other_spelling(path);
        let mut pids: Vec<u32> = [Some(path), other.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|p| self.by_path.get(p))
            .chain(self.by_inode.get(&(dev, ino)))
            .flatten()
            .copied()
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}
