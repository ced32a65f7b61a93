//! Shell-style wildcards (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`), matched as Python's `fnmatch`
//! does on Linux (case-sensitive, `*` crosses dots), because that is what Ansible users
//! expect of `--limit 'web*'`. The matching itself is `patchgap_probe::glob`, shared with
//! the probe and the OpenSSH host patterns.

use patchgap_probe::glob::Syntax;

/// True when `pattern` contains wildcard characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Whether `name` matches `pattern` as a whole, with the shared matcher in the dialect of
/// Python's `fnmatch` (brackets, no `\` quoting).
pub fn matches(pattern: &str, name: &str) -> bool {
    Syntax::PYTHON_FNMATCH.matches(pattern, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("web*", "web01.example.com"));
        assert!(matches("*.example.com", "db1.example.com"));
        assert!(matches("web?", "web1"));
        assert!(!matches("web?", "web10"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(!matches("Web*", "web1"));
    }

    #[test]
    fn classes() {
        assert!(matches("web[12]", "web1"));
        assert!(!matches("web[12]", "web3"));
        assert!(matches("db[a-c]", "dbb"));
        assert!(matches("db[!a-c]", "dbz"));
        assert!(!matches("db[!a-c]", "dba"));
        assert!(matches("x[]]", "x]"));
        assert!(matches("web[1", "web[1"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(50);
        let name = "a".repeat(49);
        assert!(!matches(&pattern, &name));
    }

    #[test]
    fn detects_globs() {
        assert!(is_glob("web*"));
        assert!(is_glob("web[1:3]"));
        assert!(!is_glob("web01"));
    }
}
