//! Runs a parsed command line and decides the exit status.

use anyhow::bail;

use crate::cli::{AuditArgs, Cli, Command, Format};
use crate::exit::Exit;
use crate::{local, output, render};

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Audit(args) => audit(&args),
    }
}

fn audit(args: &AuditArgs) -> anyhow::Result<Exit> {
    if !args.inventories.is_empty() {
        bail!("fleet audits (-i) are not available in this build");
    }
    let report = local::audit(&args.probe)?;
    let data = match args.format {
        Format::Json => {
            let mut j = serde_json::to_vec_pretty(&report)?;
            j.push(b'\n');
            j
        }
        Format::Table => render::host::render(&report, args.probe.show_ignored).into_bytes(),
    };
    output::emit(args.output.as_deref(), &data)?;
    Ok(local::exit_for(&report))
}
