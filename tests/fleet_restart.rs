//! `patchgap restart -i` end to end on real hosts, as a user runs it: staged stale daemons,
//! restarted in batches and verified by probing again. Whether a unit was restarted is
//! read from systemd itself: its `InvocationID` changes on every start and on nothing else.
//!
//! One fleet serves the binary; each scenario (a `#[test]`) has hosts of its own:
//! h01-h03 serial one at a time, h04-h05 canary, h06-h08 max-fail, h09-h10 kill and
//! resume, h11 libssl3, h12 `--plan`, h13-h14 a host frozen during its restart.
//!
//! No timing luck: faults (SIGKILL, freeze) are applied once the campaign's own journal
//! says the restart of the victim is under way, and the victim's restart is held by a
//! drop-in `ExecStartPre` that waits a few seconds, so it is still running then.

#[path = "support/fleet.rs"]
mod fleet;

#[path = "support/campaign.rs"]
mod campaign;

use std::process::{Child, Command};
use std::time::Duration;

use campaign::{Files, finish, path, report_host};
use fleet::Fleet;
use serde_json::Value;

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("restart", 14)
}

/// pgtestd running on libpgtest1 1.0-1, then the library upgraded under it.
fn stale_pgtestd(fleet: &Fleet, host: &str) {
    fleet.install(host, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(host, "systemctl start pgtestd");
    fleet.install(host, &["libpgtest1=1.0-2"]);
}

/// pgtest-fragile running on the old library: its next start fails.
fn stale_fragile(fleet: &Fleet, host: &str) {
    fleet.install(host, &["libpgtest1=1.0-1", "pgtest-fragile=1.0-1"]);
    fleet.ssh_ok(host, "systemctl start pgtest-fragile");
    fleet.install(host, &["libpgtest1=1.0-2"]);
}

/// Makes every start of pgtestd wait `secs` first: its restart is in progress that long.
fn slow_start(fleet: &Fleet, host: &str, secs: u32) {
    fleet.ssh_ok(
        host,
        &format!(
            "mkdir -p /etc/systemd/system/pgtestd.service.d && printf '[Service]\\nExecStartPre=/bin/sleep {secs}\\n' \
             > /etc/systemd/system/pgtestd.service.d/slow.conf && systemctl daemon-reload"
        ),
    );
}

fn invocation(fleet: &Fleet, host: &str, unit: &str) -> String {
    let id = fleet.ssh_ok(
        host,
        &format!("systemctl show -p InvocationID --value {unit}"),
    );
    let id = id.trim().to_string();
    assert!(!id.is_empty(), "{host}: {unit} has no InvocationID");
    id
}

/// `patchgap restart --yes` on the files' inventory, in the background.
fn start_restart(fleet: &Fleet, files: &Files, extra: &[&str]) -> Child {
    let mut args = vec!["--yes"];
    args.extend_from_slice(extra);
    command(fleet, files, &args)
        .spawn()
        .expect("start patchgap restart")
}

/// `patchgap restart` on the files' inventory, its stdin not a terminal.
fn command(fleet: &Fleet, files: &Files, extra: &[&str]) -> Command {
    campaign::command(fleet, files, &["restart", "--restart-timeout", "30"], extra)
}

fn restart(fleet: &Fleet, files: &Files, extra: &[&str]) -> (Option<i32>, Value) {
    let child = start_restart(fleet, files, extra);
    finish(files, child)
}

fn wait_for_record(files: &Files, wanted: impl Fn(&Value) -> bool) {
    files.wait_for_record(wanted);
}

fn restarting(host: &'static str) -> impl Fn(&Value) -> bool {
    move |r: &Value| r["step"]["step"] == "restarting" && r["step"]["host"] == host
}

/// `(host, unit) -> status kind` from the campaign report.
fn unit_status(report: &Value, host: &str, unit: &str) -> String {
    report["campaign"]["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == host))
        .and_then(|h| h["units"].as_array())
        .and_then(|units| units.iter().find(|u| u["unit"] == unit))
        .map(|u| u["status"]["kind"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("{host}/{unit} not in the report: {report:#}"))
}

fn host_status(report: &Value, host: &str) -> String {
    report_host(report, host)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn at_ms(files: &Files, step: &str, host: &str) -> i64 {
    files.at_ms(step, host)
}

#[test]
fn serial_one_restarts_each_host_alone_and_verifies_it() {
    let Some(fleet) = shared_fleet() else { return };
    let hosts = ["h01", "h02", "h03"];
    for host in hosts {
        stale_pgtestd(fleet, host);
    }
    let before: Vec<String> = hosts
        .iter()
        .map(|h| invocation(fleet, h, "pgtestd"))
        .collect();
    let files = Files::new(fleet, &hosts);
    let state = files.state();
    let (code, report) = restart(fleet, &files, &["--serial", "1", "--state", path(&state)]);
    assert_eq!(code, Some(0), "{report:#}");
    for (host, old) in hosts.iter().zip(&before) {
        assert_eq!(unit_status(&report, host, "pgtestd.service"), "verified");
        assert_ne!(&invocation(fleet, host, "pgtestd"), old, "{host} restarted");
    }
    // One at a time: each host finished before the next one's restart was recorded.
    for pair in hosts.windows(2) {
        let done = at_ms(&files, "host_finished", pair[0]);
        let next = at_ms(&files, "restarting", pair[1]);
        assert!(done <= next, "{} overlapped {}", pair[0], pair[1]);
    }
    let again = Files::new(fleet, &hosts);
    let (code, report) = restart(
        fleet,
        &again,
        &["--serial", "1", "--state", path(&again.state())],
    );
    assert_eq!(code, Some(0), "nothing to do is a success: {report:#}");
    assert_eq!(
        report["kind"], "restart_plan",
        "nothing to do: only the plan"
    );
    assert_eq!(report["plan"]["batches"], serde_json::json!([]));
    assert!(!again.state().exists(), "no campaign, no state file");
}

#[test]
fn a_failed_canary_stops_the_campaign_before_any_other_host() {
    let Some(fleet) = shared_fleet() else { return };
    stale_fragile(fleet, "h04");
    stale_pgtestd(fleet, "h05");
    let untouched = invocation(fleet, "h05", "pgtestd");
    let files = Files::new(fleet, &["h04", "h05"]);
    let (code, report) = restart(
        fleet,
        &files,
        &[
            "--canary",
            "1",
            "--max-fail",
            "100%",
            "--state",
            path(&files.state()),
        ],
    );
    assert_eq!(code, Some(5), "stopped: exit 5; {report:#}");
    assert_eq!(
        unit_status(&report, "h04", "pgtest-fragile.service"),
        "restart_failed"
    );
    assert_eq!(report["campaign"]["stopped"]["reason"], "canary");
    let journal = &report["campaign"]["hosts"][0]["units"][0]["status"]["journal"];
    assert!(
        journal.as_array().is_some_and(|lines| !lines.is_empty()),
        "the unit's journal lines are in the report: {report:#}"
    );
    assert_eq!(host_status(&report, "h05"), "not_reached");
    assert_eq!(
        invocation(fleet, "h05", "pgtestd"),
        untouched,
        "h05 was not touched"
    );
}

#[test]
fn max_fail_zero_stops_after_the_batch_with_a_failure() {
    let Some(fleet) = shared_fleet() else { return };
    stale_pgtestd(fleet, "h06");
    stale_fragile(fleet, "h07");
    stale_pgtestd(fleet, "h08");
    let untouched = invocation(fleet, "h08", "pgtestd");
    let files = Files::new(fleet, &["h06", "h07", "h08"]);
    let (code, report) = restart(
        fleet,
        &files,
        &[
            "--serial",
            "1",
            "--max-fail",
            "0",
            "--state",
            path(&files.state()),
        ],
    );
    assert_eq!(code, Some(5), "{report:#}");
    assert_eq!(unit_status(&report, "h06", "pgtestd.service"), "verified");
    assert_eq!(
        unit_status(&report, "h07", "pgtest-fragile.service"),
        "restart_failed"
    );
    assert_eq!(host_status(&report, "h08"), "not_reached");
    assert_eq!(report["campaign"]["stopped"]["reason"], "max_fail");
    assert_eq!(invocation(fleet, "h08", "pgtestd"), untouched);
}

#[test]
fn resume_after_sigkill_finishes_without_restarting_twice() {
    let Some(fleet) = shared_fleet() else { return };
    stale_pgtestd(fleet, "h09");
    stale_pgtestd(fleet, "h10");
    slow_start(fleet, "h10", 3);
    let first_before = invocation(fleet, "h09", "pgtestd");
    let second_before = invocation(fleet, "h10", "pgtestd");
    let files = Files::new(fleet, &["h09", "h10"]);
    let mut child = start_restart(
        fleet,
        &files,
        &["--serial", "1", "--state", path(&files.state())],
    );
    wait_for_record(&files, restarting("h10"));
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    // Let the restart the killed run may have asked for end, then read where h10 is.
    std::thread::sleep(Duration::from_secs(5));
    let first_after_kill = invocation(fleet, "h09", "pgtestd");
    let second_after_kill = invocation(fleet, "h10", "pgtestd");
    assert_ne!(first_after_kill, first_before, "batch 1 was done");
    let (code, report) = restart(fleet, &files, &["--resume", path(&files.state())]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        invocation(fleet, "h09", "pgtestd"),
        first_after_kill,
        "h09 is not restarted again"
    );
    let second_final = invocation(fleet, "h10", "pgtestd");
    if second_after_kill == second_before {
        assert_ne!(second_final, second_before, "h10 restarted by the resume");
    } else {
        assert_eq!(
            second_final, second_after_kill,
            "h10 was restarted by the killed run: never again"
        );
    }
    assert_eq!(host_status(&report, "h10"), "done", "{report:#}");
}

#[test]
fn libssl3_reinstalled_restarts_nginx_and_ssh_and_leaves_logind_and_dbus() {
    let Some(fleet) = shared_fleet() else { return };
    let host = "h11";
    fleet.reinstall(host, "libssl3");
    // dbus-daemon does not use libssl3: its own library makes it stale too.
    fleet.reinstall(host, "libdbus-1-3");
    let logind = invocation(fleet, host, "systemd-logind");
    let dbus = invocation(fleet, host, "dbus");
    let files = Files::new(fleet, &[host]);
    let (code, report) = restart(fleet, &files, &["--state", path(&files.state())]);
    assert_eq!(unit_status(&report, host, "nginx.service"), "verified");
    assert_eq!(unit_status(&report, host, "ssh.service"), "verified");
    assert_eq!(invocation(fleet, host, "systemd-logind"), logind);
    assert_eq!(invocation(fleet, host, "dbus"), dbus);
    let manual: Vec<(String, String)> = report["campaign"]["hosts"][0]["manual"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap_or_default().to_string(),
                        m["why"]["kind"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for unit in ["systemd-logind.service", "dbus.service"] {
        assert!(
            manual.contains(&(unit.to_string(), "restart_refused".to_string())),
            "{unit} needs manual action: {manual:?}\n{report:#}"
        );
    }
    assert_eq!(code, Some(0), "{report:#}");
}

#[test]
fn plan_changes_nothing_and_a_pipe_without_yes_is_refused() {
    let Some(fleet) = shared_fleet() else { return };
    let host = "h12";
    stale_pgtestd(fleet, host);
    let before = invocation(fleet, host, "pgtestd");
    let files = Files::new(fleet, &[host]);
    let (code, report) = restart(fleet, &files, &["--plan", "--state", path(&files.state())]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["kind"], "restart_plan");
    assert_eq!(
        report["plan"]["hosts"][0]["restart"],
        serde_json::json!(["pgtestd.service"])
    );
    assert_eq!(invocation(fleet, host, "pgtestd"), before, "not restarted");
    assert!(!files.state().exists(), "--plan writes no state file");
    // Without --yes and without a terminal to ask on: refused, as a usage error.
    let refused = command(fleet, &files, &["--state", path(&files.state())])
        .status()
        .expect("run patchgap restart");
    let stderr = std::fs::read_to_string(files.path("stderr")).unwrap_or_default();
    assert_eq!(refused.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(invocation(fleet, host, "pgtestd"), before, "not restarted");
    assert!(!files.state().exists());
}

#[test]
fn a_host_frozen_during_its_restart_times_out_and_counts_towards_max_fail() {
    let Some(fleet) = shared_fleet() else { return };
    stale_pgtestd(fleet, "h13");
    slow_start(fleet, "h13", 5);
    stale_pgtestd(fleet, "h14");
    let untouched = invocation(fleet, "h14", "pgtestd");
    let files = Files::new(fleet, &["h13", "h14"]);
    let child = start_restart(
        fleet,
        &files,
        &[
            "--serial",
            "1",
            "--host-timeout",
            "20",
            "--state",
            path(&files.state()),
        ],
    );
    wait_for_record(&files, restarting("h13"));
    fleet.freeze("h13");
    let (code, report) = finish(&files, child);
    fleet.thaw("h13");
    assert_eq!(host_status(&report, "h13"), "timeout", "{report:#}");
    assert_eq!(unit_status(&report, "h13", "pgtestd.service"), "timeout");
    assert_eq!(host_status(&report, "h14"), "not_reached");
    assert_eq!(code, Some(5), "max-fail 0 stopped the campaign: {report:#}");
    assert_eq!(invocation(fleet, "h14", "pgtestd"), untouched);
}
