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

pub mod dpkg;
pub mod integrity;
pub mod kernel;
pub mod microcode;
pub mod reboot;
pub mod report;
pub mod roots;

pub use report::{Report, SCHEMA_VERSION};
pub use roots::Roots;
