//! Is the file at a mapped path still the one that is mapped?
//!
//! `/proc/PID/maps` prints the mapped inode's device and number; `stat()` of the same path,
//! resolved under `/proc/PID/root` (the process's own root and mount namespace), names what
//! is there now. `/proc/PID/map_files` cannot answer this: it resolves to the mapped inode
//! itself, so it always matches (needrestart's blind spot for "replaced, not deleted").
//!
//! The path is resolved inside that root by the kernel (see [`crate::rawfs::Root`]): the
//! process may be a local user's chroot whose links point anywhere, and through
//! `/proc/PID/root` an absolute link would otherwise be followed from the probe's root.

use std::collections::HashMap;
use std::path::Path;

use rustix::fd::OwnedFd;
use rustix::fs::CWD;

use crate::rawfs::{self, Root};

/// Device majors the kernel hands out for anonymous devices (btrfs subvolumes, overlayfs,
/// tmpfs, ...). Their numbers differ between `maps` and `stat`, so only inodes compare.
const ANONYMOUS_MAJORS: &[u32] = &[0, 144, 145, 146];

/// Splits a `st_dev` into (major, minor) as glibc's `major()`/`minor()` do.
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (
        u32::try_from(major).unwrap_or(u32::MAX),
        u32::try_from(minor).unwrap_or(u32::MAX),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The path still names the mapped file.
    Same,
    /// The path names another file now: the mapping is stale.
    Replaced,
    /// Cannot tell (unreadable path, or device numbers that do not compare).
    Unknown,
}

/// Compares a mapping's (device, inode) with what `stat` found at its path.
pub fn compare(mapped: ((u32, u32), u64), found: Option<(u64, u64)>) -> Identity {
    let Some((st_dev, st_ino)) = found else {
        return Identity::Unknown;
    };
    let (dev, ino) = mapped;
    let found_dev = split_dev(st_dev);
    let anonymous = ANONYMOUS_MAJORS.contains(&dev.0);
    match (ino == st_ino, dev == found_dev) {
        (true, true) => Identity::Same,
        (true, false) if anonymous => Identity::Same,
        (true, false) => Identity::Replaced,
        (false, _) if !anonymous || dev == found_dev => Identity::Replaced,
        (false, _) => Identity::Unknown,
    }
}

/// `stat` results shared by processes that see the same filesystem view, so that the
/// hundreds of processes mapping libc cost one `stat` per view, not one each. Each
/// scanning thread keeps its own: a path is then stat'ed once per view and thread.
#[derive(Debug, Default)]
pub struct StatCache {
    entries: HashMap<NamespaceKey, HashMap<String, Option<(u64, u64)>>>,
}

/// Which filesystem view a path is resolved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamespaceKey {
    /// A mount namespace (by inode of `/proc/PID/ns/mnt`) and a root directory (by
    /// device and inode): a chroot shares its mount namespace but not its view.
    Mount { ns: u64, root: (u64, u64) },
    /// The namespace or root could not be read: cache per process only.
    Process(u32),
}

/// The root directory of one process (`/proc/PID/root`), opened on first need: most
/// lookups are answered by the cache.
#[derive(Debug)]
pub struct ProcessRoot<'a> {
    pid_dir: &'a OwnedFd,
    /// Device and inode the process's cache key was made from: the opened root must be
    /// that one, or a process that changed its root meanwhile would fill another
    /// view's cache.
    expected: Option<(u64, u64)>,
    /// Whether the root is another than the audited host's (see [`Root`]).
    confined: bool,
    /// Whether the process sees the filesystem as the probe does (same mount namespace,
    /// same root): a path then names for the probe what it names for the process.
    probe_view: bool,
    opened: Option<Option<Root>>,
}

impl<'a> ProcessRoot<'a> {
    /// The root of the process at `pid_dir`, seen as `(dev, ino)` `expected`; `host` is
    /// the audited filesystem root's.
    pub fn new(
        pid_dir: &'a OwnedFd,
        expected: Option<(u64, u64)>,
        host: Option<(u64, u64)>,
    ) -> Self {
        ProcessRoot {
            pid_dir,
            expected,
            confined: expected.is_none() || expected != host,
            probe_view: false,
            opened: None,
        }
    }

    /// Marks the process as seeing the filesystem as the probe does: its paths are then
    /// stat'ed directly, one system call instead of three.
    pub fn in_probe_view(mut self, yes: bool) -> Self {
        self.probe_view = yes;
        self
    }

    /// The open root, if it could be opened and is still the expected one.
    pub fn get(&mut self) -> Option<&Root> {
        let (pid_dir, expected, confined) = (self.pid_dir, self.expected, self.confined);
        self.opened
            .get_or_insert_with(|| {
                let root = Root::open(pid_dir, "root", confined).ok()?;
                (expected.is_none() || root.id().ok() == expected).then_some(root)
            })
            .as_ref()
    }
}

impl StatCache {
    /// `(st_dev, st_ino)` of `path` as the process of `root` sees it: resolved inside
    /// its root, in its own mount namespace, `ns`.
    pub fn lookup(
        &mut self,
        ns: NamespaceKey,
        root: &mut ProcessRoot<'_>,
        path: &str,
    ) -> Option<(u64, u64)> {
        let paths = self.entries.entry(ns).or_default();
        if let Some(v) = paths.get(path) {
            return *v;
        }
        let found = if root.probe_view && path.starts_with('/') {
            rawfs::stat_at(CWD, path)
        } else {
            // Without its root nothing is known, and nothing is cached for the others.
            root.get()?.stat(Path::new(path), true)
        };
        let v = found.ok().map(|st| (st.st_dev, st.st_ino));
        paths.insert(path.to_string(), v);
        v
    }
}

/// Parses the inode of a namespace link target such as `mnt:[4026531841]`.
pub fn namespace_inode(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(major: u64, minor: u64) -> u64 {
        ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
    }

    #[test]
    fn splits_device_numbers() {
        assert_eq!(split_dev(dev(0xfd, 1)), (0xfd, 1));
        assert_eq!(split_dev(dev(259, 70000)), (259, 70000));
    }

    #[test]
    fn comparison_rules() {
        let disk = (0xfd, 1);
        assert_eq!(
            compare((disk, 10), Some((dev(0xfd, 1), 10))),
            Identity::Same
        );
        assert_eq!(
            compare((disk, 10), Some((dev(0xfd, 1), 11))),
            Identity::Replaced
        );
        assert_eq!(
            compare((disk, 10), Some((dev(0xfd, 2), 10))),
            Identity::Replaced
        );
        assert_eq!(compare((disk, 10), None), Identity::Unknown);
        let overlay = (0, 0x2a);
        assert_eq!(
            compare((overlay, 10), Some((dev(0, 0x2b), 10))),
            Identity::Same
        );
        assert_eq!(
            compare((overlay, 10), Some((dev(0, 0x2a), 11))),
            Identity::Replaced
        );
        assert_eq!(
            compare((overlay, 10), Some((dev(0, 0x2b), 11))),
            Identity::Unknown
        );
    }

    #[test]
    fn namespace_links() {
        assert_eq!(namespace_inode("mnt:[4026531841]"), Some(4_026_531_841));
        assert_eq!(namespace_inode("pid:[x]"), None);
        assert_eq!(namespace_inode("garbage"), None);
    }
}
