//! `patchgap reboot`: plan from a fresh audit (the hosts whose probe asks for a reboot,
//! or every selected host with `--all`) or the journal of `--resume`, take the lock (the
//! controller's for the whole campaign, or a FleetLock slot per host), show the plan, ask
//! once (or `--yes`), then reboot host after host with the campaign engine. Wiring only:
//! `campaign/` decides and acts, `report/` shows, `exit.rs` turns the verdict into the
//! status.

use std::time::Duration;

use anyhow::Context as _;

use super::audit::probe_options;
use super::campaign::{Fleet, Run, plan_inputs, schedule};
use super::restart::common_settings;
use crate::campaign::{
    CampaignKind, CampaignLock, CampaignPlan, FleetLock, RebootSettings, Serial, Settings,
    lock_path,
};
use crate::cli::RebootArgs;
use crate::exit::{UsageError, Verdict};
use crate::report::Progress;

/// Runs `patchgap reboot`.
pub fn run(args: &RebootArgs) -> anyhow::Result<Verdict> {
    // Every argument is checked before any host is contacted.
    probe_options(&args.probe)?;
    let schedule = schedule(&args.campaign)?;
    let fleetlock = match &args.fleetlock {
        Some(url) => Some(
            FleetLock::new(url, &args.fleetlock_group).map_err(|e| UsageError(e.to_string()))?,
        ),
        None => None,
    };
    let progress = Progress::new(args.campaign.quiet);
    // The controller's lock, for the whole campaign: before any audit, so that a second
    // campaign refuses at once. `--plan` changes nothing and takes none.
    let _lock = if fleetlock.is_none() && !args.campaign.dry_run {
        Some(controller_lock(args)?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let fleet = Fleet::load(
        &args.inventories,
        args.limit.as_deref(),
        &args.ssh,
        &args.probe,
        &progress,
    )?;
    let settings = Settings {
        reboot: RebootSettings {
            timeout: Duration::from_secs(args.reboot_timeout),
            allow_degraded: args.allow_degraded,
            pre_cmd: args.pre_cmd.clone(),
            post_cmd: args.post_cmd.clone(),
            fleetlock,
        },
        ..common_settings(&args.campaign, args.ssh.forks, schedule)
    };
    let run = Run {
        kind: CampaignKind::Reboot,
        args: &args.campaign,
        fleet: Some(&fleet),
        hosts: fleet.campaign_hosts(),
        settings,
        progress: &progress,
        runtime: &runtime,
    };
    run.carry_out(|| runtime.block_on(plan(args, &fleet, &progress)))
}

/// The controller's lock of the inventory, in the runtime directory (else the temporary
/// one), saying who holds it.
fn controller_lock(args: &RebootArgs) -> anyhow::Result<CampaignLock> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let path = lock_path(&dir, &args.inventories);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let holder = format!(
        "patchgap reboot, pid {} on {}, since {}",
        std::process::id(),
        host.trim(),
        jiff::Timestamp::now()
    );
    Ok(CampaignLock::take(&path, &holder)?)
}

/// The plan from the selected hosts' audits.
async fn plan(
    args: &RebootArgs,
    fleet: &Fleet,
    progress: &Progress,
) -> anyhow::Result<CampaignPlan> {
    let outcomes = fleet.audit(None, progress).await?;
    let never: Vec<Vec<String>> = vec![Vec::new(); outcomes.len()];
    let (inputs, unplanned) = plan_inputs(&outcomes, &never);
    let serial = match &args.campaign.serial {
        Some(serial) => serial.clone(),
        None => "1"
            .parse::<Serial>()
            .map_err(|e| UsageError(e.to_string()))?,
    };
    Ok(CampaignPlan::reboot(
        &inputs,
        unplanned,
        args.all,
        &serial,
        args.campaign.canary,
    ))
}
