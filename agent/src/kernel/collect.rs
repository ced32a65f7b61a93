//! Gathers the `kernel` part of the report and decides its status.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;

use super::boot::{grub_choice, release_of, symlink_choice};
use super::container::detect_container;
use super::image::read_image_version;
use super::version::{compare_releases, parse_version_string, short_build};
use crate::dpkg::Database;
use crate::report::{
    BootDefault, BootSource, InstalledKernel, KernelReport, KernelStatus, RunningKernel,
    VersionSource,
};
use crate::roots::Roots;

/// Reads the running kernel, the installed ones and the boot default, and compares them.
pub fn collect(roots: &Roots) -> KernelReport {
    collect_with(roots, &Database::new(&roots.fs))
}

/// [`collect`] with the host's dpkg database, shared with the other collectors of a run.
pub fn collect_with(roots: &Roots, db: &Database) -> KernelReport {
    let mut warnings = Vec::new();
    let running = running_kernel(roots, &mut warnings);
    let mut installed = installed_kernels(roots, db, &mut warnings);
    installed.sort_by(|a, b| compare_releases(&b.release, &a.release));
    let own = running
        .release
        .as_deref()
        .and_then(|r| installed.iter().find(|k| k.release == r));
    let running = RunningKernel {
        package: own.and_then(|k| k.package.clone()),
        package_version: own.and_then(|k| k.package_version.clone()),
        ..running
    };
    let boot_default = boot_default(roots, &installed, &mut warnings);
    if let Some(d) = boot_default.as_ref().filter(|d| d.image.is_none()) {
        warnings.push(format!(
            "the boot default names kernel {}, whose image is not in /boot: the boot loader configuration may be stale",
            d.release
        ));
    }
    let container = detect_container(roots);
    let (status, reason) = match &container {
        Some(c) => (
            KernelStatus::NotPackaged,
            format!(
                "inside a {} container ({}): the kernel {} belongs to the host; no reboot of the container changes it",
                c.runtime.as_deref().unwrap_or("unnamed"),
                c.evidence,
                running.release.as_deref().unwrap_or("(unknown)"),
            ),
        ),
        None => decide(&running, &installed, boot_default.as_ref()),
    };
    KernelReport {
        status,
        reason,
        running,
        installed,
        boot_default,
        container,
        warnings,
    }
}

fn running_kernel(roots: &Roots, warnings: &mut Vec<String>) -> RunningKernel {
    let mut read = |rel: &str| match fs::read_to_string(roots.proc_path(rel)) {
        Ok(t) => Some(t.trim().to_string()),
        Err(e) => {
            warnings.push(format!("failed to read /proc/{rel}: {e}"));
            None
        }
    };
    let release = read("sys/kernel/osrelease").filter(|r| !r.is_empty());
    let version = read("version");
    let booted_at = read("stat").and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    });
    let build = version
        .as_deref()
        .and_then(parse_version_string)
        .and_then(|(_, b)| b);
    RunningKernel {
        release,
        version,
        build,
        booted_at,
        package: None,
        package_version: None,
    }
}

/// `linux-image-*` packages that ship a `/boot/vmlinuz-*`, merged with the images in
/// `/boot` by release. Metapackages (`linux-image-amd64`) ship no image and are left out.
fn installed_kernels(
    roots: &Roots,
    db: &Database,
    warnings: &mut Vec<String>,
) -> Vec<InstalledKernel> {
    let mut by_release: BTreeMap<String, InstalledKernel> = BTreeMap::new();
    let blank = |release: &str| InstalledKernel {
        release: release.to_string(),
        package: None,
        package_version: None,
        image: None,
        image_version: None,
        build: None,
        version_from: VersionSource::FileName,
    };
    if db.exists() {
        match db.status() {
            Ok(packages) => {
                for p in packages
                    .iter()
                    .filter(|p| p.name.starts_with("linux-image-") && p.has_files())
                {
                    let Ok(files) = db.file_list(&p.info_name()) else {
                        continue;
                    };
                    for release in files
                        .iter()
                        .filter_map(|f| f.strip_prefix("/boot/"))
                        .filter_map(release_of)
                    {
                        let k = by_release
                            .entry(release.to_string())
                            .or_insert_with(|| blank(release));
                        k.package = Some(p.name.clone());
                        k.package_version = p.version.clone();
                    }
                }
            }
            Err(e) => warnings.push(e.to_string()),
        }
    }
    if let Ok(dir) = fs::read_dir(roots.fs_path("/boot")) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(release) = release_of(&name).filter(|r| !r.contains(".dpkg-")) else {
                continue;
            };
            if !entry.path().is_file() {
                continue;
            }
            let k = by_release
                .entry(release.to_string())
                .or_insert_with(|| blank(release));
            k.image = Some(format!("/boot/{name}"));
            match read_image_version(&entry.path()) {
                Ok(Some(v)) => {
                    k.build = parse_version_string(&v.text).and_then(|(_, b)| b);
                    k.image_version = Some(v.text);
                    k.version_from = v.from;
                }
                Ok(None) => {}
                Err(e) => warnings.push(format!("failed to read /boot/{name}: {e}")),
            }
        }
    }
    by_release.into_values().collect()
}

fn boot_default(
    roots: &Roots,
    installed: &[InstalledKernel],
    warnings: &mut Vec<String>,
) -> Option<BootDefault> {
    let named = |release: &str, source: BootSource| {
        let k = installed.iter().find(|k| k.release == release);
        BootDefault {
            release: release.to_string(),
            image: k.and_then(|k| k.image.clone()),
            build: k.and_then(|k| k.build.clone()),
            source,
            guess: false,
        }
    };
    match grub_choice(roots) {
        Ok(Some(c)) => {
            let file = c.linux.rsplit('/').next().unwrap_or(&c.linux);
            match release_of(file) {
                Some(release) => {
                    let source = BootSource::Grub {
                        default: c.default.clone(),
                        title: c.title.clone(),
                        one_time: c.one_time,
                    };
                    return Some(named(release, source));
                }
                None => warnings.push(format!(
                    "GRUB entry {:?} loads {}, which names no kernel release",
                    c.title, c.linux
                )),
            }
        }
        Ok(None) => {}
        Err(e) => warnings.push(e),
    }
    if let Some((path, target)) = symlink_choice(roots)
        && let Some(release) = release_of(&target)
    {
        let target = format!("/boot/{target}");
        return Some(named(release, BootSource::Symlink { path, target }));
    }
    let top = installed.iter().find(|k| k.image.is_some())?;
    Some(BootDefault {
        guess: true,
        ..named(&top.release, BootSource::HighestInstalled)
    })
}

/// The status and its reason from what was read. Pure, so every case is testable.
///
/// A running kernel that no package installed and that is not in `/boot` (a VM's host
/// supplied it) is `not_packaged` whatever is installed: comparing it with the Debian
/// kernels on disk is needrestart's false alarm. A custom kernel that is in `/boot`
/// is compared only with a boot default that something names (never a guess).
pub fn decide(
    running: &RunningKernel,
    installed: &[InstalledKernel],
    boot: Option<&BootDefault>,
) -> (KernelStatus, String) {
    let Some(release) = running.release.as_deref() else {
        return (
            KernelStatus::Unknown,
            "the running release (/proc/sys/kernel/osrelease) could not be read".to_string(),
        );
    };
    let packaged = running.package.is_some();
    let in_boot = installed
        .iter()
        .any(|k| k.release == release && k.image.is_some());
    let not_packaged = || {
        (
            KernelStatus::NotPackaged,
            format!(
                "running kernel {release} comes from no package (custom build, or supplied by a VM host); no reboot is suggested for it"
            ),
        )
    };
    let Some(boot) = boot else {
        if packaged {
            return (
                KernelStatus::Unknown,
                format!("kernel {release} is packaged but no image was found in /boot"),
            );
        }
        return not_packaged();
    };
    let named_by = match &boot.source {
        BootSource::Grub { title, .. } => format!("GRUB default {title:?}"),
        BootSource::Symlink { path, .. } => format!("{path} symlink"),
        BootSource::HighestInstalled => {
            "guessed: highest installed, nothing names a default".into()
        }
    };
    let pending = match compare_releases(&boot.release, release) {
        Ordering::Equal => match (boot.build.as_deref(), running.build.as_deref()) {
            (Some(b), Some(r)) if b != r => Some((
                KernelStatus::AbiUpdatePending,
                format!(
                    "kernel {release} was rebuilt: boot image {}, running {} ({named_by})",
                    short_build(b),
                    short_build(r)
                ),
            )),
            _ => None,
        },
        Ordering::Greater => Some((
            KernelStatus::VersionUpdatePending,
            format!(
                "kernel {} installed, running {release} ({named_by})",
                boot.release
            ),
        )),
        Ordering::Less => None,
    };
    // A custom kernel in /boot still boots from it, so a named newer default counts.
    let custom_update = in_boot && !boot.guess && pending.is_some();
    if !packaged && !custom_update {
        return not_packaged();
    }
    pending.unwrap_or_else(|| {
        let reason = match compare_releases(&boot.release, release) {
            Ordering::Less => format!(
                "running kernel {release} is newer than the boot default {} ({named_by}): a reboot would go back to the older one",
                boot.release
            ),
            _ if boot.build.is_none() => format!(
                "running kernel {release} is the one that boots next ({named_by}); its image's build could not be compared"
            ),
            _ => format!("running kernel {release} is the one that boots next ({named_by})"),
        };
        (KernelStatus::Current, reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(release: Option<&str>, build: &str, package: Option<&str>) -> RunningKernel {
        RunningKernel {
            release: release.map(str::to_string),
            build: Some(build.to_string()),
            package: package.map(str::to_string),
            ..RunningKernel::default()
        }
    }

    fn boot(release: &str, build: Option<&str>, guess: bool) -> BootDefault {
        BootDefault {
            release: release.to_string(),
            image: Some(format!("/boot/vmlinuz-{release}")),
            build: build.map(str::to_string),
            source: if guess {
                BootSource::HighestInstalled
            } else {
                BootSource::Symlink {
                    path: "/vmlinuz".into(),
                    target: format!("/boot/vmlinuz-{release}"),
                }
            },
            guess,
        }
    }

    #[test]
    fn unknown_without_release_or_image() {
        let r = running(None, "#1", None);
        assert_eq!(decide(&r, &[], None).0, KernelStatus::Unknown);
        let r = running(
            Some("6.1.0-27-amd64"),
            "#1",
            Some("linux-image-6.1.0-27-amd64"),
        );
        assert_eq!(decide(&r, &[], None).0, KernelStatus::Unknown);
        let r = running(Some("6.18.1"), "#1", None);
        assert_eq!(decide(&r, &[], None).0, KernelStatus::NotPackaged);
    }

    #[test]
    fn same_release_without_readable_build_is_current() {
        let r = running(Some("6.1.0-27-amd64"), "#1 Debian 6.1.115-1", Some("p"));
        let (status, reason) = decide(&r, &[], Some(&boot("6.1.0-27-amd64", None, false)));
        assert_eq!(status, KernelStatus::Current);
        assert!(reason.contains("could not be compared"), "{reason}");
        let b = boot("6.1.0-27-amd64", Some("#1 Debian 6.1.115-1"), true);
        assert_eq!(decide(&r, &[], Some(&b)).0, KernelStatus::Current);
    }

    #[test]
    fn custom_kernel_ignores_guessed_newer_default() {
        let r = running(Some("6.0.9-custom"), "#1", None);
        let installed = [InstalledKernel {
            release: "6.0.9-custom".into(),
            package: None,
            package_version: None,
            image: Some("/boot/vmlinuz-6.0.9-custom".into()),
            image_version: None,
            build: None,
            version_from: VersionSource::FileName,
        }];
        let guessed = boot("6.1.0-27-amd64", None, true);
        assert_eq!(
            decide(&r, &installed, Some(&guessed)).0,
            KernelStatus::NotPackaged
        );
        let named = boot("6.1.0-27-amd64", None, false);
        assert_eq!(
            decide(&r, &installed, Some(&named)).0,
            KernelStatus::VersionUpdatePending
        );
        assert_eq!(decide(&r, &[], Some(&named)).0, KernelStatus::NotPackaged);
    }
}
