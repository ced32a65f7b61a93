//! `patchgap audit`: this machine in-process with the probe library (no inventory), or
//! every selected host of an inventory over SSH. Wiring only: the inventory selects, the
//! fleet audits, the report renders and writes.

use anyhow::Context as _;
use patchgap_probe::host::now;
use patchgap_probe::integrity::IntegrityOptions;
use patchgap_probe::{IgnoreRules, Options, Roots};

use super::outputs::{Plan, plan};
use crate::cli::{AuditArgs, ProbeArgs};
use crate::exit::{UsageError, Verdict};
use crate::fleet::Target;
use crate::fleet::audit_fleet;
use crate::inventory::HostTarget;
use crate::outcome::HostOutcome;
use crate::report::{
    Audited, ControllerInfo, FleetReport, Progress, ShardInfo, host_verdict, verdict,
};
use crate::shard::Shard;
use crate::targets::LocalEnv;
use crate::{inventory, limit, open_files, policy};

/// Runs `patchgap audit`.
pub fn run(args: &AuditArgs) -> anyhow::Result<Verdict> {
    let plan = plan(&args.output, args.probe.show_ignored)?;
    let result = if args.inventories.is_empty() {
        audit_local(args, &plan)
    } else {
        audit_inventory(args, &plan)
    };
    plan.finish(result)
}

/// Probe options from the command line. A bad `--ignore` regex is the user's to fix.
pub(crate) fn probe_options(args: &ProbeArgs) -> anyhow::Result<Options> {
    let ignore = IgnoreRules::new(!args.no_default_ignores, &args.ignore)
        .map_err(|e| UsageError(format!("--ignore: {e}")))?;
    Ok(Options {
        roots: Roots::default(),
        ignore,
        integrity: args.integrity.then(|| IntegrityOptions {
            packages: args.integrity_packages.clone(),
            threads: None,
        }),
        skip_interpreters: false,
    })
}

/// `patchgap audit` without an inventory: this machine. With `--policy`, the report is
/// judged as a fleet of one, and every output is that fleet document (with its `policy`);
/// without, the probe's report as is.
fn audit_local(args: &AuditArgs, plan: &Plan) -> anyhow::Result<Verdict> {
    let options = probe_options(&args.probe)?;
    let policy = policy::load(&args.policy)?;
    let started_at = now();
    let report = patchgap_probe::collect(&options);
    let found = host_verdict(&report);
    let Some(policy) = policy else {
        return plan.deliver(Audited::Host(&report), found);
    };
    let mut fleet = FleetReport::single_host(report, ControllerInfo::new(started_at, now()))
        .context("cannot convert the local report to a fleet document")?;
    let found = policy.apply(&mut fleet, found);
    plan.deliver(Audited::Fleet(&fleet), found)
}

/// `patchgap audit -i INVENTORY`: every selected host over SSH, then the fleet report.
fn audit_inventory(args: &AuditArgs, plan: &Plan) -> anyhow::Result<Verdict> {
    let started_at = now();
    // Every argument is checked before any host is contacted: a bad one is the user's to
    // fix (exit 2), not a failure of each host.
    probe_options(&args.probe)?;
    let policy = policy::load(&args.policy)?;
    let inventory = inventory::load(&args.inventories)?;
    let selection = limit::select(&inventory, args.limit.as_deref())?;
    let shard = Shard::from_args(
        args.shard.shard.as_deref(),
        args.shard.shard_count,
        |name| std::env::var(name).ok(),
    )
    .map_err(|e| UsageError(e.to_string()))?;
    let selected = selection.hosts.len();
    let (hosts, shard) = match shard {
        None => (selection.hosts, None),
        Some(shard) => {
            let (hosts, positions) = shard.select(selection.hosts, |h| h.name.as_str());
            let info = ShardInfo {
                index: shard.index,
                count: shard.count,
                selected,
                positions,
            };
            (hosts, Some(info))
        }
    };
    // The user's environment (HOME, USER) is read here once; fleet code never reads it.
    let env = LocalEnv::from_process();
    // In inventory order: audit_fleet returns one outcome per target, in target order.
    let (outcomes, warnings) = audit_hosts(args, &hosts, &env)?;
    let mut controller = ControllerInfo::new(started_at, now());
    controller.inventories = args
        .inventories
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    controller.limit = args.limit.clone();
    controller.skipped = selection.skipped;
    controller.warnings = warnings;
    controller.shard = shard;
    let mut found = verdict(&outcomes);
    let mut report = FleetReport::new(controller, outcomes);
    if let Some(policy) = &policy {
        found = policy.apply(&mut report, found);
    }
    plan.deliver(Audited::Fleet(&report), found)
}

/// Audits `hosts` over SSH with a progress bar on stderr: one outcome per host, in
/// inventory order, and the warnings of the setup.
fn audit_hosts(
    args: &AuditArgs,
    hosts: &[HostTarget],
    env: &LocalEnv,
) -> anyhow::Result<(Vec<HostOutcome>, Vec<String>)> {
    let progress = Progress::new(args.quiet);
    let setup = super::setup(&args.ssh, &args.probe, &progress, env)?;
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
