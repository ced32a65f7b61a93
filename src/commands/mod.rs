//! One file per subcommand, each wiring the pieces (inventory, fleet, report) and returning
//! what it found as an [`exit::Verdict`](crate::exit::Verdict); `exit.rs` alone turns that,
//! or the error, into the exit status.

pub mod audit;
mod campaign;
pub mod completions;
pub mod diff;
pub mod man;
pub mod merge;
mod outputs;
pub mod reboot;
pub mod report;
pub mod restart;

use anyhow::Context as _;

use crate::cli::{Cli, Command, ProbeArgs, SshArgs};
use crate::exit::Verdict;
use crate::report::Progress;
use crate::targets::{LocalEnv, RunSetup, run_setup};

/// The setup of a run over SSH, asking what it must on the terminal: the become password
/// once (`-K`), key passphrases when a key needs one; setup warnings are shown.
fn setup(
    ssh: &SshArgs,
    probe: &ProbeArgs,
    progress: &Progress,
    env: &LocalEnv,
) -> anyhow::Result<RunSetup> {
    let become_password = if ssh.ask_become_pass {
        Some(
            progress
                .ask_become_password()
                .context("cannot read the become password")?,
        )
    } else {
        None
    };
    let setup = run_setup(
        ssh,
        probe,
        progress.passphrase_prompt(),
        become_password,
        env,
    )?;
    for warning in &setup.warnings {
        progress.warn(warning);
    }
    Ok(setup)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Verdict> {
    match cli.command {
        Command::Audit(args) => audit::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Restart(args) => restart::run(&args),
        Command::Reboot(args) => reboot::run(&args),
        Command::Man(args) => man::run(&args),
        Command::Completions(args) => completions::run(&args),
    }
}
