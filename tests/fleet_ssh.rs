//! The fleet audit over SSH against real hosts of the test fleet: several hosts audited, a
//! changed host key refused while the others are audited, a killed and a frozen host ending
//! as unreachable and timeout, and sudo (ops) against no sudo (guest). Host keys: a host
//! known only by its ecdsa key, and a host presenting a certificate.
//!
//! One fleet serves every scenario of this binary, each a `#[test]` of its own. h01..h03
//! are the healthy hosts many scenarios audit and none changes (see [`healthy`]); a
//! scenario that changes a host has it to itself: h04 (users and sudo), h05 (frozen), h06
//! (killed), h07 (host certificate).

// Per-host wall times are printed for the record (see --nocapture).
#![allow(clippy::print_stderr)]

#[path = "support/fleet.rs"]
mod fleet;

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use patchgap::fleet::{FleetOptions, Target, audit_fleet};
use patchgap::outcome::{Failure, HostOutcome, HostResult};
use patchgap::transport::{
    Credentials, JumpPool, KnownHosts, Resolver, SessionOptions, SshConfig, SshTarget,
    client_config,
};

fn options(known_hosts: &Path, host_timeout: u64) -> FleetOptions {
    options_accepting(known_hosts, host_timeout, false)
}

/// Options of a run; `accept_new` records unknown host keys in `known_hosts`.
fn options_accepting(known_hosts: &Path, host_timeout: u64, accept_new: bool) -> FleetOptions {
    let file = known_hosts.to_path_buf();
    let known = KnownHosts::load(std::slice::from_ref(&file), Some(file.clone())).expect("load");
    FleetOptions {
        forks: 8,
        host_timeout: Duration::from_secs(host_timeout),
        session: Arc::new(SessionOptions {
            connect_timeout: Duration::from_secs(5),
            known_hosts: Arc::new(known),
            accept_new_host_keys: accept_new,
            credentials: Arc::new(Credentials::new(false, None)),
            ssh: Arc::new(client_config()),
            jumps: JumpPool::default(),
        }),
        probe_args: Vec::new(),
        cleanup: false,
        become_password: None,
    }
}

/// How the test reaches `name` as `user`: the connection settings only.
fn ssh(fleet: &fleet::Fleet, name: &str, user: &str) -> SshTarget {
    SshTarget {
        name: name.into(),
        host: Some("127.0.0.1".into()),
        port: Some(fleet.host(name).port),
        user: Some(user.into()),
        ..SshTarget::default()
    }
}

/// The ready target of `ssh`, resolved as a run resolves it (no ssh config, the fleet's
/// key), with the default deploy settings.
fn ready(fleet: &fleet::Fleet, ssh: SshTarget) -> Target {
    let resolver = Resolver {
        config: SshConfig::default(),
        local_user: "root".into(),
        home: "/nonexistent".into(),
        private_key: Some(fleet.key()),
    };
    Target::new(ssh.name.clone(), resolver.route(&ssh))
}

fn target(fleet: &fleet::Fleet, name: &str, user: &str) -> Target {
    ready(fleet, ssh(fleet, name, user))
}

fn audit(targets: Vec<Target>, options: FleetOptions) -> Vec<HostOutcome> {
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

fn shared_fleet() -> Option<&'static fleet::Fleet> {
    fleet::Fleet::shared("ssh", 7)
}

/// The healthy hosts, in inventory order.
const HEALTHY: [&str; 3] = ["h01", "h02", "h03"];

/// Guards the healthy hosts' probe cache: scenarios that audit them share it (uploads are
/// atomic), and the one that removes the probe after its run (`--cleanup`) has them alone,
/// so no other run finds its probe gone between the hash check and the start.
static HEALTHY_CACHE: RwLock<()> = RwLock::new(());

fn healthy() -> RwLockReadGuard<'static, ()> {
    HEALTHY_CACHE.read().unwrap_or_else(PoisonError::into_inner)
}

fn healthy_alone() -> RwLockWriteGuard<'static, ()> {
    HEALTHY_CACHE
        .write()
        .unwrap_or_else(PoisonError::into_inner)
}

fn root_targets(fleet: &fleet::Fleet, names: &[&str]) -> Vec<Target> {
    names
        .iter()
        .map(|name| target(fleet, name, "root"))
        .collect()
}

/// Every host audited as root: first with the probe removed afterwards (--cleanup), so the
/// next run uploads it, then once more with the probe cached.
#[test]
fn root_audits_upload_then_reuse_the_probe() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let _alone = healthy_alone();
    let all = root_targets(fleet, &HEALTHY);
    for run in ["cleanup", "upload", "cached"] {
        let mut opts = options(&fleet.known_hosts(), 60);
        opts.cleanup = run == "cleanup";
        let started = std::time::Instant::now();
        let outcomes = audit(all.to_vec(), opts);
        eprintln!(
            "{run} run: {} ms for {} hosts",
            started.elapsed().as_millis(),
            all.len()
        );
        let names: Vec<&str> = outcomes.iter().map(|o| o.host.as_str()).collect();
        assert_eq!(names, HEALTHY, "inventory order");
        for outcome in &outcomes {
            assert_eq!(state(outcome), "audited partial=false", "{}", outcome.host);
            eprintln!("  {}: {} ms", outcome.host, outcome.elapsed_ms);
        }
    }
}

/// Through one shared jump session (h01 forwards to h02 and h03); then with an empty
/// known_hosts: refused, then filled in by --accept-new-host-keys (both hops recorded), then
/// trusted.
#[test]
fn jump_hosts_and_new_host_keys() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let _shared = healthy();
    let via_h01 = |name: &str| {
        let hop = SshTarget {
            proxy_jump: Some(format!("root@127.0.0.1:{}", fleet.host("h01").port)),
            ..ssh(fleet, name, "root")
        };
        ready(fleet, hop)
    };
    let outcomes = audit(
        vec![via_h01("h02"), via_h01("h03")],
        options(&fleet.known_hosts(), 60),
    );
    assert_eq!(state(&outcomes[0]), "audited partial=false");
    assert_eq!(state(&outcomes[1]), "audited partial=false");

    let fresh = fleet.dir().join("known_hosts.fresh");
    let refused = state(&audit(vec![via_h01("h02")], options(&fresh, 60))[0]);
    assert!(refused.starts_with("HostKeyUnknown"), "{refused}");
    assert!(refused.contains("SHA256:") && refused.contains("--accept-new-host-keys"));
    let accepting = options_accepting(&fresh, 60, true);
    let accepted = audit(vec![via_h01("h02")], accepting);
    assert_eq!(state(&accepted[0]), "audited partial=false");
    let recorded = std::fs::read_to_string(&fresh).expect("recorded keys");
    assert_eq!(recorded.lines().count(), 2, "{recorded}");
    let trusted = audit(vec![via_h01("h02")], options(&fresh, 60));
    assert_eq!(state(&trusted[0]), "audited partial=false");
}

/// ops has passwordless sudo (full audit), guest has none (partial audit), and a guest
/// whose inventory requires root fails with SudoRefused. A user whose sudo asks for a
/// password gets a full audit with the right --ask-become-pass password (sent on stdin to
/// sudo -S) and a partial one with a wrong password. All on h04, which this scenario has
/// to itself (it adds a user with sudo).
#[test]
fn sudo_decides_between_full_and_partial_audits() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h04";
    let login = |user: &str| Target {
        name: format!("{host}-{user}"),
        ..target(fleet, host, user)
    };
    let mut required = Target {
        name: format!("{host}-required"),
        ..target(fleet, host, "guest")
    };
    required.deploy.become_required = true;
    let outcomes = audit(
        vec![login("ops"), login("guest"), required],
        options(&fleet.known_hosts(), 60),
    );
    assert_eq!(state(&outcomes[0]), "audited partial=false");
    assert_eq!(state(&outcomes[1]), "audited partial=true");
    assert!(
        state(&outcomes[2]).starts_with("SudoRefused"),
        "{}",
        state(&outcomes[2])
    );

    fleet.ssh_ok(
        host,
        "useradd -m -s /bin/sh pwuser && echo pwuser:s3cret | chpasswd \
         && echo 'pwuser ALL=(ALL) ALL' > /etc/sudoers.d/pwuser && chmod 0440 /etc/sudoers.d/pwuser \
         && mkdir -m 0700 ~pwuser/.ssh && cp /root/.ssh/authorized_keys ~pwuser/.ssh/ \
         && chown -R pwuser: ~pwuser/.ssh",
    );
    for (password, expected) in [
        ("s3cret", "audited partial=false"),
        ("wrong", "audited partial=true"),
    ] {
        let mut opts = options(&fleet.known_hosts(), 60);
        opts.become_password = Some(std::sync::Arc::new(secrecy::SecretString::from(password)));
        let outcomes = audit(vec![target(fleet, host, "pwuser")], opts);
        assert_eq!(state(&outcomes[0]), expected, "password {password}");
    }
}

/// h03's recorded key replaced by h02's: h03 is refused as changed, the others audited.
#[test]
fn a_changed_host_key_is_refused_alone() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let _shared = healthy();
    let all = root_targets(fleet, &HEALTHY);
    let text = std::fs::read_to_string(fleet.known_hosts()).expect("known_hosts");
    let h03 = format!("[127.0.0.1]:{} ", fleet.host("h03").port);
    let h02 = format!("[127.0.0.1]:{} ", fleet.host("h02").port);
    let h02_key = text
        .lines()
        .find(|l| l.starts_with(&h02) && l.contains("ssh-ed25519"))
        .and_then(|l| l.strip_prefix(&h02))
        .expect("h02 ed25519 line")
        .to_string();
    let forged: String = text
        .lines()
        .filter(|l| !l.starts_with(&h03))
        .chain([format!("{h03}{h02_key}").as_str()])
        .map(|l| format!("{l}\n"))
        .collect();
    let forged_file = fleet.dir().join("known_hosts.changed");
    std::fs::write(&forged_file, forged).expect("write");
    let outcomes = audit(all, options(&forged_file, 60));
    let expected = ["audited", "audited", "HostKeyChanged"];
    assert_eq!(outcomes.len(), expected.len());
    for (outcome, expected) in outcomes.iter().zip(expected) {
        let state = state(outcome);
        assert!(state.starts_with(expected), "{}: {state}", outcome.host);
    }
}

#[test]
fn a_failing_probe_reports_its_stderr() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let _shared = healthy();
    let mut failing = options(&fleet.known_hosts(), 60);
    failing.probe_args = vec!["--no-such-flag".into()];
    let outcomes = audit(vec![target(fleet, "h01", "root")], failing);
    match &outcomes[0].result {
        HostResult::Failed {
            failure: Failure::ProbeFailed,
            stderr_tail: Some(tail),
            ..
        } => assert!(tail.contains("--no-such-flag"), "{tail}"),
        other => panic!("expected ProbeFailed with stderr: {other:?}"),
    }
}

/// A killed host is unreachable and a frozen one times out (connect timeout, or the
/// whole-host timeout when that is shorter) while the others finish. h05 is frozen (and
/// thawed afterwards) and h06 killed: this scenario has them to itself.
#[test]
fn dead_and_frozen_hosts_fail_alone() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let _shared = healthy();
    let (frozen_host, killed_host) = ("h05", "h06");
    fleet.freeze(frozen_host);
    fleet.kill(killed_host);
    let outcomes = audit(
        root_targets(fleet, &["h01", "h02", frozen_host, killed_host]),
        options(&fleet.known_hosts(), 20),
    );
    let frozen = audit(
        vec![target(fleet, frozen_host, "root")],
        options(&fleet.known_hosts(), 2),
    );
    fleet.thaw(frozen_host);
    for outcome in &outcomes {
        eprintln!(
            "{}: {} ms, {}",
            outcome.host,
            outcome.elapsed_ms,
            state(outcome)
        );
    }
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
    let frozen = state(&frozen[0]);
    assert!(
        frozen.starts_with("Timeout") && frozen.contains("--host-timeout"),
        "{frozen}"
    );
}

/// known_hosts text holding only the lines of `fleet`'s known_hosts for `host` whose key
/// type is `kind`.
fn recorded_lines(fleet: &fleet::Fleet, host: &str, kind: &str) -> String {
    let text = std::fs::read_to_string(fleet.known_hosts()).expect("known_hosts");
    let prefix = format!("[127.0.0.1]:{} {kind} ", fleet.host(host).port);
    let lines: String = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!lines.is_empty(), "no {kind} line for {host}: {text}");
    lines
}

fn run_ssh_keygen(args: &[&str]) {
    let out = std::process::Command::new("ssh-keygen")
        .args(args)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Regression: russh preferred ed25519, so a host recorded only by its ecdsa key was refused
/// as unknown, and --accept-new-host-keys silently recorded its ed25519 key. Now the
/// recorded type is offered first: the host connects and nothing is written. A host recorded
/// only under a type its server does not have is refused, never recorded.
#[test]
fn a_host_known_only_by_its_ecdsa_key_connects_and_nothing_is_recorded() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let _shared = healthy();
    let ecdsa_only = fleet.dir().join("known_hosts.ecdsa");
    let recorded = recorded_lines(fleet, "h01", "ecdsa-sha2-nistp256");
    std::fs::write(&ecdsa_only, &recorded).expect("write");
    for accept_new in [false, true] {
        let opts = options_accepting(&ecdsa_only, 60, accept_new);
        let outcome = audit(vec![target(fleet, "h01", "root")], opts);
        assert_eq!(
            state(&outcome[0]),
            "audited partial=false",
            "accept_new={accept_new}"
        );
        assert_eq!(
            std::fs::read_to_string(&ecdsa_only).expect("read"),
            recorded,
            "nothing recorded (accept_new={accept_new})"
        );
    }

    // A p521 key the host does not have: no recorded type can be negotiated.
    let other = fleet.dir().join("other_p521");
    let _ = std::fs::remove_file(&other);
    run_ssh_keygen(&[
        "-q",
        "-t",
        "ecdsa",
        "-b",
        "521",
        "-N",
        "",
        "-C",
        "",
        "-f",
        other.to_str().expect("utf-8 path"),
    ]);
    let public = std::fs::read_to_string(other.with_extension("pub")).expect("p521 key");
    let p521_only = fleet.dir().join("known_hosts.p521");
    let text = format!("[127.0.0.1]:{} {public}", fleet.host("h01").port);
    std::fs::write(&p521_only, &text).expect("write");
    let opts = options_accepting(&p521_only, 60, true);
    let refused = state(&audit(vec![target(fleet, "h01", "root")], opts)[0]);
    assert!(
        refused.starts_with("HostKeyChanged") && refused.contains("known with other key types"),
        "{refused}"
    );
    assert!(refused.contains("ecdsa-sha2-nistp521"), "{refused}");
    assert_eq!(
        std::fs::read_to_string(&p521_only).expect("read"),
        text,
        "never recorded"
    );
}

/// Regression: a host certificate was refused outright. sshd here presents a certificate
/// for its ed25519 key, signed by a CA of the test: it is trusted through an
/// `@cert-authority` line alone, and refused when the line names another CA.
#[test]
fn a_host_certificate_is_trusted_through_its_cert_authority_only() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h07";
    let dir = fleet.dir();
    let path = |name: &str| dir.join(name).to_str().expect("utf-8 path").to_string();
    for ca in ["ca", "wrong_ca"] {
        let _ = std::fs::remove_file(dir.join(ca));
        let _ = std::fs::remove_file(dir.join(format!("{ca}.pub")));
        run_ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-C", ca, "-f", &path(ca)]);
    }
    let host_key = fleet.ssh_ok(host, "cat /etc/ssh/ssh_host_ed25519_key.pub");
    std::fs::write(dir.join(format!("{host}_ed25519.pub")), host_key).expect("write");
    run_ssh_keygen(&[
        "-q",
        "-s",
        &path("ca"),
        "-h",
        "-n",
        "127.0.0.1",
        "-I",
        host,
        "-V",
        "-1h:+1d",
        &path(&format!("{host}_ed25519.pub")),
    ]);
    let certificate =
        std::fs::read(dir.join(format!("{host}_ed25519-cert.pub"))).expect("certificate");
    let out = fleet.ssh_with_input(
        host,
        "cat > /etc/ssh/ssh_host_ed25519_key-cert.pub \
         && echo 'HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub' \
            > /etc/ssh/sshd_config.d/cert.conf \
         && systemctl restart ssh",
        &certificate,
    );
    assert!(
        out.status.success(),
        "install the certificate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = fleet.host(host).port;
    let authority = |ca: &str| {
        let public = std::fs::read_to_string(dir.join(format!("{ca}.pub"))).expect("ca key");
        let file = dir.join(format!("known_hosts.{ca}"));
        let text = format!("@cert-authority [127.0.0.1]:{port} {public}");
        std::fs::write(&file, &text).expect("write");
        (file, text)
    };
    let (trusted_file, trusted_text) = authority("ca");
    let outcome = audit(
        vec![target(fleet, host, "root")],
        options_accepting(&trusted_file, 60, true),
    );
    assert_eq!(state(&outcome[0]), "audited partial=false");
    assert_eq!(
        std::fs::read_to_string(&trusted_file).expect("read"),
        trusted_text,
        "a host a CA vouches for is not recorded"
    );

    let (wrong_file, wrong_text) = authority("wrong_ca");
    let outcome = audit(
        vec![target(fleet, host, "root")],
        options_accepting(&wrong_file, 60, true),
    );
    let refused = state(&outcome[0]);
    assert!(
        refused.starts_with("HostKeyChanged") && refused.contains("which no @cert-authority"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(&wrong_file).expect("read"),
        wrong_text,
        "never recorded"
    );
}
