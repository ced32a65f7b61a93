//! The integrity check against a whole fake host built in a tempdir: a dpkg admin dir,
//! path filters, diversions, merged /usr and files in use.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use md5::{Digest, Md5};
use patchgap_probe::Roots;
use patchgap_probe::integrity::{HashScope, IntegrityOptions, verify};
use patchgap_probe::report::Severity;
use patchgap_probe::report::{IntegrityReport, Problem};
use patchgap_probe::roots::under;

fn write(root: &Path, abs: &str, content: &str) {
    let p = under(root, Path::new(abs));
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, content).expect("write");
}

fn md5(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Registers a package: its `.list` (the files plus their parent directories, as dpkg
/// writes it) and, when `sums` is given, its `.md5sums` of `(path, shipped content)`.
fn package(root: &Path, info: &str, list: &[&str], sums: Option<&[(&str, &str)]>) {
    let mut text = String::from("/.\n");
    for p in list {
        text.push_str(p);
        text.push('\n');
    }
    write(root, &format!("/var/lib/dpkg/info/{info}.list"), &text);
    if let Some(sums) = sums {
        let lines: String = sums
            .iter()
            .map(|(p, c)| format!("{}  {}\n", md5(c), &p[1..]))
            .collect();
        write(root, &format!("/var/lib/dpkg/info/{info}.md5sums"), &lines);
    }
}

fn host() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let status = format!(
        "Package: good\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\
Conffiles:\n /etc/good.conf {}\n /etc/gone.conf {} obsolete\n /etc/next.conf {} remove-on-upgrade\n\
\n\
Package: libfoo\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2\n\
\n\
Package: tool\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\
\n\
Package: wrapper\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\
\n\
Package: nosums\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\
\n\
Package: removed\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1\n\
Conffiles:\n /etc/removed.conf {}\n",
        md5("shipped conf"),
        md5("x"),
        md5("y"),
        md5("z")
    );
    write(root, "/var/lib/dpkg/status", &status);
    write(
        root,
        "/etc/dpkg/dpkg.cfg.d/excludes",
        "path-exclude=/usr/share/doc/*\n",
    );
    write(
        root,
        "/var/lib/dpkg/diversions",
        "/usr/bin/tool\n/usr/bin/tool.distrib\nwrapper\n",
    );

    package(
        root,
        "good",
        &[
            "/usr",
            "/usr/bin",
            "/usr/bin/good",
            "/usr/share/doc/good/README",
            "/usr/lib/good.so",
            "/usr/share/doc/good/copyright",
            "/usr/lib/dir-gone",
            "/usr/bin/link",
            "/etc/good.conf",
        ],
        Some(&[
            ("/usr/bin/good", "good binary"),
            ("/usr/share/doc/good/README", "readme"),
            ("/usr/lib/good.so", "good lib"),
            ("/usr/share/doc/good/copyright", "copyright"),
        ]),
    );
    write(root, "/usr/bin/good", "good binary");
    // Excluded by path-exclude but present: still verified.
    write(root, "/usr/share/doc/good/README", "readme, edited");
    write(root, "/etc/good.conf", "admin's conf");
    std::os::unix::fs::symlink("good", under(root, Path::new("/usr/bin/link"))).expect("ln");

    // Merged /usr: listed under /lib, reached through the /lib -> usr/lib symlink.
    package(
        root,
        "libfoo:amd64",
        &["/lib", "/lib/x", "/lib/x/libfoo.so", "/lib/x/libfoo.so.doc"],
        Some(&[
            ("/lib/x/libfoo.so", "libfoo"),
            ("/lib/x/libfoo.so.doc", "doc"),
        ]),
    );
    std::os::unix::fs::symlink("usr/lib", under(root, Path::new("/lib"))).expect("ln");
    write(root, "/usr/lib/x/libfoo.so", "libfoo, tampered");
    fs::create_dir_all(under(root, Path::new("/usr/lib/x/libfoo.so.doc"))).expect("mkdir");

    // tool's /usr/bin/tool was diverted to tool.distrib by wrapper, which ships its own.
    package(
        root,
        "tool",
        &["/usr/bin/tool"],
        Some(&[("/usr/bin/tool", "real tool")]),
    );
    package(
        root,
        "wrapper",
        &["/usr/bin/tool"],
        Some(&[("/usr/bin/tool", "wrapper")]),
    );
    write(root, "/usr/bin/tool.distrib", "real tool");
    write(root, "/usr/bin/tool", "wrapper");

    package(root, "nosums", &["/usr/share/nosums"], None);
    write(root, "/usr/share/nosums", "anything");
    dir
}

fn summary_of(report: &IntegrityReport) -> Vec<(String, String, String, bool)> {
    report
        .findings
        .iter()
        .map(|f| {
            let kind = match &f.problem {
                Problem::Changed { .. } => "changed".to_string(),
                Problem::ModifiedInUse { pids, .. } => format!("in use by {pids:?}"),
                Problem::ChangedSinceBaseline { .. } => "changed since baseline".to_string(),
                Problem::Missing => "missing".to_string(),
                Problem::Unreadable { error } => format!("unreadable: {error}"),
            };
            (f.path.clone(), f.package.clone(), kind, f.conffile)
        })
        .collect()
}

#[test]
fn fixture_host_findings_match_dpkg_rules() {
    let dir = host();
    let roots = Roots::fixture(dir.path());
    let in_use = BTreeMap::from([
        ("/usr/lib/x/libfoo.so".to_string(), vec![42, 7]),
        ("/usr/bin/good".to_string(), vec![9]),
    ]);
    let opts = IntegrityOptions {
        packages: None,
        threads: Some(2),
        ..IntegrityOptions::default()
    };
    let report = verify(&roots, &opts, &in_use).expect("verify");
    let s = |a: &str, b: &str, c: &str, d: bool| (a.to_string(), b.to_string(), c.to_string(), d);
    assert_eq!(
        summary_of(&report),
        vec![
            s("/etc/good.conf", "good", "changed", true),
            s(
                "/lib/x/libfoo.so",
                "libfoo:amd64",
                "in use by [7, 42]",
                false
            ),
            s(
                "/lib/x/libfoo.so.doc",
                "libfoo:amd64",
                "unreadable: not a regular file (directory)",
                false
            ),
            s("/usr/lib/dir-gone", "good", "missing", false),
            s("/usr/lib/good.so", "good", "missing", false),
            s("/usr/share/doc/good/README", "good", "changed", false),
        ]
    );
    let sev: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
    assert_eq!(
        sev,
        [
            Severity::Low,
            Severity::High,
            Severity::Low,
            Severity::Normal,
            Severity::Normal,
            Severity::Normal
        ]
    );
    assert!(report.has_findings());
    assert_eq!(report.packages_without_md5sums, vec!["nosums".to_string()]);
    assert_eq!(report.excluded_absent, 1, "doc/good/copyright is excluded");
    let sum = &report.summary;
    assert_eq!(sum.packages_checked, 5);
    assert_eq!((sum.changed, sum.missing), (2, 2));
    assert_eq!((sum.conffiles_changed, sum.conffiles_missing), (1, 0));
    assert_eq!((sum.unreadable, sum.modified_in_use), (1, 1));
    assert_eq!(sum.files_hashed, 9);
    let expected_bytes = ["good binary", "readme, edited", "admin's conf"]
        .iter()
        .chain(&["libfoo, tampered", "real tool", "wrapper"])
        .map(|c| c.len() as u64)
        .sum::<u64>();
    assert_eq!(sum.bytes_hashed, expected_bytes);
    let json = serde_json::to_string(&report).expect("json");
    let back: IntegrityReport = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, report);
    assert!(json.contains(r#""kind":"modified_in_use""#), "{json}");
}

#[test]
fn files_in_use_join_by_other_spelling_and_by_inode() {
    let dir = host();
    let root = dir.path();
    // Seen by a process under a name that is neither spelling: a symlinked alias (relative,
    // so that it stays inside the fixture).
    fs::create_dir_all(under(root, Path::new("/opt"))).expect("mkdir");
    let alias = under(root, Path::new("/opt/alias.so"));
    std::os::unix::fs::symlink("../usr/lib/x/libfoo.so", alias).expect("ln");
    let only = |path: &str, pid: u32| BTreeMap::from([(path.to_string(), vec![pid])]);
    let opts = IntegrityOptions {
        packages: Some("libfoo".to_string()),
        threads: Some(1),
        ..IntegrityOptions::default()
    };
    let roots = Roots::fixture(root);
    for (in_use, want) in [
        (only("/usr/lib/x/libfoo.so", 1), vec![1]),
        (only("/opt/alias.so", 2), vec![2]),
        (only("/usr/bin/good", 3), vec![]),
    ] {
        let report = verify(&roots, &opts, &in_use).expect("verify");
        let pids = match &report.findings[0].problem {
            Problem::ModifiedInUse { pids, .. } => pids.clone(),
            Problem::Changed { .. } => vec![],
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(pids, want, "{in_use:?}");
        assert_eq!(report.summary.modified_in_use, want.len() as u64);
    }
}

#[test]
fn package_pattern_limits_the_check() {
    let dir = host();
    let opts = IntegrityOptions {
        packages: Some("lib*".to_string()),
        threads: Some(1),
        ..IntegrityOptions::default()
    };
    let report = verify(&Roots::fixture(dir.path()), &opts, &BTreeMap::new()).expect("verify");
    assert_eq!(report.summary.packages_checked, 1);
    assert_eq!(report.package_filter.as_deref(), Some("lib*"));
    let paths: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/lib/x/libfoo.so", "/lib/x/libfoo.so.doc"]);
    assert!(matches!(
        report.findings[0].problem,
        Problem::Changed { .. }
    ));
}

#[test]
fn clean_host_and_conffile_edits_alone_have_no_findings() {
    let dir = host();
    let root = dir.path();
    write(root, "/usr/share/doc/good/README", "readme");
    write(root, "/usr/lib/good.so", "good lib");
    fs::create_dir_all(under(root, Path::new("/usr/lib/dir-gone"))).expect("mkdir");
    write(root, "/usr/lib/x/libfoo.so", "libfoo");
    fs::remove_dir(under(root, Path::new("/usr/lib/x/libfoo.so.doc"))).expect("rmdir");
    write(root, "/usr/lib/x/libfoo.so.doc", "doc");
    let report = verify(
        &Roots::fixture(root),
        &IntegrityOptions::default(),
        &BTreeMap::new(),
    )
    .expect("verify");
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert!(report.findings[0].conffile);
    assert!(!report.has_findings());
}

#[test]
fn missing_database_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = verify(
        &Roots::fixture(dir.path()),
        &IntegrityOptions::default(),
        &BTreeMap::new(),
    )
    .expect_err("no database");
    assert!(err.to_string().contains("no dpkg database"), "{err}");
}

fn sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn baseline_hashes_cover_packages_without_md5sums_or_all_without_links_or_conffiles() {
    let dir = host();
    let root = dir.path();
    let opts = |scope| IntegrityOptions {
        threads: Some(2),
        baseline_hashes: Some(scope),
        ..IntegrityOptions::default()
    };
    let roots = Roots::fixture(root);
    let report =
        verify(&roots, &opts(HashScope::WithoutMd5sums), &BTreeMap::new()).expect("verify");
    let hashes = report.baseline_hashes.expect("asked for");
    assert_eq!(hashes.len(), 1);
    assert_eq!(
        (
            hashes[0].package.as_str(),
            hashes[0].arch.as_str(),
            hashes[0].version.as_str()
        ),
        ("nosums", "all", "1")
    );
    // The `/.` entry is a directory: not hashed.
    assert_eq!(hashes[0].files.len(), 1);
    assert_eq!(hashes[0].files[0].path, "/usr/share/nosums");
    assert_eq!(
        hashes[0].files[0].sha256.as_deref(),
        Some(sha256("anything").as_str())
    );

    // A link planted in a file's place is refused, not followed out of the package.
    fs::remove_file(under(root, Path::new("/usr/share/nosums"))).expect("rm");
    std::os::unix::fs::symlink("/etc/passwd", under(root, Path::new("/usr/share/nosums")))
        .expect("ln");
    let report = verify(&roots, &opts(HashScope::All), &BTreeMap::new()).expect("verify");
    let hashes = report.baseline_hashes.expect("asked for");
    let names: Vec<&str> = hashes.iter().map(|p| p.package.as_str()).collect();
    assert_eq!(names, ["good", "libfoo:amd64", "nosums", "tool", "wrapper"]);
    let good: Vec<(&str, Option<&str>, Option<&str>)> = hashes[0]
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_deref(), f.error.as_deref()))
        .collect();
    let good_sum = sha256("good binary");
    let readme = sha256("readme, edited");
    assert_eq!(
        good,
        [
            ("/usr/bin/good", Some(good_sum.as_str()), None),
            ("/usr/bin/link", None, Some("symbolic link")),
            ("/usr/lib/dir-gone", None, Some("missing")),
            ("/usr/lib/good.so", None, Some("missing")),
            ("/usr/share/doc/good/README", Some(readme.as_str()), None),
            ("/usr/share/doc/good/copyright", None, Some("missing")),
        ],
        "no conffile, no directory"
    );
    assert_eq!(hashes[2].files[0].error.as_deref(), Some("symbolic link"));
}
