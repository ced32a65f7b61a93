//! `--limit` host patterns, evaluated as Ansible does: terms separated by `,` (or `:`),
//! each a host or group name or a glob; `&term` intersects, `!term` excludes. Plain terms
//! are unioned first, then intersections apply, then exclusions, whatever their order.
//! See <https://docs.ansible.com/ansible/latest/inventory_guide/intro_patterns.html>.

use std::collections::HashSet;

use crate::glob;
use crate::inventory::{HostTarget, Inventory, shown};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("--limit pattern is empty")]
    Empty,
    #[error("--limit: `{}` matches no host or group of the inventory", shown(.0))]
    NoMatch(String),
    #[error(
        "--limit: `{}`: regular expressions (`~`) are not supported; use a glob such as `web*`",
        shown(.0)
    )]
    Regex(String),
    #[error("--limit `{}` selects no host", shown(.0))]
    NothingSelected(String),
}

/// The hosts a run audits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// In inventory order.
    pub hosts: Vec<HostTarget>,
    /// Selected but left out by `patchgap_skip`, for a note to the user.
    pub skipped: Vec<String>,
}

/// The hosts to audit: those `limit` selects (every host without one), minus the hosts set
/// to `patchgap_skip`.
pub fn select(inventory: &Inventory, limit: Option<&str>) -> Result<Selection, LimitError> {
    let chosen = match limit {
        None => vec![true; inventory.hosts.len()],
        Some(pattern) => evaluate(inventory, pattern)?,
    };
    let mut selection = Selection {
        hosts: Vec::new(),
        skipped: Vec::new(),
    };
    for (host, chosen) in inventory.hosts.iter().zip(chosen) {
        match (chosen, host.settings.skip) {
            (false, _) => {}
            (true, true) => selection.skipped.push(host.name.clone()),
            (true, false) => selection.hosts.push(host.clone()),
        }
    }
    Ok(selection)
}

/// For each host of the inventory, in order, whether `pattern` selects it.
pub fn evaluate(inventory: &Inventory, pattern: &str) -> Result<Vec<bool>, LimitError> {
    let terms = split(pattern);
    if terms.is_empty() {
        return Err(LimitError::Empty);
    }
    let mut plain = Vec::new();
    let mut intersect = Vec::new();
    let mut exclude = Vec::new();
    for term in &terms {
        if let Some(t) = term.strip_prefix('!') {
            exclude.push(t);
        } else if let Some(t) = term.strip_prefix('&') {
            intersect.push(t);
        } else {
            plain.push(*term);
        }
    }
    if plain.is_empty() {
        plain.push("all");
    }
    let mut chosen = vec![false; inventory.hosts.len()];
    for term in plain {
        for (c, m) in chosen.iter_mut().zip(term_matches(inventory, term)?) {
            *c |= m;
        }
    }
    for term in intersect {
        for (c, m) in chosen.iter_mut().zip(term_matches(inventory, term)?) {
            *c &= m;
        }
    }
    for term in exclude {
        for (c, m) in chosen.iter_mut().zip(term_matches(inventory, term)?) {
            *c &= !m;
        }
    }
    if !chosen.contains(&true) {
        return Err(LimitError::NothingSelected(pattern.to_string()));
    }
    Ok(chosen)
}

/// Splits on `,`, or on `:` outside `[...]` when there is no comma (Ansible's older form).
fn split(pattern: &str) -> Vec<&str> {
    let parts: Vec<&str> = if pattern.contains(',') {
        pattern.split(',').collect()
    } else if looks_like_ipv6(pattern) {
        vec![pattern]
    } else {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in pattern.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ':' if depth <= 0 => {
                    parts.push(&pattern[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&pattern[start..]);
        parts
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// `fe80::1` is one host, not three patterns.
fn looks_like_ipv6(pattern: &str) -> bool {
    let bare = pattern.trim_start_matches(['!', '&']);
    bare.matches(':').count() >= 2
        && bare
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
}

/// Hosts one term names: the hosts of matching groups, and hosts matching by name when no
/// group matched or the term is a glob (so `web*` finds both groups and hosts).
fn term_matches(inventory: &Inventory, term: &str) -> Result<Vec<bool>, LimitError> {
    if term.starts_with('~') {
        return Err(LimitError::Regex(term.to_string()));
    }
    let is_glob = glob::is_glob(term);
    let name_matches = |name: &str| {
        if is_glob {
            glob::matches(term, name)
        } else {
            name == term
        }
    };
    let mut matched_group = false;
    let mut in_groups: HashSet<&str> = HashSet::new();
    for (_, hosts) in inventory
        .groups
        .iter()
        .filter(|(name, _)| name_matches(name))
    {
        matched_group = true;
        in_groups.extend(hosts.iter().map(String::as_str));
    }
    let mut found = matched_group;
    let mut selected: Vec<bool> = inventory
        .hosts
        .iter()
        .map(|h| in_groups.contains(h.name.as_str()))
        .collect();
    if !matched_group || is_glob {
        for (s, host) in selected.iter_mut().zip(&inventory.hosts) {
            if name_matches(&host.name) {
                *s = true;
                found = true;
            }
        }
    }
    if !found {
        return Err(LimitError::NoMatch(term.to_string()));
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::inventory::load_str;

    const INVENTORY: &str = "
all:
  hosts:
    bastion:
  children:
    web:
      hosts:
        web[1:4]:
    db:
      hosts:
        db[1:2]:
        web4:
    staging:
      hosts:
        web4:
        db2:
          patchgap_skip: true
    empty:
";

    fn pick(limit: &str) -> Result<Vec<String>, LimitError> {
        let inventory = load_str(Path::new("t.yaml"), INVENTORY).expect("valid");
        let selection = select(&inventory, Some(limit))?;
        Ok(selection.hosts.into_iter().map(|h| h.name).collect())
    }

    #[test]
    fn names_groups_and_globs() {
        assert_eq!(pick("web1").expect("ok"), ["web1"]);
        assert_eq!(pick("db").expect("ok"), ["web4", "db1"]);
        assert_eq!(pick("web[12]").expect("ok"), ["web1", "web2"]);
        assert_eq!(pick("ba*").expect("ok"), ["bastion"]);
        assert_eq!(pick("all").expect("ok").len(), 6);
    }

    #[test]
    fn union_intersection_exclusion_in_ansible_order() {
        assert_eq!(pick("web:&db").expect("ok"), ["web4"]);
        assert_eq!(pick("!staging,web").expect("ok"), ["web1", "web2", "web3"]);
        assert_eq!(pick("!web").expect("ok"), ["bastion", "db1"]);
        assert_eq!(pick("db1, bastion").expect("ok"), ["bastion", "db1"]);
        assert_eq!(pick("web*:!web4").expect("ok"), ["web1", "web2", "web3"]);
    }

    #[test]
    fn skipped_hosts_are_reported_apart() {
        let inventory = load_str(Path::new("t.yaml"), INVENTORY).expect("valid");
        let selection = select(&inventory, Some("staging")).expect("ok");
        assert_eq!(selection.skipped, ["db2"]);
        assert_eq!(selection.hosts.len(), 1);
        let everything = select(&inventory, None).expect("ok");
        assert_eq!((everything.hosts.len(), everything.skipped.len()), (6, 1));
    }

    #[test]
    fn unknown_terms_are_named() {
        assert_eq!(pick("wbe1"), Err(LimitError::NoMatch("wbe1".into())));
        assert_eq!(pick("web,!nope"), Err(LimitError::NoMatch("nope".into())));
        assert_eq!(pick("zz*"), Err(LimitError::NoMatch("zz*".into())));
        assert_eq!(pick("~web.*"), Err(LimitError::Regex("~web.*".into())));
        assert_eq!(pick(" , "), Err(LimitError::Empty));
        // A known but empty group is not a typo, yet an audit of nothing is refused.
        assert_eq!(
            pick("empty"),
            Err(LimitError::NothingSelected("empty".into()))
        );
        assert_eq!(
            pick("web1:&db"),
            Err(LimitError::NothingSelected("web1:&db".into()))
        );
    }

    #[test]
    fn an_ipv6_address_is_one_term() {
        let inventory = load_str(
            Path::new("v6.yaml"),
            "all:\n  hosts:\n    \"fe80::1\":\n    b:\n",
        )
        .expect("valid");
        let selection = select(&inventory, Some("fe80::1")).expect("ok");
        assert_eq!(selection.hosts[0].name, "fe80::1");
        assert_eq!(split("a:b"), ["a", "b"]);
        assert_eq!(split("web[1:3]:db"), ["web[1:3]", "db"]);
    }

    #[test]
    fn control_characters_are_escaped_in_messages() {
        let err = pick("web\u{1b}[2J\r\0").expect_err("no such host");
        assert_eq!(
            err.to_string(),
            "--limit: `web\\u{1b}[2J\\r\\0` matches no host or group of the inventory"
        );
        let err = pick("~\u{9b}31m").expect_err("regex");
        assert!(
            err.to_string().starts_with("--limit: `~\\u{9b}31m`"),
            "{err}"
        );
        let err = pick("web1:&db\u{7}").expect_err("no such group");
        assert!(!err.to_string().chars().any(char::is_control), "{err}");
    }
}
