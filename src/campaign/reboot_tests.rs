//! Reboot campaigns against the fake network: each connection to a host is scripted
//! (boot id, probe, `systemctl reboot` dropping the connection, a host that is down, the
//! new boot), and the FleetLock tests talk to a real server over TCP. Where no real
//! server is involved, time is paused: reboot timeouts resolve at once, and a hang would
//! show as the safety net firing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::campaign::execute::tests::{Script, host, inputs, job, names, run, sent, settings};
use crate::campaign::fleetlock::test_server;
use crate::campaign::plan::HostInput;
use crate::campaign::{
    CampaignPlan, FleetLock, HostStatus, Journal, RebootSettings, RebootStatus, Replay, Serial,
    Settings, Skip, Step, Stop, execute, reboot_reasons,
};
use crate::test_reports::{booted, clean, needs_reboot};
use crate::transport::fake::{FakeConnector, FakeTarget, Remote};
use crate::transport::{ConnectError, ConnectFailure};

const NEW_KERNEL: &str = "6.1.0-28-amd64";

impl Script {
    /// The host's boot id.
    fn boot(self, id: &str) -> Self {
        self.reply(&format!("{id}\n"), 0)
    }

    /// `systemctl reboot`: the connection drops before any status.
    fn reboots(mut self) -> Self {
        self.channel().hang_up();
        self
    }

    /// `systemctl is-system-running` says `state`.
    fn system(self, state: &str) -> Self {
        let status = u32::from(state != "running");
        self.reply(&format!("{state}\n"), status)
    }
}

/// The first connection of a host that needs a reboot, in boot `boot`: boot id, probe,
/// reboot.
fn asks_reboot(name: &str, boot: &str) -> Script {
    Script::default()
        .boot(boot)
        .probe(&needs_reboot(name, boot))
        .reboots()
}

/// The connection to a host back in boot `boot` with the new kernel and clean.
fn back(name: &str, boot: &str) -> Script {
    Script::default()
        .boot(boot)
        .system("starting")
        .system("running")
        .probe(&booted(name, boot, NEW_KERNEL))
}

fn down() -> FakeTarget {
    FakeTarget::Fail {
        delay: Duration::ZERO,
        error: ConnectError::new(ConnectFailure::Unreachable, "connection refused"),
    }
}

/// The reboot plan of hosts h1, h2, ... (each needing a reboot, in boot `old-N`) by
/// `serial`.
fn plan(hosts: usize, serial: &str) -> CampaignPlan {
    let reports: Vec<_> = (1..=hosts)
        .map(|i| needs_reboot(&format!("h{i}"), &format!("old-{i}")))
        .collect();
    let names = names(&reports);
    let serial: Serial = serial.parse().expect("serial");
    CampaignPlan::reboot(&inputs(&reports, &names), Vec::new(), false, &serial, 0)
}

/// What a killed run of `plan` recorded: h1 about to reboot from boot `old-1`.
fn killed_while_rebooting(plan: &CampaignPlan) -> Replay {
    Replay {
        plan: plan.clone(),
        finished: HashMap::new(),
        restarting: HashMap::new(),
        rebooting: [("h1".to_string(), "old-1".to_string())].into(),
        torn_line: false,
    }
}

fn reboot_settings(max_fail: &str, fleetlock: Option<FleetLock>) -> Settings {
    Settings {
        reboot: RebootSettings {
            timeout: Duration::from_secs(300),
            fleetlock,
            ..RebootSettings::default()
        },
        ..settings(max_fail)
    }
}

/// Everything the controller sent on the channels of `remotes` (the command scripts).
async fn all_sent(remotes: &mut [Remote]) -> String {
    let mut text = String::new();
    for remote in remotes {
        text.push_str(&sent(remote).await);
    }
    text
}

/// Neither asked for a reboot on any of `remotes` nor recorded one in `journal`.
async fn never_rebooted(journal: &[Step], remotes: &mut [Remote]) {
    assert!(!all_sent(remotes).await.contains("systemctl reboot"));
    assert!(!journal.iter().any(|s| matches!(s, Step::Rebooting { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_host_is_rebooted_once_waited_for_and_verified_as_new() {
    let plan = plan(1, "1");
    let (first, mut asked) = host(asks_reboot("h1", "old-1"));
    // Still in its old boot once (shutting down), then down, then back new.
    let (shutting_down, _s) = host(Script::default().boot("old-1"));
    let (again, mut verified) = host(back("h1", "new-1"));
    let hosts = vec![
        ("h1", first),
        ("h1", shutting_down),
        ("h1", down()),
        ("h1", again),
    ];
    let run = run(&plan, hosts, reboot_settings("0", None), None).await;
    let h1 = &run.outcome.hosts[0];
    let reboot = h1.reboot.as_ref().expect("a reboot outcome");
    assert_eq!(reboot.status, RebootStatus::Verified, "{h1:?}");
    assert_eq!(h1.status, HostStatus::Done);
    assert_eq!(reboot.boot_id_before.as_deref(), Some("old-1"));
    assert_eq!(reboot.boot_id_after.as_deref(), Some("new-1"));
    assert_eq!(reboot.kernel_running.as_deref(), Some(NEW_KERNEL));
    assert_eq!(reboot.system_state.as_deref(), Some("running"));
    assert!(!reboot.resumed);
    let reboot_command = sent(&mut asked[2]).await;
    assert!(
        reboot_command.contains("set -- 'sudo-n' 'root' 'systemctl reboot'"),
        "through the privilege path: {reboot_command}"
    );
    assert!(!all_sent(&mut verified).await.contains("systemctl reboot"));
    // The boot id is in the journal before the reboot is asked for.
    let rebooting: Vec<&Step> = run
        .journal
        .iter()
        .filter(|s| matches!(s, Step::Rebooting { .. }))
        .collect();
    assert_eq!(
        rebooting,
        [&Step::Rebooting {
            host: "h1".into(),
            boot_id: "old-1".into()
        }]
    );
    assert_eq!(
        run.connector
            .finished
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_host_whose_kernel_or_state_is_wrong_after_the_boot_fails_verification() {
    let plan = plan(2, "0");
    let (h1, _a) = host(asks_reboot("h1", "old-1"));
    let (h1_back, _b) = host(
        Script::default()
            .boot("new-1")
            .system("running")
            .probe(&booted("h1", "new-1", "6.1.0-27-amd64")),
    );
    let (h2, _c) = host(asks_reboot("h2", "old-2"));
    let (h2_back, _d) = host(Script::default().boot("new-2").system("degraded"));
    let hosts = vec![("h1", h1), ("h1", h1_back), ("h2", h2), ("h2", h2_back)];
    let run = run(&plan, hosts, reboot_settings("100%", None), None).await;
    let status = |i: usize| {
        run.outcome.hosts[i]
            .reboot
            .as_ref()
            .expect("reboot")
            .status
            .clone()
    };
    match status(0) {
        RebootStatus::VerifyFailed { message } => assert!(
            message.contains("kernel 6.1.0-27-amd64 runs, the audit expected 6.1.0-28-amd64"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    match status(1) {
        RebootStatus::VerifyFailed { message } => {
            assert!(message.contains("degraded"), "{message}");
            assert!(message.contains("--allow-degraded"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(run.outcome.failed_hosts(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_host_rebooted_meanwhile_is_skipped_and_not_rebooted() {
    let plan = plan(1, "1");
    let (h1, mut remotes) = host(
        Script::default()
            .boot("new-1")
            .probe(&booted("h1", "new-1", NEW_KERNEL)),
    );
    let run = run(&plan, vec![("h1", h1)], reboot_settings("0", None), None).await;
    let reboot = run.outcome.hosts[0].reboot.as_ref().expect("reboot");
    assert_eq!(
        reboot.status,
        RebootStatus::Skipped {
            reason: Skip::FixedMeanwhile
        }
    );
    never_rebooted(&run.journal, &mut remotes).await;
}

#[tokio::test(start_paused = true)]
async fn resume_verifies_a_host_whose_boot_changed_and_never_reboots_it_again() {
    let plan = plan(1, "1");
    let replay = killed_while_rebooting(&plan);
    // Still down when the controller comes back, then up in its new boot.
    let (again, mut remotes) = host(back("h1", "new-1"));
    let hosts = vec![("h1", down()), ("h1", again)];
    let run = run(&plan, hosts, reboot_settings("0", None), Some(&replay)).await;
    let reboot = run.outcome.hosts[0].reboot.as_ref().expect("reboot");
    assert_eq!(reboot.status, RebootStatus::Verified);
    assert!(reboot.resumed);
    assert_eq!(reboot.boot_id_before.as_deref(), Some("old-1"));
    assert_eq!(reboot.boot_id_after.as_deref(), Some("new-1"));
    never_rebooted(&run.journal, &mut remotes).await;
}

#[tokio::test(start_paused = true)]
async fn resume_reboots_a_host_whose_boot_did_not_change() {
    let plan = plan(1, "1");
    let replay = killed_while_rebooting(&plan);
    // The killed run recorded the reboot but never asked for it.
    let (first, _a) = host(asks_reboot("h1", "old-1"));
    let (again, _b) = host(back("h1", "new-1"));
    let hosts = vec![("h1", first), ("h1", again)];
    let run = run(&plan, hosts, reboot_settings("0", None), Some(&replay)).await;
    let reboot = run.outcome.hosts[0].reboot.as_ref().expect("reboot");
    assert_eq!(reboot.status, RebootStatus::Verified);
    assert!(!reboot.resumed);
}

/// A campaign of `plan` with its own connector, in real time (the FleetLock server is a
/// real TCP server): hosts not scripted are refused at once.
async fn run_real_time(
    plan: &CampaignPlan,
    hosts: Vec<(&str, FakeTarget)>,
    settings: Settings,
) -> crate::campaign::CampaignOutcome {
    let connector = Arc::new(FakeConnector::default());
    let mut jobs = Vec::new();
    for (name, target) in hosts {
        connector.add(name, target);
        if !jobs
            .iter()
            .any(|j: &crate::campaign::CampaignHost| j.name == name)
        {
            jobs.push(job(name));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let journal =
        Arc::new(Journal::create(&dir.path().join("state.jsonl"), plan).expect("journal"));
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    let campaign = execute(connector, jobs, plan, settings, journal, None, events);
    tokio::time::timeout(Duration::from_secs(120), campaign)
        .await
        .expect("the campaign hung until the safety net")
}

#[tokio::test]
async fn a_host_that_does_not_come_back_stops_the_campaign_and_keeps_its_fleetlock_slot() {
    let server = test_server::start().await;
    let plan = plan(2, "1");
    let (h1, _a) = host(asks_reboot("h1", "old-1"));
    let lock = FleetLock::new(&server.url, "default").expect("client");
    let mut settings = reboot_settings("0", Some(lock));
    settings.reboot.timeout = Duration::from_secs(2);
    settings.poll_interval = Duration::from_millis(100);
    let outcome = run_real_time(&plan, vec![("h1", h1)], settings).await;
    let h1 = &outcome.hosts[0];
    let reboot = h1.reboot.as_ref().expect("reboot");
    assert!(
        matches!(&reboot.status, RebootStatus::NotReturned { message } if message.contains("--reboot-timeout")),
        "{reboot:?}"
    );
    assert!(h1.status.is_failure());
    let note = reboot.lock_note.as_deref().unwrap_or_default();
    assert!(
        note.contains("slot of id h1 in group default kept"),
        "{note}"
    );
    assert_eq!(
        server.holders.lock().expect("holders").get("default"),
        Some(&"h1".to_string()),
        "the slot stays with the host that did not come back"
    );
    assert_eq!(*server.log.lock().expect("log"), ["granted h1"]);
    assert!(matches!(outcome.stopped, Some(Stop::MaxFail { .. })));
    let h2 = outcome.hosts[1].reboot.as_ref().expect("reboot");
    assert_eq!(
        h2.status,
        RebootStatus::Skipped {
            reason: Skip::NotReached
        }
    );
}

#[tokio::test]
async fn a_full_fleetlock_group_is_waited_for_and_the_slot_given_back_after_the_boot() {
    let server = test_server::start().await;
    server
        .holders
        .lock()
        .expect("holders")
        .insert("web".into(), "zincati-node".into());
    let plan = plan(1, "1");
    let (h1, _a) = host(asks_reboot("h1", "old-1"));
    let (h1_back, _b) = host(back("h1", "new-1"));
    let lock = FleetLock::new(&server.url, "web").expect("client");
    let mut settings = reboot_settings("0", Some(lock));
    settings.poll_interval = Duration::from_millis(50);
    let holders = server.holders.clone();
    // The other reboot manager gives its slot back after a few refusals.
    let log = server.log.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let refused = log
                .lock()
                .expect("log")
                .iter()
                .filter(|l| l.starts_with("refused"))
                .count();
            if refused >= 3 {
                holders.lock().expect("holders").remove("web");
                break;
            }
        }
    });
    let outcome = run_real_time(&plan, vec![("h1", h1), ("h1", h1_back)], settings).await;
    let reboot = outcome.hosts[0].reboot.as_ref().expect("reboot");
    assert_eq!(reboot.status, RebootStatus::Verified, "{reboot:?}");
    assert_eq!(reboot.lock_note, None);
    let log = server.log.lock().expect("log").clone();
    let granted = log.iter().position(|l| l == "granted h1").expect("granted");
    assert!(log[..granted].iter().all(|l| l == "refused h1"), "{log:?}");
    assert!(granted >= 3, "{log:?}");
    assert_eq!(
        log.last().map(String::as_str),
        Some("released h1"),
        "{log:?}"
    );
    assert!(server.holders.lock().expect("holders").is_empty());
}

#[test]
fn the_plan_reboots_the_hosts_that_need_it_or_all_with_the_reasons() {
    let needs = needs_reboot("h1", "b1");
    let fine = clean("h2");
    let inputs = [
        HostInput {
            host: "h1",
            never: &[],
            report: &needs,
        },
        HostInput {
            host: "h2",
            never: &[],
            report: &fine,
        },
    ];
    let serial: Serial = "1".parse().expect("serial");
    let plan = CampaignPlan::reboot(&inputs, Vec::new(), false, &serial, 0);
    assert_eq!(plan.batches, [vec!["h1".to_string()]]);
    let h1 = plan.hosts[0].reboot.as_ref().expect("h1 is rebooted");
    assert_eq!(
        h1.reasons,
        ["kernel 6.1.0-28-amd64 installed, running 6.1.0-27-amd64"]
    );
    assert_eq!(h1.kernel.as_deref(), Some(NEW_KERNEL));
    assert_eq!(h1.boot_id.as_deref(), Some("b1"));
    assert_eq!(plan.hosts[1].reboot, None);
    let all = CampaignPlan::reboot(&inputs, Vec::new(), true, &serial, 0);
    assert_eq!(
        all.batches,
        [vec!["h1".to_string()], vec!["h2".to_string()]]
    );
    assert!(
        all.hosts[1]
            .reboot
            .as_ref()
            .is_some_and(|r| r.reasons.is_empty())
    );
}

/// The report of a systemd-nspawn container, by the probe's own collectors on a fixture
/// root: its PID 1 started 1000 s after the machine booted, with `files` in it.
fn container_report(files: &[(&str, &str)]) -> patchgap_probe::Report {
    use patchgap_probe::{Roots, kernel, microcode, reboot};
    let dir = tempfile::tempdir().expect("tempdir");
    let roots = Roots::fixture(dir.path());
    let pid1 = "1 (systemd) S 0 1 1 0 -1 4194560 900 0 0 0 5 3 0 0 20 0 1 0 100000 1 1 1\n";
    let base = [
        ("/run/systemd/container", "systemd-nspawn\n"),
        ("/proc/stat", "cpu  1 2 3\nbtime 1790000000\n"),
        ("/proc/1/stat", pid1),
        ("/var/lib/dpkg/status", ""),
    ];
    for (path, body) in base.iter().chain(files) {
        let at = roots.fs_path(path);
        std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
        std::fs::write(at, body).expect("write");
    }
    let mut report = clean("c1");
    report.kernel = kernel::collect(&roots);
    report.microcode = microcode::collect(&roots);
    report.reboot = reboot::collect(&roots, &report.kernel, &report.microcode);
    report
}

/// Issue 14: the probe alone judges a container's reboot (its restart); the plan takes
/// its reasons as they are and adds none of its own.
#[test]
fn a_container_is_rebooted_for_the_probes_reasons_only() {
    let restarted = container_report(&[]);
    assert!(restarted.reboot.container);
    assert!(reboot_reasons(&restarted).is_empty(), "nothing staged");
    let flagged = container_report(&[
        ("/run/reboot-required", "*** System restart required ***\n"),
        ("/run/reboot-required.pkgs", "libc6\n"),
    ]);
    assert_eq!(
        reboot_reasons(&flagged),
        ["/run/reboot-required set by libc6"]
    );
    let inputs = [HostInput {
        host: "c1",
        never: &[],
        report: &flagged,
    }];
    let serial: Serial = "1".parse().expect("serial");
    let plan = CampaignPlan::reboot(&inputs, Vec::new(), false, &serial, 0);
    let c1 = plan.hosts[0].reboot.as_ref().expect("c1 is rebooted");
    assert!(c1.container);
    assert_eq!(c1.reasons, ["/run/reboot-required set by libc6"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_pre_cmd_leaves_the_host_unrebooted_and_post_cmd_runs_once_back() {
    let plan = plan(2, "0");
    let (h1, mut refused) = host(
        Script::default()
            .boot("old-1")
            .probe(&needs_reboot("h1", "old-1"))
            .reply("", 3),
    );
    let (h2, mut asked) = host(
        Script::default()
            .boot("old-2")
            .probe(&needs_reboot("h2", "old-2"))
            .reply("", 0)
            .reboots(),
    );
    let (h2_back, mut verified) = host(back("h2", "new-2").reply("", 0));
    let mut settings = reboot_settings("100%", None);
    settings.reboot.pre_cmd = Some("drain-me".into());
    settings.reboot.post_cmd = Some("undrain-me".into());
    let hosts = vec![("h1", h1), ("h2", h2), ("h2", h2_back)];
    let run = run(&plan, hosts, settings, None).await;
    let h1 = run.outcome.hosts[0].reboot.as_ref().expect("reboot");
    assert!(
        matches!(&h1.status, RebootStatus::CommandFailed { step, message }
            if step == "--pre-cmd" && message.contains("status 3")),
        "{h1:?}"
    );
    assert!(!all_sent(&mut refused).await.contains("systemctl reboot"));
    assert!(
        sent(&mut asked[2])
            .await
            .contains("set -- 'login' 'root' 'drain-me'")
    );
    let h2 = run.outcome.hosts[1].reboot.as_ref().expect("reboot");
    assert_eq!(h2.status, RebootStatus::Verified, "{h2:?}");
    assert!(
        sent(&mut verified[4])
            .await
            .contains("set -- 'login' 'root' 'undrain-me'")
    );
    let rebooting: Vec<&Step> = run
        .journal
        .iter()
        .filter(|s| matches!(s, Step::Rebooting { .. }))
        .collect();
    assert_eq!(rebooting.len(), 1, "only h2: {rebooting:?}");
}
