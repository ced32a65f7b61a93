//! `patchgap`: audit this machine or a fleet for processes running replaced code.

use std::process::ExitCode;

use clap::Parser;
use patchgap::{cli::Cli, commands, exit};

fn main() -> ExitCode {
    let result = commands::run(Cli::parse());
    if let Err(e) = &result {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("patchgap: error: {e:#}");
        }
    }
    ExitCode::from(exit::code(&result))
}
