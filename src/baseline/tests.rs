use std::collections::BTreeMap;
use std::path::Path;

use patchgap_probe::report::{
    FileHash, IntegrityFinding, IntegrityReport, PackageHashes, Problem, Severity,
};

use super::*;
use crate::outcome::Failure;
use crate::report::{ControllerInfo, verdict};
use crate::test_outcomes::{audited, failed};
use crate::test_reports::clean;

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

fn file(path: &str, sum: Option<String>, error: Option<&str>) -> FileHash {
    FileHash {
        path: path.into(),
        sha256: sum,
        error: error.map(str::to_string),
    }
}

fn package(name: &str, version: &str, files: Vec<FileHash>) -> PackageHashes {
    PackageHashes {
        package: name.into(),
        name: name.into(),
        arch: "all".into(),
        version: version.into(),
        files,
    }
}

/// A host whose probe reported `hashes` (and `findings` of its own check).
fn host(name: &str, hashes: Vec<PackageHashes>, findings: Vec<IntegrityFinding>) -> HostOutcome {
    let mut report = clean(name);
    report.integrity = Some(IntegrityReport {
        findings,
        baseline_hashes: Some(hashes),
        ..IntegrityReport::default()
    });
    audited(name, report, false)
}

fn written_then(before: Vec<PackageHashes>, after: Vec<PackageHashes>) -> FleetReport {
    let (baseline, missing) =
        Baseline::from_outcomes(&[host("web1", before, vec![])], Scope::WithoutMd5sums, 7);
    assert!(missing.is_empty());
    let mut fleet = FleetReport::new(ControllerInfo::new(0, 0), vec![host("web1", after, vec![])]);
    verify(&mut fleet, &baseline, Path::new("base.json"));
    fleet
}

fn integrity_of(fleet: &FleetReport) -> &IntegrityReport {
    let HostResult::Audited { report, .. } = &fleet.hosts[0].result else {
        panic!("audited");
    };
    report.report().integrity.as_ref().expect("integrity")
}

#[test]
fn written_baseline_reads_back_the_same_and_keeps_only_hashed_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("base.json");
    let outcomes = [
        host(
            "web1",
            vec![package(
                "nosums",
                "1",
                vec![
                    file("/usr/bin/x", Some(sha('a')), None),
                    file("/usr/bin/link", None, Some("symbolic link")),
                ],
            )],
            vec![],
        ),
        failed("db1", Failure::Unreachable, "refused"),
    ];
    let (baseline, missing) = Baseline::from_outcomes(&outcomes, Scope::All, 42);
    let db1 = missing.get("db1").expect("db1 has no section");
    assert!(db1.contains("--baseline-write"), "{db1}");
    assert_eq!(baseline.hosts["web1"].packages[0].files.len(), 1);
    baseline.write(&path).expect("write");
    let back = Baseline::read(&path).expect("read");
    assert_eq!(back, baseline);
    let text = std::fs::read_to_string(&path).expect("text");
    assert!(text.contains("\"format\": \"patchgap-baseline\""), "{text}");
    assert!(text.contains("\"scope\": \"all\""), "{text}");
}

#[test]
fn a_changed_file_at_the_same_version_is_a_finding_like_any_other() {
    let before = vec![package(
        "nosums",
        "1",
        vec![
            file("/usr/bin/a", Some(sha('a')), None),
            file("/usr/bin/b", Some(sha('b')), None),
            file("/usr/bin/c", Some(sha('c')), None),
            file("/usr/bin/d", Some(sha('d')), None),
        ],
    )];
    let after = vec![package(
        "nosums",
        "1",
        vec![
            file("/usr/bin/a", Some(sha('a')), None),
            file("/usr/bin/b", Some(sha('e')), None),
            file("/usr/bin/c", None, Some("missing")),
            file("/usr/bin/d", None, Some("symbolic link")),
        ],
    )];
    let fleet = written_then(before, after);
    let check = &fleet.baseline.as_ref().expect("outcome").hosts["web1"];
    let found: Vec<(&str, &Problem)> = check
        .findings
        .iter()
        .map(|f| (f.path.as_str(), &f.problem))
        .collect();
    assert_eq!(
        found,
        [
            (
                "/usr/bin/b",
                &Problem::ChangedSinceBaseline {
                    expected: sha('b'),
                    actual: sha('e')
                }
            ),
            ("/usr/bin/c", &Problem::Missing),
            (
                "/usr/bin/d",
                &Problem::ChangedSinceBaseline {
                    expected: sha('d'),
                    actual: "(symbolic link)".into()
                }
            ),
        ]
    );
    assert_eq!((check.packages_compared, check.files_compared), (1, 4));
    // The parsed report carries them: exit status, tables and policy see them.
    let integrity = integrity_of(&fleet);
    assert_eq!(integrity.findings.len(), 3);
    assert_eq!(
        (integrity.summary.changed, integrity.summary.missing),
        (2, 1)
    );
    assert!(
        integrity
            .findings
            .iter()
            .all(|f| f.severity == Severity::Normal)
    );
    assert_eq!(verdict(&fleet.hosts).hosts_with_findings, 1);
}

#[test]
fn an_upgraded_package_is_outdated_not_tampered() {
    let before = vec![
        package(
            "nosums",
            "1",
            vec![file("/usr/bin/a", Some(sha('a')), None)],
        ),
        package("gone", "3", vec![file("/usr/bin/g", Some(sha('a')), None)]),
    ];
    let after = vec![package(
        "nosums",
        "2",
        vec![file("/usr/bin/a", Some(sha('f')), None)],
    )];
    let fleet = written_then(before, after);
    let check = &fleet.baseline.as_ref().expect("outcome").hosts["web1"];
    assert!(check.findings.is_empty(), "{:?}", check.findings);
    assert_eq!(check.outdated.len(), 2);
    let notes: Vec<String> = check.outdated.iter().map(ToString::to_string).collect();
    assert!(
        notes[0].starts_with("baseline outdated for nosums (1 → 2)"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("baseline outdated for gone (3 → no longer checked)"),
        "{notes:?}"
    );
    let integrity = integrity_of(&fleet);
    assert!(integrity.findings.is_empty());
    assert_eq!(integrity.warnings, notes);
    assert_eq!(verdict(&fleet.hosts).hosts_with_findings, 0);
}

#[test]
fn what_the_probe_already_found_is_not_reported_twice() {
    let before = vec![package(
        "nosums",
        "1",
        vec![file("/usr/bin/a", Some(sha('a')), None)],
    )];
    let (baseline, _) =
        Baseline::from_outcomes(&[host("web1", before, vec![])], Scope::WithoutMd5sums, 7);
    let own = IntegrityFinding {
        path: "/usr/bin/a".into(),
        package: "nosums".into(),
        conffile: false,
        problem: Problem::Missing,
        severity: Severity::Normal,
    };
    let after = vec![package(
        "nosums",
        "1",
        vec![file("/usr/bin/a", None, Some("missing"))],
    )];
    let mut fleet = FleetReport::new(
        ControllerInfo::new(0, 0),
        vec![host("web1", after, vec![own])],
    );
    verify(&mut fleet, &baseline, Path::new("base.json"));
    assert_eq!(integrity_of(&fleet).findings.len(), 1);
}

#[test]
fn a_host_absent_from_the_baseline_is_a_warning_naming_it_and_the_fix() {
    let (baseline, _) = Baseline::from_outcomes(&[], Scope::WithoutMd5sums, 7);
    let mut fleet = FleetReport::new(
        ControllerInfo::new(0, 0),
        vec![host("newhost", vec![], vec![])],
    );
    verify(&mut fleet, &baseline, Path::new("base.json"));
    let warning = &fleet.baseline.as_ref().expect("outcome").warnings["newhost"];
    assert!(
        warning.contains("newhost") && warning.contains("--baseline-write"),
        "{warning}"
    );
    let HostResult::Audited { report, .. } = &fleet.hosts[0].result else {
        panic!("audited");
    };
    assert_eq!(&report.report().warnings, std::slice::from_ref(warning));
}

#[test]
fn a_saved_report_keeps_the_probe_json_and_applies_the_baseline_again_when_read() {
    let before = vec![package(
        "nosums",
        "1",
        vec![file("/usr/bin/a", Some(sha('a')), None)],
    )];
    let after = vec![package(
        "nosums",
        "1",
        vec![file("/usr/bin/a", Some(sha('b')), None)],
    )];
    let fleet = written_then(before, after);
    let HostResult::Audited { report, .. } = &fleet.hosts[0].result else {
        panic!("audited");
    };
    assert!(
        !report.raw_json().contains("changed_since_baseline"),
        "the probe's JSON stays as printed"
    );
    let text = serde_json::to_string(&fleet).expect("json");
    let back: FleetReport = serde_json::from_str(&text).expect("reads back");
    assert_eq!(integrity_of(&back).findings.len(), 1);
    assert_eq!(integrity_of(&back).summary.changed, 1);
    assert_eq!(verdict(&back.hosts).hosts_with_findings, 1);
}

#[test]
fn hostile_or_truncated_baselines_are_refused_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (baseline, _) = Baseline::from_outcomes(
        &[host(
            "web1",
            vec![package(
                "nosums",
                "1",
                vec![file("/usr/bin/a", Some(sha('a')), None)],
            )],
            vec![],
        )],
        Scope::WithoutMd5sums,
        7,
    );
    let good = serde_json::to_string(&baseline).expect("json");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_string(),
            "is truncated",
        ),
        (
            "garbage",
            "\u{1}\u{2}not json".into(),
            "is not a patchgap baseline",
        ),
        ("report", r#"{"schema_version": 1}"#.into(), "no \"format\""),
        (
            "newer",
            good.replace("\"version\":1", "\"version\":99"),
            "has version 99",
        ),
        (
            "shape",
            good.replace("\"files\":[", "\"files\":[3,"),
            "is not a patchgap baseline",
        ),
        ("empty", String::new(), "is truncated"),
    ];
    for (name, text, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let err = Baseline::read(&path).expect_err(name).to_string();
        assert!(err.contains(want), "{name}: {err}");
        assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(err.contains("--baseline-write"), "{name}: {err}");
    }
    let absent = dir.path().join("absent");
    let err = Baseline::read(&absent).expect_err("absent").to_string();
    assert!(
        err.contains("absent") && err.contains("--baseline-write"),
        "{err}"
    );
    // Sparse: refused by its size, never read.
    let huge = dir.path().join("huge");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(MAX_BYTES + 1))
        .expect("sparse");
    let err = Baseline::read(&huge).expect_err("huge").to_string();
    assert!(err.contains("larger than") && err.contains("huge"), "{err}");
}

#[test]
fn shards_of_one_baseline_run_merge_their_hosts() {
    let outcome = |host: &str, file: &str| BaselineOutcome {
        file: file.into(),
        mode: BaselineMode::Verify,
        hosts: BTreeMap::from([(host.to_string(), HostCheck::default())]),
        warnings: BTreeMap::new(),
    };
    let (a, b, other) = (outcome("a", "f"), outcome("b", "f"), outcome("c", "g"));
    let both = merged([Some(&a), Some(&b)].into_iter()).expect("same file");
    assert_eq!(both.hosts.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(merged([Some(&a), Some(&other)].into_iter()).is_none());
    assert!(merged([Some(&a), None].into_iter()).is_none());
}
