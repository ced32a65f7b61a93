//! Getting the probe onto a host and running it: the embedded binaries, the host-side
//! script, the exchange over one SSH exec channel, and the validation of the probe's
//! untrusted output before anything else reads it.

mod embedded;
pub mod probe_output;
mod run;
mod script;

pub use embedded::{
    EmbeddedProbe, embedded_probe, embedded_probe_sha256, embedded_probes, normalize_arch,
    unsupported_arch_message,
};
pub use run::{DeployOptions, HostDeploy, STALL_TIMEOUT, deploy_and_run};
pub use script::{BOOTSTRAP, DeployCommand, Escalation, deploy_command, shell_quote};
