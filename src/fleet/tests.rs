//! The fan-out against a fake network ([`FakeConnector`]): time is paused, so delays and
//! timeouts resolve at once and deterministically, and a hang shows up as the safety-net
//! timeout firing. Every host here ends in one outcome, in the order given, whatever the
//! others do.

use std::sync::atomic::Ordering;

use super::*;
use crate::transport::fake::{FakeConnector, FakeHost, FakeTarget, Remote};
use crate::transport::{ConnectError, Endpoint, ExecEvent};

static PROBE: [u8; 4096] = [0x7f; 4096];
static PROBES: &[EmbeddedProbe] = &[EmbeddedProbe {
    arch: "x86_64",
    sha256: "00",
    bytes: &PROBE,
}];

/// Longer than anything a run may take here; reaching it means the fan-out hung.
const SAFETY_NET: Duration = Duration::from_secs(3600);

fn plan(forks: usize) -> Plan {
    Plan {
        forks,
        host_timeout: Duration::from_secs(120),
        probes: PROBES,
        probe_args: Vec::new(),
        cleanup: false,
        become_password: None,
        stall_timeout: STALL_TIMEOUT,
    }
}

/// A host the fake network knows by its name.
fn target(name: &str) -> Target {
    let endpoint = Endpoint {
        host: name.into(),
        port: 22,
        user: "root".into(),
        identity_files: Vec::new(),
    };
    Target::new(
        name,
        Route {
            jumps: Vec::new(),
            target: endpoint,
        },
    )
}

/// A host with the probe cached that prints a clean report. The returned end must be kept
/// until the run is over (dropping it would close the host's stdin).
fn audited_host(name: &str) -> (FakeHost, Remote) {
    let host = FakeHost::default();
    let mut remote = host.push_channel(1 << 20);
    remote.say("patchgap:have x86_64\n");
    remote.say("patchgap:run privileged\n");
    remote.say(&crate::test_reports::report_json(
        &crate::test_reports::clean(name),
    ));
    remote.exit(0);
    (host, remote)
}

/// Runs the fan-out, returning the outcomes and the events it sent.
async fn run(
    connector: &Arc<FakeConnector>,
    targets: Vec<Target>,
    plan: Plan,
) -> (Vec<HostOutcome>, Vec<FleetEvent>) {
    let (events, mut received) = mpsc::unbounded_channel();
    let outcomes = tokio::time::timeout(
        SAFETY_NET,
        fan_out(connector.clone(), targets, plan, events),
    )
    .await
    .expect("the fan-out hung until the safety net");
    let mut sent = Vec::new();
    while let Ok(event) = received.try_recv() {
        sent.push(event);
    }
    (outcomes, sent)
}

fn state(outcome: &HostOutcome) -> String {
    match &outcome.result {
        HostResult::Audited { partial, .. } => format!("audited partial={partial}"),
        HostResult::Failed {
            failure, message, ..
        } => format!("{failure:?}: {message}"),
    }
}

fn finished(events: &[FleetEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            FleetEvent::HostFinished { host, .. } => Some(host.clone()),
            _ => None,
        })
        .collect()
}

/// Hosts finish in the reverse of the order given (later ones connect faster); the
/// outcomes still come back in the order given.
#[tokio::test(start_paused = true)]
async fn outcomes_keep_the_order_given_whatever_finishes_first() {
    let connector = Arc::new(FakeConnector::default());
    let names = ["h1", "h2", "h3", "h4", "h5"];
    let mut remotes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (host, remote) = audited_host(name);
        let delay = Duration::from_secs(10 * (names.len() - i) as u64);
        connector.add(name, FakeTarget::Host { delay, host });
        remotes.push(remote);
    }
    let targets = names.iter().map(|name| target(name)).collect();
    let (outcomes, events) = run(&connector, targets, plan(8)).await;
    assert_eq!(finished(&events), ["h5", "h4", "h3", "h2", "h1"]);
    let order: Vec<&str> = outcomes.iter().map(|o| o.host.as_str()).collect();
    assert_eq!(order, names);
    for outcome in &outcomes {
        assert_eq!(state(outcome), "audited partial=false", "{}", outcome.host);
    }
    assert_eq!(connector.disconnected.load(Ordering::SeqCst), 5);
    assert_eq!(connector.finished.load(Ordering::SeqCst), 1);
}

/// Hosts that drop packets wait out their timeouts side by side, never one after the
/// other: 40 silent hosts with `--forks 40` take one host timeout, not forty, and with
/// `--forks 10` four. Time is paused, so the elapsed time is exact, not measured.
#[tokio::test(start_paused = true)]
async fn silent_hosts_time_out_in_parallel() {
    for (forks, rounds) in [(40, 1), (10, 4)] {
        let connector = Arc::new(FakeConnector::default());
        let names: Vec<String> = (0..40).map(|i| format!("silent{i}")).collect();
        for name in &names {
            connector.add(name, FakeTarget::Hang);
        }
        let targets = names.iter().map(|name| target(name)).collect();
        let mut plan = plan(forks);
        plan.host_timeout = Duration::from_secs(30);
        let started = tokio::time::Instant::now();
        let (outcomes, _) = run(&connector, targets, plan).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(30 * rounds),
            "--forks {forks}"
        );
        assert!(outcomes.iter().all(|o| state(o).starts_with("Timeout")));
    }
}

/// `--forks 3` over ten hosts: never more than three connected or connecting at once,
/// and every host audited.
#[tokio::test(start_paused = true)]
async fn no_more_hosts_at_once_than_forks() {
    let connector = Arc::new(FakeConnector::default());
    let mut remotes = Vec::new();
    let mut targets = Vec::new();
    for i in 0..10 {
        let name = format!("h{i}");
        let (host, remote) = audited_host(&name);
        let delay = Duration::from_secs(5);
        connector.add(&name, FakeTarget::Host { delay, host });
        remotes.push(remote);
        targets.push(target(&name));
    }
    let (outcomes, _) = run(&connector, targets, plan(3)).await;
    assert_eq!(connector.most_busy.load(Ordering::SeqCst), 3);
    assert_eq!(outcomes.len(), 10);
    assert!(outcomes.iter().all(|o| state(o) == "audited partial=false"));
}

/// Every way a host can go wrong, side by side with good hosts: each bad host ends in its
/// own failure, the good ones are audited, and nothing waits for the bad ones beyond their
/// timeouts.
#[tokio::test(start_paused = true)]
async fn one_bad_host_never_loses_the_others() {
    let connector = Arc::new(FakeConnector::default());
    let mut remotes = Vec::new();
    let mut add_audited = |name: &str| {
        let (host, remote) = audited_host(name);
        let delay = Duration::ZERO;
        connector.add(name, FakeTarget::Host { delay, host });
        remotes.push(remote);
    };
    add_audited("good1");
    add_audited("good2");
    connector.add(
        "changed",
        FakeTarget::Fail {
            delay: Duration::from_secs(1),
            error: ConnectError::new(ConnectFailure::HostKeyChanged, "HOST KEY CHANGED for x"),
        },
    );
    connector.add("hangs", FakeTarget::Hang);
    connector.add("panics", FakeTarget::Panic);
    // Asks for the probe, then never reads its stdin nor says anything more.
    let deaf = FakeHost::default();
    let deaf_remote = deaf.push_channel(16);
    deaf_remote.say("patchgap:need x86_64\n");
    connector.add(
        "never-reads",
        FakeTarget::Host {
            delay: Duration::ZERO,
            host: deaf,
        },
    );
    // A megabyte of login banner without a newline.
    let flood = FakeHost::default();
    let flood_remote = flood.push_channel(1 << 20);
    flood_remote.send(ExecEvent::Stdout(vec![b'x'; 1 << 20]));
    connector.add(
        "floods",
        FakeTarget::Host {
            delay: Duration::ZERO,
            host: flood,
        },
    );
    // Starts the probe, half a report, then the channel closes without an exit status.
    let early = FakeHost::default();
    let mut early_remote = early.push_channel(1 << 20);
    early_remote.say("patchgap:have x86_64\npatchgap:run privileged\n{\"sch");
    early_remote.hang_up();
    connector.add(
        "closes-early",
        FakeTarget::Host {
            delay: Duration::ZERO,
            host: early,
        },
    );
    let names = [
        "good1",
        "changed",
        "hangs",
        "panics",
        "never-reads",
        "floods",
        "closes-early",
        "nowhere",
        "good2",
    ];
    let mut targets: Vec<Target> = names.iter().map(|name| target(name)).collect();
    targets[2].host_timeout = Some(Duration::from_secs(7));
    let (outcomes, events) = run(&connector, targets, plan(4)).await;
    let states: Vec<String> = outcomes.iter().map(state).collect();
    let order: Vec<&str> = outcomes.iter().map(|o| o.host.as_str()).collect();
    assert_eq!(order, names);
    assert_eq!(states[0], "audited partial=false");
    assert_eq!(states[1], "HostKeyChanged: HOST KEY CHANGED for x");
    assert_eq!(
        states[2],
        "Timeout: the host did not finish within 7s (--host-timeout)"
    );
    assert!(
        states[3].starts_with("ProbeFailed: internal error: the audit task failed"),
        "{}",
        states[3]
    );
    assert!(
        states[4].starts_with("Timeout: the host stopped responding while starting the probe"),
        "{}",
        states[4]
    );
    assert!(
        states[5].starts_with("DeployFailed: the host sent more than 65536 bytes"),
        "{}",
        states[5]
    );
    assert!(
        states[6].starts_with("ProbeFailed: the probe ended without an exit status"),
        "{}",
        states[6]
    );
    assert!(
        states[7].starts_with("Unreachable: the fake network has no host nowhere"),
        "{}",
        states[7]
    );
    assert_eq!(states[8], "audited partial=false");
    assert_eq!(
        finished(&events).len(),
        names.len(),
        "one HostFinished each"
    );
    assert_eq!(connector.most_busy.load(Ordering::SeqCst), 4);
    drop((deaf_remote, flood_remote, early_remote, remotes));
}
