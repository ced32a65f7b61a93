//! The `reboot` part of the report and its one-line verdict for the terminal. Also
//! described in `docs/report-kernel.md`.

use serde::{Deserialize, Serialize};

/// Whether the host needs a reboot. Documented in `docs/report-kernel.md`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RebootReport {
    /// True when any reason below holds.
    pub needed: bool,
    /// Every reason a reboot is needed; empty when none is.
    pub reasons: Vec<RebootReason>,
    /// Set inside a container, whose "reboot" is its restart: it applies the container's
    /// own userland packages but not the kernel or microcode, which are the machine's, so
    /// those are never reasons here. The remark says so.
    pub container: bool,
    /// Unix time of boot, against which package changes are judged. Inside a container,
    /// the start of its PID 1 (the machine's `btime` plus PID 1's start ticks, rounded up
    /// to the next second), not the machine's boot.
    pub booted_at: Option<i64>,
    /// `/run/reboot-required` exists.
    pub flag_file: bool,
    /// Lines of `/run/reboot-required.pkgs`: the packages that set the flag.
    pub flag_packages: Vec<String>,
    /// Packages that only take effect on boot and were changed after it (`booted_at`).
    /// Kernel packages are listed but count as a reason through the kernel's status, not
    /// here; in a container, kernel, firmware and microcode packages never count.
    pub upgraded_since_boot: Vec<UpgradedPackage>,
    /// A remark for the verdict when no reboot is needed but something was not judged
    /// (a custom kernel, an unknown kernel status, a container's kernel and microcode,
    /// a container whose start time is unknown).
    pub remark: Option<String>,
}

/// One reason for a reboot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RebootReason {
    /// Which check asks for the reboot.
    pub kind: ReasonKind,
    /// For a person: `kernel 6.1.0-28-amd64 installed, running 6.1.0-27-amd64`.
    pub message: String,
    /// Packages behind the reason, when there are any.
    pub packages: Vec<String>,
}

/// What asks for a reboot.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// The kernel that boots next differs from the running one (`kernel.status`).
    Kernel,
    /// Newer microcode is installed for a CPU (`microcode.status`).
    Microcode,
    /// `/run/reboot-required` is set.
    FlagFile,
    /// Boot-time packages (libc6, systemd, dbus, firmware, microcode) changed after boot;
    /// in a container, only its userland ones (libc6, systemd, dbus) changed after it
    /// started.
    Packages,
}

/// A boot-time package changed after boot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpgradedPackage {
    /// Package name, as dpkg names it.
    pub name: String,
    /// Version installed now.
    pub version: Option<String>,
    /// Unix time of its last unpack (mtime of its dpkg file list).
    pub changed_at: i64,
}

impl RebootReport {
    /// One line for the audit table: `reboot needed: kernel 6.1.0-28-amd64 installed,
    /// running 6.1.0-27-amd64 (+1 more)`, `no reboot needed`, or why none is asked for.
    pub fn verdict(&self) -> String {
        if let Some(first) = self.reasons.first() {
            let more = match self.reasons.len() - 1 {
                0 => String::new(),
                n => format!(" (+{n} more)"),
            };
            return format!("reboot needed: {}{more}", first.message);
        }
        match &self.remark {
            Some(r) => format!("no reboot needed ({r})"),
            None => "no reboot needed".to_string(),
        }
    }
}
