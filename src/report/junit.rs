//! `--format junit`: JUnit XML for CI (GitLab `artifacts:reports:junit`, Jenkins' junit
//! plugin), written with quick-junit. One `<testsuite>` per host, one `<testcase>` per
//! check ([`CHECKS`]); a check that finds work to do is a `<failure>` with a readable
//! message and the details as its text. A host that could not be audited has its
//! `reachability` case as an `<error>` ("could not check") and every other case skipped. A
//! `--policy` verdict adds a `policy` testsuite with one case per rule (fail: a failure;
//! warn: a pass whose system-out lists the violations; CI gates on the exit status, not on
//! this file). Cases are named `CHECK` in class `patchgap.HOST`, so GitLab shows each once.
//!
//! Host-supplied text is made terminal-safe and stripped of what XML 1.0 cannot hold;
//! quick-xml escapes the rest. Checked against tests/data/junit.xsd by tests.

use std::io::{self, Write};
use std::time::Duration;

use patchgap_probe::Report;
use patchgap_probe::report::Problem;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::actions::{ActionKind, PendingAction, RebootVerdict, pending_actions, reboot_verdict};
use super::aggregate::failure_label;
use super::document::FleetReport;
use super::policy_outcome::{Level, PolicyOutcome};
use super::render::{Render, host_as_fleet};
use super::sanitize::for_terminal;
use crate::outcome::{HostOutcome, HostResult};

/// The checks of every host, in the order of their testcases.
pub const CHECKS: [&str; 7] = [
    "reachability",
    "services",
    "system manager",
    "sessions",
    "containers",
    "reboot",
    "integrity",
];

/// The JUnit renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Junit;

/// Host text as XML can hold it and a CI page can show it.
fn text(s: &str) -> String {
    for_terminal(s)
        .chars()
        .filter(|c| !matches!(c, '\u{fffe}' | '\u{ffff}'))
        .collect()
}

fn case(host: &str, check: &str, status: TestCaseStatus) -> TestCase {
    let mut case = TestCase::new(check, status);
    case.set_classname(format!("patchgap.{}", text(host)));
    case
}

fn failure(message: String, details: String) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(message).set_description(details);
    status
}

/// One line per action: `nginx.service: pids 100 101; packages libssl3:amd64`.
fn action_lines(actions: &[&PendingAction]) -> String {
    actions
        .iter()
        .map(|a| {
            let pids: Vec<String> = a.pids.iter().map(u32::to_string).collect();
            let mut line = format!("{}: pids {}", text(&a.name), pids.join(" "));
            if !a.packages.is_empty() {
                line.push_str(&format!("; packages {}", text(&a.packages.join(" "))));
            }
            if a.restart_refused {
                line.push_str("; restart refused (disruptive)");
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The testcase of one kind of action: passes when there is none.
fn actions_case(
    host: &str,
    check: &str,
    actions: &[PendingAction],
    kinds: &[ActionKind],
    what: &str,
) -> TestCase {
    let found: Vec<&PendingAction> = actions.iter().filter(|a| kinds.contains(&a.kind)).collect();
    if found.is_empty() {
        return case(host, check, TestCaseStatus::success());
    }
    let names: Vec<String> = found.iter().map(|a| text(&a.name)).collect();
    case(
        host,
        check,
        failure(
            format!("{what} ({}): {}", found.len(), names.join(", ")),
            action_lines(&found),
        ),
    )
}

/// An integrity problem in words.
fn problem(problem: &Problem) -> String {
    match problem {
        Problem::Changed { .. } => "content changed".into(),
        Problem::ChangedSinceBaseline { .. } => "content changed since the baseline".into(),
        Problem::ModifiedInUse { pids, .. } => {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!("content changed, in use by pids {}", pids.join(" "))
        }
        Problem::Missing => "missing".into(),
        Problem::Unreadable { error } => format!("unreadable: {}", text(error)),
    }
}

fn audited_cases(host: &str, partial: bool, report: &Report) -> Vec<TestCase> {
    let actions = pending_actions(report);
    let mut reach = case(host, "reachability", TestCaseStatus::success());
    if partial {
        let why = match report.scan.denied_reasons.as_slice() {
            [] => "some processes could not be inspected".to_string(),
            reasons => text(&reasons.join("; ")),
        };
        reach.set_system_out(format!("partial audit: {why}"));
    }
    let reboot = match reboot_verdict(report) {
        RebootVerdict::Needed { reasons } => {
            let reasons: Vec<String> = reasons.iter().map(|r| text(r)).collect();
            failure(
                format!("reboot needed: {}", reasons.join("; ")),
                reasons.join("\n"),
            )
        }
        RebootVerdict::NotNeeded | RebootVerdict::Unknown => TestCaseStatus::success(),
    };
    let integrity = match &report.integrity {
        None => {
            let mut skipped = TestCaseStatus::skipped();
            skipped.set_message("not checked (run with --integrity)");
            skipped
        }
        Some(i) if i.has_findings() => {
            let lines: Vec<String> = i
                .findings
                .iter()
                .map(|f| {
                    format!(
                        "{} ({}): {}",
                        text(&f.path),
                        text(&f.package),
                        problem(&f.problem)
                    )
                })
                .collect();
            failure(
                format!(
                    "{} packaged files differ from dpkg's sums",
                    i.findings.len()
                ),
                text(&lines.join("\n")),
            )
        }
        Some(_) => TestCaseStatus::success(),
    };
    vec![
        reach,
        actions_case(
            host,
            "services",
            &actions,
            &[ActionKind::Service, ActionKind::Other],
            "to restart",
        ),
        actions_case(
            host,
            "system manager",
            &actions,
            &[ActionKind::SystemManager],
            "runs replaced code, systemctl daemon-reexec",
        ),
        actions_case(
            host,
            "sessions",
            &actions,
            &[ActionKind::Session],
            "log out or restart the user manager",
        ),
        actions_case(
            host,
            "containers",
            &actions,
            &[ActionKind::Container],
            "restart or rebuild",
        ),
        case(host, "reboot", reboot),
        case(host, "integrity", integrity),
    ]
}

fn failed_cases(host: &str, failure: crate::outcome::Failure, message: &str) -> Vec<TestCase> {
    let mut error = TestCaseStatus::non_success(NonSuccessKind::Error);
    error
        .set_message(format!("{}: {}", failure_label(failure), text(message)))
        .set_type(failure_label(failure))
        .set_description(text(message));
    let mut cases = vec![case(host, "reachability", error)];
    for check in &CHECKS[1..] {
        let mut skipped = TestCaseStatus::skipped();
        skipped.set_message("host not audited");
        cases.push(case(host, check, skipped));
    }
    cases
}

fn host_suite(outcome: &HostOutcome, started_at: i64) -> TestSuite {
    let host = &outcome.host;
    let mut suite = TestSuite::new(text(host));
    suite.extra.insert("hostname".into(), text(host).into());
    suite.set_time(Duration::from_millis(outcome.elapsed_ms));
    if let Some(t) = chrono::DateTime::from_timestamp(started_at, 0) {
        suite.set_timestamp(t.fixed_offset());
    }
    let cases = match &outcome.result {
        HostResult::Audited { partial, report } => audited_cases(
            host,
            *partial || report.report().scan.partial,
            report.report(),
        ),
        HostResult::Failed {
            failure, message, ..
        } => failed_cases(host, *failure, message),
    };
    suite.add_test_cases(cases);
    suite
}

fn policy_suite(policy: &PolicyOutcome) -> TestSuite {
    let mut suite = TestSuite::new("policy");
    suite
        .extra
        .insert("file".into(), text(&policy.source).into());
    for rule in &policy.rules {
        let violations: Vec<String> = rule
            .violations
            .iter()
            .map(|v| {
                let host = v
                    .host
                    .as_deref()
                    .map(text)
                    .unwrap_or_else(|| "fleet".into());
                format!("{host}: {}: {}", text(&v.subject), text(&v.detail))
            })
            .collect();
        let status = match rule.level {
            Level::Fail => failure(
                format!(
                    "{} ({} violations)",
                    text(&rule.description),
                    violations.len()
                ),
                violations.join("\n"),
            ),
            Level::Warn | Level::Pass => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(text(&rule.id), status);
        case.set_classname("patchgap.policy");
        if rule.level == Level::Warn {
            case.set_system_out(format!(
                "warn: {}\n{}",
                text(&rule.description),
                violations.join("\n")
            ));
        }
        suite.add_test_case(case);
    }
    suite
}

impl Render for Junit {
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.fleet(&host_as_fleet(report)?, out)
    }

    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
        let mut junit = quick_junit::Report::new("patchgap");
        let started = report.controller.started_at;
        if let Some(t) = chrono::DateTime::from_timestamp(started, 0) {
            junit.set_timestamp(t.fixed_offset());
        }
        let seconds = report.controller.finished_at.saturating_sub(started);
        junit.set_time(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)));
        junit.add_test_suites(report.hosts.iter().map(|h| host_suite(h, started)));
        if let Some(policy) = &report.policy {
            junit.add_test_suite(policy_suite(policy));
        }
        junit.serialize(out).map_err(io::Error::other)
    }
}
