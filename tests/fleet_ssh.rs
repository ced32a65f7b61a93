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
    Credentials, JumpPool, KnownHosts, Resolver, SessionOptions, SshConfig, SshTarget,
    client_config,
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
            jumps: JumpPool::default(),
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

    // Every host audited as root: first with the probe removed afterwards (--cleanup), so
    // the next run uploads it, then once more with the probe cached.
    for run in ["cleanup", "upload", "cached"] {
        let mut opts = options(&fleet, &fleet.known_hosts(), 60);
        opts.cleanup = run == "cleanup";
        let started = std::time::Instant::now();
        let outcomes = audit(all.clone(), opts);
        eprintln!(
            "{run} run: {} ms for 4 hosts",
            started.elapsed().as_millis()
        );
        let names: Vec<&str> = outcomes.iter().map(|o| o.host.as_str()).collect();
        assert_eq!(names, ["h01", "h02", "h03", "h04"], "inventory order");
        for outcome in &outcomes {
            assert_eq!(state(outcome), "audited partial=false", "{}", outcome.host);
            eprintln!("  {}: {} ms", outcome.host, outcome.elapsed_ms);
        }
    }

    // Through one shared jump session (h01 forwards to h02 and h03), and with an empty known_hosts that
    // --accept-new-host-keys fills in (both hops recorded, then trusted on the next run).
    let mut jumped = target(&fleet, "h02", "root");
    jumped.proxy_jump = Some(format!("root@127.0.0.1:{}", fleet.host("h01").port));
    let mut jumped_too = target(&fleet, "h03", "root");
    jumped_too.proxy_jump = jumped.proxy_jump.clone();
    let outcomes = audit(
        vec![jumped.clone(), jumped_too],
        options(&fleet, &fleet.known_hosts(), 60),
    );
    assert_eq!(state(&outcomes[0]), "audited partial=false");
    assert_eq!(state(&outcomes[1]), "audited partial=false");
    let fresh = fleet.dir().join("known_hosts.fresh");
    let refused = audit(vec![jumped.clone()], options(&fleet, &fresh, 60));
    assert!(
        state(&refused[0]).starts_with("HostKeyUnknown"),
        "{}",
        state(&refused[0])
    );
    assert!(
        state(&refused[0]).contains("SHA256:"),
        "{}",
        state(&refused[0])
    );
    let mut accepting = options(&fleet, &fresh, 60);
    accepting.session = Arc::new(SessionOptions {
        known_hosts: Arc::new(
            KnownHosts::load(std::slice::from_ref(&fresh), Some(fresh.clone())).expect("load"),
        ),
        accept_new_host_keys: true,
        connect_timeout: Duration::from_secs(5),
        credentials: Arc::new(Credentials::new(false, None)),
        ssh: Arc::new(client_config()),
        jumps: JumpPool::default(),
    });
    let outcomes = audit(vec![jumped.clone()], accepting);
    assert_eq!(state(&outcomes[0]), "audited partial=false");
    let recorded = std::fs::read_to_string(&fresh).expect("recorded keys");
    assert_eq!(recorded.lines().count(), 2, "{recorded}");
    let outcomes = audit(vec![jumped], options(&fleet, &fresh, 60));
    assert_eq!(state(&outcomes[0]), "audited partial=false");

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

    // A user whose sudo asks for a password: the password from --ask-become-pass goes on
    // stdin to sudo -S (full audit); a wrong one leaves a partial audit.
    fleet.ssh_ok(
        "h01",
        "useradd -m -s /bin/sh pwuser && echo pwuser:s3cret | chpasswd \
         && echo 'pwuser ALL=(ALL) ALL' > /etc/sudoers.d/pwuser && chmod 0440 /etc/sudoers.d/pwuser \
         && mkdir -m 0700 ~pwuser/.ssh && cp /root/.ssh/authorized_keys ~pwuser/.ssh/ \
         && chown -R pwuser: ~pwuser/.ssh",
    );
    for (password, expected) in [
        ("s3cret", "audited partial=false"),
        ("wrong", "audited partial=true"),
    ] {
        let mut opts = options(&fleet, &fleet.known_hosts(), 60);
        opts.become_password = Some(password.into());
        let outcomes = audit(vec![target(&fleet, "h01", "pwuser")], opts);
        assert_eq!(state(&outcomes[0]), expected, "password {password}");
    }

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

    // A probe that fails reports its stderr tail.
    let mut failing = options(&fleet, &fleet.known_hosts(), 60);
    failing.probe_args = vec!["--no-such-flag".into()];
    let outcomes = audit(vec![target(&fleet, "h01", "root")], failing);
    match &outcomes[0].result {
        HostResult::Failed {
            failure: Failure::ProbeFailed,
            stderr_tail: Some(tail),
            ..
        } => assert!(tail.contains("--no-such-flag"), "{tail}"),
        other => panic!("expected ProbeFailed with stderr: {other:?}"),
    }

    // A killed host is unreachable and a frozen one times out; the others finish.
    fleet.freeze("h03");
    fleet.kill("h04");
    let outcomes = audit(all, options(&fleet, &fleet.known_hosts(), 20));
    // With a whole-host timeout shorter than the connect timeout, the host timeout fires.
    let frozen = audit(
        vec![target(&fleet, "h03", "root")],
        options(&fleet, &fleet.known_hosts(), 2),
    );
    fleet.thaw("h03");
    assert!(
        state(&frozen[0]).starts_with("Timeout") && state(&frozen[0]).contains("--host-timeout"),
        "{}",
        state(&frozen[0])
    );
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
