//! `patchgap audit` on this machine: formats, output file, exit statuses.

use std::process::Command;

use patchgap_probe::Report;

fn patchgap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_patchgap"))
}

#[test]
fn json_report_and_exit_status_agree() {
    let out = patchgap()
        .args(["audit", "--format", "json"])
        .output()
        .expect("run");
    let r: Report = serde_json::from_slice(&out.stdout).expect("report JSON");
    let expected = if r.action_needed() { 1 } else { 0 };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn table_summarises_the_scan() {
    let out = patchgap().arg("audit").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("services to restart"), "{text}");
    assert!(text.contains("scanned "), "{text}");
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("report.json");
    let out = patchgap()
        .args(["audit", "--format", "json", "-o"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(out.stdout.is_empty(), "nothing on stdout with -o");
    let r: Report = serde_json::from_slice(&std::fs::read(&file).expect("file")).expect("report");
    assert!(r.scan.processes_seen > 0);
}

#[test]
fn errors_name_the_problem_and_use_their_own_status() {
    let out = patchgap()
        .args(["audit", "-o", "/nonexistent-dir/report.json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent-dir"), "{err}");
    let out = patchgap()
        .args(["audit", "--ignore", "("])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a bad pattern is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ignore"));
    let out = patchgap()
        .args(["audit", "--format", "xml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
