//! Kernel, microcode and reboot verdicts on fixture hosts, one case per status, and one
//! run against the machine the tests run on.

mod kernel_host;

use kernel_host::{BOOTED_AT, Host, Image, amd_container, intel_update};
use patchgap_probe::report::{
    BootSource, KernelReport, KernelStatus, MicrocodeReport, MicrocodeStatus, ReasonKind,
    RebootReport, VersionSource,
};
use patchgap_probe::{Roots, kernel, microcode, reboot};

const OLD: &str = "6.1.0-25-amd64";
const NEW: &str = "6.1.0-27-amd64";

fn audit(roots: &Roots) -> (KernelReport, MicrocodeReport, RebootReport) {
    let k = kernel::collect(roots);
    let m = microcode::collect(roots);
    let r = reboot::collect(roots, &k, &m);
    (k, m, r)
}

#[test]
fn current_kernel_booted_through_symlink() {
    let host = Host::new();
    host.running(NEW, "6.1.115-1")
        .kernel(OLD, "6.1.106-3", Image::Bzimage)
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .symlink("/vmlinuz", &format!("boot/vmlinuz-{NEW}"));
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::Current, "{}", k.reason);
    assert_eq!(
        k.running.package.as_deref(),
        Some("linux-image-6.1.0-27-amd64")
    );
    assert_eq!(k.running.booted_at, Some(BOOTED_AT));
    assert_eq!(k.installed.len(), 2);
    assert_eq!(k.installed[0].release, NEW);
    assert_eq!(k.installed[0].version_from, VersionSource::BzimageHeader);
    let d = k.boot_default.expect("boot default");
    assert!(matches!(d.source, BootSource::Symlink { .. }));
    assert!(!d.guess);
    assert!(!r.needed);
    assert_eq!(r.verdict(), "no reboot needed");
}

#[test]
fn abi_update_pending_when_same_release_was_rebuilt() {
    let host = Host::new();
    // The package was upgraded after boot, keeping its ABI name; the image is gzip-wrapped.
    host.running(NEW, "6.1.115-1")
        .kernel_changed(NEW, "6.1.119-1", Image::Gzip, 3600)
        .symlink("/boot/vmlinuz", &format!("vmlinuz-{NEW}"));
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::AbiUpdatePending, "{}", k.reason);
    assert_eq!(k.installed[0].version_from, VersionSource::Gzip);
    assert!(r.needed);
    assert_eq!(r.reasons.len(), 1, "{:?}", r.reasons);
    assert_eq!(r.reasons[0].kind, ReasonKind::Kernel);
    assert_eq!(r.reasons[0].packages, vec![format!("linux-image-{NEW}")]);
    // The kernel package is listed as changed, but counted only through the kernel.
    assert_eq!(r.upgraded_since_boot.len(), 1);
    let v = r.verdict();
    assert!(
        v.starts_with("reboot needed: kernel 6.1.0-27-amd64 was rebuilt"),
        "{v}"
    );
    assert!(v.contains("6.1.119-1") && v.contains("6.1.115-1"), "{v}");
}

#[test]
fn version_update_pending_from_grub_default() {
    let host = Host::new();
    host.running(OLD, "6.1.106-3")
        .kernel(OLD, "6.1.106-3", Image::Bzimage)
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .grub(&[NEW, OLD], "saved_entry=0");
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::VersionUpdatePending, "{}", k.reason);
    let d = k.boot_default.as_ref().expect("boot default");
    assert_eq!(d.release, NEW);
    assert!(matches!(&d.source, BootSource::Grub { default, .. } if default == "0"));
    assert!(r.needed);
    assert!(
        r.verdict()
            .starts_with("reboot needed: kernel 6.1.0-27-amd64 installed, running 6.1.0-25-amd64"),
        "{}",
        r.verdict()
    );
}

/// needrestart compares with the highest installed kernel: here GRUB is pinned to the
/// running one, so a reboot changes nothing and none must be asked for.
#[test]
fn highest_installed_is_not_the_boot_default() {
    let host = Host::new();
    host.running(OLD, "6.1.106-3")
        .kernel(OLD, "6.1.106-3", Image::Bzimage)
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .symlink("/vmlinuz", &format!("boot/vmlinuz-{NEW}"))
        .grub(
            &[NEW, OLD],
            &format!("saved_entry=gnulinux-advanced-u1>gnulinux-{OLD}-advanced-u1"),
        );
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::Current, "{}", k.reason);
    assert_eq!(k.installed[0].release, NEW);
    assert_eq!(k.boot_default.expect("boot default").release, OLD);
    assert!(!r.needed, "{}", r.verdict());
}

#[test]
fn one_time_grub_entry_wins() {
    let host = Host::new();
    host.running(NEW, "6.1.115-1")
        .kernel(OLD, "6.1.106-3", Image::Bzimage)
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .grub(&[NEW, OLD], "saved_entry=0\nnext_entry=1>1");
    let (k, _, _) = audit(&host.roots);
    let d = k.boot_default.expect("boot default");
    assert_eq!(d.release, OLD);
    assert!(matches!(d.source, BootSource::Grub { one_time: true, .. }));
    // Booting an older kernel once is no update.
    assert_eq!(k.status, KernelStatus::Current, "{}", k.reason);
    assert!(
        k.reason.contains("go back to the older one"),
        "{}",
        k.reason
    );
}

/// Running 6.18 from outside the packages, with only older Debian kernels installed:
/// not a reason to reboot.
#[test]
fn custom_kernel_is_not_packaged() {
    let host = Host::new();
    host.running("6.18.44-custom", "6.18.44")
        .kernel(OLD, "6.1.106-3", Image::Bzimage)
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .grub(&[NEW, OLD], "");
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::NotPackaged, "{}", k.reason);
    assert_eq!(k.running.package, None);
    assert!(!r.needed);
    assert_eq!(
        r.verdict(),
        "no reboot needed (running kernel is not from a package)"
    );
}

/// A custom kernel installed in /boot, with a newer Debian kernel that GRUB now boots.
#[test]
fn custom_kernel_in_boot_with_newer_named_default() {
    let host = Host::new();
    host.running("6.0.9-custom", "6.0.9")
        .image("6.0.9-custom", "6.0.9", Image::Zstd)
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .grub(&[NEW, "6.0.9-custom"], "saved_entry=0");
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::VersionUpdatePending, "{}", k.reason);
    let custom = k
        .installed
        .iter()
        .find(|i| i.package.is_none())
        .expect("custom");
    assert_eq!(custom.version_from, VersionSource::Zstd);
    assert!(r.needed);
}

#[test]
fn guessed_boot_default_is_flagged() {
    let host = Host::new();
    host.running(OLD, "6.1.106-3")
        .kernel(OLD, "6.1.106-3", Image::Opaque)
        .kernel(NEW, "6.1.115-1", Image::Opaque);
    let (k, _, r) = audit(&host.roots);
    let d = k.boot_default.as_ref().expect("boot default");
    assert!(d.guess);
    assert_eq!(d.source, BootSource::HighestInstalled);
    assert_eq!(k.installed[0].version_from, VersionSource::FileName);
    assert_eq!(k.status, KernelStatus::VersionUpdatePending);
    assert!(k.reason.contains("guessed"), "{}", k.reason);
    assert!(r.needed);
}

#[test]
fn unreadable_release_is_unknown() {
    let host = Host::new();
    host.kernel(NEW, "6.1.115-1", Image::Bzimage);
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::Unknown);
    assert!(!k.warnings.is_empty());
    assert!(!r.needed);
    assert!(
        r.verdict()
            .starts_with("no reboot needed (kernel status unknown"),
        "{}",
        r.verdict()
    );
}

/// A docker container without a readable `/proc/1/stat`: the kernel and microcode are
/// the machine's, the flag file of its own packages still counts, and the package
/// changes cannot be judged without the container's start.
#[test]
fn container_defers_the_kernel_to_the_machine() {
    let host = Host::new();
    host.running("6.18.44-fc", "x")
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .package("libc6", "2.36-9+deb12u9", &["/lib/libc.so.6"], 600)
        .file("/.dockerenv", "")
        .file("/run/reboot-required", "")
        .cpus("GenuineIntel", (6, 0x8f, 8), 0x2b00_0603, 2, false)
        .file(
            "/lib/firmware/intel-ucode/06-8f-08",
            intel_update(0x2b00_0620, 0x806f8, 0xff),
        );
    let (k, m, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::NotPackaged);
    assert_eq!(
        k.container.as_ref().and_then(|c| c.runtime.as_deref()),
        Some("docker")
    );
    assert!(k.reason.contains("belongs to the host"), "{}", k.reason);
    assert_eq!(m.status, MicrocodeStatus::Skipped);
    assert!(r.container && r.needed);
    assert_eq!(kinds(&r), [ReasonKind::FlagFile]);
    assert_eq!(
        r.booted_at, None,
        "the machine's boot is not the container's"
    );
    assert!(r.upgraded_since_boot.is_empty());
    let remark = r.remark.as_deref().unwrap_or_default();
    assert!(
        remark.starts_with("a container whose start time is unknown: failed to read /proc/1/stat"),
        "{remark}"
    );
    assert_eq!(r.verdict(), "reboot needed: /run/reboot-required set");
}

fn kinds(r: &RebootReport) -> Vec<ReasonKind> {
    r.reasons.iter().map(|x| x.kind).collect()
}

/// Seconds after the machine's boot at which the fixture containers' PID 1 started.
const CONTAINER_START: i64 = 10_000;

/// A container started half a second into [`CONTAINER_START`].
fn container() -> Host {
    let host = Host::new();
    host.running(NEW, "6.1.115-1")
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .container_started(CONTAINER_START.unsigned_abs() * 100 + 50);
    host
}

/// Issue 14: libc6 and systemd upgraded after the machine booted but before the container
/// was restarted are applied already; the machine's boot is no measure for a container.
#[test]
fn container_started_after_the_upgrade_needs_no_restart() {
    let host = container();
    host.package("libc6", "2.36-9+deb12u9", &["/lib/libc.so.6"], 600)
        .package("systemd", "252.31-1", &["/lib/systemd/systemd"], 9_000)
        // btime truncates the machine's boot (up to 0.99 s) and the start ticks add 0.5 s:
        // PID 1 may have started as late as 0.49 s into second CONTAINER_START + 1, and
        // a package unpacked in that second may be older than the container.
        .package(
            "dbus",
            "1.14.10-1",
            &["/usr/bin/dbus-daemon"],
            CONTAINER_START + 1,
        );
    let (_, _, r) = audit(&host.roots);
    assert!(r.container);
    assert_eq!(r.booted_at, Some(BOOTED_AT + CONTAINER_START + 1));
    assert!(
        r.upgraded_since_boot.is_empty(),
        "{:?}",
        r.upgraded_since_boot
    );
    assert!(!r.needed, "{:?}", r.reasons);
    assert_eq!(
        r.verdict(),
        "no reboot needed (a container: its kernel and microcode are the machine's)"
    );
}

#[test]
fn container_upgrade_after_its_start_asks_for_a_restart() {
    let host = container();
    host.package("libc6", "2.36-9+deb12u9", &["/lib/libc.so.6"], 600)
        .package(
            "systemd",
            "252.31-1",
            &["/lib/systemd/systemd"],
            CONTAINER_START + 60,
        );
    let (_, _, r) = audit(&host.roots);
    assert!(r.needed);
    assert_eq!(kinds(&r), [ReasonKind::Packages]);
    assert_eq!(r.reasons[0].packages, ["systemd"]);
    assert_eq!(
        r.verdict(),
        "reboot needed: upgraded after the container started: systemd"
    );
}

#[test]
fn container_flag_file_asks_for_a_restart() {
    let host = container();
    host.file("/run/reboot-required", "*** System restart required ***\n")
        .file("/run/reboot-required.pkgs", "libc6\n");
    let (_, _, r) = audit(&host.roots);
    assert!(r.needed);
    assert_eq!(kinds(&r), [ReasonKind::FlagFile]);
    assert_eq!(r.reasons[0].packages, ["libc6"]);
    assert_eq!(
        r.verdict(),
        "reboot needed: /run/reboot-required set by libc6"
    );
}

/// A newer kernel that GRUB boots next, new microcode for the CPU and firmware, all
/// installed after the container started: the machine loads them, a restart of the
/// container applies none of them.
#[test]
fn container_kernel_and_microcode_pending_are_no_reason() {
    let host = container();
    host.kernel(OLD, "6.1.106-3", Image::Bzimage)
        .kernel_changed(
            "6.1.0-28-amd64",
            "6.1.119-1",
            Image::Bzimage,
            CONTAINER_START + 60,
        )
        .grub(&["6.1.0-28-amd64", NEW, OLD], "saved_entry=0")
        .package(
            "intel-microcode",
            "3.20241112.1",
            &["/lib/firmware/intel-ucode/06-8f-08"],
            CONTAINER_START + 60,
        )
        .package(
            "firmware-linux-nonfree",
            "20230210-5",
            &["/lib/firmware/x.bin"],
            CONTAINER_START + 60,
        )
        .cpus("GenuineIntel", (6, 0x8f, 8), 0x2b00_0603, 2, false)
        .file(
            "/lib/firmware/intel-ucode/06-8f-08",
            intel_update(0x2b00_0620, 0x806f8, 0xff),
        );
    let (k, m, r) = audit(&host.roots);
    assert_eq!(
        k.boot_default.as_ref().map(|d| d.release.as_str()),
        Some("6.1.0-28-amd64")
    );
    assert_eq!(m.status, MicrocodeStatus::Skipped);
    let listed: Vec<&str> = r
        .upgraded_since_boot
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        listed,
        [
            "firmware-linux-nonfree",
            "intel-microcode",
            "linux-image-6.1.0-28-amd64"
        ]
    );
    assert!(!r.needed, "{:?}", r.reasons);
}

#[test]
fn flag_file_and_boot_packages_after_boot() {
    let host = Host::new();
    host.running(NEW, "6.1.115-1")
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .package(
            "libc6",
            "2.36-9+deb12u9",
            &["/lib/x86_64-linux-gnu/libc.so.6"],
            600,
        )
        .package("systemd", "252.31-1", &["/lib/systemd/systemd"], -600)
        .package("bash", "5.2.15-2", &["/bin/bash"], 600)
        .file("/run/reboot-required", "*** System restart required ***\n")
        .file(
            "/run/reboot-required.pkgs",
            "linux-image-6.1.0-28-amd64\nlibc6\nlibc6\n",
        );
    let (k, _, r) = audit(&host.roots);
    assert_eq!(k.status, KernelStatus::Current, "{}", k.reason);
    let kinds: Vec<_> = r.reasons.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, vec![ReasonKind::FlagFile, ReasonKind::Packages]);
    assert_eq!(r.flag_packages, vec!["libc6", "linux-image-6.1.0-28-amd64"]);
    assert_eq!(r.reasons[1].packages, vec!["libc6"]);
    assert_eq!(
        r.verdict(),
        "reboot needed: /run/reboot-required set by libc6, linux-image-6.1.0-28-amd64 (+1 more)"
    );
}

#[test]
fn intel_microcode_pending_and_platform_mismatch() {
    let host = Host::new();
    let mut file = intel_update(0x2b00_0603, 0x806f8, 0x87);
    file.extend(intel_update(0x2b00_0620, 0x806f8, 0x10));
    host.running(NEW, "6.1.115-1")
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .cpus("GenuineIntel", (6, 0x8f, 8), 0x2b00_0603, 4, false)
        .file("/lib/firmware/intel-ucode/06-8f-08", file);
    let (_, m, r) = audit(&host.roots);
    assert_eq!(m.status, MicrocodeStatus::UpdatePending, "{}", m.reason);
    assert_eq!(m.cpus.len(), 1);
    assert_eq!(m.cpus[0].processors, 4);
    assert_eq!(m.cpus[0].available, Some(0x2b00_0620));
    assert_eq!(r.reasons[0].kind, ReasonKind::Microcode);
    assert!(r.verdict().contains("0x2b000620"), "{}", r.verdict());

    // With the platform known (bit 7), the newer update is for another platform.
    host.file(
        "/sys/devices/system/cpu/cpu0/microcode/processor_flags",
        "0x80\n",
    );
    let m = microcode::collect(&host.roots);
    assert_eq!(m.status, MicrocodeStatus::Current, "{}", m.reason);
    assert_eq!(m.cpus[0].available, Some(0x2b00_0603));
}

#[test]
fn amd_microcode_current_pending_and_missing() {
    let host = Host::new();
    let sig = 0x00a0_0f11; // family 0x19, model 1, stepping 1
    host.cpus("AuthenticAMD", (0x19, 1, 1), 0x0a00_11d1, 2, false)
        .file(
            "/lib/firmware/amd-ucode/microcode_amd_fam19h.bin",
            amd_container(sig, 0xa011, &[0x0a00_11d0, 0x0a00_11d5]),
        );
    let m = microcode::collect(&host.roots);
    assert_eq!(m.status, MicrocodeStatus::UpdatePending, "{}", m.reason);
    assert_eq!(
        m.cpus[0].file.as_deref(),
        Some("/lib/firmware/amd-ucode/microcode_amd_fam19h.bin")
    );
    host.cpus("AuthenticAMD", (0x19, 1, 1), 0x0a00_11d5, 2, false);
    assert_eq!(
        microcode::collect(&host.roots).status,
        MicrocodeStatus::Current
    );
    // A CPU the container does not know: no file for it means current.
    host.cpus("AuthenticAMD", (0x19, 0x21, 0), 0x0a20_1016, 2, false);
    let m = microcode::collect(&host.roots);
    assert_eq!(m.status, MicrocodeStatus::Current);
    assert_eq!(m.cpus[0].available, None);
}

#[test]
fn microcode_skipped_in_vm_and_unknown_without_revision() {
    let host = Host::new();
    host.cpus("GenuineIntel", (6, 0xa7, 1), 1, 2, true);
    let m = microcode::collect(&host.roots);
    assert_eq!(m.status, MicrocodeStatus::Skipped);
    assert!(m.reason.contains("hypervisor"), "{}", m.reason);
    host.file(
        "/proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nstepping\t: 7\nflags\t\t: fpu\n",
    );
    assert_eq!(
        microcode::collect(&host.roots).status,
        MicrocodeStatus::Unknown
    );
}

#[test]
fn report_parts_round_trip_through_json() {
    let host = Host::new();
    host.running(OLD, "6.1.106-3")
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .grub(&[NEW], "")
        .cpus("GenuineIntel", (6, 0x8f, 8), 0x2b00_0603, 1, false);
    let (k, m, r) = audit(&host.roots);
    let json = serde_json::to_string(&(&k, &m, &r)).expect("json");
    let back: (KernelReport, MicrocodeReport, RebootReport) =
        serde_json::from_str(&json).expect("parse");
    assert_eq!(back, (k, m, r));
    assert!(json.contains("\"kind\":\"grub\""), "{json}");
}

/// The collectors on the machine the tests run on: whatever it is (host, VM, container),
/// they must not fail and their answers must agree with each other.
#[test]
fn this_machine_gives_a_consistent_verdict() {
    let (k, m, r) = audit(&Roots::default());
    assert!(!k.reason.is_empty() && !m.reason.is_empty());
    assert_eq!(r.needed, !r.reasons.is_empty());
    if k.container.is_some() {
        assert_eq!(k.status, KernelStatus::NotPackaged);
        assert_eq!(m.status, MicrocodeStatus::Skipped);
        assert!(r.container && r.remark.is_some(), "{r:?}");
    }
    let kernel_reason = r.reasons.iter().any(|x| x.kind == ReasonKind::Kernel);
    let kernel_pending = matches!(
        k.status,
        KernelStatus::AbiUpdatePending | KernelStatus::VersionUpdatePending
    );
    assert_eq!(kernel_reason, kernel_pending && k.container.is_none());
    let verdict = r.verdict();
    assert_eq!(verdict.starts_with("reboot needed"), r.needed, "{verdict}");
}

#[test]
fn stale_grub_menu_is_warned_about() {
    let host = Host::new();
    host.running(NEW, "6.1.115-1")
        .kernel(NEW, "6.1.115-1", Image::Bzimage)
        .grub(&["6.1.0-28-amd64", NEW], "");
    let (k, _, _) = audit(&host.roots);
    assert_eq!(
        k.boot_default.as_ref().map(|d| d.image.is_none()),
        Some(true)
    );
    assert!(
        k.warnings.iter().any(|w| w.contains("not in /boot")),
        "{:?}",
        k.warnings
    );
}
