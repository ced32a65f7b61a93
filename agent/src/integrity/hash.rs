//! Parallel, bounded-memory hashing of the planned files.
//!
//! Each thread owns one fixed read buffer and claims small batches of checks from a shared
//! counter, so a few huge files cannot leave a core idle while memory stays at
//! threads × buffer whatever the file sizes. Only failures are kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use md5::{Digest, Md5};

use super::plan::{Check, Sum};
use crate::roots::under;

/// Read size: large enough that syscalls do not dominate, small enough for L2.
const BUFFER: usize = 128 * 1024;
/// Checks claimed at once: amortises the shared counter without starving other threads.
const BATCH: usize = 16;
/// `O_NONBLOCK` (same value on x86_64 and aarch64 Linux): opening a FIFO that took a
/// packaged file's place must not hang the scan.
const O_NONBLOCK: i32 = 0o4000;

/// A failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Content differs: the actual sum, and the file's device and inode for the join
    /// with running processes.
    Differs {
        actual: [u8; 16],
        dev: u64,
        ino: u64,
    },
    Missing,
    Unreadable(String),
}

/// Failures by index into the checks, plus the bytes read.
#[derive(Debug, Default)]
pub(super) struct Hashed {
    pub failures: Vec<(usize, Outcome)>,
    pub bytes: u64,
    /// Files opened for hashing.
    pub hashed: u64,
    /// Threads actually started (never more than there are batches).
    pub threads: usize,
}

/// Hashes every check under `root` on `threads` threads.
pub(super) fn run(root: &Path, checks: &[Check], threads: usize) -> io::Result<Hashed> {
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, checks.len().div_ceil(BATCH).max(1));
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for _ in 0..threads {
            let builder = std::thread::Builder::new().name("integrity-hash".into());
            handles.push(builder.spawn_scoped(scope, || worker(root, checks, &next))?);
        }
        let mut all = Hashed {
            threads,
            ..Hashed::default()
        };
        for handle in handles {
            // A panicking worker is a bug in this module; its files are then unchecked,
            // which must not look like a clean result.
            let part = handle
                .join()
                .map_err(|_| io::Error::other("a hashing thread panicked"))?;
            all.failures.extend(part.failures);
            all.bytes += part.bytes;
            all.hashed += part.hashed;
        }
        all.failures.sort_unstable_by_key(|(i, _)| *i);
        Ok(all)
    })
}

fn worker(root: &Path, checks: &[Check], next: &AtomicUsize) -> Hashed {
    let mut buf = vec![0u8; BUFFER];
    let mut out = Hashed::default();
    loop {
        let start = next.fetch_add(BATCH, Ordering::Relaxed);
        if start >= checks.len() {
            return out;
        }
        let end = (start + BATCH).min(checks.len());
        for (i, check) in checks[start..end].iter().enumerate() {
            let full = under(root, Path::new(os_str(&check.path)));
            let Some(sum) = &check.sum else {
                // Like dpkg, an entry without a sum (directory, symlink) must only exist;
                // a dangling symlink does.
                match std::fs::symlink_metadata(&full) {
                    Ok(_) => continue,
                    Err(e) => {
                        out.failures.push((start + i, classify(&e)));
                        continue;
                    }
                }
            };
            out.hashed += 1;
            let outcome = match hash_file(&full, &mut buf, &mut out.bytes) {
                Ok((actual, dev, ino)) => match sum {
                    Sum::Md5(expected) if *expected == actual => continue,
                    _ => Outcome::Differs { actual, dev, ino },
                },
                Err(e) => classify(&e),
            };
            out.failures.push((start + i, outcome));
        }
    }
}

fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(bytes)
}

/// What dpkg calls missing: `open` fails with "no such file" (including through a
/// dangling symlink). A path component that is no longer a directory is missing too.
fn classify(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Outcome::Missing,
        io::ErrorKind::PermissionDenied => Outcome::Unreadable("permission denied".into()),
        _ => Outcome::Unreadable(e.to_string()),
    }
}

/// Streams one file through MD5. Follows symlinks, as dpkg does when it verifies.
fn hash_file(path: &Path, buf: &mut [u8], bytes: &mut u64) -> io::Result<([u8; 16], u64, u64)> {
    let mut file: File = OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "directory"
        } else {
            "special file"
        };
        return Err(io::Error::other(format!("not a regular file ({kind})")));
    }
    let mut md5 = Md5::new();
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                md5.update(&buf[..n]);
                *bytes += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((md5.finalize().into(), meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, sum: Sum) -> Check {
        Check {
            path: path.as_bytes().into(),
            sum: Some(sum),
            package: 0,
            conffile: false,
            excluded: false,
        }
    }

    #[test]
    fn streams_large_files_and_classifies_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Larger than the buffer, not a multiple of it.
        let big = vec![7u8; BUFFER * 3 + 5];
        std::fs::write(dir.path().join("big"), &big).expect("write");
        std::fs::create_dir(dir.path().join("adir")).expect("mkdir");
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).expect("ln");
        let good: [u8; 16] = Md5::digest(&big).into();
        let checks = vec![
            check("/big", Sum::Md5(good)),
            check("/big", Sum::Md5([0; 16])),
            check("/absent", Sum::Md5(good)),
            check("/dangling", Sum::Md5(good)),
            check("/big/under-a-file", Sum::Md5(good)),
            check("/adir", Sum::Md5(good)),
        ];
        let hashed = run(dir.path(), &checks, 3).expect("run");
        assert_eq!(hashed.bytes, 2 * big.len() as u64);
        let kinds: Vec<(usize, &str)> = hashed
            .failures
            .iter()
            .map(|(i, o)| {
                let k = match o {
                    Outcome::Differs { actual, .. } if *actual == good => "differs",
                    Outcome::Differs { .. } => "wrong sum",
                    Outcome::Missing => "missing",
                    Outcome::Unreadable(e) if e.contains("directory") => "dir",
                    Outcome::Unreadable(_) => "unreadable",
                };
                (*i, k)
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, "differs"),
                (2, "missing"),
                (3, "missing"),
                (4, "missing"),
                (5, "dir")
            ]
        );
    }
}
