//! `patchgap audit -i` end to end, as a user runs it, on five real hosts with staged
//! scenarios: a clean host, libssl3 reinstalled under every daemon, a library upgraded under
//! its daemon, a library modified in place under its daemon (integrity), and a login user
//! without sudo (partial audit). Asserts each host's findings in the JSON fleet report and
//! the exit status.

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

#[test]
fn audit_five_staged_hosts() {
    let Some(fleet) = Fleet::up("audit", 5) else {
        return;
    };
    let names: Vec<String> = fleet.hosts().iter().map(|h| h.name.clone()).collect();
    let [clean, ssl, upgraded, tampered, guest] = names.as_slice() else {
        panic!("expected 5 hosts, got {names:?}");
    };

    fleet.reinstall(ssl, "libssl3");
    fleet.install(upgraded, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(upgraded, "systemctl start pgtestd.service");
    fleet.install(upgraded, &["libpgtest1=1.0-2"]);
    fleet.install(tampered, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(tampered, "systemctl start pgtestd.service");
    fleet.tamper(tampered, "/usr/lib/x86_64-linux-gnu/libpgtest.so.1");

    // The user's own inventory: every host as root except one that logs in as `guest`,
    // who has no sudo.
    let mut inventory = String::from("all:\n  children:\n    web:\n      hosts:\n");
    for h in fleet.hosts() {
        let user = if &h.name == guest { "guest" } else { "root" };
        inventory.push_str(&format!(
            "        {}:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n          ansible_user: {user}\n",
            h.name, h.port
        ));
    }
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
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings pending: exit 1; stderr: {stderr}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&out_file).expect("fleet report")).expect("JSON");

    for name in &names {
        let h = host(&report, name);
        assert_eq!(h["result"]["state"], "audited", "{name}: {}", h["result"]);
    }

    let c = host(&report, clean);
    assert!(units(c).is_empty(), "clean host: {:?}", units(c));
    assert_eq!(c["result"]["partial"], false);

    let s = host(&report, ssl);
    for unit in ["nginx.service", "ssh.service", "systemd-journald.service"] {
        assert!(
            units(s).iter().any(|u| u == unit),
            "{unit} on {ssl}: {:?}",
            units(s)
        );
    }
    assert!(
        packages(s).iter().any(|p| p.starts_with("libssl3")),
        "{:?}",
        packages(s)
    );
    assert!(
        !s["result"]["report"]["actions"]["system_manager"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "PID 1 maps the old libssl3 too"
    );

    let u = host(&report, upgraded);
    assert_eq!(units(u), ["pgtestd.service"]);
    let pkg = &u["result"]["report"]["packages"][0];
    assert_eq!(
        (pkg["version"].as_str(), pkg["previous_version"].as_str()),
        (Some("1.0-2"), Some("1.0-1"))
    );

    let t = host(&report, tampered);
    assert!(
        units(t).is_empty(),
        "an in-place change is not stale: {:?}",
        units(t)
    );
    let findings = &t["result"]["report"]["integrity"]["findings"];
    assert!(
        findings
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["problem"]["kind"] == "modified_in_use")),
        "tampered library in use: {findings}"
    );

    let g = host(&report, guest);
    assert_eq!(g["result"]["partial"], true, "no sudo: partial audit");
    assert_eq!(g["user"], "guest");
}
