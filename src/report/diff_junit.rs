//! `patchgap diff --format junit`: the comparison as a JUnit report for CI pipelines
//! (GitLab `artifacts:reports:junit`, Jenkins). One testsuite `diff`, one testcase per
//! host: a failure when something new appeared there (its items in the failure's text),
//! a pass otherwise, with what was fixed and what is still pending in `system-out`. As the
//! consumers expect, the report never decides the job: the exit status does.
//!
//! quick-junit escapes markup and drops characters XML 1.0 cannot hold (terminal escapes,
//! other controls), so host-supplied strings cannot break or inject into the document.

use std::io;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::diff::{Column, DiffReport, HostDiff};

/// The comparison as a JUnit XML document.
pub fn diff_junit(diff: &DiffReport, out: &mut dyn io::Write) -> io::Result<()> {
    let mut suite = TestSuite::new("diff");
    suite.add_test_cases(diff.hosts.iter().map(|host| testcase(diff, host)));
    let mut report = Report::new("patchgap diff");
    report.add_test_suite(suite);
    report.serialize(out).map_err(io::Error::other)
}

fn testcase(diff: &DiffReport, host: &HostDiff) -> TestCase {
    let status = if host.has_new() {
        let new = host.column(Column::New);
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let what = match &host.failure {
            Some(failure) if new.is_empty() => format!("{} ({failure})", host.change.label()),
            _ => format!("{} new item(s)", new.len()),
        };
        status
            .set_message(format!("new since {}: {what}", diff.old.file))
            .set_type("new")
            .set_description(new.join("\n"));
        status
    } else {
        TestCaseStatus::success()
    };
    let mut case = TestCase::new(host.host.as_str(), status);
    case.set_classname("patchgap.diff");
    let mut lines = vec![format!("change: {}", host.change.label())];
    for (title, column) in [("fixed", Column::Fixed), ("still pending", Column::Pending)] {
        lines.extend(
            host.column(column)
                .into_iter()
                .map(|l| format!("{title}: {l}")),
        );
    }
    case.set_system_out(lines.join("\n"));
    case
}
