//! `patchgap diff` and `--policy` through the binary: two saved reports of this machine
//! (a real local audit, then the same report with a stale service added or removed),
//! compared as local reports and as a fleet document; exit statuses as README documents.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use patchgap::report::{ControllerInfo, FleetReport};
use patchgap_probe::Report;
use patchgap_probe::report::{
    Finding, FindingKind, NowAtPath, Owner, ServiceAction, Severity, StaleProcess,
};

fn patchgap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(args)
        .output()
        .expect("run patchgap")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// This machine's real report, with its findings cleared so the test does not depend on
/// what runs here.
fn clean_report(dir: &Path) -> Report {
    let file = dir.join("audit.json");
    let out = patchgap(&["audit", "--format", "json", "-o", path(&file)]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let mut report: Report =
        serde_json::from_slice(&std::fs::read(&file).expect("saved report")).expect("a report");
    report.processes.clear();
    report.packages.clear();
    report.actions = Default::default();
    report.reboot.needed = false;
    report.reboot.reasons.clear();
    report.integrity = None;
    report
}

/// `clean` with nginx running an old libssl, under another PID each time.
fn with_stale_nginx(clean: &Report, pid: u32) -> Report {
    let mut report = clean.clone();
    report.processes.push(StaleProcess {
        pid,
        ppid: 1,
        uid: 0,
        comm: "nginx".into(),
        exe: Some("/usr/sbin/nginx".into()),
        started_at: None,
        owner: Owner::Service {
            unit: "nginx.service".into(),
        },
        stale_since: None,
        findings: vec![Finding {
            kind: FindingKind::MapDeleted,
            path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
            package: Some("libssl3:amd64".into()),
            now_at_path: NowAtPath::AnotherFile,
            severity: Severity::Normal,
        }],
    });
    report.actions.services.push(ServiceAction {
        unit: "nginx.service".into(),
        pids: vec![pid],
        packages: vec!["libssl3:amd64".into()],
        restart_refused: false,
    });
    report
}

fn save(dir: &Path, name: &str, value: &impl serde::Serialize) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_vec(value).expect("json")).expect("write");
    file
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn diff_exits_1_when_something_is_new_and_0_when_only_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = clean_report(dir.path());
    let before = save(dir.path(), "before.json", &clean);
    let after = save(dir.path(), "after.json", &with_stale_nginx(&clean, 100));

    let new = patchgap(&["diff", path(&before), path(&after)]);
    assert_eq!(new.status.code(), Some(1), "{}", stderr(&new));
    let table = stdout(&new);
    assert!(table.contains("1 with something new"), "{table}");
    assert!(table.contains("service nginx.service"), "{table}");

    let fixed = patchgap(&["diff", path(&after), path(&before), "--format", "json"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", stderr(&fixed));
    let json: serde_json::Value = serde_json::from_slice(&fixed.stdout).expect("diff JSON");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["hosts"][0]["services"]["fixed"][0], "nginx.service");
    assert_eq!(
        json["hosts"][0]["services"]["new"].as_array().map(Vec::len),
        Some(0)
    );

    // Restarted onto the old library again: another PID, still pending, nothing new.
    let restarted = save(dir.path(), "restarted.json", &with_stale_nginx(&clean, 200));
    let pending = patchgap(&["diff", path(&after), path(&restarted), "--format", "json"]);
    assert_eq!(pending.status.code(), Some(0), "{}", stderr(&pending));
    let json: serde_json::Value = serde_json::from_slice(&pending.stdout).expect("diff JSON");
    assert_eq!(json["hosts"][0]["services"]["pending"][0], "nginx.service");
}

#[test]
fn diff_compares_a_fleet_document_with_a_local_report_of_the_same_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = clean_report(dir.path());
    let stale = with_stale_nginx(&clean, 100);
    let fleet = FleetReport::single_host(stale, ControllerInfo::new(1, 2)).expect("fleet");
    let old = save(dir.path(), "fleet.json", &fleet);
    let new = save(dir.path(), "local.json", &clean);
    let out = patchgap(&["diff", path(&old), path(&new), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("diff JSON");
    assert_eq!(
        json["hosts"].as_array().map(Vec::len),
        Some(1),
        "matched by name"
    );
    assert_eq!(json["hosts"][0]["services"]["fixed"][0], "nginx.service");

    let mut other = clean.clone();
    other.host.hostname = "another-machine".into();
    let other = save(dir.path(), "other.json", &other);
    let out = patchgap(&["diff", path(&old), path(&other)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("host `another-machine`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn diff_input_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "not json").expect("write");
    let missing = dir.path().join("missing.json");
    let out = patchgap(&["diff", path(&junk), path(&missing)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("junk.json is not JSON"),
        "{}",
        stderr(&out)
    );
    let out = patchgap(&["diff", path(&missing), path(&junk)]);
    assert!(
        stderr(&out).contains(&format!("cannot read {}", missing.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_policy_decides_the_exit_status_of_diff_audit_and_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = clean_report(dir.path());
    let stale = save(dir.path(), "stale.json", &with_stale_nginx(&clean, 100));
    let policy = |level: &str| {
        save(
            dir.path(),
            &format!("{level}.yaml"),
            &serde_json::json!({"version": 1, "rules": [{"kind": "stale_services", "level": level}]}),
        )
    };
    let (warn, fail) = (policy("warn"), policy("fail"));
    // Nothing new between the same reports: the policy's verdict on the later one decides.
    let out = patchgap(&["diff", path(&stale), path(&stale), "--policy", path(&fail)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("Policy"), "{}", stdout(&out));
    let out = patchgap(&["diff", path(&stale), path(&stale), "--policy", path(&warn)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A local audit: a policy of warnings only exits 0 whatever this machine runs, and
    // its JSON is the fleet document of one host with the verdict.
    let out = patchgap(&["audit", "--format", "json", "--policy", path(&warn)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("fleet JSON");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["hosts"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["policy"]["rules"][0]["id"], "stale_services#1");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nrules:\n  - kind: stale_services\n    level: fial\n",
    )
    .expect("write");
    // A saved report rendered later is judged the same way, in every format.
    let out = patchgap(&[
        "report",
        path(&stale),
        "--policy",
        path(&fail),
        "-o",
        "junit:-",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stale_services#1"),
        "{}",
        stdout(&out)
    );
    let out = patchgap(&[
        "report",
        path(&stale),
        "--policy",
        path(&warn),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("fleet JSON");
    assert_eq!(json["policy"]["level"], "warn");

    for command in [
        vec!["audit"],
        vec!["diff", path(&stale), path(&stale)],
        vec!["report", path(&stale)],
    ] {
        let mut args = command.clone();
        args.extend(["--policy", path(&bad)]);
        let out = patchgap(&args);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("bad.yaml: line 4, column 12"), "{err}");
    }
}
