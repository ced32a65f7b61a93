//! `patchgap audit -i` end to end, as a user runs it, on real hosts with staged scenarios:
//! a clean host, libssl3 reinstalled under every daemon, a library upgraded under its
//! daemon, a library modified in place under its daemon (integrity), and a login user
//! without sudo (partial audit). Asserts each host's findings in the JSON fleet report and
//! the exit status.
//!
//! One fleet serves every scenario of this binary, each a `#[test]` with a host of its own
//! (h01..h05, in the order above) and an audit run of its own.

#[path = "support/fleet.rs"]
mod fleet;

use std::process::Command;

use fleet::Fleet;
use serde_json::Value;

/// The hosts' findings, by name, from the fleet report.
fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == name))
        .unwrap_or_else(|| panic!("{name} missing from the fleet report"))
}

fn units(host: &Value) -> Vec<String> {
    host["result"]["report"]["actions"]["services"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|u| u["unit"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn packages(host: &Value) -> Vec<String> {
    host["result"]["report"]["packages"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|u| u["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("audit", 5)
}

/// `patchgap audit -i` of `name` alone, logged in as `user`, through the user's own kind of
/// inventory (a group under `children`); its exit code and the host's entry in the report.
fn audit(fleet: &Fleet, name: &str, user: &str) -> (Option<i32>, Value) {
    let inventory = format!(
        "all:\n  children:\n    web:\n      hosts:\n        {name}:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n          ansible_user: {user}\n",
        fleet.host(name).port
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inventory.yaml");
    std::fs::write(&inv, inventory).expect("inventory");
    let out_file = dir.path().join("fleet.json");

    let out = Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(["audit", "--quiet", "--format", "json", "-i"])
        .arg(&inv)
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg("--private-key")
        .arg(fleet.key())
        .args([
            "--ssh-config",
            "none",
            "--integrity",
            "--integrity-packages",
            "libpgtest*",
        ])
        .arg("-o")
        .arg(&out_file)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run patchgap");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(
        &std::fs::read(&out_file).unwrap_or_else(|e| panic!("no fleet report ({e}): {stderr}")),
    )
    .expect("JSON");
    let h = host(&report, name).clone();
    assert_eq!(
        h["result"]["state"], "audited",
        "{name}: {}; stderr: {stderr}",
        h["result"]
    );
    (out.status.code(), h)
}

/// An audited host exits 0 or 1 (findings), never 3 or 4.
fn assert_audited_exit(code: Option<i32>) {
    assert!(
        matches!(code, Some(0 | 1)),
        "host audited: exit 0 or 1, got {code:?}"
    );
}

/// `pgtestd` (linked to libpgtest1 1.0-1) installed and running on `host`, once.
fn pgtestd_running(fleet: &Fleet, host: &str) {
    fleet.install(host, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(host, "systemctl start pgtestd.service");
}

#[test]
fn clean_host_has_no_restart_pending() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let (code, c) = audit(fleet, "h01", "root");
    assert_audited_exit(code);
    assert!(units(&c).is_empty(), "clean host: {:?}", units(&c));
    assert_eq!(c["result"]["partial"], false);
}

#[test]
fn libssl3_reinstalled_under_every_daemon() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let ssl = "h02";
    fleet.reinstall(ssl, "libssl3");
    let (code, s) = audit(fleet, ssl, "root");
    assert_eq!(code, Some(1), "findings pending: exit 1");
    for unit in ["nginx.service", "ssh.service", "systemd-journald.service"] {
        assert!(
            units(&s).iter().any(|u| u == unit),
            "{unit} on {ssl}: {:?}",
            units(&s)
        );
    }
    assert!(
        packages(&s).iter().any(|p| p.starts_with("libssl3")),
        "{:?}",
        packages(&s)
    );
    assert!(
        !s["result"]["report"]["actions"]["system_manager"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "PID 1 maps the old libssl3 too"
    );
}

#[test]
fn library_upgraded_under_its_daemon() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let upgraded = "h03";
    pgtestd_running(fleet, upgraded);
    fleet.install(upgraded, &["libpgtest1=1.0-2"]);
    let (code, u) = audit(fleet, upgraded, "root");
    assert_eq!(code, Some(1), "findings pending: exit 1");
    assert_eq!(units(&u), ["pgtestd.service"]);
    let pkg = &u["result"]["report"]["packages"][0];
    assert_eq!(
        (pkg["version"].as_str(), pkg["previous_version"].as_str()),
        (Some("1.0-2"), Some("1.0-1"))
    );
}

#[test]
fn library_modified_in_place_under_its_daemon() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let tampered = "h04";
    pgtestd_running(fleet, tampered);
    fleet.tamper(tampered, "/usr/lib/x86_64-linux-gnu/libpgtest.so.1");
    let (code, t) = audit(fleet, tampered, "root");
    assert_eq!(code, Some(1), "integrity findings pending: exit 1");
    assert!(
        units(&t).is_empty(),
        "an in-place change is not stale: {:?}",
        units(&t)
    );
    let findings = &t["result"]["report"]["integrity"]["findings"];
    assert!(
        findings
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["problem"]["kind"] == "modified_in_use")),
        "tampered library in use: {findings}"
    );
}

#[test]
fn login_user_without_sudo_gets_a_partial_audit() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let (code, g) = audit(fleet, "h05", "guest");
    assert_audited_exit(code);
    assert_eq!(g["result"]["partial"], true, "no sudo: partial audit");
    assert_eq!(g["user"], "guest");
}
