//! Aggregation and rendering on fixture probe reports.

use super::*;
use crate::exit::Exit;
use crate::outcome::{Failure, HostOutcome, HostResult};
use crate::probe_output::parse_probe_output;
use crate::test_reports::{clean, report_json, with_findings, with_one_service};

fn audited(host: &str, report: patchgap_probe::Report, partial: bool) -> HostOutcome {
    let probe = parse_probe_output(report_json(&report).as_bytes()).expect("valid report");
    HostOutcome {
        host: host.into(),
        address: host.into(),
        port: 22,
        user: "root".into(),
        elapsed_ms: 200,
        result: HostResult::Audited {
            partial,
            report: Box::new(probe),
        },
    }
}

fn failed(host: &str, failure: Failure, message: &str) -> HostOutcome {
    HostOutcome {
        host: host.into(),
        address: host.into(),
        port: 22,
        user: "root".into(),
        elapsed_ms: 10_000,
        result: HostResult::Failed {
            failure,
            message: message.into(),
            stderr_tail: None,
        },
    }
}

fn fleet() -> Vec<HostOutcome> {
    vec![
        audited("web1", with_findings("web1"), false),
        audited("web2", with_findings("web2"), true),
        audited("db1", with_one_service("db1"), false),
        audited("mon1", clean("mon1"), false),
        failed("old1", Failure::Unreachable, "connection refused"),
        failed(
            "new1",
            Failure::HostKeyUnknown,
            "host key not in known_hosts",
        ),
    ]
}

#[test]
fn hosts_by_state() {
    let summary = summarize(&fleet());
    assert_eq!(summary.total, 6);
    assert_eq!(
        summary.states,
        [
            (HostState::Audited, 3),
            (HostState::Partial, 1),
            (HostState::Failed(Failure::Unreachable), 1),
            (HostState::Failed(Failure::HostKeyUnknown), 1),
        ]
    );
    assert_eq!(summary.failed.len(), 2);
    assert_eq!(summary.failed[0].message, "connection refused");
}

#[test]
fn packages_add_up_across_hosts_and_architectures() {
    let summary = summarize(&fleet());
    let libssl = &summary.packages[0];
    assert_eq!(
        (
            libssl.name.as_str(),
            libssl.hosts,
            libssl.services,
            libssl.processes
        ),
        ("libssl3", 3, 5, 5)
    );
    let libc = &summary.packages[1];
    assert_eq!(
        (libc.name.as_str(), libc.hosts, libc.services),
        ("libc6", 2, 2)
    );
}

#[test]
fn per_host_actions_and_reboot() {
    let summary = summarize(&fleet());
    let web1 = &summary.hosts[0];
    let services: Vec<&str> = web1.services().map(|s| s.name.as_str()).collect();
    assert_eq!(services, ["dbus.service", "nginx.service", "ssh.service"]);
    assert!(summary.hosts[1].partial);
    assert!(!summary.hosts[3].has_pending());
    assert_eq!(summary.reboot_unknown, 0);
    assert!(summary.reboot_needed.is_empty());
}

#[test]
fn exit_status_of_a_fleet_run() {
    assert_eq!(summarize(&fleet()).exit, Exit::HostsFailed);
    let audited_only: Vec<HostOutcome> = fleet().into_iter().take(4).collect();
    assert_eq!(fleet_exit(&audited_only), Exit::Findings);
    assert_eq!(
        fleet_exit(&[audited("mon1", clean("mon1"), false)]),
        Exit::Clean
    );
    assert_eq!(fleet_exit(&[]), Exit::Clean);
}

#[test]
fn the_table_shows_every_section() {
    let text = render_summary(&summarize(&fleet()), None);
    for needle in [
        "6 host(s): 4 audited, 2 failed",
        "audited (partial)",
        "host key unknown",
        "Restarts pending",
        "dbus.service (not restarted automatically)",
        "session session-4.scope",
        "web2 (partial)",
        "postgresql@15-main.service",
        "1 audited host(s) have nothing to restart.",
        "Packages behind the findings",
        "libssl3",
        "Failed hosts",
        "connection refused",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn the_table_wraps_to_the_given_width() {
    let text = render_summary(&summarize(&fleet()), Some(60));
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
}

#[test]
fn host_strings_are_sanitised_in_the_table_only() {
    let mut report = with_findings("evil");
    report.actions.services[0].unit = "x\u{1b}[2J\u{1b}]0;owned\u{7}.service".into();
    let mut outcomes = vec![audited("evil", report, false)];
    outcomes.push(HostOutcome {
        result: HostResult::Failed {
            failure: Failure::ProbeFailed,
            message: "boom\u{1b}[1A\r".into(),
            stderr_tail: Some("tail\u{9b}2J".into()),
        },
        ..failed("evil2", Failure::ProbeFailed, "")
    });
    let text = render_summary(&summarize(&outcomes), None);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\r'));
    assert!(text.contains("x??.service"), "{text}");

    let fleet_report = FleetReport::new(ControllerInfo::new(1, 2), outcomes);
    let mut json = Vec::new();
    write_json(&fleet_report, &mut json).expect("json");
    let json = String::from_utf8(json).expect("utf8");
    assert!(json.contains(r"x\u001b[2J"), "JSON keeps the data, escaped");
}

#[test]
fn json_embeds_each_probe_report_unchanged_and_reads_back() {
    let report = with_findings("web1");
    let raw = report_json(&report).replacen('{', r#"{"from_a_newer_probe":true,"#, 1);
    let probe = parse_probe_output(raw.as_bytes()).expect("valid");
    let mut outcome = audited("web1", report, false);
    outcome.result = HostResult::Audited {
        partial: false,
        report: Box::new(probe),
    };
    let mut fleet_report = FleetReport::new(ControllerInfo::new(100, 160), vec![outcome]);
    fleet_report.controller.limit = Some("web".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.json");
    write_json_file(&fleet_report, &path).expect("written");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.contains(&raw),
        "the probe's JSON must appear byte for byte"
    );
    assert!(text.contains("\"format_version\": 1"));
    assert!(text.contains("\"state\": \"audited\""));
    let back: FleetReport = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, fleet_report);
}

#[test]
fn hosts_sort_into_inventory_order() {
    let mut report = FleetReport::new(ControllerInfo::new(0, 0), fleet());
    let order: Vec<String> = ["old1", "db1", "web1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    report.sort_hosts(&order);
    let names: Vec<&str> = report.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(names, ["old1", "db1", "web1", "mon1", "new1", "web2"]);
}

#[test]
fn an_empty_run_renders_and_is_clean() {
    let summary = summarize(&[]);
    assert_eq!(summary.exit, Exit::Clean);
    let text = render_summary(&summary, None);
    assert!(text.starts_with("0 host(s): 0 audited, 0 failed"), "{text}");
    assert!(!text.contains("Failed hosts") && !text.contains("Restarts pending"));
}

#[test]
fn a_partial_scan_in_the_report_counts_as_partial() {
    let mut report = clean("h");
    report.scan.partial = true;
    let summary = summarize(&[audited("h", report, false)]);
    assert_eq!(summary.states, [(HostState::Partial, 1)]);
    assert_eq!(summary.exit, Exit::Clean);
}
