//! The one wildcard matcher of patchgap, shared by the probe and the controller.
//!
//! Three callers match shell-style wildcards, each with the dialect its users know:
//!
//! - dpkg's `path-exclude`/`path-include` rules ([`Syntax::FNMATCH`]): `fnmatch(3)` without
//!   flags, so `[...]` bracket expressions and `\` quoting, matched byte by byte;
//! - the controller's `--limit`/`--ignore` host patterns ([`Syntax::PYTHON_FNMATCH`]): what
//!   Ansible users expect, Python's `fnmatch` on Linux, with `[...]` but no `\` quoting;
//! - OpenSSH host patterns in `known_hosts` and `ssh_config` ([`Syntax::OPENSSH`]): only `*`
//!   and `?`, so `[10.0.0.*]:2222` is a literal bracketed host.
//!
//! All are case-sensitive (OpenSSH's pattern lists fold ASCII case before they match), and
//! `*` matches any run including `/` and `.`. Matching is iterative with one backtrack
//! point (the last `*`), so a hostile pattern cannot recurse deeply or take exponential
//! time.

/// Which wildcard features a pattern may use; `*` and `?` are always wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syntax {
    /// `[abc]`, `[a-z]`, `[!x]`/`[^x]` match one unit; an unclosed `[` is a literal. When
    /// false, `[` and `]` are ordinary characters.
    pub brackets: bool,
    /// `\` quotes the next character (also inside brackets). When false, `\` is ordinary.
    pub backslash_escapes: bool,
}

impl Syntax {
    /// `fnmatch(pattern, name, 0)` of libc: brackets and `\` quoting.
    pub const FNMATCH: Syntax = Syntax {
        brackets: true,
        backslash_escapes: true,
    };
    /// Python's `fnmatch.fnmatchcase`: brackets, no `\` quoting.
    pub const PYTHON_FNMATCH: Syntax = Syntax {
        brackets: true,
        backslash_escapes: false,
    };
    /// OpenSSH's `match_pattern`: only `*` and `?`.
    pub const OPENSSH: Syntax = Syntax {
        brackets: false,
        backslash_escapes: false,
    };

    /// Whether `name` matches `pattern` as a whole, character by character (`?` is one
    /// Unicode scalar value).
    pub fn matches(self, pattern: &str, name: &str) -> bool {
        let pattern: Vec<char> = pattern.chars().collect();
        let name: Vec<char> = name.chars().collect();
        self.matches_units(&pattern, &name)
    }

    /// Whether `name` matches `pattern` as a whole, byte by byte (`?` is one byte), as
    /// libc's `fnmatch` in the C locale.
    pub fn matches_bytes(self, pattern: &[u8], name: &[u8]) -> bool {
        self.matches_units(pattern, name)
    }

    fn matches_units<T: Unit>(self, p: &[T], n: &[T]) -> bool {
        let (mut pi, mut ni) = (0, 0);
        // Where to resume after the last `*`: pattern index after it, name index it absorbed.
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            let step = match p.get(pi).copied() {
                Some(c) if c == T::STAR => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                Some(c) if c == T::QUESTION => Some(1),
                Some(c) if c == T::OPEN && self.brackets => self.bracket(&p[pi..], n[ni]),
                Some(c) if c == T::BACKSLASH && self.backslash_escapes && pi + 1 < p.len() => {
                    (p[pi + 1] == n[ni]).then_some(2)
                }
                Some(c) => (c == n[ni]).then_some(1),
                None => None,
            };
            match (step, star) {
                (Some(len), _) => {
                    pi += len;
                    ni += 1;
                }
                (None, Some((sp, sn))) => {
                    pi = sp;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                (None, None) => return false,
            }
        }
        p[pi..].iter().all(|c| *c == T::STAR)
    }

    /// Matches one unit against the bracket expression at the start of `p`; returns the
    /// expression's length on a match. An unterminated `[` is a literal `[`. A `]` right
    /// after the opening (or its negation) is a member, as in POSIX.
    fn bracket<T: Unit>(self, p: &[T], c: T) -> Option<usize> {
        let mut i = 1;
        let negate = p.get(i).is_some_and(|x| *x == T::BANG || *x == T::CARET);
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let lo = match p.get(i).copied() {
                None => return (c == T::OPEN).then_some(1),
                Some(x) if x == T::CLOSE && !first => break,
                Some(x) if x == T::BACKSLASH && self.backslash_escapes && i + 1 < p.len() => {
                    i += 1;
                    p[i]
                }
                Some(x) => x,
            };
            first = false;
            i += 1;
            if p.get(i) == Some(&T::DASH) && p.get(i + 1).is_some_and(|x| *x != T::CLOSE) {
                let hi = p[i + 1];
                matched |= lo <= c && c <= hi;
                i += 2;
            } else {
                matched |= lo == c;
            }
        }
        (matched != negate).then_some(i + 1)
    }
}

/// A unit of text the matcher compares: a byte or a character.
trait Unit: Copy + Ord {
    const STAR: Self;
    const QUESTION: Self;
    const OPEN: Self;
    const CLOSE: Self;
    const BANG: Self;
    const CARET: Self;
    const DASH: Self;
    const BACKSLASH: Self;
}

impl Unit for u8 {
    const STAR: u8 = b'*';
    const QUESTION: u8 = b'?';
    const OPEN: u8 = b'[';
    const CLOSE: u8 = b']';
    const BANG: u8 = b'!';
    const CARET: u8 = b'^';
    const DASH: u8 = b'-';
    const BACKSLASH: u8 = b'\\';
}

impl Unit for char {
    const STAR: char = '*';
    const QUESTION: char = '?';
    const OPEN: char = '[';
    const CLOSE: char = ']';
    const BANG: char = '!';
    const CARET: char = '^';
    const DASH: char = '-';
    const BACKSLASH: char = '\\';
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Syntax; 3] = [Syntax::FNMATCH, Syntax::PYTHON_FNMATCH, Syntax::OPENSSH];

    #[test]
    fn stars_and_question_marks_in_every_dialect() {
        for s in ALL {
            assert!(s.matches("*", ""));
            assert!(s.matches("", ""));
            assert!(!s.matches("", "x"));
            assert!(!s.matches("?", ""));
            assert!(s.matches("a*b*c", "axxbyyc"));
            assert!(!s.matches("a*b*c", "axxbyy"));
            assert!(s.matches("/*/*.so*", "/lib/x/libc.so.6"));
            assert!(!s.matches("Web*", "web1"), "case-sensitive");
            assert!(s.matches_bytes(b"a?c", b"abc"));
        }
    }

    #[test]
    fn brackets_only_where_enabled() {
        for s in [Syntax::FNMATCH, Syntax::PYTHON_FNMATCH] {
            assert!(s.matches("db[!a-c]", "dbz"));
            assert!(!s.matches("db[^a-c]", "dba"));
            assert!(s.matches("x[]]", "x]"));
            assert!(s.matches("web[1", "web[1"));
            assert!(!s.matches("[1.2.3.*]:22", "[1.2.3.4]:22"));
        }
        assert!(Syntax::OPENSSH.matches("[1.2.3.*]:22", "[1.2.3.4]:22"));
        assert!(!Syntax::OPENSSH.matches("web[12]", "web1"));
    }

    #[test]
    fn backslash_quotes_only_where_enabled() {
        assert!(Syntax::FNMATCH.matches("/a\\*", "/a*"));
        assert!(!Syntax::FNMATCH.matches("/a\\*", "/ab"));
        assert!(Syntax::FNMATCH.matches("[\\]]", "]"));
        assert!(Syntax::PYTHON_FNMATCH.matches("a\\*", "a\\bc"));
        assert!(!Syntax::PYTHON_FNMATCH.matches("a\\*", "a*"));
    }

    #[test]
    fn bytes_and_characters_differ_only_on_multibyte_text() {
        assert!(Syntax::FNMATCH.matches("?", "é"));
        assert!(!Syntax::FNMATCH.matches_bytes(b"?", "é".as_bytes()));
        assert!(Syntax::FNMATCH.matches_bytes(b"??", "é".as_bytes()));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(50);
        let name = "a".repeat(49);
        for s in ALL {
            assert!(!s.matches(&pattern, &name));
        }
    }
}
