//! SHA-256 sums of packaged files for a checksum baseline, debsums `-g` style: packages
//! that ship no `md5sums` have nothing that records their content, so the controller
//! keeps a baseline of them and compares later runs with it.
//!
//! The probe only reports the sums (`IntegrityReport::baseline_hashes`); writing the
//! baseline file and comparing with it happen in the controller (`src/baseline/`), one
//! code path for the local audit and for fleet hosts. Files are read by the integrity
//! check's own safe reader (`hash::sha256_file`), never by a second one.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::hash::{baseline_error, sha256_file};
use super::plan::{Plan, to_hex};
use super::types::HashScope;
use crate::parallel::{self, Flow};
use crate::report::{FileHash, PackageHashes};
use crate::roots::under;

/// Read size of one hashing thread.
const BUFFER: usize = 128 * 1024;

/// Sums of the files of the planned packages in `scope`: every non-conffile entry that is
/// not a directory (conffiles have dpkg's own sums, and an admin may edit them). Packages
/// sorted by info name, files by path. Also returns the bytes read.
pub(super) fn hashes(
    root: &Path,
    plan: &Plan,
    scope: HashScope,
    threads: usize,
) -> (Vec<PackageHashes>, u64) {
    let without: HashSet<&str> = plan.without_md5sums.iter().map(String::as_str).collect();
    let wanted: Vec<bool> = plan
        .packages
        .iter()
        .map(|p| scope == HashScope::All || without.contains(p.as_str()))
        .collect();
    let checks: Vec<usize> = plan
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.conffile && wanted[c.package as usize])
        .map(|(i, _)| i)
        .collect();
    let states = parallel::run(
        &checks,
        threads,
        16,
        || (vec![0u8; BUFFER], Vec::new(), 0u64),
        |(buf, out, bytes): &mut (Vec<u8>, Vec<(usize, FileHash)>, u64), _, &index| {
            let check = &plan.checks[index];
            let full = under(root, Path::new(OsStr::from_bytes(&check.path)));
            // Directories are the package's too, but hold no content of their own.
            if std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
                return Flow::Continue;
            }
            let path = String::from_utf8_lossy(&check.path).into_owned();
            let file = match sha256_file(root, &check.path, buf) {
                Ok((sum, read)) => {
                    *bytes += read;
                    FileHash {
                        path,
                        sha256: Some(to_hex(&sum)),
                        error: None,
                    }
                }
                Err(e) => FileHash {
                    path,
                    sha256: None,
                    error: Some(baseline_error(&e)),
                },
            };
            out.push((check.package as usize, file));
            Flow::Continue
        },
    );
    let mut by_package: Vec<Vec<FileHash>> = vec![Vec::new(); plan.packages.len()];
    let mut bytes = 0;
    for (_, files, read) in states {
        bytes += read;
        for (package, file) in files {
            by_package[package].push(file);
        }
    }
    let mut packages: Vec<PackageHashes> = by_package
        .into_iter()
        .enumerate()
        .filter(|(i, _)| wanted[*i])
        .map(|(i, mut files)| {
            files.sort_by(|a, b| a.path.cmp(&b.path));
            files.dedup_by(|a, b| a.path == b.path);
            let (name, arch, version) = plan.versions[i].clone();
            PackageHashes {
                package: plan.packages[i].clone(),
                name,
                arch,
                version,
                files,
            }
        })
        .collect();
    packages.sort_by(|a, b| a.package.cmp(&b.package));
    (packages, bytes)
}
