//! `patchgap restart`: plan from a fresh audit (or `--from REPORT.json`, or the journal of
//! `--resume`), show the plan, ask once (or `--yes`), then carry it out with the campaign
//! engine, over SSH for an inventory and through local processes for this machine. Wiring
//! only: `campaign/` decides and acts, `report/` shows, `exit.rs` turns the verdict into
//! the status.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use patchgap_probe::Report;

use super::audit::probe_options;
use crate::campaign::{
    CampaignEvent, CampaignHost, CampaignOutcome, CampaignPlan, HealthChecks, HostInput, Journal,
    OutsideWindow, Replay, Schedule, Settings, UnitFilter, Unplanned, execute,
};
use crate::cli::{CampaignFormat, OutsideWindowArg, RestartArgs};
use crate::deploy::{DeployOptions, HostDeploy, STALL_TIMEOUT, embedded_probes};
use crate::exit::{UsageError, Verdict};
use crate::fleet::{FleetOptions, Target, audit_fleet};
use crate::notify::Notifier;
use crate::outcome::{HostOutcome, HostResult};
use crate::report::{
    FleetReport, Progress, Sink, campaign_json, campaign_table, failure_label, plan_json,
    plan_table, stdout_width,
};
use crate::targets::LocalEnv;
use crate::transport::{Connector, Endpoint, LocalConnector, Route, RusshConnector};
use crate::{inventory, limit};

/// The name of this machine in a campaign without inventory.
const LOCALHOST: &str = "localhost";

/// Runs `patchgap restart`.
pub fn run(args: &RestartArgs) -> anyhow::Result<Verdict> {
    // Every argument is checked before any host is contacted.
    probe_options(&args.probe)?;
    let notifier = Notifier::from_args(&args.notify)?;
    let schedule = Schedule::new(args.windows.clone(), args.timezone.as_deref())
        .map_err(|e| UsageError(e.to_string()))?;
    let progress = Progress::new(args.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let fleet = if args.inventories.is_empty() {
        None
    } else {
        Some(Fleet::load(args, &progress)?)
    };
    let hosts = match &fleet {
        Some(fleet) => fleet.campaign_hosts(),
        None => vec![local_host(args)],
    };
    let (plan, journal, replay) = match &args.resume {
        Some(state) => {
            let (journal, replay) = Journal::resume(state)?;
            if replay.torn_line {
                progress.note(&format!(
                    "the last line of {} was cut off (the controller was killed while writing \
                     it); it was dropped, the steps before it are kept",
                    state.display()
                ));
            }
            (replay.plan.clone(), Some(journal), Some(replay))
        }
        None => {
            let plan = runtime.block_on(plan(args, fleet.as_ref(), &progress))?;
            (plan, None, None)
        }
    };
    let unplanned = plan.unplanned.len();
    if args.dry_run || (plan.is_empty() && replay.is_none()) {
        write_plan(args, &plan)?;
        return Ok(Verdict {
            hosts_failed: unplanned,
            ..Verdict::default()
        });
    }
    let journal = match journal {
        Some(journal) => journal,
        None => {
            confirm(args, &plan, &progress)?;
            let state = args.state.clone().unwrap_or_else(default_state);
            Journal::create(&state, &plan)?
        }
    };
    let settings = settings(args, schedule);
    let journal = Arc::new(journal);
    let outcome = runtime.block_on(async {
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let follower = progress.follow_campaign(receiver);
        let run = Campaign {
            hosts,
            plan: &plan,
            settings,
            journal: journal.clone(),
            replay: replay.as_ref(),
            events,
        };
        let outcome = match &fleet {
            Some(fleet) => run.execute(fleet.connector()).await,
            None => run.execute(LocalConnector).await,
        };
        let _ = follower.await;
        outcome
    });
    let state = journal.path().display().to_string();
    write_outcome(args, &outcome, &state)?;
    if let Some(notifier) = &notifier {
        notifier.restart(&outcome, &progress);
    }
    Ok(Verdict {
        hosts_failed: outcome.failed_hosts(),
        stopped: outcome.stopped.is_some(),
        ..Verdict::default()
    })
}

/// The selected hosts of the inventory and how to reach them, with each host's
/// `patchgap_never_restart`.
struct Fleet {
    targets: Vec<(Target, Vec<String>)>,
    options: FleetOptions,
    skipped: Vec<String>,
}

impl Fleet {
    fn load(args: &RestartArgs, progress: &Progress) -> anyhow::Result<Self> {
        let inventory = inventory::load(&args.inventories)?;
        let selection = limit::select(&inventory, args.limit.as_deref())?;
        let env = LocalEnv::from_process();
        let setup = super::setup(&args.ssh, &args.probe, progress, &env)?;
        let targets = selection
            .hosts
            .iter()
            .map(|h| (setup.target(h, &env), h.settings.never_restart.clone()))
            .collect();
        Ok(Fleet {
            targets,
            options: setup.options,
            skipped: selection.skipped,
        })
    }

    fn connector(&self) -> RusshConnector {
        RusshConnector {
            session: self.options.session.clone(),
        }
    }

    fn campaign_hosts(&self) -> Vec<CampaignHost> {
        self.targets
            .iter()
            .map(|(target, _)| CampaignHost::new(target.clone(), &self.options))
            .collect()
    }

    /// Each selected host's audit: from `--from`'s report, or a fresh one.
    async fn audit(
        &self,
        args: &RestartArgs,
        progress: &Progress,
    ) -> anyhow::Result<Vec<HostOutcome>> {
        if let Some(path) = &args.from {
            let report = read_report(path)?;
            return Ok(self
                .targets
                .iter()
                .map(|(target, _)| {
                    report
                        .hosts
                        .iter()
                        .find(|h| h.host == target.name)
                        .cloned()
                        .unwrap_or_else(|| missing(&target.name, path))
                })
                .collect());
        }
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let follower = progress.follow(receiver);
        let targets = self.targets.iter().map(|(t, _)| t.clone()).collect();
        let outcomes = audit_fleet(targets, self.options.clone(), events).await;
        let _ = follower.await;
        Ok(outcomes)
    }
}

/// A host of the selection that `--from`'s report does not have.
fn missing(host: &str, path: &Path) -> HostOutcome {
    HostOutcome {
        host: host.to_string(),
        address: host.to_string(),
        port: 0,
        user: String::new(),
        elapsed_ms: 0,
        result: HostResult::Failed {
            failure: crate::outcome::Failure::ProbeFailed,
            message: format!("the host is not in {}; audit it again", path.display()),
            stderr_tail: None,
        },
    }
}

fn read_report(path: &Path) -> anyhow::Result<FleetReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the report {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a fleet report of `patchgap audit --format json`",
            path.display()
        )
    })
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
            if !fleet.skipped.is_empty() {
                progress.note(&format!(
                    "left out by patchgap_skip: {}",
                    fleet.skipped.join(", ")
                ));
            }
            let outcomes = fleet.audit(args, progress).await?;
            let never = fleet.targets.iter().map(|(_, n)| n.clone()).collect();
            (outcomes, never)
        }
        None => (vec![local_audit(args)?], vec![Vec::new()]),
    };
    let mut inputs = Vec::new();
    let mut unplanned = Vec::new();
    let reports: Vec<Option<&Report>> = outcomes
        .iter()
        .map(|o| match &o.result {
            HostResult::Audited { report, .. } => Some(report.report()),
            HostResult::Failed { .. } => None,
        })
        .collect();
    for ((outcome, report), never) in outcomes.iter().zip(&reports).zip(&never) {
        match (report, &outcome.result) {
            (Some(report), _) => inputs.push(HostInput {
                host: &outcome.host,
                never,
                report,
            }),
            (
                None,
                HostResult::Failed {
                    failure, message, ..
                },
            ) => unplanned.push(Unplanned {
                host: outcome.host.clone(),
                failure: failure_label(*failure).to_string(),
                message: message.clone(),
            }),
            (None, HostResult::Audited { .. }) => {}
        }
    }
    let filter = UnitFilter {
        units: args.units.clone(),
        exclude: args.exclude_units.clone(),
        never: args.never.clone(),
        reexec: args.reexec,
    };
    let serial = args.serial.clone().unwrap_or_default();
    Ok(CampaignPlan::new(
        &inputs,
        unplanned,
        &filter,
        &serial,
        args.canary,
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

/// Asks once on a terminal; a pipe without `--yes` is refused.
fn confirm(args: &RestartArgs, plan: &CampaignPlan, progress: &Progress) -> anyhow::Result<()> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "refusing to restart without --yes: stdin is not a terminal to confirm on (pass \
             --yes to run unattended, or --plan to only see the plan)"
                .into(),
        )
        .into());
    }
    let shown = plan_table(plan, stdout_width());
    if progress
        .confirm(&shown, "Restart these units?")
        .context("cannot read the answer")?
    {
        Ok(())
    } else {
        Err(UsageError("not confirmed: nothing was restarted".into()).into())
    }
}

/// `patchgap-restart-YYYYMMDDTHHMMSS.jsonl` in the current directory.
fn default_state() -> PathBuf {
    let now = jiff::ZonedDateTime::now();
    PathBuf::from(format!(
        "patchgap-restart-{}.jsonl",
        now.strftime("%Y%m%dT%H%M%S")
    ))
}

fn settings(args: &RestartArgs, schedule: Schedule) -> Settings {
    Settings {
        forks: args.ssh.forks,
        together: args.together,
        restart_timeout: Duration::from_secs(args.restart_timeout),
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
    }
}

/// One campaign run, whatever the connector.
struct Campaign<'a> {
    hosts: Vec<CampaignHost>,
    plan: &'a CampaignPlan,
    settings: Settings,
    journal: Arc<Journal>,
    replay: Option<&'a Replay>,
    events: tokio::sync::mpsc::UnboundedSender<CampaignEvent>,
}

impl Campaign<'_> {
    async fn execute<C: Connector + Clone>(self, connector: C) -> CampaignOutcome {
        execute(
            connector,
            self.hosts,
            self.plan,
            self.settings,
            self.journal,
            self.replay,
            self.events,
        )
        .await
    }
}

fn write_plan(args: &RestartArgs, plan: &CampaignPlan) -> anyhow::Result<()> {
    let width = if args.output.is_some() {
        None
    } else {
        stdout_width()
    };
    Sink::new(args.output.as_deref()).write(|out| match args.format {
        CampaignFormat::Json => plan_json(plan, out),
        CampaignFormat::Table => out.write_all(plan_table(plan, width).as_bytes()),
    })
}

fn write_outcome(args: &RestartArgs, outcome: &CampaignOutcome, state: &str) -> anyhow::Result<()> {
    let width = if args.output.is_some() {
        None
    } else {
        stdout_width()
    };
    Sink::new(args.output.as_deref()).write(|out| match args.format {
        CampaignFormat::Json => campaign_json(outcome, Some(state), out),
        CampaignFormat::Table => {
            out.write_all(campaign_table(outcome, width).as_bytes())?;
            writeln!(out, "State file: {state}")
        }
    })
}
