//! The running kernel against the installed ones and the one that boots next: whether a
//! reboot would change the kernel, and why.

mod boot;
mod collect;
mod container;
mod image;
mod version;

pub use boot::{GrubChoice, GrubEntry, GrubMenu, parse_grub_cfg, parse_grubenv};
pub use collect::{collect, collect_with, decide};
pub use container::detect_container;
pub use image::{ImageVersion, read_image_version, version_from_bytes};
pub use version::{compare_releases, parse_version_string};
