//! Runs a parsed command line and decides the exit status.

use anyhow::Context as _;
use patchgap_probe::host::now;

use crate::cli::{AuditArgs, Cli, Command, Format};
use crate::exit::{Exit, UsageError};
use crate::fleet::audit_fleet;
use crate::fleet_report::{
    ControllerInfo, FleetReport, fleet_exit, render_summary, stdout_width, summarize, write_json,
    write_json_file,
};
use crate::outcome::HostOutcome;
use crate::progress::Progress;
use crate::targets::{LocalEnv, fleet_options, ssh_target};
use crate::transport::SshTarget;
use crate::{inventory, limit, local, open_files, output, render};

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Audit(args) => audit(&args),
    }
}

fn audit(args: &AuditArgs) -> anyhow::Result<Exit> {
    if !args.inventories.is_empty() {
        return audit_inventory(args);
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

/// `patchgap audit -i INVENTORY`: every selected host over SSH, then the fleet report.
fn audit_inventory(args: &AuditArgs) -> anyhow::Result<Exit> {
    let started_at = now();
    // Every argument is checked before any host is contacted: a bad one is the user's to
    // fix (exit 2), not a failure of each host.
    local::probe_options(&args.probe)?;
    let inventory = inventory::load(&args.inventories)?;
    let selection = limit::select(&inventory, args.limit.as_deref())
        .map_err(|err| UsageError(err.to_string()))?;
    let env = LocalEnv::from_process();
    let targets: Vec<SshTarget> = selection
        .hosts
        .iter()
        .map(|h| ssh_target(h, &env))
        .collect();
    let order: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let outcomes = audit_hosts(args, targets)?;
    let mut controller = ControllerInfo::new(started_at, now());
    controller.inventories = args
        .inventories
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    controller.limit = args.limit.clone();
    controller.skipped = selection.skipped;
    let exit = fleet_exit(&outcomes);
    let mut report = FleetReport::new(controller, outcomes);
    report.sort_hosts(&order);
    match (args.format, &args.output) {
        (Format::Json, Some(path)) => write_json_file(&report, path)?,
        (Format::Json, None) => {
            let mut data = Vec::new();
            write_json(&report, &mut data)?;
            output::emit(None, &data)?;
        }
        (Format::Table, path) => {
            let width = if path.is_none() { stdout_width() } else { None };
            let text = render_summary(&summarize(&report.hosts), width);
            output::emit(path.as_deref(), text.as_bytes())?;
        }
    }
    Ok(exit)
}

/// Audits `targets` over SSH with a progress bar on stderr; one outcome per target, in
/// inventory order.
fn audit_hosts(args: &AuditArgs, targets: Vec<SshTarget>) -> anyhow::Result<Vec<HostOutcome>> {
    let progress = Progress::new(args.quiet);
    let become_password = if args.ssh.ask_become_pass {
        Some(
            progress
                .ask_become_password()
                .context("cannot read the become password")?,
        )
    } else {
        None
    };
    let mut options = fleet_options(
        &args.ssh,
        &args.probe,
        progress.passphrase_prompt(),
        become_password,
        &LocalEnv::from_process(),
    )?;
    let open_files = open_files::raise_soft_limit();
    if options.forks > open_files.max_forks() {
        options.forks = open_files.max_forks();
        progress.note(&format!(
            "auditing {} hosts at a time instead of --forks {}: the open-files limit is {} \
             (raise the hard limit, e.g. `ulimit -Hn`, to audit more at once)",
            options.forks,
            args.ssh.forks,
            open_files.soft.unwrap_or_default()
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(async {
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let follower = progress.follow(receiver);
        let outcomes = audit_fleet(targets, options, events).await;
        let _ = follower.await;
        outcomes
    }))
}
