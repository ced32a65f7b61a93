//! The dpkg database: the status file, diversions, `dpkg.log`, merged-/usr spellings, and
//! the `.list` files (read through [`Database`], their only public reader).

use std::fs;
use std::path::Path;

use patchgap_probe::dpkg::{Database, Diversions, other_spelling, parse_dpkg_log, parse_status};
use patchgap_probe::roots::under;
use proptest::prelude::*;

use super::{apply, cases, edits, line_count, lossy, texty};

const FIELDS: &[&str] = &[
    "Package",
    "Status",
    "Architecture",
    "Version",
    "Multi-Arch",
    "Source",
    "Conffiles",
    "Description",
    "Priority",
];

/// A status paragraph with a valid `Package:` first, then fields in any order, some with
/// continuation lines (conffile entries, description text).
fn paragraph() -> impl Strategy<Value = (String, String)> {
    let value = prop_oneof![
        "[a-z0-9.+~:-]{0,20}",
        Just("install ok installed".to_string()),
        Just("same".to_string()),
        Just("openssl (3.0.11-1)".to_string()),
        texty(),
    ];
    let continuation = prop_oneof![
        "[ \t]/etc/[a-z]{1,8} [0-9a-f]{32}( obsolete| remove-on-upgrade)?",
        "[ \t][^\n]{0,30}",
    ];
    let field = (
        prop::sample::select(FIELDS),
        value,
        prop::collection::vec(continuation, 0..4),
    );
    (
        "[a-z0-9][a-z0-9.+-]{0,20}",
        prop::collection::vec(field, 0..8),
    )
        .prop_map(|(name, fields)| {
            let mut text = format!("Package: {name}\n");
            for (key, value, more) in fields {
                if key == "Package" {
                    continue;
                }
                text.push_str(&format!("{key}: {value}\n"));
                for line in more {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            (name, text)
        })
}

/// Checks what any status text may give: at most one package per `Package:` line and one
/// conffile per line, no string longer than the text.
fn check_status(text: &str) {
    let pkgs = parse_status(text);
    let package_lines = text
        .split('\n')
        .filter(|l| l.starts_with("Package:"))
        .count();
    assert!(pkgs.len() <= package_lines, "{} packages", pkgs.len());
    let conffiles: usize = pkgs.iter().map(|p| p.conffiles.len()).sum();
    assert!(conffiles <= line_count(text));
    for p in &pkgs {
        assert!(!p.name.is_empty());
        let strings = [&p.name, &p.arch, &p.state]
            .into_iter()
            .chain(p.version.as_ref())
            .chain(p.source.as_ref());
        for s in strings {
            assert!(s.len() <= text.len());
        }
        assert!(p.info_name().len() <= text.len() + 1);
        let _ = p.has_files();
    }
}

fn write(root: &Path, abs: &str, content: &[u8]) {
    let p = under(root, Path::new(abs));
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, content).expect("write");
}

/// Paths as `.list` files hold them, with merged-/usr prefixes and odd bytes.
fn list_path() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "/(usr/)?(lib|bin|sbin|etc|lib64)(/[a-zA-Z0-9._ -]{1,10}){0,3}"
            .prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn status_arbitrary_text(text in texty()) {
        check_status(&text);
    }

    #[test]
    fn status_paragraphs_parse_back(paras in prop::collection::vec(paragraph(), 0..6)) {
        let text: Vec<&str> = paras.iter().map(|(_, t)| t.as_str()).collect();
        let text = text.join("\n");
        // A value may itself hold a line `Package: ...`: that is another paragraph.
        let package_lines = text.split('\n').filter(|l| l.starts_with("Package:")).count();
        prop_assume!(package_lines == paras.len());
        let parsed = parse_status(&text);
        prop_assert_eq!(parsed.len(), paras.len());
        for (p, (name, _)) in parsed.iter().zip(&paras) {
            prop_assert_eq!(&p.name, name);
        }
        check_status(&text);
    }

    #[test]
    fn status_mutated(paras in prop::collection::vec(paragraph(), 1..4), e in edits()) {
        let text: Vec<&str> = paras.iter().map(|(_, t)| t.as_str()).collect();
        check_status(&apply(&text.join("\n"), &e));
    }

    #[test]
    fn diversions_bounded_and_indexed(
        records in prop::collection::vec(("/[a-z/]{1,12}", "[a-z-]{0,8}|:"), 0..8),
        e in edits(),
        other in texty(),
    ) {
        let mut text = String::new();
        for (i, (path, by)) in records.iter().enumerate() {
            text.push_str(&format!("{path}{i}\n{path}{i}.distrib\n{by}\n"));
        }
        let d = Diversions::parse(&text);
        for (i, (path, _)) in records.iter().enumerate() {
            let from = format!("{path}{i}");
            let to = format!("{from}.distrib");
            prop_assert_eq!(d.diverted_from(&from).map(|x| x.to.as_str()), Some(to.as_str()));
            prop_assert_eq!(d.diverted_to(&to).map(|x| x.from.as_str()), Some(from.as_str()));
        }
        for text in [apply(&text, &e), other] {
            let d = Diversions::parse(&text);
            prop_assert!(d.iter().count() <= line_count(&text) / 3);
            for x in d.iter() {
                let by = x.by.as_deref().unwrap_or("");
                prop_assert!(x.from.len() + x.to.len() + by.len() <= text.len());
            }
        }
    }

    #[test]
    fn dpkg_log_keeps_only_wanted_names(
        lines in prop::collection::vec(
            ("[a-z0-9:-]{0,12}", "[a-z]{1,8}(:amd64)?", "[0-9a-z.<>~:+-]{0,10}"),
            0..10,
        ),
        names in prop::collection::vec("[a-z]{1,8}", 0..4),
        e in edits(),
    ) {
        let text: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, (when, pkg, v))| {
                let action = ["upgrade", "install", "remove", "status"][i % 4];
                format!("2024-01-02 {when} {action} {pkg} {v} {v}1")
            })
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for text in [text.join("\n"), apply(&text.join("\n"), &e)] {
            let out = parse_dpkg_log(&text, &names);
            prop_assert!(out.len() <= names.len().min(line_count(&text)));
            for (name, change) in &out {
                prop_assert!(names.contains(&name.as_str()));
                prop_assert!(change.version.len() + change.at.len() <= text.len());
            }
        }
    }

    #[test]
    fn usrmerge_spelling_is_an_involution(
        path in prop_oneof![
            "/(usr/)?(lib|bin|sbin|lib32|lib64|libx32|libo32|share|usr)(/[a-z.]{0,6}){0,3}",
            texty(),
        ],
    ) {
        if let Some(other) = other_spelling(&path) {
            prop_assert!(other.len() <= path.len() + "/usr".len());
            prop_assert_eq!(other_spelling(&other), Some(path.clone()));
        }
    }
}

proptest! {
    // Each case writes a small dpkg database to disk.
    #![proptest_config(cases(64))]

    #[test]
    fn list_files_through_the_database(
        entries in prop::collection::vec(list_path(), 0..12),
        junk in prop::collection::vec(any::<u8>(), 0..200),
        asked in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        diversions in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "/var/lib/dpkg/status",
            b"Package: p\nStatus: install ok installed\nArchitecture: amd64\n");
        let mut list = entries.join(&b'\n');
        list.push(b'\n');
        list.extend_from_slice(&junk);
        write(root, "/var/lib/dpkg/info/p.list", &list);
        write(root, "/var/lib/dpkg/diversions", &diversions);
        let db = Database::new(root);

        let read = db.file_list("p").expect("the list is readable");
        let text = lossy(&list);
        prop_assert!(read.len() <= line_count(&text));
        prop_assert!(read.iter().all(|l| !l.is_empty() && l.len() <= text.len()));

        let divs = db.diversions().expect("the diversions are readable");
        prop_assert!(divs.iter().count() <= line_count(&lossy(&diversions)) / 3);

        // Ask for some listed paths (UTF-8 ones: queries are `&str`) and junk.
        let listed: Vec<String> = entries
            .iter()
            .filter_map(|e| std::str::from_utf8(e).ok())
            .filter(|e| !e.is_empty() && !e.contains('\n'))
            .map(str::to_string)
            .collect();
        let mut queries: Vec<String> = asked
            .iter()
            .filter(|_| !listed.is_empty())
            .map(|i| listed[i.index(listed.len())].clone())
            .collect();
        queries.push(lossy(&junk));
        let owners = db
            .owners(queries.iter().map(String::as_str))
            .expect("owners can be looked up");
        prop_assert!(owners.len() <= queries.len());
        for q in &queries[..queries.len() - 1] {
            // A path the list holds is owned, unless a diversion names it.
            if divs.diverted_from(q).is_none() && divs.diverted_to(q).is_none() {
                prop_assert_eq!(owners.get(q).map(|o| o.package.as_str()), Some("p"));
            }
        }
    }
}
