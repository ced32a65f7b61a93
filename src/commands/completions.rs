//! `patchgap completions SHELL`: the shell's completion script, generated at run time from
//! the clap definitions in `cli.rs` (clap_complete), so it always knows every subcommand
//! and flag. The Debian package ships the bash, zsh and fish scripts.

use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::Verdict;
use crate::report::Sink;

/// The completion script for `shell`.
pub fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "patchgap", &mut out);
    out
}

/// Runs `patchgap completions`.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<Verdict> {
    let script = script(args.shell);
    Sink::Stdout.write(|out| out.write_all(&script))?;
    Ok(Verdict::default())
}
