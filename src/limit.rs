//! `--limit` host patterns, evaluated as Ansible does: terms separated by `,` (or `:`),
//! each a host or group name or a glob; `&term` intersects, `!term` excludes. Plain terms
//! are unioned first, then intersections apply, then exclusions, whatever their order.
//! See <https://docs.ansible.com/ansible/latest/inventory_guide/intro_patterns.html>.
//!
//! Evaluation costs one pass over the hosts a term selects, not over the whole inventory
//! per term: a `--limit` of a thousand host names on a hundred thousand hosts is a thousand
//! lookups. Only globs are matched against every name, so their number is capped.

use std::collections::{HashMap, HashSet};

use crate::glob;
use crate::inventory::{HostTarget, Inventory, shown};

/// Different glob terms in one `--limit`. Each is matched against every host and group
/// name; a handful is what people write, and a script that lists hosts lists names.
pub const MAX_GLOBS: usize = 64;

/// Bytes of one glob term. Host and group names stop at 255 bytes, so a longer glob is a
/// mistake, and the matcher's cost grows with the glob's length times the name's.
pub const MAX_GLOB_BYTES: usize = 1024;

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
    #[error(
        "--limit has more than {MAX_GLOBS} different globs, the cap (each is matched against \
         every host and group); name hosts or groups instead"
    )]
    TooManyGlobs,
    #[error(
        "--limit: glob `{}` is longer than {MAX_GLOB_BYTES} bytes, the cap (names stop at 255); \
         shorten it",
        shown(.0)
    )]
    GlobTooLong(String),
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
    // Each term once: `all,all,...` costs one pass over `all`, not one per copy.
    let mut seen = HashSet::new();
    let mut plain = Vec::new();
    let mut intersect = Vec::new();
    let mut exclude = Vec::new();
    for term in terms.into_iter().filter(|t| seen.insert(*t)) {
        if let Some(t) = term.strip_prefix('!') {
            exclude.push(t);
        } else if let Some(t) = term.strip_prefix('&') {
            intersect.push(t);
        } else {
            plain.push(term);
        }
    }
    if plain.is_empty() {
        plain.push("all");
    }
    let globs: HashSet<&str> = [&plain, &intersect, &exclude]
        .into_iter()
        .flatten()
        .copied()
        .filter(|t| glob::is_glob(t))
        .collect();
    if globs.len() > MAX_GLOBS {
        return Err(LimitError::TooManyGlobs);
    }
    let index: HashMap<&str, usize> = inventory
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    let cx = Terms { inventory, index };
    let mut chosen = vec![false; inventory.hosts.len()];
    for term in plain {
        for host in cx.matches(term)? {
            chosen[host] = true;
        }
    }
    // A host stays if every intersection selects it: count the terms that do.
    if !intersect.is_empty() {
        let mut hits = vec![0usize; chosen.len()];
        for term in &intersect {
            for host in cx.matches(term)? {
                hits[host] += 1;
            }
        }
        for (c, hits) in chosen.iter_mut().zip(hits) {
            *c &= hits == intersect.len();
        }
    }
    for term in exclude {
        for host in cx.matches(term)? {
            chosen[host] = false;
        }
    }
    if !chosen.contains(&true) {
        return Err(LimitError::NothingSelected(pattern.to_string()));
    }
    Ok(chosen)
}

/// The inventory, with its hosts by name.
struct Terms<'i> {
    inventory: &'i Inventory,
    index: HashMap<&'i str, usize>,
}

impl Terms<'_> {
    /// Hosts one term names, each once: the hosts of matching groups, and hosts matching by
    /// name when no group matched or the term is a glob (so `web*` finds both groups and
    /// hosts).
    fn matches(&self, term: &str) -> Result<Vec<usize>, LimitError> {
        if term.starts_with('~') {
            return Err(LimitError::Regex(term.to_string()));
        }
        if !glob::is_glob(term) {
            return match self.inventory.groups.get(term) {
                // A group lists each of its hosts once.
                Some(hosts) => Ok(hosts
                    .iter()
                    .filter_map(|h| self.index.get(h.as_str()).copied())
                    .collect()),
                None => match self.index.get(term) {
                    Some(host) => Ok(vec![*host]),
                    None => Err(LimitError::NoMatch(term.to_string())),
                },
            };
        }
        if term.len() > MAX_GLOB_BYTES {
            return Err(LimitError::GlobTooLong(term.to_string()));
        }
        let mut selected = vec![false; self.inventory.hosts.len()];
        let mut found = false;
        for (_, hosts) in self
            .inventory
            .groups
            .iter()
            .filter(|(name, _)| glob::matches(term, name))
        {
            found = true;
            for host in hosts {
                if let Some(i) = self.index.get(host.as_str()) {
                    selected[*i] = true;
                }
            }
        }
        for (s, host) in selected.iter_mut().zip(&self.inventory.hosts) {
            if glob::matches(term, &host.name) {
                *s = true;
                found = true;
            }
        }
        if !found {
            return Err(LimitError::NoMatch(term.to_string()));
        }
        Ok(selected
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.then_some(i))
            .collect())
    }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::inventory::load_str;
    use crate::inventory::proptests::config;

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

    #[test]
    fn globs_are_capped_in_number_and_length() {
        let many: Vec<String> = (0..=MAX_GLOBS).map(|i| format!("web{i}*")).collect();
        assert_eq!(pick(&many.join(",")), Err(LimitError::TooManyGlobs));
        // The same glob many times is one glob.
        assert_eq!(pick(&vec!["web*"; 1000].join(",")).expect("ok").len(), 4);
        let long = format!("{}*", "w".repeat(MAX_GLOB_BYTES));
        assert_eq!(pick(&long), Err(LimitError::GlobTooLong(long.clone())));
    }

    /// The evaluation as it was before it was made to cost one pass per selected host: one
    /// pass over every host and group per term. The reference for the properties below.
    fn reference(inventory: &Inventory, pattern: &str) -> Result<Vec<bool>, LimitError> {
        fn term(inventory: &Inventory, term: &str) -> Result<Vec<bool>, LimitError> {
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
            let groups: Vec<&Vec<String>> = inventory
                .groups
                .iter()
                .filter(|(name, _)| name_matches(name))
                .map(|(_, hosts)| hosts)
                .collect();
            let mut found = !groups.is_empty();
            let mut selected: Vec<bool> = inventory
                .hosts
                .iter()
                .map(|h| groups.iter().any(|g| g.contains(&h.name)))
                .collect();
            if groups.is_empty() || is_glob {
                for (s, host) in selected.iter_mut().zip(&inventory.hosts) {
                    if name_matches(&host.name) {
                        *s = true;
                        found = true;
                    }
                }
            }
            if found {
                Ok(selected)
            } else {
                Err(LimitError::NoMatch(term.to_string()))
            }
        }
        let terms = split(pattern);
        if terms.is_empty() {
            return Err(LimitError::Empty);
        }
        let mut plain: Vec<&str> = terms
            .iter()
            .copied()
            .filter(|t| !t.starts_with(['!', '&']))
            .collect();
        if plain.is_empty() {
            plain.push("all");
        }
        let mut chosen = vec![false; inventory.hosts.len()];
        for t in plain {
            for (c, m) in chosen.iter_mut().zip(term(inventory, t)?) {
                *c |= m;
            }
        }
        for t in terms.iter().filter_map(|t| t.strip_prefix('&')) {
            for (c, m) in chosen.iter_mut().zip(term(inventory, t)?) {
                *c &= m;
            }
        }
        for t in terms.iter().filter_map(|t| t.strip_prefix('!')) {
            for (c, m) in chosen.iter_mut().zip(term(inventory, t)?) {
                *c &= !m;
            }
        }
        if !chosen.contains(&true) {
            return Err(LimitError::NothingSelected(pattern.to_string()));
        }
        Ok(chosen)
    }

    const FRAGMENTS: &[&str] = &[
        "web1",
        "web4",
        "web",
        "db",
        "db2",
        "bastion",
        "staging",
        "empty",
        "all",
        "ungrouped",
        "nope",
        "web*",
        "*",
        "?b*",
        "web[12]",
        "db[!1]",
        "*[",
        "[",
        "]",
        ",",
        ",",
        ":",
        ":",
        "&",
        "!",
        "~",
        " ",
        "\u{1b}",
        "\r",
        "fe80::1",
    ];

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn patterns_select_what_the_reference_selects(
            parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..12)
        ) {
            let pattern = parts.concat();
            let inventory = load_str(Path::new("t.yaml"), INVENTORY).expect("valid");
            let got = evaluate(&inventory, &pattern);
            if let Err(e) = &got {
                prop_assert!(!e.to_string().chars().any(char::is_control), "{}", e);
            }
            prop_assert_eq!(got, reference(&inventory, &pattern));
        }

        #[test]
        fn any_pattern_selects_or_fails_cleanly(pattern in any::<String>()) {
            let inventory = load_str(Path::new("t.yaml"), INVENTORY).expect("valid");
            match evaluate(&inventory, &pattern) {
                Ok(chosen) => prop_assert_eq!(chosen.len(), inventory.hosts.len()),
                Err(e) => prop_assert!(!e.to_string().chars().any(char::is_control), "{}", e),
            }
        }
    }
}
