//! `patchgap`: audit this machine or a fleet for processes running replaced code.

use std::process::ExitCode;

use clap::Parser;
use patchgap::{cli::Cli, exit, run::run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(exit) => ExitCode::from(exit.code() as u8),
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("patchgap: error: {e:#}");
            }
            ExitCode::from(exit::for_error(&e).code() as u8)
        }
    }
}
