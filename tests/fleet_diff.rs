//! `patchgap diff` and `--policy` on a real host: a daemon left on a replaced library is
//! caught by the policy, restarted through the harness, audited again; the diff of the two
//! saved fleet reports shows it fixed (exit 0), and the reverse diff shows it new (exit 1).

#[path = "support/fleet.rs"]
mod fleet;

use std::path::Path;
use std::process::{Command, Output};

use fleet::Fleet;
use serde_json::Value;

fn diff(old: &Path, new: &Path) -> (Option<i32>, Value) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .arg("diff")
        .args([old, new])
        .args(["--format", "json"])
        .output()
        .expect("run patchgap diff");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("diff JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

/// The strings of a JSON array of strings.
fn list(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The subjects of the violations of the policy's first rule.
fn violations(report: &Value) -> Vec<&str> {
    report["policy"]["rules"][0]["violations"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["subject"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn a_restarted_service_is_fixed_in_the_diff_and_passes_the_policy() {
    let Some(fleet) = Fleet::up("diff", 1) else {
        return;
    };
    let host = fleet.hosts()[0].name.clone();
    fleet.install(&host, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(&host, "systemctl start pgtestd.service");
    fleet.install(&host, &["libpgtest1=1.0-2"]);
    let policy = fleet.dir().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\nrules:\n  - {kind: stale_services, name: no-stale, level: fail}\n",
    )
    .expect("policy");
    let policy = policy.to_str().expect("utf-8 path");

    let before_inventory = fleet.write_inventory("before.yml", &[(&host, &[])]);
    let (status, before) = fleet
        .start_audit(&before_inventory, &["--policy", policy])
        .finish();
    assert!(
        violations(&before).contains(&"pgtestd.service"),
        "{}",
        before["policy"]
    );
    assert_eq!(status.code(), Some(1), "the policy fails: exit 1");

    fleet.ssh_ok(&host, "systemctl restart pgtestd.service");
    let after_inventory = fleet.write_inventory("after.yml", &[(&host, &[])]);
    let (status, after) = fleet
        .start_audit(&after_inventory, &["--policy", policy])
        .finish();
    let left = violations(&after);
    assert!(!left.contains(&"pgtestd.service"), "{}", after["policy"]);
    assert_eq!(
        status.code(),
        Some(if left.is_empty() { 0 } else { 1 }),
        "the policy decides: {}",
        after["policy"]
    );

    let before_file = before_inventory.with_extension("report.json");
    let after_file = after_inventory.with_extension("report.json");
    let (code, fixed) = diff(&before_file, &after_file);
    let services = &fixed["hosts"][0]["services"];
    assert!(
        list(&services["fixed"]).contains(&"pgtestd.service"),
        "{fixed}"
    );
    assert!(list(&services["new"]).is_empty(), "{fixed}");
    assert_eq!(code, Some(0), "only fixed: exit 0");

    let (code, new) = diff(&after_file, &before_file);
    assert!(
        list(&new["hosts"][0]["services"]["new"]).contains(&"pgtestd.service"),
        "{new}"
    );
    assert_eq!(code, Some(1), "something new: exit 1");
}
