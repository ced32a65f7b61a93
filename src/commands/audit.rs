//! `patchgap audit`: this machine in-process with the probe library (no inventory), or
//! every selected host of an inventory over SSH. Wiring only: the inventory selects, the
//! fleet audits, the report renders and writes.

use anyhow::Context as _;
use patchgap_probe::host::now;
use patchgap_probe::integrity::IntegrityOptions;
use patchgap_probe::{IgnoreRules, Options, Roots};

use crate::cli::{AuditArgs, Format, ProbeArgs};
use crate::exit::{UsageError, Verdict};
use crate::fleet::Target;
use crate::fleet::audit_fleet;
use crate::inventory::HostTarget;
use crate::outcome::HostOutcome;
use crate::report::{
    ControllerInfo, FleetReport, Json, Progress, Render, Sink, Table, host_verdict, stdout_width,
    verdict,
};
use crate::targets::{LocalEnv, run_setup};
use crate::{inventory, limit, open_files};

/// Runs `patchgap audit`.
pub fn run(args: &AuditArgs) -> anyhow::Result<Verdict> {
    if args.inventories.is_empty() {
        audit_local(args)
    } else {
        audit_inventory(args)
    }
}

/// Probe options from the command line. A bad `--ignore` regex is the user's to fix.
fn probe_options(args: &ProbeArgs) -> anyhow::Result<Options> {
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

/// The renderer of `--format`. A single host's tables wrap to the terminal even with
/// `-o` (as they always have); a fleet's only when they go to stdout.
fn renderer(args: &AuditArgs, fleet: bool) -> Box<dyn Render> {
    match args.format {
        Format::Json => Box::new(Json),
        Format::Table => Box::new(Table {
            width: if fleet && args.output.is_some() {
                None
            } else {
                stdout_width()
            },
            show_ignored: args.probe.show_ignored,
            min_risk: args.min_risk.map(Into::into),
        }),
    }
}

/// `patchgap audit` without an inventory: this machine.
fn audit_local(args: &AuditArgs) -> anyhow::Result<Verdict> {
    let report = patchgap_probe::collect(&probe_options(&args.probe)?);
    let render = renderer(args, false);
    Sink::new(args.output.as_deref()).write(|out| render.host(&report, out))?;
    Ok(host_verdict(&report))
}

/// `patchgap audit -i INVENTORY`: every selected host over SSH, then the fleet report.
fn audit_inventory(args: &AuditArgs) -> anyhow::Result<Verdict> {
    let started_at = now();
    // Every argument is checked before any host is contacted: a bad one is the user's to
    // fix (exit 2), not a failure of each host.
    probe_options(&args.probe)?;
    let inventory = inventory::load(&args.inventories)?;
    let selection = limit::select(&inventory, args.limit.as_deref())?;
    // The user's environment (HOME, USER) is read here once; fleet code never reads it.
    let env = LocalEnv::from_process();
    // In inventory order: audit_fleet returns one outcome per target, in target order.
    let (outcomes, warnings) = audit_hosts(args, &selection.hosts, &env)?;
    let mut controller = ControllerInfo::new(started_at, now());
    controller.inventories = args
        .inventories
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    controller.limit = args.limit.clone();
    controller.skipped = selection.skipped;
    controller.warnings = warnings;
    let found = verdict(&outcomes);
    let report = FleetReport::new(controller, outcomes);
    let render = renderer(args, true);
    Sink::new(args.output.as_deref()).write(|out| render.fleet(&report, out))?;
    Ok(found)
}

/// Audits `hosts` over SSH with a progress bar on stderr: one outcome per host, in
/// inventory order, and the warnings of the setup.
fn audit_hosts(
    args: &AuditArgs,
    hosts: &[HostTarget],
    env: &LocalEnv,
) -> anyhow::Result<(Vec<HostOutcome>, Vec<String>)> {
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
    let setup = run_setup(
        &args.ssh,
        &args.probe,
        progress.passphrase_prompt(),
        become_password,
        env,
    )?;
    for warning in &setup.warnings {
        progress.warn(warning);
    }
    let targets: Vec<Target> = hosts.iter().map(|h| setup.target(h, env)).collect();
    let mut options = setup.options;
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
    let outcomes = runtime.block_on(async {
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let follower = progress.follow(receiver);
        let outcomes = audit_fleet(targets, options, events).await;
        let _ = follower.await;
        outcomes
    });
    Ok((outcomes, setup.warnings))
}
