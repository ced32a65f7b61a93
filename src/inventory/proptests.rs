//! Property tests of the inventory parser: whatever the text, loading it gives an inventory
//! or an error, never a panic; an inventory never holds more than the caps allow; an error
//! never carries a raw control character; a host pattern expands to exactly the names its
//! ranges stand for.
//!
//! They run [`config`]'s few dozen cases, so that `cargo test` stays quick. For a longer run:
//! `PROPTEST_CASES=20000 cargo test --lib proptests` (this file and `--limit`'s).

use std::path::Path;

use proptest::prelude::*;

use super::caps::{Caps, MAX_NAME_BYTES};
use super::hosts::load_str_with;
use super::ranges::expand;

/// `PROPTEST_CASES` when it is set, else 64 cases.
pub fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        64
    };
    ProptestConfig { cases, ..default }
}

/// Caps low enough that the random inventories below often reach them.
const CAPS: Caps = Caps {
    hosts: 30,
    memberships: 90,
};

/// Pieces of YAML and of inventories, hostile ones included, to glue at random.
const FRAGMENTS: &[&str] = &[
    "all:",
    "hosts:",
    "children:",
    "vars:",
    "\n",
    "\n  ",
    "\n    ",
    "  ",
    " ",
    "- ",
    ":",
    ": ",
    ",",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "#",
    "|",
    ">",
    "&a ",
    "*a",
    "<<: *a",
    "!vault ",
    "---",
    "web",
    "db",
    "g1",
    "web[1:3]",
    "h[a:c]",
    "n[01:20:5]",
    "x[0:99999]",
    "[0:9][0:9]",
    "w[3:1]",
    "h1:2222",
    "fe80::1",
    "ansible_port: 22",
    "ansible_host: ",
    "patchgap_skip: yes",
    "patchgap_sudo: maybe",
    "patchgap_skp: 1",
    "ansible_ssh_common_args: '-J b'",
    "ansible_group_priority: 5",
    "\u{1b}[2J",
    "\r",
    "\0",
    "\u{202e}",
    "\\e",
    "\\x1b",
    "é",
];

fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..80).prop_map(|parts| parts.concat())
}

/// A group tree written as YAML: every group lists some hosts (patterns from a small set)
/// and some children (so loops and repeats happen). Mostly valid, so that the caps are
/// reached: a loop or a bad name ends a load early.
fn inventory_text() -> impl Strategy<Value = String> {
    const NAMES: &[&str] = &["all", "web", "db", "prod", "ungrouped", "edge", "g\\ex"];
    const CHILDREN: &[&str] = &["web", "db", "prod", "edge", "stage"];
    const HOSTS: &[&str] = &[
        "h1",
        "h[1:3]",
        "w[01:12]",
        "db[a:f]",
        "x[0:99:7]",
        "h2:2200",
    ];
    let group = (
        prop::sample::select(NAMES),
        prop::collection::vec(prop::sample::select(HOSTS), 0..4),
        prop::collection::vec(prop::sample::select(CHILDREN), 0..2),
        prop::option::of(-3i64..3),
    );
    prop::collection::vec(group, 1..8).prop_map(|groups| {
        // Top-level keys must be unique in YAML: nest each group under `all`'s children
        // when its name is taken, which is also how inventories repeat a group.
        let mut text = String::new();
        let mut top = std::collections::HashSet::new();
        for (index, (name, hosts, children, priority)) in groups.into_iter().enumerate() {
            let indent = if top.insert(name) {
                text.push_str(&format!("\"{name}\":\n"));
                "  "
            } else {
                text.push_str(&format!("top{index}:\n  children:\n    \"{name}\":\n"));
                "      "
            };
            if !hosts.is_empty() {
                text.push_str(&format!("{indent}hosts:\n"));
                let mut seen = std::collections::HashSet::new();
                for h in hosts.into_iter().filter(|h| seen.insert(*h)) {
                    text.push_str(&format!("{indent}  {h}:\n"));
                }
            }
            if !children.is_empty() {
                text.push_str(&format!("{indent}children:\n"));
                let mut seen = std::collections::HashSet::new();
                for c in children.into_iter().filter(|c| seen.insert(*c)) {
                    text.push_str(&format!("{indent}  \"{c}\":\n"));
                }
            }
            if let Some(p) = priority {
                text.push_str(&format!(
                    "{indent}vars:\n{indent}  ansible_group_priority: {p}\n"
                ));
            }
        }
        text
    })
}

/// What every load must satisfy, valid or not.
fn check_load(source: &str) -> Result<(), TestCaseError> {
    match load_str_with(Path::new("p.yaml"), source, CAPS) {
        Ok(inventory) => {
            prop_assert!(inventory.hosts.len() <= CAPS.hosts);
            let memberships: usize = inventory.hosts.iter().map(|h| h.groups.len()).sum();
            prop_assert!(memberships <= CAPS.memberships);
            let listed: usize = inventory.groups.values().map(Vec::len).sum();
            prop_assert_eq!(listed, memberships, "groups and hosts agree");
            for host in &inventory.hosts {
                prop_assert!(host.name.len() <= MAX_NAME_BYTES);
                prop_assert!(host.groups.iter().any(|g| g == "all"));
            }
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(
                !message.chars().any(char::is_control),
                "raw control character in {:?}",
                message
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_loads_or_fails_cleanly(source in any::<String>()) {
        check_load(&source)?;
    }

    #[test]
    fn yaml_like_text_loads_or_fails_cleanly(source in yamlish()) {
        check_load(&source)?;
    }

    #[test]
    fn group_trees_load_or_fail_cleanly(source in inventory_text()) {
        check_load(&source)?;
    }

    #[test]
    fn patterns_expand_to_the_product_of_their_ranges(parts in pattern_parts()) {
        let pattern: String = parts.iter().map(|p| p.written.as_str()).collect();
        let mut model = vec![String::new()];
        for part in &parts {
            model = model
                .iter()
                .flat_map(|head| part.items.iter().map(move |item| format!("{head}{item}")))
                .collect();
        }
        let expanded = expand(&pattern);
        prop_assert!(expanded.is_ok(), "{}: {:?}", pattern, expanded);
        prop_assert_eq!(expanded.map(|e| e.names).unwrap_or_default(), model);
    }
}

/// A piece of a host pattern, as written and as the items it stands for.
#[derive(Debug, Clone)]
struct PatternPart {
    written: String,
    items: Vec<String>,
}

fn pattern_parts() -> impl Strategy<Value = Vec<PatternPart>> {
    let text = "[a-z.-]{1,6}".prop_map(|t| PatternPart {
        items: vec![t.clone()],
        written: t,
    });
    let numbers = (0u32..30, 0u32..30, 1u32..5, any::<bool>()).prop_map(|(b, len, step, pad)| {
        let e = b + len;
        let width = if pad { e.to_string().len() + 1 } else { 0 };
        PatternPart {
            written: format!("[{b:0width$}:{e:0width$}:{step}]"),
            items: (b..=e)
                .step_by(step as usize)
                .map(|n| format!("{n:0width$}"))
                .collect(),
        }
    });
    let letters = (b'a'..=b'z', 0u8..6).prop_map(|(b, len)| {
        let e = b.saturating_add(len).min(b'z');
        PatternPart {
            written: format!("[{}:{}]", char::from(b), char::from(e)),
            items: (b..=e).map(|c| char::from(c).to_string()).collect(),
        }
    });
    prop::collection::vec(prop_oneof![text, numbers, letters], 1..4)
}
