//! Checksum baselines on a fixture host (a fake dpkg root in a tempdir) through the same
//! path as `patchgap audit --integrity --baseline-write/--baseline` on this machine: the
//! probe library's report as a fleet of one, then the controller's baseline run. And the
//! command line's own checks of a baseline file.

use std::fs;
use std::path::Path;
use std::process::Command;

use patchgap::baseline::{BaselineMode, Run};
use patchgap::outcome::HostResult;
use patchgap::report::{ControllerInfo, FleetReport, verdict};
use patchgap_probe::integrity::IntegrityOptions;
use patchgap_probe::report::{IntegrityReport, Problem};
use patchgap_probe::roots::under;
use patchgap_probe::{IgnoreRules, Options, Roots};

fn write(root: &Path, abs: &str, content: &str) {
    let p = under(root, Path::new(abs));
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, content).expect("write");
}

/// A host with one package that ships no md5sums, at `version`, its tool holding `tool`.
fn host(root: &Path, version: &str, tool: &str) {
    write(
        root,
        "/var/lib/dpkg/status",
        &format!(
            "Package: pgtest-nosums\nStatus: install ok installed\nArchitecture: all\n\
             Version: {version}\n"
        ),
    );
    write(
        root,
        "/var/lib/dpkg/info/pgtest-nosums.list",
        "/.\n/usr\n/usr/bin\n/usr/bin/pgtest-nosums\n/usr/share/pgtest/data\n",
    );
    write(root, "/usr/bin/pgtest-nosums", tool);
    write(root, "/usr/share/pgtest/data", "data");
}

/// One audit of the fixture host with `run`, as `audit_local` does it.
fn audit(root: &Path, run: &Run) -> FleetReport {
    let options = Options {
        roots: Roots::fixture(root),
        ignore: IgnoreRules::new(true, &[]).expect("rules"),
        integrity: Some(IntegrityOptions {
            threads: Some(1),
            baseline_hashes: Some(run.scope()),
            ..IntegrityOptions::default()
        }),
        skip_interpreters: true,
    };
    let report = patchgap_probe::collect(&options);
    let mut fleet =
        FleetReport::single_host(report, ControllerInfo::new(0, 0)).expect("fleet of one");
    run.finish(&mut fleet, 0).expect("baseline run");
    fleet
}

fn integrity(fleet: &FleetReport) -> &IntegrityReport {
    let HostResult::Audited { report, .. } = &fleet.hosts[0].result else {
        panic!("audited: {:?}", fleet.hosts[0].result);
    };
    report.report().integrity.as_ref().expect("integrity ran")
}

fn verify_run(file: &Path) -> Run {
    Run::from_args(None, false, Some(file))
        .expect("baseline reads")
        .expect("a run")
}

#[test]
fn fixture_host_change_after_baseline_is_found_and_an_upgrade_is_not_tampering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("host");
    let file = dir.path().join("baseline.json");
    host(&root, "1.0", "original tool");

    let write_run = Run::from_args(Some(&file), false, None)
        .expect("args")
        .expect("a run");
    let written = audit(&root, &write_run);
    let outcome = written.baseline.as_ref().expect("baseline outcome");
    assert_eq!(outcome.mode, BaselineMode::Write);
    let host_name = written.hosts[0].host.clone();
    assert_eq!(outcome.hosts[&host_name].files_compared, 2);
    assert!(integrity(&written).findings.is_empty());

    // Unchanged: nothing.
    let same = audit(&root, &verify_run(&file));
    assert!(
        integrity(&same).findings.is_empty(),
        "{:?}",
        integrity(&same)
    );
    assert_eq!(verdict(&same.hosts).hosts_with_findings, 0);

    // Tampered at the same version: found, and the verdict says so.
    write(&root, "/usr/bin/pgtest-nosums", "trojaned tool");
    let tampered = audit(&root, &verify_run(&file));
    let findings = &integrity(&tampered).findings;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].path, "/usr/bin/pgtest-nosums");
    assert_eq!(findings[0].package, "pgtest-nosums");
    assert!(
        matches!(findings[0].problem, Problem::ChangedSinceBaseline { .. }),
        "{findings:?}"
    );
    assert_eq!(verdict(&tampered.hosts).hosts_with_findings, 1);

    // Upgraded: new content at a new version is not tampering.
    host(&root, "1.1", "new upstream tool");
    let upgraded = audit(&root, &verify_run(&file));
    let i = integrity(&upgraded);
    assert!(i.findings.is_empty(), "{:?}", i.findings);
    assert_eq!(
        i.warnings,
        [
            "baseline outdated for pgtest-nosums (1.0 → 1.1): its files were not compared; \
          write the baseline again with --baseline-write"
        ]
    );
    let check = &upgraded.baseline.as_ref().expect("outcome").hosts[&host_name];
    assert_eq!(check.outdated.len(), 1);
    assert_eq!(verdict(&upgraded.hosts).hosts_with_findings, 0);
}

#[test]
fn command_line_refuses_a_bad_baseline_before_auditing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cut.json");
    fs::write(
        &file,
        r#"{"format":"patchgap-baseline","version":1,"hosts":{"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(["audit", "--integrity", "--baseline"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad baseline is a usage error"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cut.json") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("--baseline-write"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(["audit", "--baseline"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "--baseline needs --integrity");
}
