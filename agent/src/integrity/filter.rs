//! dpkg's `path-exclude` and `path-include` settings, see `dpkg(1)` (`--path-exclude`).
//!
//! Slim images tell dpkg not to unpack documentation, man pages or locales. Those files
//! stay listed in the package's md5sums, so a naive check (and `dpkg --verify`) calls
//! them missing. The rules are read as dpkg reads them: every valid file name in
//! `/etc/dpkg/dpkg.cfg.d/` in byte order, then `/etc/dpkg/dpkg.cfg`; patterns are
//! `fnmatch(3)` globs without flags (so `*` also matches `/`) against the absolute path,
//! and the last rule that matches decides.

use std::fs;
use std::path::Path;

use crate::glob::Syntax;
use crate::roots::under;

/// One rule, in the order dpkg applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    include: bool,
    pattern: String,
}

/// The path filter of one host; empty when no rule is configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathFilter {
    rules: Vec<Rule>,
}

impl PathFilter {
    /// Reads the rules of the host rooted at `fs_root`. Unreadable configuration is treated
    /// as absent: the only effect is that excluded files are reported as missing.
    pub fn load(fs_root: &Path) -> Self {
        let mut filter = PathFilter::default();
        let dir = under(fs_root, Path::new("/etc/dpkg/dpkg.cfg.d"));
        let mut names: Vec<Vec<u8>> = fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().into_encoded_bytes())
                    .filter(|n| valid_config_name(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            let name = String::from_utf8_lossy(&name).into_owned();
            filter.add_config(&fs::read(dir.join(name)).unwrap_or_default());
        }
        let main = under(fs_root, Path::new("/etc/dpkg/dpkg.cfg"));
        filter.add_config(&fs::read(main).unwrap_or_default());
        filter
    }

    /// Adds the rules of one configuration file's text, after the existing ones.
    pub fn add_config(&mut self, text: &[u8]) {
        for line in String::from_utf8_lossy(text).lines() {
            if let Some((name, value)) = parse_option(line) {
                let include = match name {
                    "path-include" => true,
                    "path-exclude" => false,
                    _ => continue,
                };
                self.rules.push(Rule {
                    include,
                    pattern: value.to_string(),
                });
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when dpkg would not have unpacked `path` (absolute, as in the file list).
    pub fn excludes(&self, path: &str) -> bool {
        let mut skip = false;
        for rule in &self.rules {
            if fnmatch(&rule.pattern, path) {
                skip = !rule.include;
            }
        }
        skip
    }
}

/// dpkg reads only configuration files named with letters, digits, `_` and `-`, so
/// `foo.dpkg-old` and editor backups are ignored.
fn valid_config_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// Splits a configuration line as dpkg does: the option name is the leading run of
/// letters, digits and `-`; one separator follows, then an optional `=`, spaces, and the
/// value, which may be quoted. Lines starting with `#` are comments.
fn parse_option(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let mut chars = rest.chars();
    chars.next()?;
    let rest = chars.as_str();
    let value = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let unquoted = [b'"', b'\''].iter().find_map(|q| {
        let q = char::from(*q);
        value
            .strip_prefix(q)
            .and_then(|v| v.strip_suffix(q))
            .filter(|_| value.len() > 1)
    });
    Some((name, unquoted.unwrap_or(value)))
}

/// `fnmatch(pattern, name, 0)`: `*` and `?` match any byte including `/` and a leading
/// `.`, `[...]` is a bracket expression (`!` or `^` negates, `a-z` ranges), `\` quotes the
/// next character.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    Syntax::FNMATCH.matches_bytes(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_like_libc_without_flags() {
        assert!(fnmatch("/usr/share/doc/*", "/usr/share/doc/bash/copyright"));
        assert!(fnmatch("/usr/share/man/*", "/usr/share/man/man1/ls.1.gz"));
        assert!(!fnmatch("/usr/share/doc/*", "/usr/share/docs"));
        assert!(fnmatch(
            "/usr/share/doc/*/copyright",
            "/usr/share/doc/a/b/copyright"
        ));
        assert!(fnmatch(
            "/usr/share/locale/??/*",
            "/usr/share/locale/de/x.mo"
        ));
        assert!(!fnmatch(
            "/usr/share/locale/??/*",
            "/usr/share/locale/de_AT/x.mo"
        ));
        assert!(fnmatch("*.[ch]", "/src/main.c"));
        assert!(!fnmatch("*.[!ch]", "/src/main.c"));
        assert!(fnmatch("/x[a-c]", "/xb"));
        assert!(fnmatch("/a\\*", "/a*"));
        assert!(!fnmatch("/a\\*", "/ab"));
        assert!(fnmatch("/[]x]", "/]"));
        assert!(fnmatch("/[x", "/[x"));
        assert!(fnmatch("*", ""));
        assert!(!fnmatch("?", ""));
        assert!(fnmatch("/*/*.so*", "/lib/x/libc.so.6"));
    }

    #[test]
    fn last_matching_rule_wins() {
        let mut f = PathFilter::default();
        f.add_config(
            b"# slim image\n\
              path-exclude=/usr/share/doc/*\n\
              path-include /usr/share/doc/*/copyright\n\
              path-exclude \"/usr/share/man/*\"\n\
              force-unsafe-io\n\
              path-exclude=/usr/share/doc/secret/*\n",
        );
        assert!(f.excludes("/usr/share/doc/bash/README"));
        assert!(!f.excludes("/usr/share/doc/bash/copyright"));
        assert!(f.excludes("/usr/share/doc/secret/copyright"));
        assert!(f.excludes("/usr/share/man/man1/ls.1.gz"));
        assert!(!f.excludes("/usr/bin/ls"));
    }

    #[test]
    fn loads_config_dir_in_order_then_main_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("etc/dpkg/dpkg.cfg.d");
        fs::create_dir_all(&cfg).expect("mkdir");
        fs::write(cfg.join("10-exclude"), "path-exclude=/usr/share/doc/*\n").expect("w");
        fs::write(
            cfg.join("20-include"),
            "path-include=/usr/share/doc/keep/*\n",
        )
        .expect("w");
        // Not a valid name for dpkg: must be ignored.
        fs::write(cfg.join("30.dpkg-old"), "path-exclude=/usr/bin/*\n").expect("w");
        fs::write(
            dir.path().join("etc/dpkg/dpkg.cfg"),
            "path-exclude=/usr/share/doc/keep/drop\n",
        )
        .expect("w");
        let f = PathFilter::load(dir.path());
        assert!(f.excludes("/usr/share/doc/a/b"));
        assert!(!f.excludes("/usr/share/doc/keep/x"));
        assert!(f.excludes("/usr/share/doc/keep/drop"));
        assert!(!f.excludes("/usr/bin/ls"));
        assert!(PathFilter::load(&dir.path().join("nothing")).is_empty());
    }
}
