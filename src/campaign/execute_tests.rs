//! The campaign against the fake network: each fake host answers the commands the campaign
//! sends, in order (probe, `systemctl show`, `restart`, `show`, probe), and the tests read
//! back what was sent on each command's stdin. Time is paused: restart timeouts and host
//! timeouts resolve at once, and a hang would show as the safety net firing.

use std::sync::atomic::Ordering;

use patchgap_probe::Report;
use tokio::io::AsyncReadExt as _;

use super::*;
use crate::campaign::batches::Serial;
use crate::campaign::plan::{HostInput, UnitFilter};
use crate::campaign::window::Schedule;
use crate::deploy::{HostDeploy, STALL_TIMEOUT};
use crate::test_reports::{clean, report_json, stale_services};
use crate::transport::fake::{FakeConnector, FakeHost, FakeTarget, Remote};
use crate::transport::{ConnectError, ConnectFailure, Endpoint};

pub(crate) const SAFETY_NET: Duration = Duration::from_secs(24 * 3600);

/// A fake host and the host ends of its channels, one per command, in order.
#[derive(Default)]
pub(crate) struct Script {
    pub(crate) host: FakeHost,
    pub(crate) remotes: Vec<Remote>,
}

impl Script {
    pub(crate) fn channel(&mut self) -> &mut Remote {
        self.remotes.push(self.host.push_channel(1 << 20));
        self.remotes.last_mut().expect("pushed")
    }

    /// The probe runs (cached, as root) and prints `report`.
    pub(crate) fn probe(mut self, report: &Report) -> Self {
        let remote = self.channel();
        remote.say("patchgap:have x86_64\npatchgap:run privileged\n");
        remote.say(&report_json(report));
        remote.exit(0);
        self
    }

    /// A command prints `stdout` and exits with `status`.
    pub(crate) fn reply(mut self, stdout: &str, status: u32) -> Self {
        let remote = self.channel();
        remote.say(stdout);
        remote.exit(status);
        self
    }

    /// `systemctl show` of one unit.
    pub(crate) fn show(self, active: &str, invocation: &str) -> Self {
        self.reply(
            &format!("ActiveState={active}\nSubState=x\nInvocationID={invocation}\n"),
            0,
        )
    }

    /// A command that never answers (the host froze).
    pub(crate) fn hang(mut self) -> Self {
        self.channel();
        self
    }
}

fn stale(host: &str, units: &[&str]) -> Report {
    let units: Vec<(&str, bool)> = units.iter().map(|u| (*u, false)).collect();
    stale_services(host, &units)
}

pub(crate) fn job(name: &str) -> CampaignHost {
    CampaignHost {
        name: name.into(),
        route: Route {
            jumps: Vec::new(),
            target: Endpoint {
                host: name.into(),
                port: 22,
                user: "root".into(),
                identity_files: Vec::new(),
            },
        },
        connect_timeout: None,
        host_timeout: Duration::from_secs(600),
        deploy: DeployOptions {
            probes: &[],
            probe_args: Vec::new(),
            cleanup: false,
            become_password: None,
            host: HostDeploy::default(),
            stall_timeout: STALL_TIMEOUT,
        },
    }
}

pub(crate) fn settings(max_fail: &str) -> Settings {
    Settings {
        forks: 10,
        together: false,
        restart_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_secs(1),
        health: HealthChecks::default(),
        max_fail: max_fail.parse().expect("max-fail"),
        pause: Duration::ZERO,
        schedule: Schedule::new(Vec::new(), Some("UTC")).expect("zone"),
        outside_window: OutsideWindow::Wait,
        reboot: RebootSettings::default(),
    }
}

/// The names h1, h2, ... of `reports`, one per report.
pub(crate) fn names(reports: &[Report]) -> Vec<String> {
    (1..=reports.len()).map(|i| format!("h{i}")).collect()
}

/// `reports` as the plan takes them, under `names`.
pub(crate) fn inputs<'a>(reports: &'a [Report], names: &'a [String]) -> Vec<HostInput<'a>> {
    reports
        .iter()
        .zip(names)
        .map(|(report, host)| HostInput {
            host,
            never: &[],
            report,
        })
        .collect()
}

/// The plan for `reports` (one per host, named h1, h2, ...) by `serial` and `canary`.
fn plan(reports: &[Report], serial: &str, canary: usize) -> CampaignPlan {
    let names = names(reports);
    let serial: Serial = serial.parse().expect("serial");
    let inputs = inputs(reports, &names);
    CampaignPlan::new(&inputs, Vec::new(), &UnitFilter::default(), &serial, canary)
}

pub(crate) struct Run {
    pub(crate) outcome: CampaignOutcome,
    pub(crate) journal: Vec<Step>,
    pub(crate) connector: Arc<FakeConnector>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn run(
    plan: &CampaignPlan,
    hosts: Vec<(&str, FakeTarget)>,
    settings: Settings,
    replay: Option<&Replay>,
) -> Run {
    let connector = Arc::new(FakeConnector::default());
    let mut jobs = Vec::new();
    // A host named again is connected to again (a reboot): its next target.
    for (name, target) in hosts {
        connector.add(name, target);
        if !jobs.iter().any(|j: &CampaignHost| j.name == name) {
            jobs.push(job(name));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.jsonl");
    let journal = Arc::new(Journal::create(&path, plan).expect("journal"));
    let (events, _received) = mpsc::unbounded_channel();
    let outcome = tokio::time::timeout(
        SAFETY_NET,
        execute(
            connector.clone(),
            jobs,
            plan,
            settings,
            journal,
            replay,
            events,
        ),
    )
    .await
    .expect("the campaign hung until the safety net");
    let text = std::fs::read_to_string(&path).expect("journal");
    let journal = text
        .lines()
        .map(|l| {
            serde_json::from_str::<super::super::journal::Record>(l)
                .expect("record")
                .step
        })
        .collect();
    Run {
        outcome,
        journal,
        connector,
        _dir: dir,
    }
}

pub(crate) fn host(script: Script) -> (FakeTarget, Vec<Remote>) {
    (
        FakeTarget::Host {
            delay: Duration::ZERO,
            host: script.host,
        },
        script.remotes,
    )
}

/// What the controller sent to the command's shell (the bootstrap's script).
pub(crate) async fn sent(remote: &mut Remote) -> String {
    let mut text = String::new();
    let _ = remote.stdin.read_to_string(&mut text).await;
    text
}

fn statuses(outcome: &CampaignOutcome) -> Vec<(String, String)> {
    outcome
        .hosts
        .iter()
        .flat_map(|h| {
            h.units.iter().map(move |u| {
                (
                    format!("{}:{}", h.host, u.unit),
                    u.status.label().to_string(),
                )
            })
        })
        .collect()
}

/// A host whose unit restarts cleanly and is verified by the last probe.
fn restarts_cleanly(name: &str, unit: &str) -> Script {
    Script::default()
        .probe(&stale(name, &[unit]))
        .show("active", "old")
        .reply("", 0)
        .show("active", "new")
        .probe(&clean(name))
}

#[tokio::test(start_paused = true)]
async fn each_host_is_restarted_in_its_batch_and_verified() {
    let reports = [stale("h1", &["a.service"]), stale("h2", &["a.service"])];
    let plan = plan(&reports, "1", 0);
    let (h1, mut r1) = host(restarts_cleanly("h1", "a.service"));
    let (h2, _r2) = host(restarts_cleanly("h2", "a.service"));
    let run = run(&plan, vec![("h1", h1), ("h2", h2)], settings("0"), None).await;
    assert_eq!(
        statuses(&run.outcome),
        [
            ("h1:a.service".into(), "verified".into()),
            ("h2:a.service".into(), "verified".into())
        ]
    );
    assert_eq!(run.outcome.stopped, None);
    assert!(
        sent(&mut r1[2])
            .await
            .contains("set -- 'sudo-n' 'root' 'systemctl restart -- '\\''a.service'\\'''")
    );
    // Batches one after the other, and each restart recorded before it was asked for.
    let kinds: Vec<String> = run
        .journal
        .iter()
        .map(|s| match s {
            Step::Campaign { .. } => "campaign".into(),
            Step::BatchStarted { batch } => format!("batch {batch}"),
            Step::Restarting { host, .. } => format!("restarting {host}"),
            Step::Rebooting { host, .. } => format!("rebooting {host}"),
            Step::Restarted { host, ok, .. } => format!("restarted {host} {ok}"),
            Step::HostFinished { outcome } => format!("finished {}", outcome.host),
            Step::BatchFinished { batch, failed } => format!("end {batch} {failed}"),
            Step::Stopped { .. } => "stopped".into(),
            Step::Finished => "finished".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "campaign",
            "batch 0",
            "restarting h1",
            "restarted h1 true",
            "finished h1",
            "end 0 0",
            "batch 1",
            "restarting h2",
            "restarted h2 true",
            "finished h2",
            "end 1 0",
            "finished"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_unit_still_stale_fails_and_max_fail_stops_the_next_batch() {
    let reports = [stale("h1", &["a.service"]), stale("h2", &["a.service"])];
    let plan = plan(&reports, "1", 0);
    let still = Script::default()
        .probe(&stale("h1", &["a.service"]))
        .show("active", "old")
        .reply("", 0)
        .show("active", "new")
        .probe(&stale("h1", &["a.service"]));
    let (h1, _r1) = host(still);
    let (h2, _r2) = host(restarts_cleanly("h2", "a.service"));
    let run = run(&plan, vec![("h1", h1), ("h2", h2)], settings("0"), None).await;
    assert_eq!(
        statuses(&run.outcome),
        [
            ("h1:a.service".into(), "restarted_still_stale".into()),
            ("h2:a.service".into(), "skipped".into())
        ]
    );
    assert_eq!(run.outcome.hosts[1].status, HostStatus::NotReached);
    assert!(matches!(
        run.outcome.stopped,
        Some(Stop::MaxFail {
            batch: 0,
            failed: 1,
            size: 1
        })
    ));
    assert_eq!(
        run.connector.disconnected.load(Ordering::SeqCst),
        1,
        "h2 was never connected to"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_restart_on_the_canary_stops_with_the_units_journal() {
    let reports = [
        stale("h1", &["fragile.service"]),
        stale("h2", &["fragile.service"]),
        stale("h3", &["fragile.service"]),
    ];
    let plan = plan(&reports, "2", 1);
    let fragile = Script::default()
        .probe(&stale("h1", &["fragile.service"]))
        .show("active", "old")
        .reply("", 1)
        .reply(
            "-- Journal begins --\nfragile: refusing to start twice\n",
            0,
        );
    let (h1, mut r1) = host(fragile);
    let (h2, _r2) = host(restarts_cleanly("h2", "fragile.service"));
    let (h3, _r3) = host(restarts_cleanly("h3", "fragile.service"));
    // Even a generous --max-fail does not let a canary failure through.
    let run = run(
        &plan,
        vec![("h1", h1), ("h2", h2), ("h3", h3)],
        settings("100%"),
        None,
    )
    .await;
    let unit = &run.outcome.hosts[0].units[0];
    let UnitStatus::RestartFailed { message, journal } = &unit.status else {
        panic!("{unit:?}");
    };
    assert!(message.contains("status 1"), "{message}");
    assert_eq!(journal[1], "fragile: refusing to start twice");
    assert!(
        sent(&mut r1[3])
            .await
            .contains("journalctl -u '\\''fragile.service'\\'' -n 20")
    );
    assert!(matches!(run.outcome.stopped, Some(Stop::Canary { .. })));
    assert_eq!(run.outcome.hosts[1].status, HostStatus::NotReached);
    assert_eq!(run.outcome.hosts[2].status, HostStatus::NotReached);
    assert_eq!(run.connector.disconnected.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn resume_never_restarts_a_unit_whose_invocation_changed() {
    let reports = [stale("h1", &["a.service", "b.service"])];
    let plan = plan(&reports, "1", 0);
    // a.service was recorded as restarting with invocation "old" and runs as "new" now:
    // restarted by the killed run. b.service was recorded too but never restarted.
    let replay = Replay {
        plan: plan.clone(),
        finished: HashMap::new(),
        restarting: [
            (
                ("h1".to_string(), "a.service".to_string()),
                "old".to_string(),
            ),
            (
                ("h1".to_string(), "b.service".to_string()),
                "b-old".to_string(),
            ),
        ]
        .into_iter()
        .collect(),
        rebooting: HashMap::new(),
        torn_line: false,
    };
    let script = Script::default()
        .probe(&stale("h1", &["a.service", "b.service"]))
        .reply(
            "ActiveState=active\nInvocationID=new\n\nActiveState=active\nInvocationID=b-old\n",
            0,
        )
        .reply("", 0)
        .show("active", "b-new")
        .probe(&clean("h1"));
    let (h1, mut remotes) = host(script);
    let run = run(&plan, vec![("h1", h1)], settings("0"), Some(&replay)).await;
    assert_eq!(
        statuses(&run.outcome),
        [
            ("h1:a.service".into(), "verified".into()),
            ("h1:b.service".into(), "verified".into())
        ]
    );
    let restart = sent(&mut remotes[2]).await;
    assert!(
        restart.contains("systemctl restart -- '\\''b.service'\\'''"),
        "{restart}"
    );
    assert!(
        !restart.contains("a.service"),
        "a.service is not restarted again"
    );
}

#[tokio::test(start_paused = true)]
async fn units_fixed_by_hand_are_skipped() {
    let reports = [stale("h1", &["a.service"])];
    let plan = plan(&reports, "1", 0);
    let (h1, _remotes) = host(Script::default().probe(&clean("h1")));
    let run = run(&plan, vec![("h1", h1)], settings("0"), None).await;
    assert_eq!(
        run.outcome.hosts[0].units[0].status,
        UnitStatus::Skipped {
            reason: Skip::FixedMeanwhile
        }
    );
    assert_eq!(run.outcome.hosts[0].status, HostStatus::Done);
    assert!(
        !run.journal
            .iter()
            .any(|s| matches!(s, Step::Restarting { .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn a_host_frozen_during_its_restart_times_out_and_counts_as_failed() {
    let reports = [stale("h1", &["a.service"]), stale("h2", &["a.service"])];
    let plan = plan(&reports, "1", 0);
    let frozen = Script::default()
        .probe(&stale("h1", &["a.service"]))
        .show("active", "old")
        .hang();
    let (h1, _r1) = host(frozen);
    let (h2, _r2) = host(restarts_cleanly("h2", "a.service"));
    let run = run(&plan, vec![("h1", h1), ("h2", h2)], settings("0"), None).await;
    assert_eq!(run.outcome.hosts[0].status, HostStatus::Timeout);
    assert_eq!(
        statuses(&run.outcome)[0],
        ("h1:a.service".into(), "timeout".into())
    );
    assert!(matches!(run.outcome.stopped, Some(Stop::MaxFail { .. })));
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_host_counts_as_failed_within_max_fail() {
    let reports = [
        stale("h1", &["a.service"]),
        stale("h2", &["a.service"]),
        stale("h3", &["a.service"]),
    ];
    let plan = plan(&reports, "2", 0);
    let refused = FakeTarget::Fail {
        delay: Duration::ZERO,
        error: ConnectError::new(ConnectFailure::Unreachable, "connection refused"),
    };
    let (h2, _r2) = host(restarts_cleanly("h2", "a.service"));
    let (h3, _r3) = host(restarts_cleanly("h3", "a.service"));
    let run = run(
        &plan,
        vec![("h1", refused), ("h2", h2), ("h3", h3)],
        settings("1"),
        None,
    )
    .await;
    assert_eq!(run.outcome.hosts[0].status, HostStatus::Unreachable);
    assert_eq!(
        statuses(&run.outcome),
        [
            ("h1:a.service".into(), "unreachable".into()),
            ("h2:a.service".into(), "verified".into()),
            ("h3:a.service".into(), "verified".into())
        ],
        "one failure of two is within --max-fail 1"
    );
    assert_eq!(run.outcome.stopped, None);
    assert_eq!(run.outcome.failed_hosts(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_health_check_marks_the_restarted_units() {
    let reports = [stale("h1", &["a.service"])];
    let plan = plan(&reports, "1", 0);
    let script = Script::default()
        .probe(&stale("h1", &["a.service"]))
        .show("active", "old")
        .reply("", 0)
        .show("active", "new")
        .reply("", 7);
    let (h1, mut remotes) = host(script);
    let mut settings = settings("0");
    settings.health.url = Some("http://127.0.0.1/health".into());
    let run = run(&plan, vec![("h1", h1)], settings, None).await;
    let status = &run.outcome.hosts[0].units[0].status;
    assert!(
        matches!(status, UnitStatus::HealthFailed { check, .. } if check.contains("--health-url")),
        "{status:?}"
    );
    assert!(sent(&mut remotes[4]).await.contains("curl -fsS"));
}

#[tokio::test(start_paused = true)]
async fn a_bad_unit_name_from_an_edited_journal_never_reaches_the_host() {
    let reports = [stale("h1", &["a.service"])];
    let mut plan = plan(&reports, "1", 0);
    plan.hosts[0].restart = vec!["a;reboot.service".into()];
    let (h1, _remotes) = host(Script::default().probe(&stale("h1", &["a;reboot.service"])));
    let run = run(&plan, vec![("h1", h1)], settings("0"), None).await;
    assert_eq!(statuses(&run.outcome)[0].1, "restart_failed");
    assert!(
        !run.journal
            .iter()
            .any(|s| matches!(s, Step::Restarting { .. }))
    );
}
