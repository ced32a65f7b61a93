//! The exchange against an in-memory host: time is paused, so a stall resolves at once
//! and deterministically, and a hang shows up as the safety-net timeout firing.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::*;
use crate::transport::fake::FakeHost;

/// A probe larger than any SSH window, so that a host that stops reading blocks the write.
static PROBE: [u8; 4 << 20] = [0x7f; 4 << 20];
static PROBES: &[EmbeddedProbe] = &[EmbeddedProbe {
    arch: "x86_64",
    sha256: "00",
    bytes: &PROBE,
}];

/// Longer than anything the exchange may take here; reaching it means it hung.
const SAFETY_NET: Duration = Duration::from_secs(3600);

fn options() -> DeployOptions {
    DeployOptions {
        probes: PROBES,
        probe_args: vec!["--integrity".into()],
        cleanup: false,
        become_password: None,
        host: HostDeploy::default(),
        stall_timeout: STALL_TIMEOUT,
    }
}

fn report_json() -> String {
    crate::test_reports::report_json(&crate::test_reports::clean("h1"))
}

async fn run(host: &FakeHost, options: &DeployOptions) -> HostResult {
    tokio::time::timeout(SAFETY_NET, deploy_and_run(host, options, |_| {}))
        .await
        .expect("the exchange hung until the safety net")
}

/// Reads what the deploy script reads first: the length line and the script.
async fn read_script(stdin: &mut BufReader<&mut tokio::io::DuplexStream>) -> String {
    let mut length = String::new();
    stdin.read_line(&mut length).await.expect("length line");
    let length: usize = length.trim().parse().expect("a length");
    let mut script = vec![0; length];
    stdin.read_exact(&mut script).await.expect("script");
    String::from_utf8(script).expect("utf8 script")
}

/// The host's end of stdin, to read beside `say` calls.
fn take_stdin(remote: &mut crate::transport::fake::Remote) -> tokio::io::DuplexStream {
    std::mem::replace(&mut remote.stdin, tokio::io::duplex(1).0)
}

fn failure(result: &HostResult) -> (Failure, &str) {
    match result {
        HostResult::Failed {
            failure, message, ..
        } => (*failure, message.as_str()),
        HostResult::Audited { .. } => panic!("audited, expected a failure"),
    }
}

/// The CI flake: the host's disk is full, `head -c` fails, the script reports it and exits
/// while most of the probe is still unsent. The host never reads another byte.
#[tokio::test(start_paused = true)]
async fn a_host_that_stops_reading_the_upload_is_heard_when_it_fails() {
    let host = FakeHost::default();
    let mut remote = host.push_channel(64 * 1024);
    remote.say("patchgap:need x86_64\n");
    remote.say("patchgap:error cannot write the probe into /c (no space left?)\n");
    remote.exit(0);
    let result = run(&host, &options()).await;
    assert_eq!(
        failure(&result),
        (
            Failure::DeployFailed,
            "cannot write the probe into /c (no space left?)"
        )
    );
    assert!(remote.closed(), "the controller closes the channel");
}

/// A host that freezes mid-upload (no byte either way, no close) ends as a timeout after
/// the stall timeout, long before the whole-host timeout.
#[tokio::test(start_paused = true)]
async fn a_frozen_host_ends_as_a_stall_timeout() {
    let host = FakeHost::default();
    let remote = host.push_channel(64 * 1024);
    remote.say("patchgap:need x86_64\n");
    let started = tokio::time::Instant::now();
    let result = run(&host, &options()).await;
    let (kind, message) = failure(&result);
    assert_eq!(kind, Failure::Timeout);
    assert!(message.contains("stopped responding"), "{message}");
    // Virtual time: deterministic, not a wall-clock measurement.
    assert_eq!(started.elapsed().as_secs(), STALL_TIMEOUT.as_secs());
    assert!(remote.closed());
}

/// A host that never says anything at all (a login shell that hangs) is a stall as well.
#[tokio::test(start_paused = true)]
async fn a_silent_host_ends_as_a_stall_timeout() {
    let host = FakeHost::default();
    let _remote = host.push_channel(64 * 1024);
    let result = run(&host, &options()).await;
    assert_eq!(failure(&result).0, Failure::Timeout);
}

/// A probe that thinks quietly is not a stall: only `--host-timeout` bounds it.
#[tokio::test(start_paused = true)]
async fn a_quiet_probe_is_not_a_stall() {
    let host = FakeHost::default();
    let mut remote = host.push_channel(64 * 1024);
    let player = tokio::spawn(async move {
        let mut pipe = take_stdin(&mut remote);
        let mut stdin = BufReader::new(&mut pipe);
        read_script(&mut stdin).await;
        remote.say("patchgap:have x86_64\n");
        let mut rest = Vec::new();
        stdin.read_to_end(&mut rest).await.expect("eof");
        remote.say("patchgap:run privileged\n");
        tokio::time::sleep(STALL_TIMEOUT * 3).await;
        remote.say(&report_json());
        remote.exit(0);
    });
    let result = run(&host, &options()).await;
    player.await.expect("player");
    assert!(
        matches!(result, HostResult::Audited { partial: false, .. }),
        "{result:?}"
    );
}

/// The whole protocol with a host that reads: script and arguments on stdin (never on the
/// command line), the probe exactly once, EOF, then the probe's report.
#[tokio::test(start_paused = true)]
async fn the_probe_is_uploaded_and_its_report_validated() {
    let host = FakeHost::default();
    let mut remote = host.push_channel(64 * 1024);
    let player = tokio::spawn(async move {
        let mut pipe = take_stdin(&mut remote);
        let mut stdin = BufReader::new(&mut pipe);
        let script = read_script(&mut stdin).await;
        remote.say("motd printed by a login script\n");
        remote.say("patchgap:need x86_64\n");
        let mut rest = Vec::new();
        stdin.read_to_end(&mut rest).await.expect("eof");
        remote.say("patchgap:run privileged\n");
        let json = report_json();
        let (a, b) = json.split_at(json.len() / 2);
        remote.say(a);
        remote.say(b);
        remote.exit(0);
        (script, rest)
    });
    let result = run(&host, &options()).await;
    let (script, rest) = player.await.expect("player");
    assert!(
        matches!(result, HostResult::Audited { partial: false, .. }),
        "{result:?}"
    );
    assert!(
        script.starts_with("set -- 'sudo-n' 'root' '0' 'x86_64:00:4194304' '' '--integrity'\n")
    );
    assert_eq!(rest.len(), PROBE.len(), "the probe, then EOF, nothing else");
    assert_eq!(host.commands(), [BOOTSTRAP_COMMAND]);
}

const BOOTSTRAP_COMMAND: &str = super::super::script::BOOTSTRAP;

/// Plays a host whose script answers `line` and returns what followed on stdin.
async fn stdin_after(line: &'static str, options: &DeployOptions) -> Vec<u8> {
    let host = FakeHost::default();
    let mut remote = host.push_channel(64 * 1024);
    let player = tokio::spawn(async move {
        let mut pipe = take_stdin(&mut remote);
        let mut stdin = BufReader::new(&mut pipe);
        read_script(&mut stdin).await;
        remote.say(line);
        let mut rest = Vec::new();
        stdin.read_to_end(&mut rest).await.expect("eof");
        remote.say("patchgap:run privileged\n");
        remote.say(&report_json());
        remote.exit(0);
        rest
    });
    run(&host, options).await;
    player.await.expect("player")
}

/// The sudo password reaches only a host whose script says sudo will read it; a root login
/// never sees it.
#[tokio::test(start_paused = true)]
async fn the_password_goes_only_where_sudo_reads_it() {
    let mut options = options();
    options.become_password = Some(Arc::new(SecretString::from("hunter2")));
    assert_eq!(stdin_after("patchgap:have x86_64\n", &options).await, b"");
    assert_eq!(
        stdin_after("patchgap:have x86_64 password\n", &options).await,
        b"hunter2\n"
    );
    let mut after_upload = stdin_after("patchgap:need x86_64 password\n", &options).await;
    assert_eq!(after_upload.split_off(PROBE.len()), b"hunter2\n");
}

#[test]
fn the_password_never_shows_in_debug_output() {
    let mut options = options();
    options.become_password = Some(Arc::new(SecretString::from("hunter2")));
    assert!(!format!("{options:?}").contains("hunter2"));
}

/// A host that floods the controller before the probe starts is cut off, and what it sent
/// is not kept.
#[tokio::test(start_paused = true)]
async fn output_before_the_probe_starts_is_capped() {
    for flood in [
        "x".repeat(MAX_CONTROL_LINE + 1),
        "x\n".repeat(MAX_CONTROL_OUTPUT),
    ] {
        let host = FakeHost::default();
        let remote = host.push_channel(64 * 1024);
        remote.say(&flood);
        let result = run(&host, &options()).await;
        let (kind, message) = failure(&result);
        assert_eq!(kind, Failure::DeployFailed);
        assert!(message.contains("before the probe started"), "{message}");
        assert!(remote.closed());
    }
}

/// A probe killed by a signal is named as such.
#[tokio::test(start_paused = true)]
async fn a_probe_killed_by_a_signal_says_which() {
    let host = FakeHost::default();
    let mut remote = host.push_channel(1 << 23);
    remote.say("patchgap:have x86_64\npatchgap:run privileged\n{\"schema");
    remote.send(ExecEvent::Signaled("KILL".into()));
    remote.send(ExecEvent::Eof);
    remote.hang_up();
    let result = run(&host, &options()).await;
    assert_eq!(
        failure(&result),
        (Failure::ProbeFailed, "the probe was killed by signal KILL")
    );
}

/// A host of an architecture with no probe is told so without an upload.
#[tokio::test(start_paused = true)]
async fn an_unknown_architecture_is_refused() {
    let host = FakeHost::default();
    let mut remote = host.push_channel(64 * 1024);
    remote.say("patchgap:need sparc64\n");
    remote.exit(0);
    let result = run(&host, &options()).await;
    assert_eq!(failure(&result).0, Failure::UnsupportedArch);
}

/// With sudo refused and root not required, the probe runs again as the login user.
#[tokio::test(start_paused = true)]
async fn sudo_refused_falls_back_to_a_partial_audit() {
    let host = FakeHost::default();
    let mut first = host.push_channel(1 << 23);
    first.say("patchgap:have x86_64\n");
    first.send(ExecEvent::Stderr(
        b"sudo: a password is required\n".to_vec(),
    ));
    first.exit(1);
    let mut second = host.push_channel(1 << 23);
    second.say("patchgap:have x86_64\npatchgap:run user\n");
    second.say(&report_json());
    second.exit(0);
    let result = run(&host, &options()).await;
    assert!(
        matches!(result, HostResult::Audited { partial: true, .. }),
        "{result:?}"
    );
    assert_eq!(host.commands().len(), 2);
}

/// The shell that ran the probe reports a signal as status 128+N.
#[tokio::test(start_paused = true)]
async fn a_probe_killed_under_the_script_says_which_signal() {
    let host = FakeHost::default();
    let mut remote = host.push_channel(1 << 23);
    remote.say("patchgap:have x86_64\npatchgap:run privileged\n");
    remote.exit(137);
    let result = run(&host, &options()).await;
    assert_eq!(
        failure(&result),
        (
            Failure::ProbeFailed,
            "the probe was killed by signal KILL (exit status 137)"
        )
    );
}

/// A connection that drops (host down, keepalives unanswered) is named as such, whether
/// the probe was being deployed or running.
#[tokio::test(start_paused = true)]
async fn a_lost_connection_is_unreachable() {
    for said in [
        "patchgap:need x86_64\n",
        "patchgap:have x86_64\npatchgap:run privileged\n",
    ] {
        let host = FakeHost::default();
        let mut remote = host.push_channel(64 * 1024);
        remote.say(said);
        host.lost.store(true, std::sync::atomic::Ordering::SeqCst);
        remote.hang_up();
        let result = run(&host, &options()).await;
        let (kind, message) = failure(&result);
        assert_eq!(kind, Failure::Unreachable, "{said}");
        assert!(
            message.contains("connection to the host was lost"),
            "{message}"
        );
    }
}
