//! `patchgap audit`: this machine in-process with the probe library (no inventory), or
//! every selected host of an inventory over SSH. Wiring only: the inventory selects, the
//! fleet audits, the report renders and writes.

use anyhow::Context as _;
use patchgap_probe::host::now;
use patchgap_probe::integrity::{HashScope, IntegrityOptions};
use patchgap_probe::{IgnoreRules, Options, Roots};

use super::outputs::{Plan, plan};
use crate::cli::{AuditArgs, ProbeArgs};
use crate::exit::{UsageError, Verdict};
use crate::fleet::Target;
use crate::fleet::audit_fleet;
use crate::inventory::HostTarget;
use crate::notify::Notifier;
use crate::outcome::HostOutcome;
use crate::report::{
    Audited, ControllerInfo, FleetReport, Progress, ShardInfo, host_as_fleet, host_verdict, verdict,
};
use crate::shard::Shard;
use crate::targets::LocalEnv;
use crate::{baseline, inventory, limit, open_files, policy};

/// Runs `patchgap audit`.
pub fn run(args: &AuditArgs) -> anyhow::Result<Verdict> {
    let plan = plan(&args.output, args.probe.show_ignored)?;
    let notifier = Notifier::from_args(&args.notify)?;
    let result = if args.inventories.is_empty() {
        audit_local(args, &plan, notifier.as_ref())
    } else {
        audit_inventory(args, &plan, notifier.as_ref())
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
            baseline_hashes: None,
        }),
        skip_interpreters: args.no_interpreters,
    })
}

/// `--baseline-write` / `--baseline`: a baseline file that cannot be read is the user's to
/// fix (exit 2), before any host is audited.
fn baseline_run(args: &AuditArgs) -> anyhow::Result<Option<baseline::Run>> {
    let b = &args.baseline;
    baseline::Run::from_args(
        b.baseline_write.as_deref(),
        b.baseline_all,
        b.baseline.as_deref(),
    )
    .map_err(|e| UsageError(e.to_string()).into())
}

/// `patchgap audit` without an inventory: this machine. With `--policy`, the report is
/// judged as a fleet of one, and every output is that fleet document (with its `policy`);
/// without, the probe's report as is.
fn audit_local(
    args: &AuditArgs,
    plan: &Plan,
    notifier: Option<&Notifier>,
) -> anyhow::Result<Verdict> {
    let mut options = probe_options(&args.probe)?;
    let policy = policy::load(&args.policy)?;
    let baseline = baseline_run(args)?;
    if let (Some(run), Some(integrity)) = (&baseline, options.integrity.as_mut()) {
        integrity.baseline_hashes = Some(run.scope());
    }
    let started_at = now();
    let report = patchgap_probe::collect(&options);
    let mut found = host_verdict(&report);
    if policy.is_none() && baseline.is_none() {
        // The probe's own report as a fleet of one: a conversion that cannot fail in
        // practice, and must not fail the audit if it did.
        if notifier.is_some()
            && let Ok(mut fleet) = host_as_fleet(&report)
        {
            notify(notifier, &mut fleet);
        }
        return plan.deliver(Audited::Host(&report), found);
    }
    let mut fleet = FleetReport::single_host(report, ControllerInfo::new(started_at, now()))
        .context("cannot convert the local report to a fleet document")?;
    if let Some(run) = &baseline {
        run.finish(&mut fleet, started_at)?;
        found = verdict(&fleet.hosts);
    }
    if let Some(policy) = &policy {
        found = policy.apply(&mut fleet, found);
    }
    notify(notifier, &mut fleet);
    plan.deliver(Audited::Fleet(&fleet), found)
}

/// Sends the `--notify` notifications of a fleet report, before it is written: a failed
/// one is then a line of its `controller.warnings`. Warnings show even with `--quiet`.
fn notify(notifier: Option<&Notifier>, report: &mut FleetReport) {
    if let Some(notifier) = notifier {
        notifier.audit(report, &Progress::new(true));
    }
}

/// `patchgap audit -i INVENTORY`: every selected host over SSH, then the fleet report.
fn audit_inventory(
    args: &AuditArgs,
    plan: &Plan,
    notifier: Option<&Notifier>,
) -> anyhow::Result<Verdict> {
    let started_at = now();
    // Every argument is checked before any host is contacted: a bad one is the user's to
    // fix (exit 2), not a failure of each host.
    probe_options(&args.probe)?;
    let policy = policy::load(&args.policy)?;
    let baseline = baseline_run(args)?;
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
    let hashes = baseline.as_ref().map(baseline::Run::scope);
    let (outcomes, warnings) = audit_hosts(args, &hosts, &env, hashes)?;
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
    let mut report = FleetReport::new(controller, outcomes);
    if let Some(run) = &baseline {
        run.finish(&mut report, started_at)?;
    }
    let mut found = verdict(&report.hosts);
    if let Some(policy) = &policy {
        found = policy.apply(&mut report, found);
    }
    notify(notifier, &mut report);
    plan.deliver(Audited::Fleet(&report), found)
}

/// Audits `hosts` over SSH with a progress bar on stderr: one outcome per host, in
/// inventory order, and the warnings of the setup.
fn audit_hosts(
    args: &AuditArgs,
    hosts: &[HostTarget],
    env: &LocalEnv,
    hashes: Option<HashScope>,
) -> anyhow::Result<(Vec<HostOutcome>, Vec<String>)> {
    let progress = Progress::new(args.quiet);
    let setup = super::setup(&args.ssh, &args.probe, &progress, env)?;
    let targets: Vec<Target> = hosts.iter().map(|h| setup.target(h, env)).collect();
    let mut options = setup.options;
    if let Some(scope) = hashes {
        options
            .probe_args
            .extend(["--baseline-hashes".to_string(), scope.word().to_string()]);
    }
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
