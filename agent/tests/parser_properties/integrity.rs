//! The integrity check's inputs: `md5sums` files (parsed only inside the check, so they
//! are fed through [`verify`] on a fixture host), dpkg's path filter settings, and the
//! `fnmatch` globs they hold.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use patchgap_probe::Roots;
use patchgap_probe::integrity::{IntegrityOptions, PathFilter, fnmatch, verify};
use patchgap_probe::roots::under;
use proptest::prelude::*;

use super::{apply, apply_bytes, byte_edits, cases, edits, line_count, lossy, texty};

fn write(root: &Path, abs: &str, content: &[u8]) {
    let p = under(root, Path::new(abs));
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, content).expect("write");
}

/// An md5sums line as dpkg writes it (`HEX  path`, relative), or in md5sum's binary mode.
/// Paths stay inside the fixture: the check opens every listed path under the root.
fn md5sums_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            "[0-9a-f]{32}",
            "[0-9A-Fa-f]{0,40}",
            Just("newconffile".to_string())
        ],
        prop_oneof![Just("  "), Just(" *"), Just(" "), Just("  ./"), Just("  /")],
        "[a-z]{1,6}(/[a-z .]{1,8}){0,2}",
        prop_oneof![Just(""), Just("\r")],
    )
        .prop_map(|(hex, sep, path, cr)| format!("{hex}{sep}{path}{cr}"))
}

/// Bytes of a mutated file that name no path outside the fixture root.
fn confined(bytes: Vec<u8>) -> Vec<u8> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.windows(2).any(|w| w == b".."))
        .collect::<Vec<_>>()
        .join(&b'\n')
}

/// A `dpkg.cfg` line: options with and without `=`, quoting, comments.
fn cfg_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("path-exclude"),
            Just("path-include"),
            Just("#path-exclude"),
            Just("force-unsafe-io"),
            Just(""),
        ],
        prop_oneof![Just(" "), Just("="), Just(" = "), Just("\t"), Just("")],
        prop_oneof![
            "/usr/share/(doc|man|locale)/\\*",
            "[\"']?[a-z/*?\\[\\]!^\\\\-]{0,16}[\"']?",
            texty(),
        ],
    )
        .prop_map(|(name, sep, value)| format!("{name}{sep}{value}"))
}

/// A glob that matches exactly `name`: every special character quoted.
fn escaped(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 2);
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn path_filter_settings(
        lines in prop::collection::vec(cfg_line(), 0..8),
        e in edits(),
        raw in prop::collection::vec(any::<u8>(), 0..200),
        paths in prop::collection::vec(prop_oneof!["/usr/share/[a-z/]{0,20}", texty()], 1..4),
    ) {
        let text = apply(&lines.join("\n"), &e);
        let mut filter = PathFilter::default();
        filter.add_config(text.as_bytes());
        filter.add_config(&raw);
        if line_count(&text) + line_count(&lossy(&raw)) == 0 {
            prop_assert!(filter.is_empty());
        }
        for p in &paths {
            let _ = filter.excludes(p);
        }
    }

    #[test]
    fn fnmatch_any_glob(pattern in texty(), name in texty()) {
        let _ = fnmatch(&pattern, &name);
        prop_assert!(fnmatch(&escaped(&name), &name), "{:?}", escaped(&name));
        prop_assert!(fnmatch("*", &name));
        let starred = format!("*{}*", escaped(&name));
        let around = format!("{pattern}{name}{pattern}");
        prop_assert!(fnmatch(&starred, &around));
    }
}

proptest! {
    // Each case writes a small host to disk and hashes its files.
    #![proptest_config(cases(48))]

    #[test]
    fn md5sums_through_the_check(
        lines in prop::collection::vec(md5sums_line(), 0..8),
        text_edits in edits(),
        bytes_edits in byte_edits(),
        list in prop::collection::vec("/[a-z]{1,6}(/[a-z .]{1,8}){0,2}", 0..6),
        raw in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "/var/lib/dpkg/status", b"Package: p\nStatus: install ok installed\n\
            Architecture: all\nConffiles:\n /etc/p.conf 0123456789abcdef0123456789abcdef\n");
        let mut md5sums = apply(&lines.join("\n"), &text_edits).into_bytes();
        md5sums = apply_bytes(&md5sums, &bytes_edits);
        md5sums.push(b'\n');
        md5sums.extend_from_slice(&raw);
        let md5sums = confined(md5sums);
        write(root, "/var/lib/dpkg/info/p.md5sums", &md5sums);
        let list = confined(list.join("\n").into_bytes());
        write(root, "/var/lib/dpkg/info/p.list", &list);
        // Some listed files exist, so that sums are compared as well as files found missing.
        write(root, "/a/b", b"x");
        write(root, "/etc/p.conf", b"y");

        let opts = IntegrityOptions { packages: None, threads: Some(1), ..IntegrityOptions::default() };
        let report = verify(&Roots::fixture(root), &opts, &BTreeMap::new())
            .expect("the check runs");
        let bound = line_count(&lossy(&md5sums)) + line_count(&lossy(&list)) + 1;
        prop_assert!(report.summary.files_checked as usize <= bound);
        prop_assert!(report.findings.len() <= bound);
        for f in &report.findings {
            prop_assert!(f.path.len() <= md5sums.len() * 3 + list.len() + 16);
        }
    }
}
