//! The controller's reboot lock: without `--fleetlock`, a reboot campaign holds an
//! exclusive `flock` on a file named after its inventory for its whole run, so a second
//! reboot campaign on the same inventory (another terminal, a cron job) refuses to start
//! instead of taking a second host down. The file says who holds it; the kernel drops the
//! lock when the holder exits, however it exits, so a killed controller leaves no stale
//! lock behind.
//!
//! The file may sit in a shared directory (the temporary one when there is no
//! `$XDG_RUNTIME_DIR`, as under sudo) with a name anyone can compute: it is opened without
//! following a symlink and used only when this user owns it, so another local user can
//! neither redirect the write nor hold the lock to block every reboot campaign.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use sha2::{Digest as _, Sha256};

/// Why the lock was not taken; the messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another reboot campaign on this inventory holds the lock {path} ({holder}); wait for \
         it to end (or coordinate through --fleetlock)"
    )]
    Held { path: PathBuf, holder: String },
    #[error(
        "the reboot lock {path} belongs to uid {owner}, not to this user: another user may be \
         holding it to block reboots; check and remove it, or set XDG_RUNTIME_DIR to a \
         private directory"
    )]
    Untrusted { path: PathBuf, owner: u32 },
    #[error("cannot use the reboot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct CampaignLock {
    path: PathBuf,
    _file: File,
}

/// The lock file of the inventory made of `sources` (paths or names, in order), in `dir`:
/// the same inventory gives the same file, whatever the current directory.
pub fn lock_path(dir: &Path, sources: &[PathBuf]) -> PathBuf {
    let mut hash = Sha256::new();
    for source in sources {
        let full = std::fs::canonicalize(source).unwrap_or_else(|_| source.clone());
        hash.update(full.as_os_str().as_encoded_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(hash.finalize());
    dir.join(format!("patchgap-reboot-{}.lock", &digest[..16]))
}

impl CampaignLock {
    /// Takes the lock at `path` without waiting, and writes `holder` into it.
    pub fn take(path: &Path, holder: &str) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .map_err(io)?;
        let owner = file.metadata().map_err(io)?.uid();
        if owner != rustix::process::geteuid().as_raw() {
            return Err(LockError::Untrusted {
                path: path.to_path_buf(),
                owner,
            });
        }
        if let Err(err) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if err == rustix::io::Errno::WOULDBLOCK {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = match text.trim() {
                    "" => "holder unknown".to_string(),
                    text => text.chars().take(300).collect(),
                };
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder,
                });
            }
            return Err(io(err.into()));
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(holder.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(io)?;
        Ok(CampaignLock {
            path: path.to_path_buf(),
            _file: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_campaign_on_the_same_inventory_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inventory = dir.path().join("hosts.yaml");
        std::fs::write(&inventory, "all: {}").expect("inventory");
        let path = lock_path(dir.path(), std::slice::from_ref(&inventory));
        let relative_same = lock_path(dir.path(), &[dir.path().join(".").join("hosts.yaml")]);
        assert_eq!(path, relative_same, "one inventory, one lock");
        let other = lock_path(dir.path(), &[dir.path().join("other.yaml")]);
        assert_ne!(path, other);
        let first = CampaignLock::take(&path, "pid 1 on ctl since 12:00").expect("first");
        let err = CampaignLock::take(&path, "pid 2").expect_err("second");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("pid 1 on ctl since 12:00"), "{text}");
        assert!(
            CampaignLock::take(&other, "pid 3").is_ok(),
            "another inventory"
        );
        drop(first);
        let again = CampaignLock::take(&path, "pid 4").expect("released with its holder");
        assert_eq!(
            std::fs::read_to_string(again.path()).expect("read"),
            "pid 4"
        );
    }

    #[test]
    fn a_lock_file_planted_by_someone_else_is_refused_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").expect("target");
        let link = dir.path().join("link.lock");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = CampaignLock::take(&link, "pid 1").expect_err("a symlink is not followed");
        assert!(err.to_string().contains("link.lock"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
        // Another user's file (only root can make one here).
        let planted = dir.path().join("planted.lock");
        std::fs::write(&planted, "").expect("planted");
        if rustix::fs::chown(
            &planted,
            Some(rustix::fs::Uid::from_raw(65534)),
            Some(rustix::fs::Gid::from_raw(65534)),
        )
        .is_ok()
        {
            let err = CampaignLock::take(&planted, "pid 1").expect_err("not ours");
            assert!(
                matches!(err, LockError::Untrusted { owner: 65534, .. }),
                "{err}"
            );
        }
    }
}
