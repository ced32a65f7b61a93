//! The CSV, JUnit, Nagios and OpenMetrics renderers on the fixture reports of
//! [`super::hostile`]: insta snapshots (`src/report/snapshots/`) of each, and checks that no
//! hostile string leaks. Independent parsers read the same output in
//! tests/report_formats.rs.

use super::hostile::{HOSTILE, hostile_fleet, sample_fleet};
use super::nagios::LimitSpec;
use super::*;
use crate::test_reports::with_findings;

fn fleet_text(format: &dyn Render, report: &FleetReport) -> String {
    let mut out = Vec::new();
    format.fleet(report, &mut out).expect("rendered");
    String::from_utf8(out).expect("utf8")
}

fn host_text(format: &dyn Render) -> String {
    let mut out = Vec::new();
    format
        .host(&with_findings("web1"), &mut out)
        .expect("rendered");
    String::from_utf8(out).expect("utf8")
}

const NAGIOS: Nagios = Nagios {
    thresholds: Thresholds {
        warning: nagios::Limits {
            services: Some(1),
            reboot: Some(1),
            unreachable: Some(1),
        },
        critical: nagios::Limits {
            services: None,
            reboot: None,
            unreachable: None,
        },
    },
};

/// Every format of this file, by name.
fn formats() -> [(&'static str, Box<dyn Render>); 6] {
    [
        ("csv", Box::new(Csv::Findings)),
        ("csv_hosts", Box::new(Csv::Hosts)),
        ("csv_policy", Box::new(Csv::Policy)),
        ("junit", Box::new(Junit)),
        ("nagios", Box::new(NAGIOS)),
        ("openmetrics", Box::new(OpenMetrics)),
    ]
}

#[test]
fn every_format_on_the_sample_fleet() {
    for (name, format) in formats() {
        insta::assert_snapshot!(
            format!("sample_{name}"),
            fleet_text(format.as_ref(), &sample_fleet())
        );
    }
}

#[test]
fn every_format_on_one_host_goes_through_the_fleet_path() {
    for (name, format) in formats() {
        let host = host_text(format.as_ref());
        let fleet = host_as_fleet(&with_findings("web1")).expect("a fleet of one");
        assert_eq!(host, fleet_text(format.as_ref(), &fleet), "{name}");
        insta::assert_snapshot!(format!("host_{name}"), host);
    }
}

#[test]
fn every_format_on_the_hostile_fleet() {
    for (name, format) in formats() {
        let text = fleet_text(format.as_ref(), &hostile_fleet());
        // CSV is data and keeps every string as the host gave it (checked below).
        assert!(
            name.starts_with("csv") || !text.contains(['\u{1b}', '\u{202e}']),
            "{name}: terminal escape or bidi override leaked"
        );
        insta::assert_snapshot!(format!("hostile_{name}"), text);
    }
}

#[test]
fn hostile_csv_cells_round_trip_and_never_start_a_formula() {
    for shape in [Csv::Findings, Csv::Hosts, Csv::Policy] {
        let text = fleet_text(&shape, &hostile_fleet());
        assert!(text.ends_with("\r\n"), "CRLF line ends");
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let rows: Vec<::csv::StringRecord> =
            reader.records().collect::<Result<_, _>>().expect("parses");
        let expected_rows = match shape {
            // Three processes with two stale files each, and the failed host's row.
            Csv::Findings => 1 + 6 + 1,
            Csv::Hosts => 1 + 2,
            // Two rules, each broken once.
            Csv::Policy => 1 + 2,
        };
        assert_eq!(rows.len(), expected_rows, "{shape:?}");
        for cell in rows.iter().flatten() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{shape:?}: formula cell {cell:?}"
            );
        }
        if shape == Csv::Policy {
            let violation = &rows[1];
            assert!(violation[0].starts_with("'=rule"), "{violation:?}");
            assert!(violation[3].starts_with("'=inv"), "{violation:?}");
            assert_eq!(&rows[2][3], "", "a fleet-wide violation names no host");
            continue;
        }
        let mut hosts: Vec<&str> = rows[1..].iter().map(|r| &r[0]).collect();
        hosts.dedup();
        let expected: Vec<String> = hostile_fleet()
            .hosts
            .iter()
            .map(|h| format!("'{}", h.host))
            .collect();
        assert_eq!(hosts, expected, "{shape:?}: host names round-trip");
    }
}

#[test]
fn a_failed_host_is_one_findings_row() {
    let text = fleet_text(&Csv::Findings, &sample_fleet());
    let rows: Vec<&str> = text
        .split("\r\n")
        .filter(|r| r.starts_with("old1,"))
        .collect();
    assert_eq!(
        rows,
        ["old1,failed,,,,,,,,,,,unreachable,connection refused"]
    );
}

#[test]
fn hostile_nagios_keeps_one_status_line_and_its_perfdata() {
    let text = fleet_text(&NAGIOS, &hostile_fleet());
    let first = text.lines().next().expect("a status line");
    assert!(first.starts_with("PATCHGAP CRITICAL - "), "{first}");
    assert_eq!(first.matches('|').count(), 1, "{first}");
    assert!(
        text.lines().skip(1).all(|l| !l.contains('|')),
        "a detail line starts no perfdata"
    );
    // The evil host, the failed one, and the two policy rules that did not pass.
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(!text.contains('\r'));
}

#[test]
fn nagios_status_follows_thresholds_and_policy() {
    let sample = sample_fleet();
    assert_eq!(
        nagios_status(&sample, &Thresholds::default()),
        NagiosStatus::Warning
    );
    let critical: LimitSpec = "unreachable=2".parse().expect("valid");
    assert_eq!(
        nagios_status(&sample, &Thresholds::new(None, Some(&critical))),
        NagiosStatus::Critical,
        "two hosts failed"
    );
    let quiet: LimitSpec = "services=off,reboot=off,unreachable=off"
        .parse()
        .expect("valid");
    assert_eq!(
        nagios_status(&sample, &Thresholds::new(Some(&quiet), None)),
        NagiosStatus::Ok
    );
    assert_eq!(
        nagios_status(&hostile_fleet(), &Thresholds::new(Some(&quiet), None)),
        NagiosStatus::Critical,
        "a failing policy is CRITICAL"
    );
    let mut nothing_audited = sample_fleet();
    nothing_audited
        .hosts
        .retain(|h| matches!(h.result, crate::outcome::HostResult::Failed { .. }));
    assert_eq!(
        nagios_status(&nothing_audited, &Thresholds::default()),
        NagiosStatus::Unknown
    );
}

#[test]
fn hostile_openmetrics_lines_are_all_samples_or_comments() {
    let text = fleet_text(&OpenMetrics, &hostile_fleet());
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP patchgap_")
                || line.starts_with("# TYPE patchgap_")
                || line.starts_with("patchgap_"),
            "{line:?}"
        );
    }
    assert!(!text.contains('\r'));
    assert!(
        text.contains(r#"rule="=rule<script>"#),
        "policy rules shown"
    );
}

#[test]
fn hostile_junit_escapes_markup() {
    let text = fleet_text(&Junit, &hostile_fleet());
    assert!(!text.contains("<script>"), "markup escaped");
    assert!(text.contains("&lt;script&gt;"));
    // Controls are dropped (tabs too, by quick-junit); line breaks stay in the text.
    for fragment in HOSTILE
        .iter()
        .filter(|f| f.is_ascii() && !f.contains(['\n', '\r', '\t', '\u{1b}']))
    {
        let escaped = fragment
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let attribute = escaped.replace('"', "&quot;").replace('\'', "&apos;");
        assert!(
            text.contains(&escaped) || text.contains(&attribute),
            "{fragment:?} kept, escaped"
        );
    }
}

/// 64 cases unless `PROPTEST_CASES` asks for another number.
fn property_cases() -> proptest::test_runner::Config {
    let mut config = proptest::test_runner::Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

/// A fleet of one audited host and one failed host, both named `name`, the audited one's
/// unit, comm and path `text`, the failed one's message `text`.
fn fleet_with(name: &str, text: &str) -> FleetReport {
    let mut report = with_findings("h");
    report.processes[0].comm = text.into();
    report.processes[0].findings[0].path = text.into();
    report.actions.services[0].unit = text.into();
    super::tests::fleet_report(vec![
        crate::test_outcomes::audited(name, report, false),
        crate::test_outcomes::failed(name, crate::outcome::Failure::Timeout, text),
    ])
}

proptest::proptest! {
    #![proptest_config(property_cases())]

    /// Any host string comes back from the CSV as it was, behind a `'` where it would
    /// start a formula, and no cell starts one.
    #[test]
    fn csv_cells_round_trip(name in "\\PC*", text in ".*") {
        let csv = fleet_text(&Csv::Findings, &fleet_with(&name, &text));
        let mut reader = ::csv::ReaderBuilder::new().from_reader(csv.as_bytes());
        let rows: Vec<::csv::StringRecord> =
            reader.records().collect::<Result<_, _>>().expect("parses");
        for cell in rows.iter().flatten() {
            proptest::prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']));
        }
        proptest::prop_assert_eq!(&rows[0][0], super::csv::neutralise(&name));
        proptest::prop_assert_eq!(&rows[0][5], super::csv::neutralise(&text));
        proptest::prop_assert_eq!(&rows[0][6], super::csv::neutralise(&text));
        proptest::prop_assert_eq!(&rows[rows.len() - 1][13], super::csv::neutralise(&text));
    }

    /// Whatever the strings, Nagios output is one status line with one `|`, then one line
    /// per host, and the metrics file has only samples and comments.
    #[test]
    fn nagios_and_metrics_keep_their_lines(name in ".*", text in ".*") {
        let fleet = fleet_with(&name, &text);
        let nagios = fleet_text(&NAGIOS, &fleet);
        let lines: Vec<&str> = nagios.lines().collect();
        proptest::prop_assert_eq!(lines.len(), 3, "{:?}", nagios);
        proptest::prop_assert_eq!(nagios.matches('|').count(), 1);
        proptest::prop_assert!(!nagios.contains(|c: char| c.is_control() && c != '\n'));
        let metrics = fleet_text(&OpenMetrics, &fleet);
        for line in metrics.lines() {
            proptest::prop_assert!(
                line.starts_with("# HELP patchgap_")
                    || line.starts_with("# TYPE patchgap_")
                    || line.starts_with("patchgap_"),
                "{:?}", line
            );
        }
        proptest::prop_assert!(!metrics.contains('\r'));
    }
}

#[test]
fn a_rule_that_passed_is_one_policy_row() {
    use super::policy_outcome::{Level, PolicyOutcome, RuleOutcome};
    let mut report = sample_fleet();
    report.policy = Some(PolicyOutcome {
        source: "policy.yaml".into(),
        level: Level::Pass,
        rules: vec![RuleOutcome {
            id: "reboot#1".into(),
            description: "a reboot may be pending for at most 7 days".into(),
            level: Level::Pass,
            violations: Vec::new(),
        }],
    });
    assert_eq!(
        fleet_text(&Csv::Policy, &report),
        "rule,description,level,host,subject,detail\r\n\
         reboot#1,a reboot may be pending for at most 7 days,pass,,,\r\n"
    );
}
