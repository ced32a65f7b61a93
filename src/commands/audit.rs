//! `patchgap audit`: this machine in-process with the probe library (no inventory), or
//! every selected host of an inventory over SSH. Wiring only: the inventory selects, the
//! fleet audits, the report renders and writes.

use anyhow::Context as _;
use patchgap_probe::host::now;
use patchgap_probe::integrity::IntegrityOptions;
use patchgap_probe::{IgnoreRules, Options, Roots};

use crate::cli::{AuditArgs, Format, ProbeArgs};
use crate::exit::{UsageError, Verdict};
use crate::fleet::audit_fleet;
use crate::outcome::HostOutcome;
use crate::report::{
    ControllerInfo, FleetReport, Json, Progress, Render, Sink, Table, host_verdict, stdout_width,
    verdict,
};
use crate::targets::{LocalEnv, fleet_options, ssh_target};
use crate::transport::SshTarget;
use crate::{inventory, limit, open_files, policy};

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
        }),
    }
}

/// `patchgap audit` without an inventory: this machine. With `--policy`, the report is
/// judged as a fleet of one: JSON then writes that fleet document (with its `policy`), the
/// table adds the policy section to the host's tables; without, the probe's report as is.
fn audit_local(args: &AuditArgs) -> anyhow::Result<Verdict> {
    let options = probe_options(&args.probe)?;
    let policy = policy::load(&args.policy)?;
    let started_at = now();
    let report = patchgap_probe::collect(&options);
    let render = renderer(args, false);
    let found = host_verdict(&report);
    let Some(policy) = policy else {
        Sink::new(args.output.as_deref()).write(|out| render.host(&report, out))?;
        return Ok(found);
    };
    let mut fleet =
        FleetReport::single_host(report.clone(), ControllerInfo::new(started_at, now()))
            .context("cannot convert the local report to a fleet document")?;
    let found = policy.apply(&mut fleet, found);
    Sink::new(args.output.as_deref()).write(|out| match args.format {
        Format::Table => {
            render.host(&report, out)?;
            Table {
                width: stdout_width(),
                show_ignored: args.probe.show_ignored,
            }
            .policy(&fleet, out)
        }
        Format::Json => render.fleet(&fleet, out),
    })?;
    Ok(found)
}

/// `patchgap audit -i INVENTORY`: every selected host over SSH, then the fleet report.
fn audit_inventory(args: &AuditArgs) -> anyhow::Result<Verdict> {
    let started_at = now();
    // Every argument is checked before any host is contacted: a bad one is the user's to
    // fix (exit 2), not a failure of each host.
    probe_options(&args.probe)?;
    let policy = policy::load(&args.policy)?;
    let inventory = inventory::load(&args.inventories)?;
    let selection = limit::select(&inventory, args.limit.as_deref())?;
    // The user's environment (HOME, USER) is read here once; fleet code never reads it.
    let env = LocalEnv::from_process();
    let targets: Vec<SshTarget> = selection
        .hosts
        .iter()
        .map(|h| ssh_target(h, &env))
        .collect();
    // In inventory order: audit_fleet returns one outcome per target, in target order.
    let outcomes = audit_hosts(args, targets, &env)?;
    let mut controller = ControllerInfo::new(started_at, now());
    controller.inventories = args
        .inventories
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    controller.limit = args.limit.clone();
    controller.skipped = selection.skipped;
    let mut found = verdict(&outcomes);
    let mut report = FleetReport::new(controller, outcomes);
    if let Some(policy) = &policy {
        found = policy.apply(&mut report, found);
    }
    let render = renderer(args, true);
    Sink::new(args.output.as_deref()).write(|out| render.fleet(&report, out))?;
    Ok(found)
}

/// Audits `targets` over SSH with a progress bar on stderr; one outcome per target, in
/// inventory order.
fn audit_hosts(
    args: &AuditArgs,
    targets: Vec<SshTarget>,
    env: &LocalEnv,
) -> anyhow::Result<Vec<HostOutcome>> {
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
        env,
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
