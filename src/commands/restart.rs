//! `patchgap restart`: plan from a fresh audit (or `--from REPORT.json`, or the journal of
//! `--resume`), show the plan, ask once (or `--yes`), then carry it out with the campaign
//! engine, over SSH for an inventory and through local processes for this machine. Wiring
//! only: `campaign/` decides and acts, `report/` shows, `exit.rs` turns the verdict into
//! the status; what it shares with `reboot` is in `commands/campaign.rs`.

use std::time::Duration;

use anyhow::Context as _;

use super::audit::probe_options;
use super::campaign::{Fleet, Run, plan_inputs, read_report, schedule};
use crate::campaign::{
    CampaignHost, CampaignKind, CampaignPlan, HealthChecks, OutsideWindow, RebootSettings,
    Schedule, Settings, UnitFilter,
};
use crate::cli::{CampaignArgs, OutsideWindowArg, RestartArgs};
use crate::deploy::{DeployOptions, HostDeploy, STALL_TIMEOUT, embedded_probes};
use crate::exit::Verdict;
use crate::outcome::{HostOutcome, HostResult};
use crate::report::Progress;
use crate::transport::{Endpoint, Route};

/// The name of this machine in a campaign without inventory.
const LOCALHOST: &str = "localhost";

/// Runs `patchgap restart`.
pub fn run(args: &RestartArgs) -> anyhow::Result<Verdict> {
    // Every argument is checked before any host is contacted.
    probe_options(&args.probe)?;
    let schedule = schedule(&args.campaign)?;
    let progress = Progress::new(args.campaign.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let fleet = if args.inventories.is_empty() {
        None
    } else {
        Some(Fleet::load(
            &args.inventories,
            args.limit.as_deref(),
            &args.ssh,
            &args.probe,
            &progress,
        )?)
    };
    let hosts = match &fleet {
        Some(fleet) => fleet.campaign_hosts(),
        None => vec![local_host(args)],
    };
    let run = Run {
        kind: CampaignKind::Restart,
        args: &args.campaign,
        fleet: fleet.as_ref(),
        hosts,
        settings: settings(args, schedule),
        progress: &progress,
        runtime: &runtime,
    };
    run.carry_out(|| runtime.block_on(plan(args, fleet.as_ref(), &progress)))
}

/// This machine as the campaign's only host: the probe and the restarts run as local
/// processes, through `sudo -n` when patchgap does not run as root.
fn local_host(args: &RestartArgs) -> CampaignHost {
    CampaignHost {
        name: LOCALHOST.into(),
        route: Route {
            jumps: Vec::new(),
            target: Endpoint {
                host: LOCALHOST.into(),
                port: 0,
                user: String::new(),
                identity_files: Vec::new(),
            },
        },
        connect_timeout: None,
        host_timeout: Duration::from_secs(args.ssh.host_timeout),
        deploy: DeployOptions {
            probes: embedded_probes(),
            probe_args: crate::targets::probe_arguments(&args.probe),
            cleanup: args.ssh.cleanup,
            become_password: None,
            host: HostDeploy::default(),
            stall_timeout: STALL_TIMEOUT,
        },
    }
}

/// The plan from the selected hosts' audits.
async fn plan(
    args: &RestartArgs,
    fleet: Option<&Fleet>,
    progress: &Progress,
) -> anyhow::Result<CampaignPlan> {
    let (outcomes, never): (Vec<HostOutcome>, Vec<Vec<String>>) = match fleet {
        Some(fleet) => {
            let outcomes = fleet.audit(args.from.as_deref(), progress).await?;
            let never = fleet.targets.iter().map(|(_, n)| n.clone()).collect();
            (outcomes, never)
        }
        None => (vec![local_audit(args)?], vec![Vec::new()]),
    };
    let (inputs, unplanned) = plan_inputs(&outcomes, &never);
    let filter = UnitFilter {
        units: args.units.clone(),
        exclude: args.exclude_units.clone(),
        never: args.never.clone(),
        reexec: args.reexec,
    };
    let serial = args.campaign.serial.clone().unwrap_or_default();
    Ok(CampaignPlan::new(
        &inputs,
        unplanned,
        &filter,
        &serial,
        args.campaign.canary,
    ))
}

/// This machine's audit: from `--from`'s first host, or the probe library in-process.
fn local_audit(args: &RestartArgs) -> anyhow::Result<HostOutcome> {
    if let Some(path) = &args.from {
        let report = read_report(path)?;
        let mut host = report
            .hosts
            .into_iter()
            .next()
            .with_context(|| format!("{} has no host", path.display()))?;
        host.host = LOCALHOST.into();
        return Ok(host);
    }
    let report = patchgap_probe::collect(&probe_options(&args.probe)?);
    let report = crate::deploy::probe_output::ProbeReport::from_report(report)
        .context("cannot read this machine's report")?;
    Ok(HostOutcome {
        host: LOCALHOST.into(),
        address: LOCALHOST.into(),
        port: 0,
        user: String::new(),
        elapsed_ms: 0,
        result: HostResult::Audited {
            partial: false,
            report: Box::new(report),
        },
    })
}

/// What restart and reboot campaigns set alike: batches, stops, windows, health checks.
pub(super) fn common_settings(args: &CampaignArgs, forks: usize, schedule: Schedule) -> Settings {
    Settings {
        forks,
        together: false,
        restart_timeout: Duration::from_secs(60),
        poll_interval: Duration::from_millis(500),
        health: HealthChecks {
            cmd: args.health_cmd.clone(),
            url: args.health_url.clone(),
            tcp: args.health_tcp,
        },
        max_fail: args.max_fail,
        pause: Duration::from_secs(args.pause),
        schedule,
        outside_window: match args.outside_window {
            OutsideWindowArg::Wait => OutsideWindow::Wait,
            OutsideWindowArg::Stop => OutsideWindow::Stop,
        },
        reboot: RebootSettings::default(),
    }
}

fn settings(args: &RestartArgs, schedule: Schedule) -> Settings {
    Settings {
        together: args.together,
        restart_timeout: Duration::from_secs(args.restart_timeout),
        ..common_settings(&args.campaign, args.ssh.forks, schedule)
    }
}
