//! Faults on real hosts in the middle of an audit: a host killed during the probe upload,
//! sshd restarted during the upload, a host frozen while the probe runs, and the probe
//! killed by a signal. Each victim ends in its named state, long before `--host-timeout`,
//! while a healthy host of the same run is audited.
//!
//! No timing luck: each fault is applied at a hold point the victim announces.
//! - Upload: a `head` wrapper in `/usr/local/bin` (ahead of `/usr/bin` in root's PATH over
//!   SSH; checked) that, asked for more than 1 MB (the deploy script's `head -c SIZE` of
//!   the probe), touches a marker and waits for a release file before running
//!   `/usr/bin/head`. The controller is then mid-upload, with input the host has not taken.
//! - Probe: `/run/reboot-required.pkgs` made a FIFO, which the probe reads (reboot
//!   collector) at the end of its run. A holder on the host opens the writing end, which
//!   blocks until the probe opens it for reading, then touches a marker and keeps it open
//!   without writing: the probe is alive, blocked in that read, until the test ends it.
//!
//! Markers are watched through the host's overlay from this machine. One fleet serves the
//! whole binary: h01 is the healthy host of every run, and each scenario has its victim.

#[path = "support/fleet.rs"]
mod fleet;

use std::path::PathBuf;

use fleet::{Fleet, host_result};
use serde_json::Value;

/// Where the hold points put their markers and look for their release (on the overlay).
const FAULT_DIR: &str = "/var/lib/pg-fault";

/// Far above anything a scenario needs: ending as `timeout` with this limit in the message
/// would mean the fault was not noticed on its own.
const HOST_TIMEOUT: &str = "300";

const HEALTHY: &str = "h01";

/// `head` that holds the probe upload (a count above 1 MB) until released.
const HEAD_WRAPPER: &str = r#"#!/bin/sh
# patchgap fault test: hold the probe upload until the test releases it.
if [ "$1" = -c ] && [ "$2" -gt 1000000 ] 2>/dev/null; then
  touch /var/lib/pg-fault/upload-held
  until [ -e /var/lib/pg-fault/release ]; do sleep 0.1; done
fi
exec /usr/bin/head "$@"
"#;

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("faults", 5)
}

/// The marker or release file `name` of the hold points, as this machine sees it.
fn fault_file(fleet: &Fleet, host: &str, name: &str) -> PathBuf {
    fleet
        .root_of(host)
        .join(FAULT_DIR.trim_start_matches('/'))
        .join(name)
}

fn release(fleet: &Fleet, host: &str) {
    std::fs::write(fault_file(fleet, host, "release"), b"").expect("write the release file");
}

/// Install the upload hold point on `host` and check that root's PATH over SSH finds it.
fn hold_the_upload(fleet: &Fleet, host: &str) {
    fleet.ssh_ok(host, &format!("mkdir -p {FAULT_DIR}"));
    let out = fleet.ssh_with_input(
        host,
        "cat > /usr/local/bin/head && chmod 755 /usr/local/bin/head",
        HEAD_WRAPPER.as_bytes(),
    );
    assert!(out.status.success(), "install the head wrapper: {out:?}");
    assert_eq!(
        fleet.ssh_ok(host, "command -v head").trim(),
        "/usr/local/bin/head",
        "root's PATH over SSH must find the wrapper before /usr/bin/head"
    );
}

/// Install the probe hold point on `host`: the FIFO and its holder (a transient unit).
fn hold_the_probe(fleet: &Fleet, host: &str) {
    fleet.ssh_ok(
        host,
        &format!(
            "mkdir -p {FAULT_DIR} && rm -f /run/reboot-required.pkgs \
             && mkfifo -m 0644 /run/reboot-required.pkgs \
             && systemd-run --quiet --unit=pg-fault-hold sh -c \
             'exec 3>/run/reboot-required.pkgs && touch {FAULT_DIR}/probe-held \
             && until [ -e {FAULT_DIR}/release ]; do sleep 0.1; done'"
        ),
    );
}

/// Audit the healthy host and `victim` in one run; `fault` is applied once `marker`
/// appears on the victim. Returns the run's exit code and the two hosts' results.
fn audit_with_fault(
    fleet: &Fleet,
    victim: &str,
    marker: &str,
    fault: impl FnOnce(),
) -> (Option<i32>, Value, Value) {
    let inventory = fleet.write_inventory(
        &format!("inventory-{victim}.yml"),
        &[(HEALTHY, &[]), (victim, &[])],
    );
    let mut audit = fleet.start_audit(&inventory, &["--host-timeout", HOST_TIMEOUT]);
    let held = audit.wait_for(&fault_file(fleet, victim, marker));
    if !held {
        let (status, report) = audit.finish();
        panic!("the audit ended ({status}) before {victim} reached its hold point: {report}");
    }
    fault();
    let (status, report) = audit.finish();
    (
        status.code(),
        host_result(&report, HEALTHY),
        host_result(&report, victim),
    )
}

fn assert_failed(result: &Value, failure: &str, says: &str) {
    assert_eq!(
        (result["state"].as_str(), result["failure"].as_str()),
        (Some("failed"), Some(failure)),
        "{result}"
    );
    let message = result["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "expected {says:?} in: {result}");
    assert!(
        !message.contains("--host-timeout"),
        "ended by the whole-host limit, not by noticing the fault: {result}"
    );
}

#[test]
fn host_killed_during_the_upload_is_unreachable() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let victim = "h02";
    hold_the_upload(fleet, victim);
    let (code, healthy, killed) =
        audit_with_fault(fleet, victim, "upload-held", || fleet.kill(victim));
    assert_failed(
        &killed,
        "unreachable",
        "the connection to the host was lost while the probe was being deployed",
    );
    assert_eq!(healthy["state"], "audited", "{healthy}");
    assert_eq!(code, Some(4), "a host failed: exit 4");
}

#[test]
fn sshd_restarted_during_the_upload_leaves_the_audit_whole() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let victim = "h03";
    hold_the_upload(fleet, victim);
    let mut pids = String::new();
    let (code, healthy, restarted) = audit_with_fault(fleet, victim, "upload-held", || {
        // One round trip: the hold must not reach the controller's stall limit (30 s).
        pids = fleet.ssh_ok(
            victim,
            &format!(
                "before=$(systemctl show -p MainPID --value ssh) && systemctl restart ssh \
                 && after=$(systemctl show -p MainPID --value ssh) \
                 && touch {FAULT_DIR}/release && echo $before $after"
            ),
        );
    });
    let pids: Vec<&str> = pids.split_whitespace().collect();
    assert!(
        pids.len() == 2 && pids[0] != pids[1] && !pids.contains(&"0"),
        "sshd was not restarted (MainPID before, after: {pids:?})"
    );
    assert_eq!(restarted["state"], "audited", "{restarted}");
    assert_eq!(restarted["partial"], false, "{restarted}");
    assert_eq!(healthy["state"], "audited", "{healthy}");
    assert!(
        matches!(code, Some(0 | 1)),
        "every host audited: exit 0 or 1 (findings), got {code:?}"
    );
}

#[test]
fn host_frozen_while_the_probe_runs_ends_by_keepalive() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let victim = "h04";
    hold_the_probe(fleet, victim);
    let (code, healthy, frozen) =
        audit_with_fault(fleet, victim, "probe-held", || fleet.freeze(victim));
    fleet.thaw(victim);
    release(fleet, victim);
    assert_failed(
        &frozen,
        "unreachable",
        "the connection to the host was lost while the probe ran",
    );
    assert_eq!(healthy["state"], "audited", "{healthy}");
    assert_eq!(code, Some(4), "a host failed: exit 4");
}

#[test]
fn probe_killed_by_a_signal_is_probe_failed() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let victim = "h05";
    let sha = patchgap::deploy::embedded_probe_sha256(std::env::consts::ARCH)
        .expect("a probe for this machine's architecture");
    // The kernel keeps 15 bytes of a process name: `probe-` and 9 of the hash.
    let comm = format!("probe-{}", &sha[..9]);
    hold_the_probe(fleet, victim);
    let (code, healthy, killed) = audit_with_fault(fleet, victim, "probe-held", || {
        fleet.ssh_ok(
            victim,
            &format!(
                "pids=$(pgrep -x {comm}); [ \"$(echo $pids | wc -w)\" = 1 ] \
                 || {{ echo \"expected one probe, found: $pids\" >&2; exit 1; }}; \
                 kill -KILL $pids"
            ),
        );
    });
    release(fleet, victim);
    assert_failed(
        &killed,
        "probe_failed",
        "the probe was killed by signal KILL (exit status 137)",
    );
    assert_eq!(healthy["state"], "audited", "{healthy}");
    assert_eq!(code, Some(4), "a host failed: exit 4");
}
