//! Gathers the reboot reasons from the kernel and microcode parts, the flag files and
//! the dpkg database.

use std::fs;

use crate::dpkg::Database;
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
    let booted_at = kernel.running.booted_at;
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
        container: kernel.container.is_some(),
        booted_at,
        flag_file,
        flag_packages,
        upgraded_since_boot,
        remark: None,
    };
    if report.container {
        return report;
    }
    let reason = |kind, message: String, packages: Vec<String>| RebootReason {
        kind,
        message,
        packages,
    };
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
    let changed: Vec<String> = report
        .upgraded_since_boot
        .iter()
        .filter(|p| !p.name.starts_with("linux-image-"))
        .map(|p| p.name.clone())
        .collect();
    if !changed.is_empty() {
        report.reasons.push(reason(
            ReasonKind::Packages,
            format!("upgraded after boot: {}", changed.join(", ")),
            changed,
        ));
    }
    report.needed = !report.reasons.is_empty();
    report
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
