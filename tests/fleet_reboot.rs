//! `patchgap reboot -i` end to end on real hosts (systemd-nspawn machines that boot again
//! after `systemctl reboot`), as a user runs it. Whether a host rebooted is read from the
//! host itself: `/proc/sys/kernel/random/boot_id` changes on every boot and on nothing
//! else. Inside the fleet's hosts the probe finds a container, so the reason staged is
//! `/run/reboot-required` (`fleet reboot-pending`), gone after the boot.
//!
//! One fleet serves the binary; each scenario (a `#[test]`) has hosts of its own:
//! h01-h04 serial one at a time, h05-h06 a host held down, h07-h10 two campaigns under
//! one FleetLock slot, h11 a controller killed during a reboot.
//!
//! No sleeps decide anything: "never two down at once" is read from the journal's order
//! (a host finishes, verified back, before the next reboot is recorded) and from the
//! FleetLock server's event log; the controller is killed once the host is seen rebooting.

#[path = "support/fleet.rs"]
mod fleet;

#[path = "support/campaign.rs"]
mod campaign;

#[path = "support/fleetlock.rs"]
mod fleetlock;

use std::process::Child;
use std::time::{Duration, Instant};

use campaign::{Files, command, finish, path, report_host};
use fleet::Fleet;
use fleetlock::{EventKind, FleetLock};
use serde_json::Value;

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("reboot", 11)
}

/// `patchgap reboot --yes` on the files' inventory, in the background.
fn start_reboot(fleet: &Fleet, files: &Files, extra: &[&str]) -> Child {
    command(fleet, files, &["reboot", "--yes"], extra)
        .spawn()
        .expect("start patchgap reboot")
}

fn reboot(fleet: &Fleet, files: &Files, extra: &[&str]) -> (Option<i32>, Value) {
    let child = start_reboot(fleet, files, extra);
    finish(files, child)
}

fn reboot_of<'r>(report: &'r Value, host: &str) -> &'r Value {
    &report_host(report, host)["reboot"]
}

fn reboot_status(report: &Value, host: &str) -> String {
    reboot_of(report, host)["status"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn boot_ids(fleet: &Fleet, hosts: &[&str]) -> Vec<String> {
    hosts.iter().map(|h| fleet.boot_id(h)).collect()
}

/// Each of `hosts` rebooted exactly once by the campaign: verified, the report's boot ids
/// are the one before and the one it runs now.
fn rebooted_once(fleet: &Fleet, report: &Value, hosts: &[&str], before: &[String]) {
    for (host, old) in hosts.iter().zip(before) {
        let reboot = reboot_of(report, host);
        assert_eq!(
            reboot_status(report, host),
            "verified",
            "{host}: {reboot:#}"
        );
        let now = fleet.boot_id(host);
        assert_ne!(&now, old, "{host} booted again");
        assert_eq!(reboot["boot_id_before"], old.as_str(), "{host}");
        assert_eq!(
            reboot["boot_id_after"],
            now.as_str(),
            "{host}: no second boot"
        );
        assert_eq!(reboot["system_state"], "running", "{host}");
    }
}

#[test]
fn serial_one_reboots_the_two_hosts_that_need_it_one_after_the_other() {
    let Some(fleet) = shared_fleet() else { return };
    let hosts = ["h01", "h02", "h03", "h04"];
    fleet.reboot_pending("h02");
    fleet.reboot_pending("h04");
    let before = boot_ids(fleet, &hosts);
    let files = Files::new(fleet, &hosts);
    let plan = command(fleet, &files, &["reboot", "--plan"], &[])
        .output()
        .expect("plan");
    assert!(plan.status.success(), "{plan:?}");
    let planned: Value =
        serde_json::from_slice(&std::fs::read(files.path("report.json")).expect("plan file"))
            .expect("plan JSON");
    assert_eq!(planned["kind"], "reboot_plan");
    assert_eq!(
        planned["plan"]["batches"],
        serde_json::json!([["h02"], ["h04"]])
    );
    let reasons = &planned["plan"]["hosts"][1]["reboot"]["reasons"][0];
    assert!(
        reasons
            .as_str()
            .unwrap_or_default()
            .contains("/run/reboot-required"),
        "{planned:#}"
    );
    assert_eq!(boot_ids(fleet, &hosts), before, "--plan reboots nothing");
    let (code, report) = reboot(fleet, &files, &["--state", path(&files.state())]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["kind"], "reboot_campaign");
    rebooted_once(
        fleet,
        &report,
        &["h02", "h04"],
        &[before[1].clone(), before[3].clone()],
    );
    for (i, host) in [(0, "h01"), (2, "h03")] {
        assert_eq!(fleet.boot_id(host), before[i], "{host} untouched");
        assert!(
            report_host(&report, host)["reboot"].is_null(),
            "{host} was not planned"
        );
    }
    // Never both down: h02 was back and verified before h04's reboot was recorded.
    let h02_back = files.at_ms("host_finished", "h02");
    let h04_asked = files.at_ms("rebooting", "h04");
    assert!(h02_back <= h04_asked, "h02 overlapped h04");
    // A clean re-probe: a second campaign finds nothing to reboot.
    let again = Files::new(fleet, &hosts);
    let (code, report) = reboot(fleet, &again, &["--state", path(&again.state())]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["kind"], "reboot_plan",
        "nothing to do: the plan is shown"
    );
    assert_eq!(report["plan"]["batches"], serde_json::json!([]));
}

#[test]
fn a_host_that_never_comes_back_stops_the_campaign_and_keeps_its_fleetlock_slot() {
    let Some(fleet) = shared_fleet() else { return };
    let hosts = ["h05", "h06"];
    fleet.reboot_pending("h05");
    fleet.reboot_pending("h06");
    let before = boot_ids(fleet, &hosts);
    fleet.hold("h05");
    let server = FleetLock::start(1);
    let files = Files::new(fleet, &hosts);
    let url = server.url();
    let (code, report) = reboot(
        fleet,
        &files,
        &[
            "--state",
            path(&files.state()),
            "--fleetlock",
            &url,
            "--max-fail",
            "0",
            "--reboot-timeout",
            "20",
        ],
    );
    assert_eq!(code, Some(5), "stopped by --max-fail: {report:#}");
    assert_eq!(reboot_status(&report, "h05"), "not_returned", "{report:#}");
    let note = reboot_of(&report, "h05")["lock_note"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        note.contains("slot of id h05 in group default kept"),
        "{note}"
    );
    assert_eq!(
        server.holders("default"),
        ["h05"],
        "the slot stays with h05"
    );
    assert_eq!(report["campaign"]["stopped"]["reason"], "max_fail");
    assert_eq!(reboot_status(&report, "h06"), "skipped");
    assert_eq!(fleet.state("h05"), "held down");
    assert_eq!(fleet.boot_id("h06"), before[1], "h06 was never rebooted");
    assert!(
        server.events().iter().all(|e| e.id == "h05"),
        "h06 never asked for a slot: {:?}",
        server.events()
    );
    fleet.release("h05");
    assert_ne!(fleet.boot_id("h05"), before[0]);
}

#[test]
fn two_campaigns_under_one_fleetlock_slot_never_have_two_hosts_down() {
    let Some(fleet) = shared_fleet() else { return };
    let halves = [["h07", "h08"], ["h09", "h10"]];
    let all: Vec<&str> = halves.iter().flatten().copied().collect();
    for host in &all {
        fleet.reboot_pending(host);
    }
    let before = boot_ids(fleet, &all);
    let server = FleetLock::start(1);
    let url = server.url();
    let files: Vec<Files> = halves.iter().map(|h| Files::new(fleet, h)).collect();
    let children: Vec<Child> = files
        .iter()
        .map(|f| {
            let state = f.state();
            let extra = [
                "--state",
                path(&state),
                "--fleetlock",
                &url,
                "--host-timeout",
                "600",
            ];
            start_reboot(fleet, f, &extra)
        })
        .collect();
    let reports: Vec<Value> = files
        .iter()
        .zip(children)
        .map(|(f, child)| {
            let (code, report) = finish(f, child);
            assert_eq!(code, Some(0), "{report:#}");
            report
        })
        .collect();
    for (half, report) in halves.iter().zip(&reports) {
        let old: Vec<String> = half
            .iter()
            .map(|h| before[all.iter().position(|a| a == h).expect("host")].clone())
            .collect();
        rebooted_once(fleet, report, half, &old);
    }
    let events = server.events();
    assert_eq!(server.max_holders("default"), 1, "{events:#?}");
    // Every host took the slot, and gave it back only once it was verified.
    for host in &all {
        let granted = events
            .iter()
            .filter(|e| e.kind == EventKind::Granted && e.id == *host)
            .count();
        let released = events
            .iter()
            .filter(|e| e.kind == EventKind::Released && e.id == *host)
            .count();
        assert!(granted >= 1 && released == 1, "{host}: {events:#?}");
    }
    assert!(
        events.iter().any(|e| e.kind == EventKind::Refused),
        "the campaigns did meet at the lock: {events:#?}"
    );
    assert!(server.holders("default").is_empty());
}

#[test]
fn a_controller_killed_during_a_reboot_resumes_by_verifying_without_rebooting_again() {
    let Some(fleet) = shared_fleet() else { return };
    let host = "h11";
    fleet.reboot_pending(host);
    let before = fleet.boot_id(host);
    let files = Files::new(fleet, &[host]);
    let mut child = start_reboot(fleet, &files, &["--state", path(&files.state())]);
    files.wait_for_record(|r| r["step"]["step"] == "rebooting" && r["step"]["host"] == host);
    // Kill the controller once the host is seen going down (the reboot was asked for).
    let safety_net = Instant::now() + Duration::from_secs(300);
    while fleet.try_boot_id(host).as_deref() == Some(before.as_str()) {
        assert!(Instant::now() < safety_net, "{host} never went down");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("SIGKILL the controller");
    let _ = child.wait();
    fleet.wait_ready(&[host]);
    let rebooted = fleet.boot_id(host);
    assert_ne!(rebooted, before, "the killed run's reboot happened");
    let (code, report) = reboot(fleet, &files, &["--resume", path(&files.state())]);
    assert_eq!(code, Some(0), "{report:#}");
    let reboot = reboot_of(&report, host);
    assert_eq!(reboot_status(&report, host), "verified", "{reboot:#}");
    assert_eq!(reboot["resumed"], true);
    assert_eq!(reboot["boot_id_before"], before.as_str());
    assert_eq!(reboot["boot_id_after"], rebooted.as_str());
    assert_eq!(fleet.boot_id(host), rebooted, "not rebooted a second time");
    let asked = files
        .journal()
        .iter()
        .filter(|r| r["step"]["step"] == "rebooting")
        .count();
    assert_eq!(asked, 1, "one reboot recorded in the whole journal");
}
