//! The comparison on reports built in code, reading saved reports, and the diff table.

use patchgap_probe::Report;
use patchgap_probe::report::{
    IntegrityFinding, IntegrityReport, Owner, Problem, ReasonKind, RebootReason, Severity,
};

use super::input::{InputError, Saved, check_pair, parse};
use super::*;
use crate::outcome::{Failure, HostOutcome};
use crate::report::{ControllerInfo, FleetReport, render_diff};
use crate::test_outcomes::{audited_host as audited, failed_host as failed};
use crate::test_reports::{clean, report_json, with_findings, with_one_service};

fn fleet(hosts: Vec<HostOutcome>) -> FleetReport {
    FleetReport::new(ControllerInfo::new(100, 160), hosts)
}

fn diff(old: Vec<HostOutcome>, new: Vec<HostOutcome>) -> DiffReport {
    compare(&fleet(old), "old.json", &fleet(new), "new.json")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `with_findings` after nginx was restarted onto the new libssl: only ssh and dbus left.
fn nginx_restarted(host: &str) -> Report {
    let mut report = with_findings(host);
    report.processes.retain(|p| p.comm != "nginx");
    report
        .actions
        .services
        .retain(|s| s.unit != "nginx.service");
    report
}

#[test]
fn fixed_new_and_still_pending_per_kind() {
    let mut after = nginx_restarted("web1");
    // A new stale service appears, and the reboot is now needed.
    after.processes.extend(with_one_service("web1").processes);
    after
        .actions
        .services
        .extend(with_one_service("web1").actions.services);
    after.packages = with_one_service("web1").packages;
    after.reboot.needed = true;
    after.reboot.reasons.push(RebootReason {
        kind: ReasonKind::FlagFile,
        message: "/run/reboot-required".into(),
        packages: Vec::new(),
    });
    let d = diff(
        vec![audited("web1", with_findings("web1"))],
        vec![audited("web1", after)],
    );
    let host = &d.hosts[0];
    assert_eq!(host.change, HostChange::Audited);
    assert_eq!(
        host.services,
        Changes {
            fixed: strings(&["nginx.service"]),
            new: strings(&["postgresql@15-main.service"]),
            pending: strings(&["dbus.service", "ssh.service"]),
        }
    );
    assert_eq!(
        host.packages,
        Changes {
            fixed: strings(&["libc6", "libssl3:amd64"]),
            new: strings(&["libssl3:arm64"]),
            pending: vec![],
        }
    );
    assert!(
        host.processes.is_empty(),
        "service processes count as services"
    );
    assert_eq!(host.reboot, RebootChange::New);
    assert!(host.has_new() && host.has_fixed() && host.has_pending());
    assert_eq!(d.hosts_with_new(), 1);
}

#[test]
fn only_fixed_is_nothing_new() {
    let d = diff(
        vec![audited("web1", with_findings("web1"))],
        vec![audited("web1", nginx_restarted("web1"))],
    );
    assert_eq!(d.hosts[0].services.fixed, strings(&["nginx.service"]));
    assert_eq!(d.hosts_with_new(), 0);
    let same = diff(
        vec![audited("web1", with_findings("web1"))],
        vec![audited("web1", with_findings("web1"))],
    );
    assert_eq!(same.hosts_with_new(), 0);
    assert!(same.hosts[0].has_pending() && !same.hosts[0].has_fixed());
}

#[test]
fn a_process_restarted_with_a_new_pid_is_still_pending_not_new() {
    let lib = "/usr/lib/x86_64-linux-gnu/libc.so.6";
    let session = |pid: u32, session: &str| {
        let mut report = clean("h");
        let mut process = with_findings("h").processes.remove(0);
        process.pid = pid;
        process.comm = "bash".into();
        process.exe = Some("/usr/bin/bash".into());
        process.owner = Owner::Session {
            id: session.into(),
            uid: Some(1000),
        };
        process.findings[0].path = lib.into();
        report.processes.push(process);
        report
    };
    let d = diff(
        vec![audited("h", session(4242, "4"))],
        vec![audited("h", session(5151, "7"))],
    );
    assert_eq!(
        d.hosts[0].processes,
        Changes {
            pending: strings(&["session of uid 1000: bash (/usr/bin/bash)"]),
            ..Changes::default()
        }
    );
    assert_eq!(d.hosts_with_new(), 0);
    // A service restarted onto the old library again: new PID, same unit.
    let mut restarted = with_findings("web1");
    for process in &mut restarted.processes {
        process.pid += 1000;
    }
    for service in &mut restarted.actions.services {
        service.pids = service.pids.iter().map(|p| p + 1000).collect();
    }
    let d = diff(
        vec![audited("web1", with_findings("web1"))],
        vec![audited("web1", restarted)],
    );
    assert!(d.hosts[0].services.new.is_empty() && d.hosts[0].services.fixed.is_empty());
    assert_eq!(d.hosts_with_new(), 0);
}

#[test]
fn hosts_added_gone_and_reachability() {
    let d = diff(
        vec![
            audited("kept", clean("kept")),
            audited("gone", with_findings("gone")),
            audited("lost", with_findings("lost")),
            failed("back", Failure::Timeout),
            failed("down", Failure::Unreachable),
        ],
        vec![
            audited("kept", clean("kept")),
            failed("lost", Failure::Unreachable),
            audited("back", with_one_service("back")),
            failed("down", Failure::Timeout),
            audited("added", clean("added")),
            audited("added2", with_one_service("added2")),
        ],
    );
    let changes: Vec<(&str, HostChange, bool)> = d
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.change, h.has_new()))
        .collect();
    assert_eq!(
        changes,
        [
            ("kept", HostChange::Audited, false),
            ("lost", HostChange::BecameUnreachable, true),
            ("back", HostChange::BecameReachable, true),
            ("down", HostChange::StillUnreachable, false),
            ("added", HostChange::Added, false),
            ("added2", HostChange::Added, true),
            ("gone", HostChange::Gone, false),
        ]
    );
    let lost = &d.hosts[1];
    assert_eq!(lost.failure.as_deref(), Some("unreachable"));
    assert!(
        lost.services.is_empty() && lost.reboot == RebootChange::None,
        "a failed host tells nothing fixed"
    );
    let gone = &d.hosts[6];
    assert!(!gone.has_fixed(), "a gone host's services are not fixed");
    assert_eq!(
        d.hosts[2].services.new,
        strings(&["postgresql@15-main.service"]),
        "no earlier audit: everything is new"
    );
}

#[test]
fn integrity_findings_by_path_package_and_kind() {
    let with = |problems: &[(&str, Problem)]| {
        let mut report = clean("h");
        report.integrity = Some(IntegrityReport {
            findings: problems
                .iter()
                .map(|(path, problem)| IntegrityFinding {
                    path: path.to_string(),
                    package: "coreutils".into(),
                    conffile: false,
                    problem: problem.clone(),
                    severity: Severity::Normal,
                })
                .collect(),
            ..IntegrityReport::default()
        });
        report
    };
    let changed = Problem::Changed {
        expected: "a".into(),
        actual: "b".into(),
    };
    let d = diff(
        vec![audited(
            "h",
            with(&[
                ("/usr/bin/ls", changed.clone()),
                ("/usr/bin/cp", Problem::Missing),
            ]),
        )],
        vec![audited(
            "h",
            with(&[("/usr/bin/ls", changed), ("/usr/bin/mv", Problem::Missing)]),
        )],
    );
    assert_eq!(
        d.hosts[0].integrity,
        Changes {
            fixed: strings(&["/usr/bin/cp (coreutils): missing"]),
            new: strings(&["/usr/bin/mv (coreutils): missing"]),
            pending: strings(&["/usr/bin/ls (coreutils): modified"]),
        }
    );
}

fn saved(name: &str, text: &str) -> Result<Saved, InputError> {
    parse(name, text.as_bytes())
}

#[test]
fn reads_fleet_and_local_reports_and_names_the_file_in_errors() {
    let fleet_json =
        serde_json::to_string(&fleet(vec![audited("web1", with_findings("web1"))])).expect("json");
    let fleet_doc = saved("fleet.json", &fleet_json).expect("a fleet report");
    assert!(!fleet_doc.local);
    let local = saved("local.json", &report_json(&with_findings("web1"))).expect("a probe report");
    assert!(local.local);
    assert_eq!(local.report.hosts[0].host, "web1", "named by its hostname");
    check_pair(("local.json", &local), ("fleet.json", &fleet_doc)).expect("same host");
    let other = saved("db.json", &report_json(&clean("db1"))).expect("a probe report");
    let mismatch = check_pair(("fleet.json", &fleet_doc), ("db.json", &other))
        .expect_err("different hosts")
        .to_string();
    assert!(
        mismatch.contains(
            "db.json is the local report of host `db1`, which fleet.json does not contain"
        ),
        "{mismatch}"
    );
    let errors = [
        ("{not json", vec!["bad.json is not JSON", "--format json"]),
        ("{\"hello\": 1}", vec!["bad.json is neither a fleet report"]),
        (
            "{\"format_version\": 9, \"hosts\": []}",
            vec!["bad.json is a fleet report of format 9", "reads format 1"],
        ),
        (
            "{\"format_version\": 1, \"hosts\": 3}",
            vec!["bad.json is not a valid report"],
        ),
        (
            "{\"schema_version\": 1}",
            vec!["bad.json is not a valid report"],
        ),
    ];
    for (text, expected) in errors {
        let message = saved("bad.json", text).expect_err(text).to_string();
        for part in expected {
            assert!(message.contains(part), "`{part}` not in: {message}");
        }
    }
}

/// Fixed, new, pending, a reboot, a host failing now, one added and one unchanged.
fn the_fixture() -> DiffReport {
    let mut after = nginx_restarted("web1");
    after.reboot.needed = true;
    diff(
        vec![
            audited("web1", with_findings("web1")),
            audited("db1", with_one_service("db1")),
            audited("mon1", clean("mon1")),
            audited("old1", clean("old1")),
        ],
        vec![
            audited("web1", after),
            audited("db1", clean("db1")),
            audited("mon1", clean("mon1")),
            failed("old1", Failure::Unreachable),
            audited("new1", with_one_service("new1")),
        ],
    )
}

#[test]
fn the_diff_table() {
    insta::assert_snapshot!(render_diff(&the_fixture(), None));
}

fn rendered(write: fn(&DiffReport, &mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&the_fixture(), &mut out).expect("rendered");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_diff_as_csv() {
    insta::assert_snapshot!(rendered(crate::report::diff_csv));
}

#[test]
fn the_diff_as_nagios() {
    insta::assert_snapshot!(rendered(crate::report::diff_nagios));
}

#[test]
fn the_diff_as_openmetrics() {
    insta::assert_snapshot!(rendered(crate::report::diff_metrics));
}

#[test]
fn the_diff_as_html() {
    let page = rendered(crate::report::diff_html);
    // The inline style and script are the fleet page's, snapshotted there.
    let body = page.split("<body>").nth(1).expect("a body");
    insta::assert_snapshot!(body);
}

#[test]
fn the_diff_nagios_status_is_warning_when_something_is_new() {
    use crate::report::{NagiosStatus, diff_nagios_status};
    assert_eq!(diff_nagios_status(&the_fixture()), NagiosStatus::Warning);
    let only_fixed = diff(
        vec![audited("web1", with_findings("web1"))],
        vec![audited("web1", nginx_restarted("web1"))],
    );
    assert_eq!(diff_nagios_status(&only_fixed), NagiosStatus::Ok);
}

/// What a compromised host can put in its name, a unit name and a package name.
const HOSTILE: &str =
    "<script>alert(1)</script>=cmd|' /C calc'!A0\x1b[31m\x1b]8;;x\x07ünïcødé\u{202e}\r\t\"'";

/// A host named [`HOSTILE`] with a stale service and a package of hostile names.
fn hostile_host() -> (&'static str, Report) {
    let mut report = with_one_service(HOSTILE);
    report.actions.services[0].unit = format!("{HOSTILE}.service");
    report.packages[0].name = HOSTILE.into();
    (HOSTILE, report)
}

#[test]
fn host_strings_reach_the_diff_table_sanitised() {
    let (hostile, report) = hostile_host();
    let d = diff(vec![], vec![audited(hostile, report)]);
    let text = render_diff(&d, None);
    for bad in ['\x1b', '\x07', '\r', '\u{202e}'] {
        assert!(!text.contains(bad), "{bad:?} leaked:\n{text}");
    }
    assert!(text.contains("ünïcødé"), "{text}");
    let json: serde_json::Value = {
        let mut out = Vec::new();
        crate::report::diff_json(&d, &mut out).expect("json");
        serde_json::from_slice(&out).expect("valid JSON")
    };
    assert_eq!(
        json["hosts"][0]["host"], hostile,
        "JSON keeps the data as is"
    );
}

#[test]
fn the_diff_as_junit_fails_the_hosts_with_something_new() {
    let (hostile, report) = hostile_host();
    let d = diff(
        vec![
            audited("web1", with_findings("web1")),
            audited("db1", clean("db1")),
        ],
        vec![
            audited("web1", nginx_restarted("web1")),
            failed("db1", Failure::Timeout),
            audited(hostile, report),
        ],
    );
    let mut out = Vec::new();
    crate::report::diff_junit(&d, &mut out).expect("junit");
    let text = String::from_utf8(out).expect("utf-8");
    let xml = roxmltree::Document::parse(&text).expect("well-formed XML");
    let suite = xml
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    assert_eq!(suite.attribute("name"), Some("diff"));
    assert_eq!(suite.attribute("tests"), Some("3"));
    assert_eq!(suite.attribute("failures"), Some("2"));
    let cases: Vec<(String, bool)> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| {
            let failed = n.children().any(|c| c.has_tag_name("failure"));
            (n.attribute("name").unwrap_or_default().to_string(), failed)
        })
        .collect();
    assert_eq!(cases[0], ("web1".to_string(), false), "only fixed");
    assert_eq!(cases[1], ("db1".to_string(), true), "failing now");
    let (name, failed_now) = &cases[2];
    assert!(*failed_now, "a new host with a stale service");
    assert!(name.starts_with("<script>alert(1)</script>=cmd"), "{name}");
    assert!(name.contains("ünïcødé"), "{name}");
    for bad in ['\x1b', '\x07'] {
        assert!(!text.contains(bad), "{bad:?} in the XML");
    }
    let failure = suite
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .nth(1)
        .expect("the new host's failure");
    assert!(
        failure
            .text()
            .unwrap_or_default()
            .contains("service <script>"),
        "{text}"
    );
}
