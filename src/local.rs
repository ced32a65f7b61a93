//! `patchgap audit` without an inventory: this machine, in-process, with the same probe
//! library that runs on remote hosts.

use patchgap_probe::integrity::IntegrityOptions;
use patchgap_probe::{IgnoreRules, Options, Report, Roots};

use crate::cli::ProbeArgs;
use crate::exit::{Exit, UsageError};

/// Probe options from the command line.
pub fn probe_options(args: &ProbeArgs) -> anyhow::Result<Options> {
    let ignore = IgnoreRules::new(!args.no_default_ignores, &args.ignore)
        .map_err(|e| UsageError(format!("--ignore: {e}")))?;
    Ok(Options {
        roots: Roots::default(),
        ignore,
        integrity: args.integrity.then(|| IntegrityOptions {
            packages: args.integrity_packages.clone(),
            threads: None,
        }),
    })
}

/// Audits this machine.
pub fn audit(args: &ProbeArgs) -> anyhow::Result<Report> {
    Ok(patchgap_probe::collect(&probe_options(args)?))
}

/// What one host's report means for the exit status.
pub fn exit_for(report: &Report) -> Exit {
    if report.action_needed() {
        Exit::Findings
    } else {
        Exit::Clean
    }
}
