//! The HTML page on fixture reports: the whole page pinned with an insta snapshot (our
//! constant CSS and script left out, so the snapshot shows the layout), and the pieces a
//! snapshot would not catch. Escaping against hostile data and the page in a real browser
//! are tested in tests/report_html_browser.rs with parsers independent of askama.

use patchgap_probe::report::{
    IntegrityFinding, IntegrityReport, Problem, ReasonKind, RebootReason, Severity,
};

use super::*;
use crate::deploy::probe_output::parse_probe_output;
use crate::outcome::{Failure, HostOutcome, HostResult};
use crate::report::ControllerInfo;
use crate::report::policy_outcome::{Level, PolicyOutcome, RuleOutcome, Violation};
use crate::test_reports::{clean, report_json, with_findings, with_one_service};

/// 2026-11-28 12:00 UTC, the fixture hosts' scan time.
const SCANNED_AT: i64 = 1_795_867_200;
const DAY: i64 = 86_400;

fn audited(host: &str, mut report: Report) -> HostOutcome {
    report.host.scanned_at = SCANNED_AT;
    let probe = parse_probe_output(report_json(&report).as_bytes()).expect("valid report");
    HostOutcome {
        host: host.into(),
        address: format!("{host}.example.net"),
        port: 22,
        user: "root".into(),
        elapsed_ms: 200,
        result: HostResult::Audited {
            partial: false,
            report: Box::new(probe),
        },
    }
}

/// web1: three services (stale for half a day, 3 days, unknown), a kernel reboot and an
/// integrity finding; db1: one service stale for 40 days; mon1 clean; old1 unreachable.
fn fleet() -> FleetReport {
    let mut web1 = with_findings("web1");
    let ages = [Some(DAY / 2), Some(3 * DAY), None];
    for (process, age) in web1.processes.iter_mut().zip(ages) {
        process.stale_since = age.map(|a| SCANNED_AT - a);
    }
    web1.reboot.needed = true;
    web1.reboot.reasons.push(RebootReason {
        kind: ReasonKind::Kernel,
        message: "kernel 6.1.0-28-amd64 installed, running 6.1.0-27-amd64".into(),
        packages: vec![],
    });
    web1.integrity = Some(IntegrityReport {
        findings: vec![IntegrityFinding {
            path: "/usr/sbin/sshd".into(),
            package: "openssh-server".into(),
            conffile: false,
            problem: Problem::ModifiedInUse {
                expected: "0".repeat(32),
                actual: "f".repeat(32),
                pids: vec![200],
            },
            severity: Severity::High,
        }],
        ..IntegrityReport::default()
    });
    let mut db1 = with_one_service("db1");
    db1.processes[0].stale_since = Some(SCANNED_AT - 40 * DAY);
    let mut report = FleetReport::new(
        ControllerInfo::new(SCANNED_AT - 60, SCANNED_AT),
        vec![
            audited("web1", web1),
            audited("db1", db1),
            audited("mon1", clean("mon1")),
            HostOutcome {
                host: "old1".into(),
                address: "10.0.0.9".into(),
                port: 2222,
                user: "root".into(),
                elapsed_ms: 10_000,
                result: HostResult::Failed {
                    failure: Failure::Unreachable,
                    message: "cannot connect to 10.0.0.9:2222: connection refused".into(),
                    stderr_tail: None,
                },
            },
        ],
    );
    report.controller.inventories = vec!["prod.yaml".into()];
    report
}

fn policy() -> PolicyOutcome {
    PolicyOutcome {
        source: "policy.yaml".into(),
        level: Level::Fail,
        rules: vec![
            RuleOutcome {
                id: "max-stale-age".into(),
                description: "a service may run replaced code for at most 30 days".into(),
                level: Level::Fail,
                violations: vec![Violation {
                    host: Some("db1".into()),
                    subject: "postgresql@15-main.service".into(),
                    detail: "has run replaced code for 40 days (limit 30 days)".into(),
                }],
            },
            RuleOutcome {
                id: "unreachable-share".into(),
                description: "at most half the hosts unreachable".into(),
                level: Level::Pass,
                violations: vec![],
            },
        ],
    }
}

fn page(report: &FleetReport) -> String {
    let mut out = Vec::new();
    Html.fleet(report, &mut out).expect("render");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_fleet_page() {
    let mut report = fleet();
    report.policy = Some(policy());
    let page = page(&report)
        .replace(STYLE, "/* templates/report.css */")
        .replace(SCRIPT, "/* templates/report.js */");
    insta::assert_snapshot!(page);
}

#[test]
fn a_local_audit_is_a_fleet_of_one() {
    let mut report = with_one_service("laptop");
    report.host.scanned_at = SCANNED_AT;
    let mut out = Vec::new();
    Html.host(&report, &mut out).expect("render");
    let page = String::from_utf8(out).expect("utf-8");
    assert!(
        page.contains("<td>laptop</td><td><bdi>localhost</bdi></td>"),
        "{page}"
    );
    assert!(page.contains("postgresql@15-main.service"));
    assert!(page.contains("2026-11-28 12:00 UTC"), "the scan's own time");
}

#[test]
fn the_policy_banner_shows_only_with_a_policy() {
    let mut report = fleet();
    assert!(!page(&report).contains("id=\"policy\""));
    report.policy = Some(policy());
    let page = page(&report);
    assert!(page.contains(
        r#"<div class="banner fail" role="status">Policy <bdi>policy.yaml</bdi>: fail</div>"#
    ));
    assert!(page.contains("<td>max-stale-age</td>"));
}

#[test]
fn the_policy_names_the_hash_of_the_only_style_and_script() {
    let page = page(&fleet());
    let csp = content_security_policy();
    assert!(csp.starts_with("default-src 'none'; "), "{csp}");
    let digest = |s: &str| BASE64.encode(&Sha256::digest(s.as_bytes()));
    assert!(csp.contains(&format!("'sha256-{}'", digest(STYLE))));
    assert!(csp.contains(&format!("'sha256-{}'", digest(SCRIPT))));
    assert!(page.contains(&format!("<style>{STYLE}</style>")));
    assert!(page.contains(&format!("<script>{SCRIPT}</script>")));
    assert_eq!(page.matches("<script").count(), 1);
    assert_eq!(page.matches("<style").count(), 1);
}

#[test]
fn service_ages_and_dates_come_from_the_report() {
    assert_eq!(view::age(45 * 60), "45 min");
    assert_eq!(view::age(5 * 3600 + 59), "5 h");
    assert_eq!(view::age(3 * DAY + 4 * 3600), "3 d 4 h");
    assert_eq!(view::age(40 * DAY), "40 d");
    assert_eq!(view::date(SCANNED_AT), "2026-11-28 12:00 UTC");
    let view = view::build(&fleet());
    let since: Vec<Option<&str>> = view
        .services
        .iter()
        .map(|s| s.since.as_ref().map(|s| s.age.as_str()))
        .collect();
    // dbus (pid 300, unknown), nginx (pid 100, 12 h), ssh (pid 200, 3 d); postgres 40 d.
    assert_eq!(since, [None, Some("12 h"), Some("3 d"), Some("40 d")]);
    let counts: Vec<u64> = view.age_chart.columns.iter().map(|c| c.count).collect();
    assert_eq!(counts, [1, 1, 0, 1, 1]);
    assert_eq!(view.packages[0].name, "libssl3");
    assert_eq!(view.packages[0].versions, ["3.0.15-1"]);
}
