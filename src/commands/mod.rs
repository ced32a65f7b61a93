//! One file per subcommand, each wiring the pieces (inventory, fleet, report) and returning
//! what it found as an [`exit::Verdict`](crate::exit::Verdict); `exit.rs` alone turns that,
//! or the error, into the exit status.

pub mod audit;
pub mod diff;
pub mod merge;
mod outputs;
pub mod report;

use crate::cli::{Cli, Command};
use crate::exit::Verdict;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Verdict> {
    match cli.command {
        Command::Audit(args) => audit::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Diff(args) => diff::run(&args),
    }
}
