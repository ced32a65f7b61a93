//! Gathers the reboot reasons from the kernel and microcode parts, the flag files and
//! the dpkg database.
//!
//! Inside a container the "reboot" is the container's restart: it runs its own userland
//! again (libc, systemd, dbus) but neither loads a kernel nor microcode, which are the
//! machine's. So there the boot that package changes are judged against is the start of
//! the container's PID 1, not the machine's `btime`, and the kernel, microcode and
//! firmware never count as reasons.

use std::fs;

use crate::dpkg::Database;
use crate::procfs::stat;
use crate::report::{
    KernelReport, KernelStatus, MicrocodeReport, MicrocodeStatus, ReasonKind, RebootReason,
    RebootReport, UpgradedPackage,
};
use crate::roots::Roots;

/// Packages whose new version only runs after a reboot (or a re-exec that amounts to
/// one). `linux-image-*` packages are matched by prefix.
pub const REBOOT_PACKAGES: &[&str] = &[
    "libc6",
    "systemd",
    "dbus",
    "dbus-daemon",
    "linux-firmware",
    "intel-microcode",
    "amd64-microcode",
];

fn is_boot_package(name: &str) -> bool {
    REBOOT_PACKAGES.contains(&name)
        || name.starts_with("linux-image-")
        || name.starts_with("firmware-linux")
}

/// Boot-time packages that the machine loads, not a container: kernels, firmware and
/// microcode. A container's restart does not apply them.
fn is_machine_package(name: &str) -> bool {
    matches!(
        name,
        "linux-firmware" | "intel-microcode" | "amd64-microcode"
    ) || name.starts_with("linux-image-")
        || name.starts_with("firmware-linux")
}

/// When the container the probe runs in started: its PID 1's start ticks (counted from
/// the machine's boot, read in the probe's own PID namespace, which is the container's)
/// plus the machine's boot time. Both are truncated to whole seconds, so PID 1 may have
/// started up to a second later than their sum: the sum plus one second is taken, so
/// that a package unpacked just before the container started is never counted as
/// upgraded after it.
fn container_started_at(roots: &Roots, machine_booted_at: Option<i64>) -> Result<i64, String> {
    let btime =
        machine_booted_at.ok_or("the machine's boot time (btime of /proc/stat) is unknown")?;
    let text = fs::read_to_string(roots.proc_path("1/stat"))
        .map_err(|e| format!("failed to read /proc/1/stat: {e}"))?;
    let pid1 = stat::parse(&text).ok_or("/proc/1/stat has no start time")?;
    Ok(pid1.started_at(btime).saturating_add(1))
}

/// Combines the kernel and microcode verdicts with the flag files and package changes.
pub fn collect(roots: &Roots, kernel: &KernelReport, microcode: &MicrocodeReport) -> RebootReport {
    collect_with(roots, &Database::new(&roots.fs), kernel, microcode)
}

/// [`collect`] with the host's dpkg database, shared with the other collectors of a run.
pub fn collect_with(
    roots: &Roots,
    db: &Database,
    kernel: &KernelReport,
    microcode: &MicrocodeReport,
) -> RebootReport {
    let container = kernel.container.is_some();
    let (booted_at, remark) = match container {
        false => (kernel.running.booted_at, None),
        true => match container_started_at(roots, kernel.running.booted_at) {
            Ok(started) => (
                Some(started),
                Some("a container: its kernel and microcode are the machine's".to_string()),
            ),
            Err(why) => (
                None,
                Some(format!("a container whose start time is unknown: {why}")),
            ),
        },
    };
    let flag_file = roots.fs_path("/run/reboot-required").exists();
    let flag_packages: Vec<String> = fs::read_to_string(roots.fs_path("/run/reboot-required.pkgs"))
        .map(|t| {
            let mut v: Vec<String> = t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            v.sort();
            v.dedup();
            v
        })
        .unwrap_or_default();
    let upgraded_since_boot = booted_at.map(|b| upgraded_since(db, b)).unwrap_or_default();
    let mut report = RebootReport {
        needed: false,
        reasons: Vec::new(),
        container,
        booted_at,
        flag_file,
        flag_packages,
        upgraded_since_boot,
        remark,
    };
    if !container {
        machine_reasons(&mut report, kernel, microcode);
    }
    if report.flag_file {
        let by = match report.flag_packages.is_empty() {
            true => String::new(),
            false => format!(" by {}", report.flag_packages.join(", ")),
        };
        report.reasons.push(reason(
            ReasonKind::FlagFile,
            format!("/run/reboot-required set{by}"),
            report.flag_packages.clone(),
        ));
    }
    // Kernels count through the kernel's status; in a container, whatever the machine
    // loads does not count at all.
    let changed: Vec<String> = report
        .upgraded_since_boot
        .iter()
        .filter(|p| match container {
            true => !is_machine_package(&p.name),
            false => !p.name.starts_with("linux-image-"),
        })
        .map(|p| p.name.clone())
        .collect();
    if !changed.is_empty() {
        let since = match container {
            true => "the container started",
            false => "boot",
        };
        report.reasons.push(reason(
            ReasonKind::Packages,
            format!("upgraded after {since}: {}", changed.join(", ")),
            changed,
        ));
    }
    report.needed = !report.reasons.is_empty();
    report
}

fn reason(kind: ReasonKind, message: String, packages: Vec<String>) -> RebootReason {
    RebootReason {
        kind,
        message,
        packages,
    }
}

/// The reasons only a reboot of the machine settles: the kernel that boots next and the
/// microcode it loads.
fn machine_reasons(report: &mut RebootReport, kernel: &KernelReport, microcode: &MicrocodeReport) {
    match kernel.status {
        KernelStatus::AbiUpdatePending | KernelStatus::VersionUpdatePending => {
            let packages = kernel
                .boot_default
                .as_ref()
                .and_then(|d| kernel.installed.iter().find(|k| k.release == d.release))
                .and_then(|k| k.package.clone())
                .into_iter()
                .collect();
            report
                .reasons
                .push(reason(ReasonKind::Kernel, kernel.reason.clone(), packages));
        }
        KernelStatus::NotPackaged => {
            report.remark = Some("running kernel is not from a package".to_string());
        }
        KernelStatus::Unknown => {
            report.remark = Some(format!("kernel status unknown: {}", kernel.reason));
        }
        KernelStatus::Current => {}
    }
    if microcode.status == MicrocodeStatus::UpdatePending {
        let packages = report
            .upgraded_since_boot
            .iter()
            .filter(|p| p.name.ends_with("-microcode"))
            .map(|p| p.name.clone())
            .collect();
        report.reasons.push(reason(
            ReasonKind::Microcode,
            microcode.reason.clone(),
            packages,
        ));
    }
}

/// Boot-time packages whose dpkg file list is newer than the boot.
fn upgraded_since(db: &Database, booted_at: i64) -> Vec<UpgradedPackage> {
    let Ok(packages) = db.status() else {
        return Vec::new();
    };
    let mut out: Vec<UpgradedPackage> = packages
        .iter()
        .filter(|p| p.has_files() && is_boot_package(&p.name))
        .filter_map(|p| {
            let changed_at = db.changed_at(&p.info_name())?;
            (changed_at > booted_at).then(|| UpgradedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                changed_at,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}
