//! Fixture reports shared by every format's tests: a plain fleet with each kind of finding
//! ([`sample_fleet`]), and a hostile one ([`hostile_fleet`]) whose host-supplied strings
//! (hostnames, unit names, paths, comm, packages, versions, reboot reasons, failure
//! messages, policy rules) carry markup, spreadsheet formulas, quotes, line breaks, terminal
//! escapes and bidirectional overrides: whatever a compromised host could print. Every
//! renderer must keep them inert, checked here and, with independent parsers, by
//! tests/report_formats.rs, which reads the JSON copies of these reports in tests/data/
//! ([`saved_fixtures_are_current`] keeps them in step).

use patchgap_probe::report::{
    Finding, FindingKind, IntegrityFinding, IntegrityReport, NowAtPath, Owner, Problem, ReasonKind,
    RebootReason, Severity,
};

use super::policy_outcome::{Level, PolicyOutcome, RuleOutcome, Violation};
use super::tests::{fleet, fleet_report};
use super::{FleetReport, Json, Render};
use crate::outcome::{Failure, HostOutcome};
use crate::test_outcomes::{audited, failed};
use crate::test_reports::{clean, with_findings};

/// Every hostile fragment; each appears in some host-supplied string of [`hostile_fleet`].
pub const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@x",
    "\"double\" 'single'",
    "line\nbreak",
    "carriage\rreturn",
    "tab\there",
    "\u{1b}[31mred",
    "\u{1b}]8;;http://evil.example/\u{1b}\\link",
    "ünïcødé",
    "rtl\u{202e}txt.exe",
];

/// A reboot reason of kind `kind`.
fn reason(kind: ReasonKind, message: &str) -> RebootReason {
    RebootReason {
        kind,
        message: message.into(),
        packages: vec!["linux-image-amd64".into()],
    }
}

/// A host waiting for a reboot, with a modified library in use.
fn rebooting(hostname: &str) -> patchgap_probe::Report {
    let mut report = clean(hostname);
    report.reboot.needed = true;
    report.reboot.reasons.push(reason(
        ReasonKind::Kernel,
        "kernel 6.1.0-28-amd64 installed, running 6.1.0-27-amd64",
    ));
    report.integrity = Some(IntegrityReport {
        findings: vec![IntegrityFinding {
            path: "/usr/lib/x86_64-linux-gnu/libpgtest.so.1".into(),
            package: "libpgtest1".into(),
            conffile: false,
            problem: Problem::ModifiedInUse {
                expected: "0".repeat(32),
                actual: "f".repeat(32),
                pids: vec![42],
            },
            severity: Severity::High,
        }],
        ..IntegrityReport::default()
    });
    report
}

/// The fleet of the table tests, plus a host waiting for a reboot with an integrity finding.
pub fn sample_fleet() -> FleetReport {
    let mut hosts = fleet();
    hosts.insert(4, audited("boot1", rebooting("boot1"), false));
    fleet_report(hosts)
}

/// `text` with every hostile fragment in it.
fn all(prefix: &str) -> String {
    format!("{prefix}{}", HOSTILE.concat())
}

/// A host whose every string is hostile, one that failed with a hostile message, and a
/// policy whose rules and violations are hostile too.
pub fn hostile_fleet() -> FleetReport {
    let mut report = with_findings("evil");
    report.host.hostname = all("host");
    for (i, process) in report.processes.iter_mut().enumerate() {
        process.comm = HOSTILE[i % HOSTILE.len()].into();
        process.owner = Owner::Service {
            unit: format!("{}.service", HOSTILE[(i + 1) % HOSTILE.len()]),
        };
        process.findings.push(Finding {
            kind: FindingKind::MapDeleted,
            path: all("/usr/lib/"),
            package: Some(all("pkg")),
            now_at_path: NowAtPath::Nothing,
            severity: Severity::Normal,
        });
    }
    // Formula starts where a spreadsheet looks: the first character of a cell.
    for (service, start) in report.actions.services.iter_mut().zip(["=", "+", "@"]) {
        service.unit = format!("{start}{}", all("unit"));
        service.packages = vec![all("-pkg")];
    }
    report.packages[0].name = all("pkg");
    report.packages[0].version = Some(all("="));
    report.packages[0].previous_version = Some(all("-"));
    report.actions.sessions[0].name = all("@session");
    report.reboot.needed = true;
    report.reboot.reasons = vec![reason(ReasonKind::FlagFile, &all("reason"))];
    report.warnings.push(all("warning"));
    let mut evil = audited(&all("=inv"), report, false);
    evil.address = all("addr");
    let gone: HostOutcome = failed(&all("+gone"), Failure::ProbeFailed, &all("-message"));
    let mut fleet = fleet_report(vec![evil, gone]);
    fleet.policy = Some(PolicyOutcome {
        source: all("policy.yaml"),
        level: Level::Fail,
        rules: vec![
            RuleOutcome {
                id: all("=rule"),
                description: all("a service may run replaced code for at most 72 h"),
                level: Level::Fail,
                violations: vec![Violation {
                    host: Some(all("=inv")),
                    subject: all("@unit"),
                    detail: all("has run replaced code for 96 h"),
                }],
            },
            RuleOutcome {
                id: "sessions".into(),
                description: "warn for user sessions".into(),
                level: Level::Warn,
                violations: vec![Violation {
                    host: None,
                    subject: all("+session"),
                    detail: all("stale"),
                }],
            },
        ],
    });
    fleet
}

/// The JSON files tests/report_formats.rs renders with the binary, each with the report it
/// must hold. Rewritten by `PATCHGAP_UPDATE_FIXTURES=1 cargo test --lib saved_fixtures`.
fn saved_fixtures() -> Vec<(&'static str, String)> {
    let json = |r: &FleetReport| {
        let mut out = Vec::new();
        Json.fleet(r, &mut out).expect("renders");
        String::from_utf8(out).expect("utf8")
    };
    let mut host = Vec::new();
    Json.host(&with_findings("web1"), &mut host)
        .expect("renders");
    vec![
        ("sample-fleet.json", json(&sample_fleet())),
        ("hostile-fleet.json", json(&hostile_fleet())),
        ("host-findings.json", String::from_utf8(host).expect("utf8")),
    ]
}

#[test]
fn saved_fixtures_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let update = std::env::var_os("PATCHGAP_UPDATE_FIXTURES").is_some();
    for (name, text) in saved_fixtures() {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &text).expect("fixture written");
        }
        let saved = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            saved == text,
            "{} is stale: run PATCHGAP_UPDATE_FIXTURES=1 cargo test --lib saved_fixtures",
            path.display()
        );
    }
}

#[test]
fn the_hostile_fleet_carries_every_fragment() {
    let json = serde_json::to_string(&hostile_fleet()).expect("json");
    for fragment in HOSTILE {
        let escaped = serde_json::to_string(fragment).expect("json");
        assert!(
            json.contains(escaped.trim_matches('"')),
            "{fragment:?} missing"
        );
    }
}
