//! What `patchgap restart` and `patchgap reboot` share: the selected hosts of the
//! inventory and their audits, the journal (new or `--resume`d), the confirmation, the
//! run of the campaign engine over SSH or on this machine, and the plan and campaign
//! documents. Each command brings its own plan and settings.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use patchgap_probe::Report;

use crate::campaign::{
    CampaignEvent, CampaignHost, CampaignKind, CampaignOutcome, CampaignPlan, HostInput, Journal,
    Replay, Schedule, Settings, Unplanned, execute,
};
use crate::cli::{CampaignArgs, CampaignFormat, ProbeArgs, SshArgs};
use crate::exit::{UsageError, Verdict};
use crate::fleet::{FleetOptions, Target, audit_fleet};
use crate::notify::Notifier;
use crate::outcome::{HostOutcome, HostResult};
use crate::report::{
    FleetReport, Progress, Sink, campaign_json, campaign_table, failure_label, plan_json,
    plan_table, stdout_width,
};
use crate::targets::LocalEnv;
use crate::transport::{Connector, LocalConnector, RusshConnector};
use crate::{inventory, limit};

/// The selected hosts of the inventory and how to reach them, with each host's
/// `patchgap_never_restart`.
pub(super) struct Fleet {
    pub(super) targets: Vec<(Target, Vec<String>)>,
    pub(super) options: FleetOptions,
    pub(super) skipped: Vec<String>,
}

impl Fleet {
    pub(super) fn load(
        inventories: &[PathBuf],
        limit: Option<&str>,
        ssh: &SshArgs,
        probe: &ProbeArgs,
        progress: &Progress,
    ) -> anyhow::Result<Self> {
        let inventory = inventory::load(inventories)?;
        let selection = limit::select(&inventory, limit)?;
        let env = LocalEnv::from_process();
        let setup = super::setup(ssh, probe, progress, &env)?;
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

    pub(super) fn campaign_hosts(&self) -> Vec<CampaignHost> {
        self.targets
            .iter()
            .map(|(target, _)| CampaignHost::new(target.clone(), &self.options))
            .collect()
    }

    /// Each selected host's audit: from `from`'s report, or a fresh one.
    pub(super) async fn audit(
        &self,
        from: Option<&Path>,
        progress: &Progress,
    ) -> anyhow::Result<Vec<HostOutcome>> {
        if !self.skipped.is_empty() {
            progress.note(&format!(
                "left out by patchgap_skip: {}",
                self.skipped.join(", ")
            ));
        }
        if let Some(path) = from {
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

pub(super) fn read_report(path: &Path) -> anyhow::Result<FleetReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the report {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a fleet report of `patchgap audit --format json`",
            path.display()
        )
    })
}

/// The audited hosts as the plan takes them (each with its `never` globs), and the
/// hosts whose audit failed.
pub(super) fn plan_inputs<'a>(
    outcomes: &'a [HostOutcome],
    never: &'a [Vec<String>],
) -> (Vec<HostInput<'a>>, Vec<Unplanned>) {
    let mut inputs = Vec::new();
    let mut unplanned = Vec::new();
    for (outcome, never) in outcomes.iter().zip(never) {
        match &outcome.result {
            HostResult::Audited { report, .. } => {
                let report: &Report = report.report();
                inputs.push(HostInput {
                    host: &outcome.host,
                    never,
                    report,
                });
            }
            HostResult::Failed {
                failure, message, ..
            } => unplanned.push(Unplanned {
                host: outcome.host.clone(),
                failure: failure_label(*failure).to_string(),
                message: message.clone(),
            }),
        }
    }
    (inputs, unplanned)
}

/// The maintenance windows of the command line.
pub(super) fn schedule(args: &CampaignArgs) -> anyhow::Result<Schedule> {
    Ok(
        Schedule::new(args.windows.clone(), args.timezone.as_deref())
            .map_err(|e| UsageError(e.to_string()))?,
    )
}

/// One campaign to carry out: everything but its plan.
pub(super) struct Run<'a> {
    pub(super) kind: CampaignKind,
    pub(super) args: &'a CampaignArgs,
    pub(super) fleet: Option<&'a Fleet>,
    pub(super) hosts: Vec<CampaignHost>,
    pub(super) settings: Settings,
    pub(super) progress: &'a Progress,
    pub(super) runtime: &'a tokio::runtime::Runtime,
}

impl Run<'_> {
    /// Plans (with `plan`, unless `--resume` brings the plan), shows the plan and stops
    /// there with `--plan`, else confirms, journals and carries it out.
    pub(super) fn carry_out(
        self,
        plan: impl FnOnce() -> anyhow::Result<CampaignPlan>,
    ) -> anyhow::Result<Verdict> {
        // A bad `--notify` is the user's to fix before any host is contacted.
        let notifier = Notifier::from_args(&self.args.notify)?;
        let (plan, journal, resumed) = match &self.args.resume {
            Some(state) => {
                let (journal, replay) = Journal::resume(state)?;
                if replay.plan.kind != self.kind {
                    return Err(UsageError(format!(
                        "{} records a {} campaign: resume it with `patchgap {} --resume {}`",
                        state.display(),
                        replay.plan.kind.command(),
                        replay.plan.kind.command(),
                        state.display()
                    ))
                    .into());
                }
                if replay.torn_line {
                    self.progress.note(&format!(
                        "the last line of {} was cut off (the controller was killed while \
                         writing it); it was dropped, the steps before it are kept",
                        state.display()
                    ));
                }
                (replay.plan.clone(), Some(journal), Some(replay))
            }
            None => (plan()?, None, None),
        };
        if self.args.dry_run || (plan.is_empty() && resumed.is_none()) {
            write_plan(self.args, &plan)?;
            return Ok(Verdict {
                hosts_failed: plan.unplanned.len(),
                ..Verdict::default()
            });
        }
        let journal = match journal {
            Some(journal) => journal,
            None => {
                confirm(self.kind, self.args, &plan, self.progress)?;
                let state =
                    (self.args.state.clone()).unwrap_or_else(|| default_state(self.kind.command()));
                Journal::create(&state, &plan)?
            }
        };
        let journal = Arc::new(journal);
        let outcome = self.runtime.block_on(async {
            let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
            let follower = self.progress.follow_campaign(receiver);
            let campaign = Campaign {
                hosts: self.hosts,
                plan: &plan,
                settings: self.settings,
                journal: journal.clone(),
                replay: resumed.as_ref(),
                events,
            };
            let outcome = match self.fleet {
                Some(fleet) => campaign.execute(fleet.connector()).await,
                None => campaign.execute(LocalConnector).await,
            };
            let _ = follower.await;
            outcome
        });
        if let Some(notifier) = &notifier {
            notifier.campaign(&outcome, plan.kind, self.progress);
        }
        let state = journal.path().display().to_string();
        write_outcome(self.args, &outcome, plan.kind, &state)?;
        Ok(Verdict {
            hosts_failed: outcome.failed_hosts(),
            stopped: outcome.stopped.is_some(),
            ..Verdict::default()
        })
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

/// Asks once on a terminal; a pipe without `--yes` is refused.
fn confirm(
    kind: CampaignKind,
    args: &CampaignArgs,
    plan: &CampaignPlan,
    progress: &Progress,
) -> anyhow::Result<()> {
    if args.yes {
        return Ok(());
    }
    let verb = kind.command();
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "refusing to {verb} without --yes: stdin is not a terminal to confirm on (pass \
             --yes to run unattended, or --plan to only see the plan)"
        ))
        .into());
    }
    let shown = plan_table(plan, stdout_width());
    let question = match kind {
        CampaignKind::Restart => "Restart these units?",
        CampaignKind::Reboot => "Reboot these hosts?",
    };
    if progress
        .confirm(&shown, question)
        .context("cannot read the answer")?
    {
        Ok(())
    } else {
        Err(UsageError(format!("not confirmed: nothing was done ({verb})")).into())
    }
}

/// `patchgap-COMMAND-YYYYMMDDTHHMMSS.jsonl` in the current directory.
fn default_state(command: &str) -> PathBuf {
    let now = jiff::ZonedDateTime::now();
    PathBuf::from(format!(
        "patchgap-{command}-{}.jsonl",
        now.strftime("%Y%m%dT%H%M%S")
    ))
}

fn width(args: &CampaignArgs) -> Option<u16> {
    if args.output.is_some() {
        None
    } else {
        stdout_width()
    }
}

fn write_plan(args: &CampaignArgs, plan: &CampaignPlan) -> anyhow::Result<()> {
    let width = width(args);
    Sink::new(args.output.as_deref()).write(|out| match args.format {
        CampaignFormat::Json => plan_json(plan, out),
        CampaignFormat::Table => out.write_all(plan_table(plan, width).as_bytes()),
    })
}

fn write_outcome(
    args: &CampaignArgs,
    outcome: &CampaignOutcome,
    kind: CampaignKind,
    state: &str,
) -> anyhow::Result<()> {
    let width = width(args);
    Sink::new(args.output.as_deref()).write(|out| match args.format {
        CampaignFormat::Json => campaign_json(outcome, kind, Some(state), out),
        CampaignFormat::Table => {
            out.write_all(campaign_table(outcome, kind, width).as_bytes())?;
            writeln!(out, "State file: {state}")
        }
    })
}
