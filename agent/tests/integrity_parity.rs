//! Parity with `dpkg --verify` on the machine running the tests, read-only.
//!
//! Both tools check the whole host; the sets of changed and missing paths must be equal
//! except for the differences documented in `docs/report-integrity.md` ("Differences from
//! dpkg --verify"), which this test allows one by one. It reads every packaged file twice,
//! so the probe library is optimised even in test builds (see the workspace Cargo.toml).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use patchgap_probe::Roots;
use patchgap_probe::dpkg::Database;
use patchgap_probe::integrity::{IntegrityOptions, PathFilter, verify};
use patchgap_probe::report::Problem;

/// One line of `dpkg --verify`: what failed, whether a conffile, the path.
type Line = (&'static str, bool, String);

/// Parses `??5?????? c /path` and `missing   c /path` lines (rpm's layout: 9 check
/// characters, a space, the attribute, a space, the path).
fn parse_dpkg_verify(out: &str) -> BTreeSet<Line> {
    let mut set = BTreeSet::new();
    for line in out.lines() {
        let (Some(checks), Some(attr), Some(path)) =
            (line.get(..9), line.get(10..11), line.get(12..))
        else {
            panic!("unexpected dpkg --verify line: {line:?}");
        };
        let kind = match checks {
            "missing  " => "missing",
            c if c.as_bytes()[2] == b'5' => "changed",
            _ => panic!("unexpected dpkg --verify checks: {line:?}"),
        };
        set.insert((kind, attr == "c", path.to_string()));
    }
    set
}

#[test]
fn same_findings_as_dpkg_verify() {
    let roots = Roots::default();
    assert!(
        Database::new(&roots.fs).exists(),
        "this test needs a Debian-based machine with a dpkg database"
    );
    let out = Command::new("dpkg")
        .arg("--verify")
        .env("LC_ALL", "C")
        .output()
        .expect("run dpkg --verify (install dpkg)");
    let theirs = parse_dpkg_verify(&String::from_utf8_lossy(&out.stdout));

    let report = verify(&roots, &IntegrityOptions::default(), &BTreeMap::new()).expect("verify");
    let mut ours = BTreeSet::new();
    let mut unreadable = BTreeSet::new();
    for f in &report.findings {
        let kind = match f.problem {
            Problem::Changed { .. }
            | Problem::ChangedSinceBaseline { .. }
            | Problem::ModifiedInUse { .. } => "changed",
            Problem::Missing => "missing",
            Problem::Unreadable { .. } => {
                unreadable.insert(f.path.clone());
                continue;
            }
        };
        ours.insert((kind, f.conffile, f.path.clone()));
    }

    let filter = PathFilter::load(&roots.fs);
    let diversions = Database::new(&roots.fs).diversions().expect("diversions");
    // Rule 1: dpkg calls path-excluded absent files missing; patchgap counts them apart.
    // Rule 2: dpkg reports a file it cannot open as changed; patchgap as unreadable.
    let only_theirs: Vec<&Line> = theirs
        .difference(&ours)
        .filter(|(kind, _, path)| !(*kind == "missing" && filter.excludes(path)))
        .filter(|(kind, _, path)| !(*kind == "changed" && unreadable.contains(path)))
        .collect();
    // Rule 3: dpkg only checks that a diverted file exists; patchgap also hashes it at the
    // diverted-to path.
    let only_ours: Vec<&Line> = ours
        .difference(&theirs)
        .filter(|(kind, _, path)| !(*kind == "changed" && diversions.diverted_to(path).is_some()))
        .collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "dpkg --verify found {} lines, patchgap {}\nonly dpkg: {only_theirs:#?}\nonly patchgap: {only_ours:#?}",
        theirs.len(),
        ours.len()
    );
}

#[test]
fn parses_dpkg_verify_output() {
    let set = parse_dpkg_verify(
        "missing   c /etc/debuginfod/elfutils.urls\n??5??????   /usr/bin/x y\nmissing     /usr/lib/z\n",
    );
    let want: BTreeSet<Line> = [
        ("missing", true, "/etc/debuginfod/elfutils.urls".to_string()),
        ("changed", false, "/usr/bin/x y".to_string()),
        ("missing", false, "/usr/lib/z".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(set, want);
}
