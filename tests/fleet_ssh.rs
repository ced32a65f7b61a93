//! The fleet audit over SSH against real hosts of the test fleet: several hosts audited, a
//! changed host key refused while the others are audited, a killed and a frozen host ending
//! as unreachable and timeout, and sudo (ops) against no sudo (guest).

// Per-host wall times are printed for the record (see --nocapture).
#![allow(clippy::print_stderr)]

#[path = "support/fleet.rs"]
mod fleet;

use std::sync::Arc;
use std::time::Duration;

use patchgap::deploy::parse_report;
use patchgap::fleet::{FleetOptions, audit_fleet};
use patchgap::outcome::{Failure, HostOutcome, HostResult};
use patchgap::transport::{
    Credentials, KnownHosts, Resolver, SessionOptions, SshConfig, SshTarget, client_config,
};

fn options(fleet: &fleet::Fleet, known_hosts: &std::path::Path, host_timeout: u64) -> FleetOptions {
    let known = KnownHosts::load(&[known_hosts.to_path_buf()], None).expect("known_hosts");
    FleetOptions {
        forks: 8,
        host_timeout: Duration::from_secs(host_timeout),
        session: Arc::new(SessionOptions {
            connect_timeout: Duration::from_secs(5),
            known_hosts: Arc::new(known),
            accept_new_host_keys: false,
            credentials: Arc::new(Credentials::new(false, None)),
            ssh: Arc::new(client_config()),
        }),
        resolver: Arc::new(Resolver {
            config: SshConfig::default(),
            local_user: "root".into(),
            home: "/nonexistent".into(),
            private_key: Some(fleet.key()),
        }),
        probe_args: Vec::new(),
        cleanup: false,
        become_password: None,
        validate: parse_report,
    }
}

fn target(fleet: &fleet::Fleet, name: &str, user: &str) -> SshTarget {
    SshTarget {
        name: name.into(),
        host: Some("127.0.0.1".into()),
        port: Some(fleet.host(name).port),
        user: Some(user.into()),
        ..SshTarget::default()
    }
}

fn audit(targets: Vec<SshTarget>, options: FleetOptions) -> Vec<HostOutcome> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (events, _ignored) = tokio::sync::mpsc::unbounded_channel();
    runtime.block_on(audit_fleet(targets, options, events))
}

fn state(outcome: &HostOutcome) -> String {
    match &outcome.result {
        HostResult::Audited { partial, .. } => format!("audited partial={partial}"),
        HostResult::Failed {
            failure, message, ..
        } => format!("{failure:?}: {message}"),
    }
}

#[test]
fn fleet_audit_over_ssh() {
    let Some(fleet) = fleet::Fleet::up("ssh", 4) else {
        return;
    };
    let all: Vec<SshTarget> = ["h01", "h02", "h03", "h04"]
        .iter()
        .map(|name| target(&fleet, name, "root"))
        .collect();

    // Every host audited as root, twice: the second run finds the probe cached.
    for _ in 0..2 {
        let outcomes = audit(all.clone(), options(&fleet, &fleet.known_hosts(), 60));
        let names: Vec<&str> = outcomes.iter().map(|o| o.host.as_str()).collect();
        assert_eq!(names, ["h01", "h02", "h03", "h04"], "inventory order");
        for outcome in &outcomes {
            assert_eq!(state(outcome), "audited partial=false", "{}", outcome.host);
        }
    }

    // ops has passwordless sudo (full audit), guest has none (partial audit); a guest
    // whose inventory requires root fails with SudoRefused.
    let mut required = target(&fleet, "h02", "guest");
    required.r#become = true;
    required.name = "h02-required".into();
    let outcomes = audit(
        vec![
            target(&fleet, "h01", "ops"),
            target(&fleet, "h02", "guest"),
            required,
        ],
        options(&fleet, &fleet.known_hosts(), 60),
    );
    assert_eq!(state(&outcomes[0]), "audited partial=false");
    assert_eq!(state(&outcomes[1]), "audited partial=true");
    assert!(
        matches!(
            outcomes[2].result,
            HostResult::Failed {
                failure: Failure::SudoRefused,
                ..
            }
        ),
        "{}",
        state(&outcomes[2])
    );

    // h03's recorded key replaced by h04's: refused as changed, the others audited.
    let text = std::fs::read_to_string(fleet.known_hosts()).expect("known_hosts");
    let h03 = format!("[127.0.0.1]:{} ", fleet.host("h03").port);
    let h04 = format!("[127.0.0.1]:{} ", fleet.host("h04").port);
    let h04_key = text
        .lines()
        .find(|l| l.starts_with(&h04) && l.contains("ssh-ed25519"))
        .and_then(|l| l.strip_prefix(&h04))
        .expect("h04 ed25519 line")
        .to_string();
    let forged: String = text
        .lines()
        .filter(|l| !l.starts_with(&h03))
        .chain([format!("{h03}{h04_key}").as_str()])
        .map(|l| format!("{l}\n"))
        .collect();
    let forged_file = fleet.dir().join("known_hosts.changed");
    std::fs::write(&forged_file, forged).expect("write");
    let outcomes = audit(all.clone(), options(&fleet, &forged_file, 60));
    for (outcome, expected) in
        outcomes
            .iter()
            .zip(["audited", "audited", "HostKeyChanged", "audited"])
    {
        assert!(
            state(outcome).starts_with(expected),
            "{}: {}",
            outcome.host,
            state(outcome)
        );
    }

    // A killed host is unreachable and a frozen one times out; the others finish.
    fleet.freeze("h03");
    fleet.kill("h04");
    let outcomes = audit(all, options(&fleet, &fleet.known_hosts(), 20));
    fleet.thaw("h03");
    assert_eq!(state(&outcomes[0]), "audited partial=false");
    assert_eq!(state(&outcomes[1]), "audited partial=false");
    assert!(
        state(&outcomes[2]).starts_with("Timeout"),
        "{}",
        state(&outcomes[2])
    );
    assert!(
        state(&outcomes[3]).starts_with("Unreachable"),
        "{}",
        state(&outcomes[3])
    );
    for outcome in &outcomes {
        eprintln!(
            "{}: {} ms, {}",
            outcome.host,
            outcome.elapsed_ms,
            state(outcome)
        );
    }
}
