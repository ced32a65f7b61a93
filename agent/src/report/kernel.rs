//! The `kernel` part of the report (running against next-boot kernel). Also described in
//! `docs/report-kernel.md`.

use serde::{Deserialize, Serialize};

/// Running kernel against the kernel that boots next.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct KernelReport {
    /// The verdict: does a reboot change the kernel?
    pub status: KernelStatus,
    /// Why [`KernelReport::status`] was chosen, for a person.
    pub reason: String,
    /// The kernel that runs now.
    pub running: RunningKernel,
    /// Kernels found as `linux-image-*` packages or as `/boot/vmlinuz-*`, newest first.
    pub installed: Vec<InstalledKernel>,
    /// The kernel a reboot would start, when it could be told or guessed.
    pub boot_default: Option<BootDefault>,
    /// Set when the probe runs inside a container: the kernel is then the host's.
    pub container: Option<ContainerInfo>,
    /// Parts that could not be read (an unreadable image, a GRUB default that names no
    /// entry, ...). The status is still given, from what was readable.
    pub warnings: Vec<String>,
}

/// How the running kernel compares with the one that boots next.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum KernelStatus {
    /// The running kernel is the one that boots next.
    Current,
    /// Same release (`uname -r`) boots next, but rebuilt: a package upgrade that kept the
    /// ABI name, e.g. Debian 6.1.76-1 to 6.1.82-1.
    AbiUpdatePending,
    /// A newer release boots next.
    VersionUpdatePending,
    /// The running kernel comes from no package: a custom build, a kernel supplied by a
    /// VM's host, or a container's host. No reboot is asked for.
    NotPackaged,
    /// Not enough could be read to tell.
    #[default]
    Unknown,
}

/// The kernel that runs now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RunningKernel {
    /// `/proc/sys/kernel/osrelease` (`uname -r`), e.g. `6.1.0-27-amd64`.
    pub release: Option<String>,
    /// `/proc/version` as written by the kernel.
    pub version: Option<String>,
    /// The build part of the version (`uname -v`), e.g.
    /// `#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)`.
    pub build: Option<String>,
    /// Unix time of boot (`btime` of `/proc/stat`).
    pub booted_at: Option<i64>,
    /// The `linux-image-*` package that installed `/boot/vmlinuz-RELEASE`, if any.
    pub package: Option<String>,
    /// Installed version of that package.
    pub package_version: Option<String>,
}

/// A kernel found on disk or in the dpkg database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstalledKernel {
    /// Release, from the image's file name (`vmlinuz-RELEASE`).
    pub release: String,
    /// The package whose file list holds the image.
    pub package: Option<String>,
    /// Installed version of [`InstalledKernel::package`].
    pub package_version: Option<String>,
    /// Path of the image on the host, when it exists.
    pub image: Option<String>,
    /// The version string read from the image (`RELEASE (builder) #1 SMP ...`).
    pub image_version: Option<String>,
    /// Build part of that string, comparable with [`RunningKernel::build`].
    pub build: Option<String>,
    /// Where [`InstalledKernel::image_version`] came from.
    pub version_from: VersionSource,
}

/// How an image's version was found.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// The x86 bzImage setup header (`kernel_version` field).
    BzimageHeader,
    /// A `Linux version` string in the uncompressed file.
    Embedded,
    /// A `Linux version` string inside a gzip stream of the file.
    Gzip,
    /// ... inside an xz stream.
    Xz,
    /// ... inside a zstd stream.
    Zstd,
    /// Nothing readable inside: only the file name tells the release.
    FileName,
}

/// The kernel that a reboot would start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BootDefault {
    /// Release of the kernel that boots next (`uname -r` after the reboot).
    pub release: String,
    /// Image path on the host (`/boot/vmlinuz-RELEASE`).
    pub image: Option<String>,
    /// Build part of the image's version string, when readable.
    pub build: Option<String>,
    /// What named it: GRUB, Debian's `vmlinuz` symlink, or a guess.
    pub source: BootSource,
    /// True when nothing names the boot default and the highest installed release was
    /// taken instead (what needrestart always does).
    pub guess: bool,
}

/// What named the boot default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BootSource {
    /// GRUB's default entry (`set default=` of `grub.cfg`, `saved_entry` or a one-time
    /// `next_entry` of `grubenv`).
    Grub {
        /// The default as written (`0`, an entry id, `submenu>entry`, a title).
        default: String,
        /// Title of the entry it resolved to.
        title: String,
        /// True for a one-time `next_entry` set by `grub-reboot`.
        one_time: bool,
    },
    /// Debian's `/vmlinuz` or `/boot/vmlinuz` symlink.
    Symlink {
        /// The symlink (`/vmlinuz` or `/boot/vmlinuz`).
        path: String,
        /// What it points to, as written.
        target: String,
    },
    /// The highest installed release (a guess).
    HighestInstalled,
}

/// How a container was recognised.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerInfo {
    /// `docker`, `podman`, `lxc`, `systemd-nspawn`, ... when the evidence names it.
    pub runtime: Option<String>,
    /// The file that gave it away, e.g. `/.dockerenv`.
    pub evidence: String,
}
