//! The `patchgap-probe` binary as a user runs it: its JSON on stdout, its arguments, and a
//! run without root that must say it is partial and why.

#![allow(clippy::print_stderr)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use patchgap_probe::{Report, SCHEMA_VERSION};

fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_patchgap-probe"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn prints_a_versioned_report() {
    let out = probe().output().expect("run probe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report = serde_json::from_slice(&out.stdout).expect("valid report JSON");
    assert_eq!(r.schema_version, SCHEMA_VERSION);
    assert!(r.scan.processes_seen > 0);
    assert!(!r.host.hostname.is_empty());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = probe().arg("--frobnicate").output().expect("run probe");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument \"--frobnicate\""));
    let out = probe().args(["--ignore", "("]).output().expect("run probe");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid ignore pattern"));
    let out = probe().arg("--ignore").output().expect("run probe");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn without_root_the_scan_is_partial_and_says_why() {
    if !is_root() {
        eprintln!("SKIP: needs root to drop to an unprivileged user");
        return;
    }
    // The checkout may live where `nobody` cannot enter (under /root, say): run a copy
    // from a directory everyone can read.
    let dir = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .expect("tempdir");
    let probe = dir.path().join("patchgap-probe");
    std::fs::copy(env!("CARGO_BIN_EXE_patchgap-probe"), &probe).expect("copy probe");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // Keep a root-owned process around so there is certainly something unreadable.
    let mut holder = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&probe)
        .output()
        .expect("run setpriv");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report = serde_json::from_slice(&out.stdout).expect("valid report JSON");
    assert_eq!(r.host.euid, 65534);
    assert!(r.scan.partial);
    assert!(r.scan.processes_denied > 0);
    assert!(
        r.scan
            .denied_reasons
            .iter()
            .any(|d| d.contains("run the probe as root")),
        "{:?}",
        r.scan.denied_reasons
    );
}
