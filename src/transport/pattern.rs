//! OpenSSH host patterns, shared by known_hosts and ssh_config: `*` and `?` wildcards,
//! comma lists and `!` negation (see `PATTERNS` in ssh_config(5)).

use patchgap_probe::glob::Syntax;

/// Whether `text` matches the wildcard `pattern` (`*` any run, `?` one character; `[` is
/// literal), with the shared matcher in OpenSSH's dialect.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    Syntax::OPENSSH.matches(pattern, text)
}

/// Whether `name` matches a list of patterns: at least one positive pattern matches and no
/// negated one does (a negated match wins, as in OpenSSH). Comparison ignores ASCII case.
pub fn pattern_list_match<'a>(patterns: impl IntoIterator<Item = &'a str>, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let mut positive = false;
    for pattern in patterns {
        let pattern = pattern.trim().to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard_match(negated, &name) {
                return false;
            }
        } else if wildcard_match(&pattern, &name) {
            positive = true;
        }
    }
    positive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("web*", "web01"));
        assert!(wildcard_match("web?", "web1"));
        assert!(!wildcard_match("web?", "web10"));
        assert!(wildcard_match("*.example.org", "a.b.example.org"));
        assert!(!wildcard_match("*.example.org", "example.org"));
        assert!(wildcard_match("[10.0.0.*]:2222", "[10.0.0.7]:2222"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
        // A `*` in the pattern is a wildcard even where the text has a `*` too, as in
        // OpenSSH's match_pattern.
        assert!(wildcard_match("*", "*abc"));
        assert!(wildcard_match("a*", "a*bc"));
    }

    #[test]
    fn a_negated_pattern_overrides_a_positive_one() {
        assert!(pattern_list_match(["web*", "!web3"], "web1"));
        assert!(!pattern_list_match(["web*", "!web3"], "web3"));
        assert!(
            !pattern_list_match(["!web3"], "db1"),
            "negation alone matches nothing"
        );
        assert!(pattern_list_match(["WEB1"], "web1"));
    }
}
