//! Probe deployment failures on real hosts: a cache directory mounted noexec and one with
//! no space left each end as a named per-host failure that says what to fix, while the
//! other hosts are audited.

#[path = "support/fleet.rs"]
mod fleet;

use std::process::Command;

use fleet::Fleet;
use serde_json::Value;

#[test]
fn unusable_cache_directories_fail_only_their_host() {
    let Some(fleet) = Fleet::up("deploy", 3) else {
        return;
    };
    let names: Vec<String> = fleet.hosts().iter().map(|h| h.name.clone()).collect();
    let [noexec, full, fine] = names.as_slice() else {
        panic!("expected 3 hosts, got {names:?}");
    };
    fleet.ssh_ok(
        noexec,
        "mkdir -p /var/cache/patchgap && mount -t tmpfs -o noexec,mode=0700 tmpfs /var/cache/patchgap",
    );
    fleet.ssh_ok(
        full,
        "mkdir -p /var/cache/patchgap && mount -t tmpfs -o size=512k,mode=0700 tmpfs /var/cache/patchgap",
    );

    let out = Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args([
            "audit",
            "--quiet",
            "--format",
            "json",
            "--ssh-config",
            "none",
            "-i",
        ])
        .arg(fleet.inventory())
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg("--private-key")
        .arg(fleet.key())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run patchgap");
    assert_eq!(out.status.code(), Some(4), "some hosts failed: exit 4");
    let report: Value = serde_json::from_slice(&out.stdout).expect("fleet report JSON");
    let result = |name: &str| {
        report["hosts"]
            .as_array()
            .and_then(|h| h.iter().find(|h| h["host"] == name))
            .map(|h| h["result"].clone())
            .unwrap_or_else(|| panic!("{name} missing from the report"))
    };

    let r = result(noexec);
    assert_eq!(
        (r["state"].as_str(), r["failure"].as_str()),
        (Some("failed"), Some("deploy_failed")),
        "{r}"
    );
    assert!(
        r["message"].as_str().is_some_and(|m| m.contains("noexec")),
        "{r}"
    );

    let r = result(full);
    assert_eq!(
        (r["state"].as_str(), r["failure"].as_str()),
        (Some("failed"), Some("deploy_failed")),
        "{r}"
    );
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("no space")),
        "{r}"
    );

    assert_eq!(result(fine)["state"], "audited");
}
