//! Shell-style wildcards (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`), matched as Python's `fnmatch`
//! does on Linux (case-sensitive, `*` crosses dots), because that is what Ansible users
//! expect of `--limit 'web*'`.

/// True when `pattern` contains wildcard characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Whether `name` matches `pattern` as a whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for the last `*`: linear-ish, and no
    // recursion that a hostile pattern could blow up.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                '*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                '?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                '[' => {
                    if let Some((hit, next)) = class(&pattern, p, name[n]) {
                        if hit {
                            p = next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == '[' {
                        // An unclosed `[` is a literal, as in fnmatch.
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class opening at `pattern[open]`; `None` when it is not closed.
fn class(pattern: &[char], open: usize, c: char) -> Option<(bool, usize)> {
    let mut i = open + 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while let Some(&item) = pattern.get(i) {
        if item == ']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|e| *e != ']') {
            let end = pattern[i + 2];
            hit |= item <= c && c <= end;
            i += 3;
        } else {
            hit |= item == c;
            i += 1;
        }
    }
    None
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
