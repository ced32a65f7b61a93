//! Aggregation and rendering on fixture probe reports. Rendered output is pinned with
//! insta snapshots (`src/report/snapshots/`; review changes with `cargo insta review`).

use super::*;
use crate::deploy::probe_output::parse_probe_output;
use crate::exit::Verdict;
use crate::outcome::{Failure, HostOutcome, HostResult};
use crate::test_outcomes::{audited, failed};
use crate::test_reports::{clean, report_json, with_findings, with_one_service};

pub(super) fn fleet() -> Vec<HostOutcome> {
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
fn what_a_fleet_run_found() {
    assert_eq!(
        verdict(&fleet()),
        Verdict {
            hosts_failed: 2,
            hosts_with_findings: 3,
            ..Verdict::default()
        }
    );
    let audited_only: Vec<HostOutcome> = fleet().into_iter().take(4).collect();
    assert_eq!(verdict(&audited_only).hosts_failed, 0);
    assert_eq!(
        verdict(&[audited("mon1", clean("mon1"), false)]),
        Verdict::default()
    );
    assert_eq!(verdict(&[]), Verdict::default());
    assert_eq!(host_verdict(&with_findings("a")).hosts_with_findings, 1);
    assert_eq!(host_verdict(&clean("b")), Verdict::default());
}

/// The whole document, rendered by `format` into a string.
fn fleet_text(format: &dyn Render, report: &FleetReport) -> String {
    let mut out = Vec::new();
    format.fleet(report, &mut out).expect("rendered");
    String::from_utf8(out).expect("utf8")
}

fn host_text(format: &dyn Render, report: &patchgap_probe::Report) -> String {
    let mut out = Vec::new();
    format.host(report, &mut out).expect("rendered");
    String::from_utf8(out).expect("utf8")
}

pub(super) fn fleet_report(outcomes: Vec<HostOutcome>) -> FleetReport {
    let mut report = FleetReport::new(ControllerInfo::new(100, 160), outcomes);
    // Pinned, so that a version bump does not change the snapshots.
    report.controller.version = "0.0.0-test".into();
    report
}

#[test]
fn the_fleet_table_shows_every_section() {
    let text = fleet_text(&Table::default(), &fleet_report(fleet()));
    insta::assert_snapshot!(text);
}

#[test]
fn the_fleet_table_wraps_to_the_given_width() {
    let table = Table {
        width: Some(60),
        ..Table::default()
    };
    let text = fleet_text(&table, &fleet_report(fleet()));
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn the_fleet_json_keeps_the_hosts_in_the_order_given() {
    let text = fleet_text(&Json, &fleet_report(fleet()));
    insta::assert_snapshot!(text);
}

#[test]
fn the_host_table_of_a_host_with_findings() {
    let mut report = with_findings("web1");
    report.host.os = Some("Debian GNU/Linux 12 (bookworm)".into());
    report.ignored.push(patchgap_probe::report::IgnoredFinding {
        pid: 9,
        comm: "java".into(),
        kind: patchgap_probe::report::FindingKind::MapDeleted,
        path: "/tmp/perf-9.map".into(),
        rule: "^/tmp/".into(),
    });
    insta::assert_snapshot!("host_findings", host_text(&Table::default(), &report));
    let shown = Table {
        show_ignored: true,
        ..Table::default()
    };
    insta::assert_snapshot!("host_findings_show_ignored", host_text(&shown, &report));
}

#[test]
fn the_host_table_of_a_clean_host() {
    insta::assert_snapshot!(host_text(&Table::default(), &clean("mon1")));
}

#[test]
fn the_host_json_is_the_probe_report() {
    let report = with_findings("web1");
    let text = host_text(&Json, &report);
    let back: patchgap_probe::Report = serde_json::from_str(&text).expect("a report");
    assert_eq!(back, report);
    assert!(
        text.ends_with("}\n") && !text.ends_with("\n\n"),
        "one newline"
    );
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
    let report = fleet_report(outcomes);
    let text = fleet_text(&Table::default(), &report);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\r'));
    insta::assert_snapshot!(text);

    let json = fleet_text(&Json, &report);
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
    Sink::new(Some(&path))
        .write(|out| Json.fleet(&fleet_report, out))
        .expect("written");
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
fn an_empty_run_renders_and_is_clean() {
    assert_eq!(verdict(&[]), Verdict::default());
    insta::assert_snapshot!(fleet_text(&Table::default(), &fleet_report(vec![])));
}

#[test]
fn a_partial_scan_in_the_report_counts_as_partial() {
    let mut report = clean("h");
    report.scan.partial = true;
    let summary = summarize(&[audited("h", report, false)]);
    assert_eq!(summary.states, [(HostState::Partial, 1)]);
    assert_eq!(
        verdict(&[audited("h", clean("h"), false)]),
        Verdict::default()
    );
}

/// The shared fleet judged by the documented example policy: the table ends with the
/// policy's section, and the JSON carries the same verdict.
#[test]
fn the_fleet_table_and_json_show_the_policy() {
    let policy = crate::policy::Policy::parse(
        "examples/policy.yaml",
        include_str!("../../examples/policy.yaml"),
    )
    .expect("example policy");
    let mut report = fleet_report(fleet());
    let found = verdict(&report.hosts);
    let found = policy.apply(&mut report, found);
    assert_eq!(
        found.policy,
        Some(Level::Fail),
        "2 of 6 hosts failed: over 10%"
    );
    assert_eq!(
        found.hosts_failed, 2,
        "the failed_hosts rule broke at `fail`"
    );
    let text = fleet_text(&Table::default(), &report);
    insta::assert_snapshot!(text);
    let json: serde_json::Value = serde_json::from_str(&fleet_text(&Json, &report)).expect("json");
    assert_eq!(json["policy"]["level"], "fail");
    assert_eq!(json["policy"]["rules"][1]["id"], "stale_services#2");
}

/// `with_findings` as a probe with exposure ranks it: nginx (public socket, security
/// update with two CVEs) critical, sshd (loopback) high, dbus (non-security) low.
fn with_exposure(hostname: &str) -> patchgap_probe::Report {
    use patchgap_probe::report::{
        Exposure, PackageExposure, ProcessExposure, Risk, RiskLevel, Security, ServiceRisk,
        VersionOrigin,
    };
    let mut report = with_findings(hostname);
    let package = |name: &str, security: Security, cves: &[&str]| PackageExposure {
        context: "host".into(),
        name: name.into(),
        installed_version: Some("2".into()),
        running_version: Some("1".into()),
        running_version_from: VersionOrigin::DpkgLog,
        security,
        security_reasons: Vec::new(),
        cves: cves.iter().map(|c| c.to_string()).collect(),
        urgency: Some("high".into()),
        entries: 1,
        changelogs: Vec::new(),
    };
    let risk = |level: RiskLevel, why: &str| Risk {
        level,
        reasons: vec![why.into()],
    };
    let cves = ["CVE-2024-1234", "CVE-2024-12345"];
    let critical = risk(
        RiskLevel::Critical,
        "libssl3:amd64 security update with CVE-2024-1234, CVE-2024-12345",
    );
    let high = risk(RiskLevel::High, "listens on 127.0.0.1:22/tcp (loopback)");
    let low = risk(RiskLevel::Low, "non-security update of libc6");
    let process = |pid: u32, risk: &Risk| ProcessExposure {
        pid,
        sockets: Vec::new(),
        sockets_unknown: None,
        risk: risk.clone(),
    };
    let service = |unit: &str, risk: &Risk, cves: &[&str]| ServiceRisk {
        unit: unit.into(),
        risk: risk.clone(),
        cves: cves.iter().map(|c| c.to_string()).collect(),
    };
    report.exposure = Some(Exposure {
        packages: vec![
            package("libssl3:amd64", Security::Security, &cves),
            package("libc6", Security::NotSecurity, &[]),
        ],
        processes: vec![
            process(100, &critical),
            process(200, &high),
            process(300, &low),
        ],
        services: vec![
            service("nginx.service", &critical, &cves),
            service("ssh.service", &high, &cves),
            service("dbus.service", &low, &[]),
        ],
    });
    report
}

#[test]
fn the_host_table_leads_with_risk() {
    let text = host_text(&Table::default(), &with_exposure("web1"));
    let at = |unit: &str| text.find(unit).expect(unit);
    assert!(at("nginx.service") < at("ssh.service"), "{text}");
    assert!(at("ssh.service") < at("dbus.service"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn min_risk_hides_what_ranks_below_it() {
    let table = Table {
        min_risk: Some(patchgap_probe::report::RiskLevel::High),
        ..Table::default()
    };
    let text = host_text(&table, &with_exposure("web1"));
    assert!(!text.contains("dbus.service"), "{text}");
    assert!(
        text.contains("1 services below --min-risk high not shown"),
        "{text}"
    );
    // A report of an older probe has no ranks: nothing of it is hidden.
    let text = host_text(&table, &with_findings("web1"));
    assert!(text.contains("dbus.service"), "{text}");
}

#[test]
fn the_fleet_table_counts_live_cves_and_ranks_hosts() {
    let outcomes = vec![
        audited("db1", with_one_service("db1"), false),
        audited("web1", with_exposure("web1"), false),
        audited("web2", with_exposure("web2"), false),
    ];
    let text = fleet_text(&Table::default(), &fleet_report(outcomes));
    assert!(
        text.contains("CVE-2024-1234: 4 services on 2 hosts"),
        "{text}"
    );
    // Ranked hosts come before the one its probe did not rank.
    assert!(
        text.find("web1").expect("web1") < text.find("db1").expect("db1"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}
