/*!
The read-only host probe of patchgap.

It answers, for one Debian host: which processes still run code that an upgrade replaced,
which package and which unit, session or container is behind each, whether the kernel or
microcode waits for a reboot, and (on request) which packaged files were modified.

The same library runs in two places: as the static `patchgap-probe` binary pushed to
remote hosts, and inside the `patchgap` controller to audit the local machine. It reads
`/proc` and the dpkg database and never changes anything: it executes nothing that it
finds and forks no helper tools.
*/

mod collect;
pub mod dpkg;
pub mod exposure;
pub mod glob;
pub mod host;
pub mod ignore;
pub mod integrity;
pub mod interp;
pub mod kernel;
pub mod microcode;
mod parallel;
pub mod procfs;
mod rawfs;
pub mod reboot;
pub mod report;
pub mod roots;
pub mod stale;

pub use collect::{Options, collect};
pub use ignore::IgnoreRules;
pub use report::{Report, SCHEMA_VERSION};
pub use roots::Roots;
