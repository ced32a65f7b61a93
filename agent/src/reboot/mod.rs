//! Whether the host needs a reboot, with every reason: the kernel, the microcode,
//! Debian's `/run/reboot-required` flag, and packages that only take effect on boot.

mod collect;

pub use collect::{REBOOT_PACKAGES, collect, collect_with};
