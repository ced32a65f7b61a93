//! Policy files (parsing, every validation error) and their evaluation on reports built
//! in code: ages are set relative to each report's `scanned_at`, so nothing depends on
//! the clock.

use patchgap_probe::Report;
use patchgap_probe::report::{
    Finding, FindingKind, IntegrityFinding, IntegrityReport, NowAtPath, Owner, Problem, ReasonKind,
    RebootReason, Severity, StaleProcess, UpgradedPackage,
};
use proptest::prelude::*;

use super::*;
use crate::outcome::{Failure, HostOutcome};
use crate::report::{ControllerInfo, FleetReport, Level, Violation};
use crate::test_outcomes::{audited_host, failed_host};
use crate::test_reports::{clean, with_findings};

const HOUR: i64 = 3600;
const SCANNED_AT: i64 = 1_700_000_000;

fn policy(yaml: &str) -> Policy {
    Policy::parse("policy.yaml", yaml).expect("a valid policy")
}

fn error(yaml: &str) -> String {
    Policy::parse("site/policy.yaml", yaml)
        .expect_err("an invalid policy")
        .to_string()
}

fn audited(host: &str, report: Report) -> HostOutcome {
    audited_host(host, report)
}

fn failed(host: &str) -> HostOutcome {
    failed_host(host, Failure::Unreachable)
}

fn fleet(hosts: Vec<HostOutcome>) -> FleetReport {
    FleetReport::new(ControllerInfo::new(0, 0), hosts)
}

/// A host scanned at [`SCANNED_AT`] with one process of `owner`, stale for `age` seconds
/// (`None`: unknown), using `path` of `package`.
fn stale(owner: Owner, age: Option<i64>, path: &str, package: &str) -> Report {
    let mut report = clean("h");
    report.host.scanned_at = SCANNED_AT;
    report.processes.push(StaleProcess {
        pid: 42,
        ppid: 1,
        uid: 0,
        comm: "daemon".into(),
        exe: Some("/usr/sbin/daemon".into()),
        started_at: None,
        owner,
        stale_since: age.map(|a| SCANNED_AT - a),
        findings: vec![Finding {
            kind: FindingKind::MapDeleted,
            path: path.into(),
            package: Some(package.into()),
            now_at_path: NowAtPath::AnotherFile,
            severity: Severity::Normal,
        }],
    });
    report
}

fn service(unit: &str, age: Option<i64>) -> Report {
    stale(
        Owner::Service { unit: unit.into() },
        age,
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "libssl3:amd64",
    )
}

fn rule_levels(policy: &Policy, report: &FleetReport) -> Vec<(String, Level, usize)> {
    evaluate(policy, report)
        .outcome
        .rules
        .into_iter()
        .map(|r| (r.id, r.level, r.violations.len()))
        .collect()
}

#[test]
fn the_documented_example_is_valid() {
    let text = include_str!("../../examples/policy.yaml");
    let policy = Policy::parse("examples/policy.yaml", text).expect("example parses");
    assert_eq!(policy.rules.len(), 9);
    assert_eq!(policy.rules[0].id, "services-patched-within-72h");
    assert_eq!(
        policy.rules[1].id, "stale_services#2",
        "unnamed: kind and position"
    );
    assert_eq!(
        policy.rules[0].check.to_string(),
        "a service may run replaced code for at most 72h"
    );
    assert_eq!(policy.ignore.len(), 3);
    assert!(policy.ignore[0].whole_host());
}

#[test]
fn errors_name_the_file_the_place_and_the_fix() {
    let cases = [
        // (policy, what the message must contain)
        (
            "version: 1\nrules:\n  - kind: stale_services\n    level: fail\n    max_ages: 72h\n",
            vec!["site/policy.yaml", "line 5, column 5", "unknown field"],
        ),
        (
            "version: 1\nrules:\n  - kind: stale_services\n    level: fail\n    max_age: 72\n",
            vec!["line 5", "no unit", "`72h`"],
        ),
        (
            "version: 1\nrules:\n  - kind: stale_services\n    level: fail\n    max_age: 3 fortnights\n",
            vec!["line 5", "duration `3 fortnights`", "`7d`"],
        ),
        (
            "version: 1\nrules:\n  - kind: reboots\n    level: fail\n",
            vec!["line 3", "unknown variant `reboots`", "reboot_pending"],
        ),
        (
            "version: 1\nrules:\n  - kind: sessions\n    level: error\n",
            vec!["line 4", "unknown variant `error`", "warn", "fail"],
        ),
        (
            "version: 1\nrules:\n  - kind: sessions\n",
            vec!["missing field `level`"],
        ),
        (
            "version: 1\nrules:\n  - kind: sessions\n    name: users\n    level: warn\n    max_age: 1d\n",
            vec![
                "rule `users` (sessions#1)",
                "`max_age` does not apply",
                "remove it",
            ],
        ),
        (
            "version: 1\nrules:\n  - kind: sessions\n    level: warn\n  - kind: failed_hosts\n    level: fail\n",
            vec!["rule failed_hosts#2", "needs `max`", "`max: 10%`"],
        ),
        (
            "version: 1\nrules:\n  - kind: failed_hosts\n    level: fail\n    max: 150%\n",
            vec!["line 5", "`150%` is not between 0% and 100%"],
        ),
        (
            "version: 1\nrules:\n  - kind: failed_hosts\n    level: fail\n    max: lots\n",
            vec!["line 5", "`lots` is not a number of hosts"],
        ),
        (
            "version: 1\nrules:\n  - kind: integrity\n    level: fail\n    problems: [tampered]\n",
            vec!["line 5", "unknown variant `tampered`", "modified_in_use"],
        ),
        (
            "version: 1\nrules:\n  - kind: sessions\n    name: x\n    level: warn\n  - kind: containers\n    name: x\n    level: warn\n",
            vec!["rule `x` (containers#2)", "already named `x`"],
        ),
        (
            "version: 2\nrules: []\n",
            vec!["`version: 2` is not supported", "`version: 1`"],
        ),
        ("rules: []\n", vec!["missing field `version`"]),
        (
            "version: 1\nignore:\n  - {}\n",
            vec!["ignore entry 1", "names nothing to ignore"],
        ),
        (
            "version: 1\nignore:\n  - unit: [cron.service]\n",
            vec!["line 3", "unknown field `unit`", "units"],
        ),
    ];
    for (yaml, expected) in cases {
        let message = error(yaml);
        assert!(
            message.starts_with("policy file site/policy.yaml"),
            "{message}"
        );
        for part in expected {
            assert!(message.contains(part), "`{part}` not in: {message}");
        }
    }
}

#[test]
fn durations_and_limits_parse_as_people_write_them() {
    for (text, secs) in [
        ("30m", 1800),
        ("72h", 72 * HOUR),
        ("7d", 7 * 24 * HOUR),
        ("1d 12h", 36 * HOUR),
    ] {
        assert_eq!(Age::parse(text).expect(text).secs, secs, "{text}");
    }
    for bad in ["", "72", "0h", "h", "-1h"] {
        assert!(Age::parse(bad).is_err(), "{bad}");
    }
    let count = HostLimit::Count(2);
    assert!(!count.exceeded(2, 100));
    assert!(count.exceeded(3, 100));
    let share = HostLimit::Percent(10.0);
    assert!(!share.exceeded(1, 10), "10% of 10 is 1");
    assert!(share.exceeded(2, 10));
    assert!(share.exceeded(1, 9), "1 of 9 is more than 10%");
    assert!(!HostLimit::Percent(0.0).exceeded(0, 0), "an empty fleet");
}

#[test]
fn stale_services_by_age_measured_from_the_scan() {
    let policy = policy(
        "version: 1\nrules:\n  - kind: stale_services\n    name: old\n    level: fail\n    max_age: 72h\n  - kind: stale_services\n    name: any\n    level: warn\n",
    );
    // (age of the stale service, expected (old, any))
    let cases = [
        (Some(96 * HOUR), (Level::Fail, Level::Warn)),
        (Some(72 * HOUR), (Level::Pass, Level::Warn)),
        (Some(HOUR), (Level::Pass, Level::Warn)),
        // Unknown: taken as stale since the scan, within any limit, said so otherwise.
        (None, (Level::Pass, Level::Warn)),
    ];
    for (age, (old, any)) in cases {
        let report = fleet(vec![audited("web1", service("nginx.service", age))]);
        let outcome = evaluate(&policy, &report).outcome;
        assert_eq!(
            (outcome.rules[0].level, outcome.rules[1].level),
            (old, any),
            "{age:?}"
        );
        assert_eq!(outcome.level, old.max(any));
    }
    let report = fleet(vec![audited(
        "web1",
        service("nginx.service", Some(96 * HOUR)),
    )]);
    let outcome = evaluate(&policy, &report).outcome;
    assert_eq!(
        outcome.rules[0].violations,
        [Violation {
            host: Some("web1".into()),
            subject: "nginx.service".into(),
            detail: "runs replaced code for 4 d (limit 72h) (daemon; 1 process(es))".into(),
        }]
    );
    let unknown = fleet(vec![audited("web1", service("nginx.service", None))]);
    let outcome = evaluate(&policy, &unknown).outcome;
    assert!(
        outcome.rules[1].violations[0]
            .detail
            .contains("since an unknown time"),
        "{:?}",
        outcome.rules[1]
    );
}

#[test]
fn sessions_containers_and_the_system_manager() {
    let policy = policy(
        "version: 1\nrules:\n  - {kind: sessions, level: warn}\n  - {kind: containers, level: fail}\n  - {kind: system_manager, level: warn}\n  - {kind: stale_services, level: fail}\n",
    );
    let lib = "/usr/lib/x86_64-linux-gnu/libc.so.6";
    let session = stale(
        Owner::Session {
            id: "4".into(),
            uid: Some(1000),
        },
        Some(HOUR),
        lib,
        "libc6",
    );
    let user = stale(
        Owner::UserManager {
            uid: 1000,
            unit: None,
        },
        Some(HOUR),
        lib,
        "libc6",
    );
    let container = stale(
        Owner::Container {
            runtime: "docker".into(),
            id: "abc".into(),
            unit: None,
        },
        Some(HOUR),
        lib,
        "libc6",
    );
    let pid1 = stale(Owner::SystemManager, Some(HOUR), lib, "libc6");
    let cases = [
        (session, ["sessions#1", "session-4.scope"], Level::Warn),
        (user, ["sessions#1", "user@1000.service"], Level::Warn),
        (container, ["containers#2", "docker:abc"], Level::Fail),
        (pid1, ["system_manager#3", "systemd (PID 1)"], Level::Warn),
    ];
    for (report, [rule, subject], level) in cases {
        let outcome = evaluate(&policy, &fleet(vec![audited("h1", report)])).outcome;
        let broken: Vec<(&str, &str)> = outcome
            .rules
            .iter()
            .flat_map(|r| {
                r.violations
                    .iter()
                    .map(|v| (r.id.as_str(), v.subject.as_str()))
            })
            .collect();
        assert_eq!(broken, [(rule, subject)]);
        assert_eq!(outcome.level, level);
    }
}

fn reboot(since: &[i64], reasons: &[&str]) -> Report {
    let mut report = clean("h");
    report.host.scanned_at = SCANNED_AT;
    report.reboot.needed = true;
    report.reboot.reasons = reasons
        .iter()
        .map(|m| RebootReason {
            kind: ReasonKind::Kernel,
            message: m.to_string(),
            packages: Vec::new(),
        })
        .collect();
    report.reboot.upgraded_since_boot = since
        .iter()
        .map(|age| UpgradedPackage {
            name: "linux-image-amd64".into(),
            version: None,
            changed_at: SCANNED_AT - age,
        })
        .collect();
    report
}

#[test]
fn a_pending_reboot_is_as_old_as_the_first_package_changed_since_boot() {
    let policy = policy(
        "version: 1\nrules:\n  - {kind: reboot_pending, name: week, level: fail, max_age: 7d}\n  - {kind: reboot_pending, name: any, level: warn}\n",
    );
    let kernel = "kernel 6.1.0-28-amd64 installed, running 6.1.0-27-amd64";
    let cases = [
        (
            reboot(&[8 * 24 * HOUR, HOUR], &[kernel]),
            [(Level::Fail, 1), (Level::Warn, 1)],
        ),
        (
            reboot(&[6 * 24 * HOUR], &[kernel]),
            [(Level::Pass, 0), (Level::Warn, 1)],
        ),
        // The flag file alone gives no time: pending now.
        (
            reboot(&[], &["/run/reboot-required"]),
            [(Level::Pass, 0), (Level::Warn, 1)],
        ),
        // A container whose own packages changed after it started needs a restart like
        // any host needs a reboot.
        (
            {
                let mut report = reboot(&[HOUR], &["upgraded after the container started: libc6"]);
                report.reboot.container = true;
                report
            },
            [(Level::Pass, 0), (Level::Warn, 1)],
        ),
        (clean("h"), [(Level::Pass, 0), (Level::Pass, 0)]),
    ];
    for (report, expected) in cases {
        let levels = rule_levels(&policy, &fleet(vec![audited("h1", report)]));
        let got: Vec<(Level, usize)> = levels.iter().map(|(_, l, n)| (*l, *n)).collect();
        assert_eq!(got, expected);
    }
    let outcome = evaluate(
        &policy,
        &fleet(vec![audited("h1", reboot(&[8 * 24 * HOUR], &[kernel]))]),
    )
    .outcome;
    assert_eq!(
        outcome.rules[0].violations[0].detail,
        format!("pending for 8 d (limit 7d): {kernel}")
    );
    let flag = evaluate(&policy, &fleet(vec![audited("h1", reboot(&[], &["flag"]))])).outcome;
    assert_eq!(
        flag.rules[1].violations[0].detail,
        "pending since an unknown time: flag"
    );
    // A container's kernel and microcode are its machine's: the probe never gives them as
    // a container's reasons, so the policy takes `needed` as it comes, containers too.
}

fn integrity(findings: &[(&str, Problem, bool)]) -> Report {
    let mut report = clean("h");
    report.integrity = Some(IntegrityReport {
        findings: findings
            .iter()
            .map(|(path, problem, conffile)| IntegrityFinding {
                path: path.to_string(),
                package: "bash".into(),
                conffile: *conffile,
                problem: problem.clone(),
                severity: Severity::Normal,
            })
            .collect(),
        ..IntegrityReport::default()
    });
    report
}

#[test]
fn integrity_problems_by_kind() {
    let policy = policy(
        "version: 1\nrules:\n  - {kind: integrity, level: fail, problems: [modified_in_use]}\n  - {kind: integrity, level: warn, problems: [changed, missing]}\n  - {kind: integrity, level: warn, problems: [conffile_modified, unreadable]}\n  - {kind: integrity, level: fail}\n",
    );
    let changed = Problem::Changed {
        expected: "a".into(),
        actual: "b".into(),
    };
    let in_use = Problem::ModifiedInUse {
        expected: "a".into(),
        actual: "b".into(),
        pids: vec![1],
    };
    let report = integrity(&[
        ("/usr/bin/bash", in_use, false),
        ("/usr/bin/sh", changed.clone(), false),
        ("/etc/bash.bashrc", changed, true),
        ("/usr/share/doc/bash/x", Problem::Missing, false),
        ("/etc/skel/.bashrc", Problem::Missing, true),
    ]);
    let levels = rule_levels(&policy, &fleet(vec![audited("h1", report)]));
    assert_eq!(
        levels,
        [
            ("integrity#1".to_string(), Level::Fail, 1),
            ("integrity#2".to_string(), Level::Warn, 2),
            ("integrity#3".to_string(), Level::Warn, 1),
            ("integrity#4".to_string(), Level::Fail, 3),
        ]
    );
    let no_check = rule_levels(&policy, &fleet(vec![audited("h1", clean("h1"))]));
    assert!(
        no_check.iter().all(|(_, l, _)| *l == Level::Pass),
        "{no_check:?}"
    );
}

#[test]
fn failed_hosts_within_a_limit_are_accepted_and_keep_no_exit_status_4() {
    let hosts = |failed_count: usize, total: usize| {
        let mut hosts: Vec<HostOutcome> = (0..failed_count)
            .map(|i| failed(&format!("f{i}")))
            .collect();
        hosts.extend((failed_count..total).map(|i| audited(&format!("a{i}"), clean("a"))));
        fleet(hosts)
    };
    let count = policy("version: 1\nrules:\n  - {kind: failed_hosts, level: fail, max: 1}\n");
    let share = policy("version: 1\nrules:\n  - {kind: failed_hosts, level: warn, max: 20%}\n");
    let none = policy("version: 1\nrules:\n  - {kind: sessions, level: warn}\n");
    // (policy, failed, total, level, hosts_failed left for exit status 4)
    let cases = [
        (&count, 1, 10, Level::Pass, 0),
        (&count, 2, 10, Level::Fail, 2),
        (&share, 2, 10, Level::Pass, 0),
        (&share, 3, 10, Level::Warn, 0),
        (&none, 1, 10, Level::Pass, 1),
        (&none, 0, 10, Level::Pass, 0),
    ];
    for (policy, failed_count, total, level, left) in cases {
        let evaluation = evaluate(policy, &hosts(failed_count, total));
        assert_eq!(
            (evaluation.outcome.level, evaluation.hosts_failed),
            (level, left),
            "{failed_count}/{total} with {:?}",
            policy.rules[0].check
        );
    }
    let broken = evaluate(&count, &hosts(2, 10)).outcome;
    assert_eq!(
        broken.rules[0].violations[0].host, None,
        "a fleet-wide rule"
    );
    assert_eq!(
        broken.rules[0].violations[0].detail,
        "2 of 10 host(s) could not be audited (limit 1): f0 (unreachable), f1 (unreachable)"
    );
}

#[test]
fn ignores_by_unit_package_path_and_host() {
    let rules = "rules:\n  - {kind: stale_services, level: fail}\n  - {kind: failed_hosts, level: fail, max: 0}\n";
    let report = || {
        fleet(vec![
            audited("web1", service("nginx.service", Some(HOUR))),
            audited("lab-1", service("cron.service", Some(HOUR))),
            failed("lab-2"),
        ])
    };
    // (ignore entries, violations left per rule)
    let cases = [
        ("[]", [2, 1]),
        ("[{units: ['nginx.*']}]", [1, 1]),
        ("[{units: ['*.service'], hosts: 'web*'}]", [1, 1]),
        ("[{packages: ['libssl3:*']}]", [0, 1]),
        ("[{paths: ['/usr/lib/*/libssl.so.[0-9]']}]", [0, 1]),
        ("[{paths: ['/usr/lib/libssl*']}]", [2, 1]),
        ("[{hosts: 'lab-*'}]", [1, 0]),
        ("[{hosts: 'db*'}]", [2, 1]),
    ];
    for (ignore, expected) in cases {
        let policy = policy(&format!("version: 1\n{rules}ignore: {ignore}\n"));
        let got: Vec<usize> = rule_levels(&policy, &report())
            .iter()
            .map(|r| r.2)
            .collect();
        assert_eq!(got, expected, "ignore: {ignore}");
    }
    let whole = policy(&format!(
        "version: 1\n{rules}ignore: [{{hosts: 'lab-*'}}]\n"
    ));
    assert_eq!(
        evaluate(&whole, &report()).hosts_failed,
        0,
        "an ignored host's failure"
    );
}

#[test]
fn the_shared_fixtures_judged() {
    let policy = policy(include_str!("../../examples/policy.yaml"));
    let report = fleet(vec![
        audited("web1", with_findings("web1")),
        audited("mon1", clean("mon1")),
    ]);
    let outcome = evaluate(&policy, &report).outcome;
    // The fixtures carry no stale-since times: within 72h, but stale services warn.
    assert_eq!(outcome.level, Level::Warn);
    let warned: Vec<&str> = outcome
        .rules
        .iter()
        .filter(|r| r.level != Level::Pass)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(warned, ["stale_services#2"]);
    assert_eq!(outcome.rules[1].violations.len(), 3, "nginx, ssh, dbus");
    assert_eq!(outcome.source, "policy.yaml");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A service breaks a `max_age` rule exactly when it has been stale longer, and the
    /// policy's level is the worst rule's.
    #[test]
    fn a_max_age_breaks_exactly_past_the_limit(age_min in 0i64..20_000, limit_min in 1i64..20_000) {
        let policy = policy(&format!(
            "version: 1\nrules:\n  - {{kind: stale_services, level: fail, max_age: {limit_min}m}}\n  - {{kind: sessions, level: warn}}\n"
        ));
        let report = fleet(vec![audited("h", service("a.service", Some(age_min * 60)))]);
        let outcome = evaluate(&policy, &report).outcome;
        let broken = age_min > limit_min;
        prop_assert_eq!(outcome.rules[0].violations.len(), usize::from(broken));
        prop_assert_eq!(outcome.level, outcome.rules.iter().map(|r| r.level).max().unwrap_or_default());
    }

    /// An ignore entry for every host leaves nothing to break.
    #[test]
    fn ignoring_every_host_always_passes(age in proptest::option::of(0i64..1_000_000), failed_count in 0usize..5) {
        let policy = policy(include_str!("../../examples/policy.yaml").replace("\"lab-*\"", "\"*\"").as_str());
        let mut hosts: Vec<HostOutcome> = (0..failed_count).map(|i| failed(&format!("f{i}"))).collect();
        hosts.push(audited("h", service("a.service", age)));
        let evaluation = evaluate(&policy, &fleet(hosts));
        prop_assert_eq!(evaluation.outcome.level, Level::Pass);
        prop_assert_eq!(evaluation.hosts_failed, 0);
    }
}
