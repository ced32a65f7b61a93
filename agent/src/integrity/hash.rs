//! Parallel, bounded-memory hashing of the planned files.
//!
//! Each thread claims small batches of checks from a shared counter, so a few huge files
//! cannot leave a core idle, and streams up to eight files at once through fixed buffers
//! (see `streams`), so memory stays at threads × lanes × buffer whatever the file sizes.
//! Only failures are kept.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::md5lanes::LANES;
use super::plan::{Check, Sum};
use super::streams::{Done, Streams};
use crate::roots::under;

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
    let mut out = Hashed::default();
    let mut streams = Streams::new();
    let mut done: Vec<Done> = Vec::with_capacity(LANES);
    let (mut at, mut end) = (0, 0);
    loop {
        while streams.has_free() {
            if at == end {
                at = next.fetch_add(BATCH, Ordering::Relaxed).min(checks.len());
                end = (at + BATCH).min(checks.len());
                if at == end {
                    break;
                }
            }
            let index = at;
            at += 1;
            let check = &checks[index];
            let full = under(root, Path::new(os_str(&check.path)));
            if check.sum.is_none() {
                // Like dpkg, an entry without a sum (directory, symlink) must only exist;
                // a dangling symlink does.
                if let Err(e) = std::fs::symlink_metadata(&full) {
                    out.failures.push((index, classify(&e)));
                }
                continue;
            }
            out.hashed += 1;
            match open_regular(&full) {
                Ok((file, dev, ino)) => streams.start(index, file, dev, ino),
                Err(e) => out.failures.push((index, classify(&e))),
            }
        }
        if streams.is_empty() {
            return out;
        }
        streams.advance(&mut out.bytes, &mut done);
        for (index, result) in done.drain(..) {
            let outcome = match result {
                Ok((actual, dev, ino)) => match &checks[index].sum {
                    Some(Sum::Md5(expected)) if *expected == actual => continue,
                    _ => Outcome::Differs { actual, dev, ino },
                },
                Err(e) => classify(&e),
            };
            out.failures.push((index, outcome));
        }
    }
}

/// SHA-256 of a file for a checksum baseline, with the MD5 check's safe reading: the
/// path is joined under `root`, the open never waits (`O_NONBLOCK`), only a regular file is
/// read, and it streams through `buf` (one fixed buffer per thread), so memory does not
/// grow with the file. Unlike the MD5 check, a symlink as the last component is refused
/// (`O_NOFOLLOW`): a baseline hashes what the package put there, and a link planted in a
/// file's place must neither lead the read out of `root` nor pass for the file.
/// Returns the sum and the bytes read.
pub(super) fn sha256_file(root: &Path, path: &[u8], buf: &mut [u8]) -> io::Result<([u8; 32], u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let (mut file, _, _) = open_regular_with(&under(root, Path::new(os_str(path))), nofollow)?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((hasher.finalize().into(), total))
}

/// Why a file has no baseline sum, in the words of [`sha256_file`]'s callers: `missing`
/// as for the MD5 check, `symbolic link` for a refused link, else the error.
pub(super) fn baseline_error(e: &io::Error) -> String {
    // ELOOP: O_NOFOLLOW met a symlink as the last component.
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return "symbolic link".into();
    }
    match classify(e) {
        Outcome::Missing => "missing".into(),
        Outcome::Unreadable(why) => why,
        Outcome::Differs { .. } => e.to_string(),
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

/// Opens a file to hash, following symlinks as dpkg does when it verifies; anything but a
/// regular file is an error.
fn open_regular(path: &Path) -> io::Result<(File, u64, u64)> {
    open_regular_with(path, 0)
}

/// [`open_regular`] with extra `open(2)` flags.
fn open_regular_with(path: &Path, flags: i32) -> io::Result<(File, u64, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK | flags)
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
    Ok((file, meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

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
        let big: Vec<u8> = (0..300_007u32).map(|i| (i % 251) as u8).collect();
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
