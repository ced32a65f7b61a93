//! Identity of the scanned host: name, machine and boot ids, OS, boot time.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::procfs::stat::boot_time;
use crate::report::HostInfo;
use crate::roots::Roots;

fn read_trimmed(path: std::path::PathBuf) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// `PRETTY_NAME` from os-release text.
pub fn pretty_name(os_release: &str) -> Option<String> {
    let v = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))?
        .trim();
    Some(v.trim_matches(|c| c == '"' || c == '\'').to_string())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads what identifies the host. Missing pieces stay `None`: a fixture or a stripped
/// container has none of them, and none is needed for the scan.
pub fn info(roots: &Roots) -> HostInfo {
    let os = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| fs::read_to_string(roots.fs_path(p)).ok())
        .and_then(|t| pretty_name(&t));
    HostInfo {
        hostname: read_trimmed(roots.proc_path("sys/kernel/hostname")).unwrap_or_default(),
        machine_id: read_trimmed(roots.fs_path("/etc/machine-id")),
        boot_id: read_trimmed(roots.proc_path("sys/kernel/random/boot_id")),
        os,
        arch: std::env::consts::ARCH.to_string(),
        booted_at: fs::read_to_string(roots.proc_path("stat"))
            .ok()
            .and_then(|t| boot_time(&t)),
        scanned_at: now(),
        // The owner of /proc/self is the effective user of this process.
        euid: fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_pretty_name() {
        let t = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            pretty_name(t).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("ID=debian\n"), None);
    }
}
