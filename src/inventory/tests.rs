//! Whole-inventory tests on the files under `tests/inventories/`.

use std::path::{Path, PathBuf};

use super::hosts::load_str_with;
use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/inventories")
        .join(name)
}

fn host<'i>(inventory: &'i Inventory, name: &str) -> &'i HostTarget {
    inventory
        .hosts
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("host {name} missing"))
}

fn error_of(name: &str) -> String {
    load(&[fixture(name)])
        .expect_err("the fixture is invalid")
        .to_string()
}

#[test]
fn hosts_keep_inventory_order_and_ranges_expand() {
    let inventory = load(&[fixture("site.yaml")]).expect("valid");
    let names: Vec<&str> = inventory.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bastion.example.com",
            "web01",
            "web02",
            "web03",
            "web04",
            "dba",
            "dbb",
            "db1",
            "internal1"
        ]
    );
}

#[test]
fn variables_inherit_from_all_through_parents_to_the_host() {
    let inventory = load(&[fixture("site.yaml")]).expect("valid");
    let web01 = host(&inventory, "web01");
    // `web` is deeper than `production`, which is deeper than `all`.
    assert_eq!(web01.port, Some(2200));
    assert_eq!(web01.user.as_deref(), Some("prod"));
    assert_eq!(web01.settings.connect_timeout, Some(5));
    assert_eq!(web01.settings.host_timeout, Some(300));
    assert_eq!(web01.groups, ["all", "production", "web"]);
    assert_eq!(host(&inventory, "web04").port, Some(2204));

    let bastion = host(&inventory, "bastion.example.com");
    assert_eq!(
        (bastion.port, bastion.user.as_deref()),
        (Some(22), Some("admin"))
    );
    assert_eq!(bastion.groups, ["all", "ungrouped"]);
}

#[test]
fn connection_and_patchgap_settings() {
    let inventory = load(&[fixture("site.yaml")]).expect("valid");
    let dba = host(&inventory, "dba");
    assert_eq!(dba.address.as_deref(), Some("10.0.0.9"));
    assert!(dba.r#become);
    assert_eq!(dba.become_user.as_deref(), Some("root"));
    assert_eq!(host(&inventory, "db1").port, Some(2222));
    assert_eq!(host(&inventory, "db1").address, None);

    let web02 = host(&inventory, "web02");
    assert!(web02.settings.skip);
    assert_eq!(web02.settings.sudo, Some(false));
    assert_eq!(web02.private_key_file, Some(PathBuf::from("~/.ssh/legacy")));
    assert_eq!(
        web02.settings.cache_dir,
        Some(PathBuf::from("/srv/cache/patchgap"))
    );
    assert!(web02.groups.contains(&"legacy".to_string()));
    assert_eq!(
        host(&inventory, "internal1").proxy_jump.as_deref(),
        Some("ops@bastion.example.com")
    );
    assert_eq!(web02.proxy_jump, None);
    assert_eq!(host(&inventory, "web01").settings.sudo, None);
}

#[test]
fn groups_list_hosts_through_children() {
    let inventory = load(&[fixture("site.yaml")]).expect("valid");
    assert_eq!(inventory.groups["production"].len(), 7);
    assert_eq!(inventory.groups["db"], ["dba", "dbb", "db1"]);
    assert_eq!(inventory.groups["ungrouped"], ["bastion.example.com"]);
    assert_eq!(inventory.groups["all"].len(), inventory.hosts.len());
}

#[test]
fn several_files_merge_with_the_later_winning() {
    let inventory = load(&[fixture("site.yaml"), fixture("extra.yaml")]).expect("valid");
    assert_eq!(inventory.hosts.len(), 13);
    assert_eq!(host(&inventory, "web07").user.as_deref(), Some("webops"));
    assert_eq!(host(&inventory, "web01").user.as_deref(), Some("webops"));
    assert_eq!(host(&inventory, "web07").port, Some(2200));
    assert!(
        host(&inventory, "web01")
            .groups
            .contains(&"monitoring".to_string())
    );
    assert_eq!(inventory.groups["monitoring"], ["web01", "mon1"]);
    assert!(!inventory.groups.contains_key("web06"));
}

#[test]
fn same_depth_groups_order_by_priority_then_name() {
    let inventory = load(&[fixture("priority.yaml")]).expect("valid");
    let h1 = host(&inventory, "h1");
    assert_eq!(h1.user.as_deref(), Some("alpha"));
    assert_eq!(h1.port, Some(2001));
}

#[test]
fn an_empty_file_is_an_empty_inventory() {
    let inventory = load(&[fixture("empty.yaml")]).expect("valid");
    assert!(inventory.hosts.is_empty());
    assert!(inventory.groups.contains_key("all"));
}

#[test]
fn misspelt_hosts_key_names_line_and_suggests() {
    let err = error_of("bad-host-key.yaml");
    assert!(
        err.contains("bad-host-key.yaml:4: unexpected key `host` in group `web`"),
        "{err}"
    );
    assert!(err.ends_with("did you mean `hosts`?"), "{err}");
}

#[test]
fn group_that_is_a_list() {
    let err = error_of("bad-group-not-mapping.yaml");
    assert!(err.contains(":6: group `db` must be a mapping"), "{err}");
    assert!(err.contains("found a list"), "{err}");
}

#[test]
fn hosts_written_as_a_list() {
    let err = error_of("bad-hosts-list.yaml");
    assert!(
        err.contains(":4: `hosts` of group `web` must be a mapping"),
        "{err}"
    );
}

#[test]
fn wrong_port_points_at_the_offending_host_line() {
    let err = error_of("bad-port.yaml");
    assert!(
        err.contains(
            ":9: `ansible_port` (for host web2): expected an integer 1-65535, found `abc`"
        ),
        "{err}"
    );
}

#[test]
fn unknown_patchgap_variable() {
    let err = error_of("bad-patchgap-var.yaml");
    assert!(
        err.contains(":6: unknown patchgap variable `patchgap_conect_timeout` (for group web)"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `patchgap_connect_timeout`?"),
        "{err}"
    );
}

#[test]
fn bad_range_and_cycle_and_yaml_syntax() {
    let err = error_of("bad-range.yaml");
    assert!(
        err.contains(":4: host range `web[9:3]`: begin `9` is larger"),
        "{err}"
    );
    let err = error_of("bad-cycle.yaml");
    assert!(
        err.contains(":3: group `a` is its own ancestor (a > b > a)"),
        "{err}"
    );
    let err = error_of("bad-yaml.yaml");
    assert!(err.contains("bad-yaml.yaml:4: not valid YAML"), "{err}");
}

#[test]
fn unreadable_file_is_named() {
    let err = load(&[fixture("missing.yaml")])
        .expect_err("missing")
        .to_string();
    assert!(
        err.starts_with("cannot read inventory") && err.contains("missing.yaml"),
        "{err}"
    );
}

#[test]
fn plugin_configuration_gets_a_hint() {
    let err = load_str(Path::new("aws.yaml"), "plugin: amazon.aws.aws_ec2\n")
        .expect_err("plugin")
        .to_string();
    assert!(err.contains("ansible-inventory"), "{err}");
}

#[test]
fn merge_keys_and_top_level_groups() {
    let source = "\
defaults: &defaults
  vars: {ansible_user: ops}
web:
  <<: *defaults
  hosts:
    w1:
";
    let inventory = load_str(Path::new("m.yaml"), source).expect("valid");
    let w1 = host(&inventory, "w1");
    assert_eq!(w1.user.as_deref(), Some("ops"));
    assert_eq!(w1.groups, ["all", "web"]);
}

#[test]
fn names_with_spaces_are_refused() {
    let err = load_str(Path::new("s.yaml"), "all:\n  hosts:\n    \"web 1\":\n")
        .expect_err("space")
        .to_string();
    assert!(
        err.contains("s.yaml:3: `web 1` is not a valid name"),
        "{err}"
    );
}

#[test]
fn the_documented_example_loads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory.example.yaml");
    let inventory = load(&[example]).expect("the example must stay valid");
    assert_eq!(inventory.groups["web"].len(), 26);
    assert_eq!(inventory.groups["production"].len(), 28);
    let db2 = host(&inventory, "db2.example.com");
    assert_eq!(
        (db2.port, db2.user.as_deref()),
        (Some(2200), Some("dbadmin"))
    );
    assert!(host(&inventory, "old-appliance.example.com").settings.skip);
}

#[test]
fn a_repeated_group_points_at_the_repeat() {
    let err = error_of("bad-duplicate-group.yaml");
    assert!(
        err.contains("bad-duplicate-group.yaml:7: not valid YAML: `web` appears twice"),
        "{err}"
    );
}

#[test]
fn other_wrong_shapes_are_named() {
    for (source, expected) in [
        (
            "- a\n- b\n",
            "e.yaml:1: the top level of an inventory must be a mapping",
        ),
        ("all: web1\n", "e.yaml:1: group `all` must be a mapping"),
        (
            "all:\n  hosts:\n    a: 5\n",
            "e.yaml:3: host `a` must be followed by a mapping",
        ),
        (
            "all:\n  vars: [1]\n",
            "e.yaml:2: `vars` of group `all` must be a mapping",
        ),
        (
            "all:\n  hosts:\n    a:\n      ansible_become: !vault |\n        $ANSIBLE_VAULT;1.1\n",
            "e.yaml:4: `ansible_become` (for host a): expected a boolean",
        ),
    ] {
        let err = load_str(Path::new("e.yaml"), source)
            .expect_err(source)
            .to_string();
        assert!(err.starts_with(expected), "{source:?}: {err}");
    }
}

#[test]
fn vault_values_of_the_users_own_variables_are_ignored() {
    let source = "all:\n  hosts:\n    a:\n      secret: !vault |\n        $ANSIBLE_VAULT;1.1\n        6162\n";
    let inventory = load_str(Path::new("v.yaml"), source).expect("ignored");
    assert_eq!(inventory.hosts.len(), 1);
}

/// The message of the error `source` must give.
fn error_in(source: &str) -> String {
    load_str(Path::new("e.yaml"), source)
        .expect_err(source)
        .to_string()
}

fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[test]
fn control_characters_are_escaped_in_every_message() {
    for (source, shown) in [
        // A host name (YAML escapes in a double-quoted key).
        (
            "all:\n  hosts:\n    \"web\\e[2J\\r\\0\\u202e1\":\n",
            "`web\\u{1b}[2J\\r\\0\\u{202e}1` is not a valid name",
        ),
        // A group key.
        (
            "all:\n  \"hosts\\e]0;pwned\\a\":\n",
            "`hosts\\u{1b}]0;pwned\\u{7}` is not a valid name",
        ),
        // A value.
        (
            "all:\n  hosts:\n    a:\n      ansible_port: \"22\\e[8m\"\n",
            "found `22\\u{1b}[8m`",
        ),
        // A plugin name.
        ("plugin: \"aws\\x9b31m\"\n", "(`plugin: aws\\u{9b}31m`)"),
        // A group variable, and a repeated key (serde_yaml's own message).
        (
            "all:\n  vars:\n    patchgap_sudo: \"\\e[5m\\u0085\"\n",
            "`patchgap_sudo` (for group all): expected a boolean (true/false, yes/no), \
             found `\\u{1b}[5m\\u{85}`",
        ),
        (
            "all:\n  hosts:\n    \"a\\e\":\n    \"a\\e\":\n",
            "duplicate entry with key \"a\\u{1b}\"",
        ),
        // A host that is not followed by a mapping.
        (
            "all:\n  hosts:\n    \"a\\u2066\": 5\n",
            "host `a\\u{2066}` must",
        ),
    ] {
        let err = error_in(source);
        assert!(!has_control(&err), "{source:?}: raw control in {err:?}");
        assert!(err.contains(shown), "{source:?}: {err}");
    }
}

#[test]
fn an_unreadable_path_is_escaped_too() {
    let err = load(&[PathBuf::from("/nonexistent/inv\u{1b}[2J.yaml")])
        .expect_err("missing")
        .to_string();
    assert!(err.contains("inv\\u{1b}[2J.yaml"), "{err}");
    assert!(!has_control(&err), "{err:?}");
}

#[test]
fn a_huge_name_is_cut_in_the_message() {
    let name = format!("x {}", "y".repeat(100_000));
    // YAML keys longer than 1024 characters must be explicit (`? key`).
    let err = error_in(&format!("all:\n  hosts:\n    ? \"{name}\"\n"));
    assert!(err.len() < 600, "{} bytes", err.len());
    assert!(err.contains("... (99802 more bytes)"), "{err}");
}

#[test]
fn names_longer_than_a_dns_name_are_refused() {
    let ok = "a".repeat(caps::MAX_NAME_BYTES);
    let inventory = load_str(Path::new("n.yaml"), &format!("all:\n  hosts:\n    {ok}:\n"))
        .expect("255 bytes is a valid name");
    assert_eq!(inventory.hosts[0].name, ok);
    let long = format!("{ok}a");
    let err = error_in(&format!("all:\n  hosts:\n    {long}:\n"));
    assert!(
        err.starts_with("e.yaml:3: `aaaa") && err.contains("at most 255 bytes"),
        "{err}"
    );
    let err = error_in(&format!("all:\n  children:\n    {long}:\n"));
    assert!(
        err.contains("e.yaml:3:") && err.contains("at most 255 bytes"),
        "{err}"
    );
    // A range whose names would be too long is refused before they are built.
    let err = error_in(&format!("all:\n  hosts:\n    {ok}[1:9]:\n"));
    assert!(err.contains("longer than 255 bytes"), "{err}");
}

#[test]
fn the_host_cap_names_the_entry_that_crosses_it() {
    let caps = caps::Caps {
        hosts: 10,
        ..caps::Caps::default()
    };
    let source = "all:\n  hosts:\n    a[1:6]:\n    a[4:9]:\n    b[1:2]:\n";
    let load = |s: &str| load_str_with(Path::new("c.yaml"), s, caps);
    // Repeats do not count: a1..a9 are 9 hosts.
    assert_eq!(
        load(&source[..source.len() - 12])
            .expect("9 hosts")
            .hosts
            .len(),
        9
    );
    let err = load(source).expect_err("11 hosts").to_string();
    assert_eq!(
        err,
        "c.yaml:5: the inventory has more than 10 hosts with this entry, the cap; check the \
         range for a typo, or audit the fleet in parts (one inventory, or one `--limit`, per part)"
    );
}

#[test]
fn the_membership_cap_counts_groups_as_written_and_inherited() {
    let caps = caps::Caps {
        memberships: 3,
        ..caps::Caps::default()
    };
    let load = |s: &str| load_str_with(Path::new("m.yaml"), s, caps);
    // Written: four hosts listed in `web` once each, in two entries.
    let twice = "\
a:
  children:
    web:
      hosts:
        w[1:3]:
b:
  children:
    web:
      hosts:
        w[3:5]:
";
    let err = load(twice).expect_err("4 memberships").to_string();
    assert!(
        err.starts_with("m.yaml:10: ") && err.contains("more than 3 times"),
        "{err}"
    );
    // A host written twice in one group is one membership (`web` and `all`: 2).
    let inventory = load("web:\n  hosts:\n    h[1:1]:\n    h1:\n").expect("2 memberships");
    assert_eq!(inventory.groups["web"], ["h1"]);
    // Inherited: one host listed once, but in `all`, `a`, `b` and `c` through children.
    let chain =
        "a:\n  children:\n    b:\n      children:\n        c:\n          hosts:\n            h:\n";
    let err = load(chain).expect_err("4 groups for one host").to_string();
    assert!(err.contains("more than 3 times"), "{err}");
    let ok = load_str_with(Path::new("m.yaml"), chain, caps::Caps::default()).expect("valid");
    assert_eq!(ok.hosts[0].groups, ["a", "all", "b", "c"]);
}

/// `g0` child of `all`, `g1` child of `g0`, ...: `g{n-1}` is `n` levels below `all`.
fn group_chain(n: usize) -> String {
    let mut source = String::new();
    for i in 0..n - 1 {
        source.push_str(&format!("g{i}:\n  children:\n    g{}:\n", i + 1));
    }
    source.push_str(&format!("g{}:\n  hosts:\n    h1:\n", n - 1));
    source
}

#[test]
fn group_chains_are_capped_and_never_overflow_the_stack() {
    let inventory =
        load_str(Path::new("g.yaml"), &group_chain(caps::MAX_GROUP_DEPTH)).expect("at the cap");
    assert_eq!(inventory.hosts[0].groups.len(), caps::MAX_GROUP_DEPTH + 1);
    let err = error_in(&group_chain(caps::MAX_GROUP_DEPTH + 1));
    assert_eq!(
        err,
        "e.yaml:192: group `g64` is more than 64 levels of `children` below `all`, the cap; \
         flatten the hierarchy"
    );
    // Deep enough to overflow a test thread's 2 MiB stack with a recursive walk (one
    // frame per level), which is what the previous code did.
    let err = error_in(&group_chain(30_000));
    assert!(err.contains("levels of `children` below `all`"), "{err}");
}

#[test]
fn all_as_a_child_is_a_loop_not_a_crash() {
    let err = error_in("g:\n  children:\n    all:\n");
    assert!(
        err.contains("group `all` is its own ancestor (all > g > all)"),
        "{err}"
    );
}

#[test]
fn deep_flow_collections_are_refused_before_yaml_parsing() {
    let source = format!(
        "all:\n  hosts:\n    h1:\n      x: {}\n",
        "[".repeat(100_000)
    );
    let err = error_in(&source);
    assert_eq!(
        err,
        "e.yaml:4: `[` and `{` nest more than 128 levels deep here, the cap; an inventory needs \
         a few, so look for a bracket that is never closed"
    );
}

#[test]
fn a_file_that_never_ends_is_refused() {
    // /dev/zero never ends: read whole, it would take all memory.
    let err = load(&[PathBuf::from("/dev/zero")])
        .expect_err("too large")
        .to_string();
    assert_eq!(
        err,
        "inventory /dev/zero is larger than 64 MiB, the cap for one file; split it into \
         several files and give each with its own `-i`"
    );
}

#[test]
fn repeated_entries_are_kept_once() {
    let source = "\
all:
  children:
    web:
      hosts:
        w[1:3]:
      children:
        a:
        a2:
    prod:
      children:
        web:
          hosts:
            w[2:4]:
            w1:
          children:
            a:
";
    let inventory = load_str(Path::new("r.yaml"), source).expect("valid");
    assert_eq!(inventory.groups["web"], ["w1", "w2", "w3", "w4"]);
    let names: Vec<&str> = inventory.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["w1", "w2", "w3", "w4"]);
    assert_eq!(inventory.hosts[0].groups, ["all", "prod", "web"]);
}
