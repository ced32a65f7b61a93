//! Checksum baselines on a real host (debsums -g parity): `patchgap audit --integrity
//! --baseline-write FILE` over SSH records the SHA-256 of `pgtest-nosums` (a package without
//! md5sums); a file of it changed afterwards is a `changed_since_baseline` finding with
//! `--baseline FILE` (exit 1); upgrading the package is not tampering (an outdated-baseline
//! note); a host the baseline lacks gets a warning naming it.

#[path = "support/fleet.rs"]
mod fleet;

use std::path::Path;

use fleet::Fleet;
use serde_json::Value;

const DATA: &str = "/usr/share/pgtest-nosums/data";

/// `patchgap audit --integrity` of the inventory's hosts with `extra`; exit code and report.
fn audit(fleet: &Fleet, inventory: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["--integrity", "--integrity-packages", "pgtest-*"];
    args.extend_from_slice(extra);
    let (status, report) = fleet.start_audit(inventory, &args).finish();
    (status.code(), report)
}

fn kinds(findings: &Value) -> Vec<(String, String)> {
    findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["problem"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Installs pgtest-nosums at `version` on h01 and removes the md5sums dpkg generated for
/// it at unpack time (dpkg >= 1.16.2 does for packages that ship none), as on a host where
/// it was installed by an older dpkg or the file was lost.
fn install_without_md5sums(fleet: &Fleet, version: &str) {
    fleet.install("h01", &[&format!("pgtest-nosums={version}")]);
    fleet.ssh_ok("h01", "rm -f /var/lib/dpkg/info/pgtest-nosums.md5sums");
}

#[test]
fn baseline_finds_a_changed_file_of_a_package_without_md5sums_but_not_its_upgrade() {
    let Some(fleet) = Fleet::up("baseline", 1) else {
        return;
    };
    install_without_md5sums(&fleet, "1.0-1");
    let inventory = fleet.write_inventory("inventory-h01.yml", &[("h01", &[])]);
    let file = fleet.dir().join("baseline.json");
    let file_arg = file.to_str().expect("UTF-8 path");

    let (code, report) = audit(&fleet, &inventory, &["--baseline-write", file_arg]);
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}: {report}");
    let baseline: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("baseline written")).expect("JSON");
    assert_eq!(baseline["format"], "patchgap-baseline");
    assert_eq!(baseline["scope"], "without_md5sums");
    let packages = &baseline["hosts"]["h01"]["packages"];
    assert_eq!(packages[0]["package"], "pgtest-nosums", "{baseline}");
    assert_eq!(packages[0]["version"], "1.0-1");
    let paths: Vec<&str> = packages[0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(paths.contains(&DATA), "{paths:?}");

    // Untouched: nothing against the baseline.
    let (_, report) = audit(&fleet, &inventory, &["--baseline", file_arg]);
    let h01 = &report["baseline"]["hosts"]["h01"];
    assert_eq!(h01["findings"], Value::Array(vec![]), "{report}");
    assert!(h01["files_compared"].as_u64() >= Some(2), "{h01}");

    // Tampered at the same version: a finding, and the exit status says so.
    fleet.tamper("h01", DATA);
    let (code, report) = audit(&fleet, &inventory, &["--baseline", file_arg]);
    assert_eq!(code, Some(1), "integrity finding pending: {report}");
    assert_eq!(
        kinds(&report["baseline"]["hosts"]["h01"]["findings"]),
        [(DATA.to_string(), "changed_since_baseline".to_string())]
    );
    // The probe's own report stays as printed: it has no sums for this package.
    assert_eq!(
        kinds(&fleet::host_result(&report, "h01")["report"]["integrity"]["findings"]),
        []
    );

    // Upgraded: new content at a new version is no tampering.
    install_without_md5sums(&fleet, "1.0-2");
    let (_, report) = audit(&fleet, &inventory, &["--baseline", file_arg]);
    let h01 = &report["baseline"]["hosts"]["h01"];
    assert_eq!(h01["findings"], Value::Array(vec![]), "{report}");
    assert_eq!(h01["outdated"][0]["package"], "pgtest-nosums", "{h01}");
    assert_eq!(h01["outdated"][0]["baseline_version"], "1.0-1");
    assert_eq!(h01["outdated"][0]["version"], "1.0-2");

    // The same host under a name the baseline does not know.
    let renamed = fleet.dir().join("inventory-renamed.yml");
    std::fs::write(
        &renamed,
        format!(
            "all:\n  hosts:\n    web-new:\n      ansible_host: 127.0.0.1\n      \
             ansible_port: {}\n      ansible_user: root\n",
            fleet.host("h01").port
        ),
    )
    .expect("inventory");
    let (_, report) = audit(&fleet, &renamed, &["--baseline", file_arg]);
    let warning = report["baseline"]["warnings"]["web-new"]
        .as_str()
        .unwrap_or_else(|| panic!("a warning for web-new: {report}"));
    assert!(
        warning.contains("web-new") && warning.contains("--baseline-write"),
        "{warning}"
    );
}
