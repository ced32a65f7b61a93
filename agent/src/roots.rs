//! Where the probe looks: the `/proc` to scan and the filesystem root that holds the dpkg
//! database, `/boot` and `/run`.
//!
//! Every reader in the probe goes through [`Roots`] instead of naming `/proc` or `/`
//! directly, so that whole fixture hosts under a temporary directory can drive the tests.

use std::path::{Path, PathBuf};

/// The two roots a scan reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// Mount point of procfs, normally `/proc`.
    pub proc: PathBuf,
    /// Root of the host's filesystem, normally `/`.
    pub fs: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            proc: PathBuf::from("/proc"),
            fs: PathBuf::from("/"),
        }
    }
}

impl Roots {
    /// Roots of a fixture host laid out as `DIR/proc` and `DIR/` (a fake filesystem).
    pub fn fixture(dir: &Path) -> Self {
        Roots {
            proc: dir.join("proc"),
            fs: dir.to_path_buf(),
        }
    }

    /// `rel` under the proc root (`"1/cgroup"` gives `/proc/1/cgroup`).
    pub fn proc_path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.proc.join(rel)
    }

    /// An absolute host path (`/var/lib/dpkg/status`) under the filesystem root.
    pub fn fs_path(&self, abs: impl AsRef<Path>) -> PathBuf {
        under(&self.fs, abs.as_ref())
    }
}

/// Joins an absolute path under `root`: `Path::join` would discard `root` for an absolute
/// argument, which is exactly the mistake that makes a fixture read the real host.
pub fn under(root: &Path, abs: &Path) -> PathBuf {
    let rel = abs.strip_prefix("/").unwrap_or(abs);
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_path_stays_under_root() {
        let r = Roots::fixture(Path::new("/tmp/host"));
        assert_eq!(
            r.fs_path("/var/lib/dpkg/status"),
            PathBuf::from("/tmp/host/var/lib/dpkg/status")
        );
        assert_eq!(r.fs_path("/"), PathBuf::from("/tmp/host"));
        assert_eq!(
            r.proc_path("1/maps"),
            PathBuf::from("/tmp/host/proc/1/maps")
        );
    }
}
