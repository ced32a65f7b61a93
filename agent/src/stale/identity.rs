//! Is the file at a mapped path still the one that is mapped?
//!
//! `/proc/PID/maps` prints the mapped inode's device and number; `stat()` of the same path,
//! resolved under `/proc/PID/root` (the process's own root and mount namespace), names what
//! is there now. `/proc/PID/map_files` cannot answer this: it resolves to the mapped inode
//! itself, so it always matches (needrestart's blind spot for "replaced, not deleted").

use std::collections::HashMap;

use rustix::fd::OwnedFd;

use crate::rawfs;

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

/// `stat` results shared by processes that see the same mount namespace, so that the
/// hundreds of processes mapping libc cost one `stat` per namespace, not one each. Each
/// scanning thread keeps its own: a path is then stat'ed once per namespace and thread.
#[derive(Debug, Default)]
pub struct StatCache {
    entries: HashMap<NamespaceKey, HashMap<String, Option<(u64, u64)>>>,
}

/// Which filesystem view a path is resolved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamespaceKey {
    /// A mount namespace, by inode of `/proc/PID/ns/mnt`.
    Mount(u64),
    /// The namespace could not be read: cache per process only.
    Process(u32),
}

impl StatCache {
    /// `(st_dev, st_ino)` of `path` as the process whose `/proc/PID` directory is
    /// `pid_dir` sees it: resolved under its `root` link, in its own mount namespace.
    pub fn lookup(
        &mut self,
        ns: NamespaceKey,
        pid_dir: &OwnedFd,
        path: &str,
    ) -> Option<(u64, u64)> {
        let paths = self.entries.entry(ns).or_default();
        if let Some(v) = paths.get(path) {
            return *v;
        }
        let v = rawfs::stat_at(pid_dir, format!("root{path}").as_str())
            .ok()
            .map(|st| (st.st_dev, st.st_ino));
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
