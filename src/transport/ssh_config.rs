//! The part of OpenSSH's client configuration (ssh_config(5)) that fleet users rely on:
//! `Host` blocks with patterns and negation, `HostName`, `User`, `Port`, `IdentityFile`
//! and `ProxyJump`. As in OpenSSH the first value obtained for a keyword wins, except
//! `IdentityFile`, which accumulates. `Include` is read in place. `Match` blocks are not
//! evaluated: their settings never apply. Other keywords are ignored.
//!
//! A line that is not UTF-8 is skipped with a warning instead of failing the run (OpenSSH
//! itself would refuse the file; a fleet run should not stop for one stray byte). The
//! warnings are kept for the caller to report ([`SshConfig::warnings`]).

use std::io;
use std::path::{Path, PathBuf};

use super::pattern::{pattern_list_match, wildcard_match};

/// A parsed config file.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
    /// Lines skipped while reading, for the run's report.
    warnings: Vec<String>,
    /// Files read so far, `Include`d ones too (bounded by [`MAX_FILES`]).
    files_read: usize,
}

#[derive(Debug, Clone)]
struct Block {
    /// `None` for the lines before the first `Host` (they apply to every host) and
    /// `Some(patterns)` for a `Host` block; `Match` blocks are not kept.
    patterns: Option<Vec<String>>,
    options: Vec<(String, String)>,
}

/// The settings the config gives one host alias (before `%` tokens are expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    /// `None` when not set; `Some(vec![])` for `ProxyJump none`.
    pub proxy_jump: Option<Vec<String>>,
}

impl SshConfig {
    /// Reads a config file and the files it includes; a missing file is an empty config.
    pub fn load(path: &Path) -> io::Result<Self> {
        let mut config = Self::empty();
        let base = path.parent().unwrap_or(Path::new("."));
        config.read_file(path, base, 0)?;
        Ok(config)
    }

    /// Config text without `Include` support (no directory to resolve it against).
    pub fn parse(text: &str) -> Self {
        Self::from_bytes(text.as_bytes())
    }

    /// Raw config bytes without `Include` support; lines that are not UTF-8 are skipped with
    /// a warning.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut config = Self::empty();
        config.parse_into(bytes, Path::new("(config text)"), None, 0);
        config
    }

    /// What was skipped while reading, for the run's report.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn empty() -> Self {
        Self {
            blocks: vec![Block {
                patterns: None,
                options: Vec::new(),
            }],
            warnings: Vec::new(),
            files_read: 0,
        }
    }

    fn read_file(&mut self, path: &Path, base: &Path, depth: usize) -> io::Result<()> {
        if self.files_read >= MAX_FILES {
            if self.files_read == MAX_FILES {
                self.warnings.push(format!(
                    "ssh config: more than {MAX_FILES} files read through Include; {} and \
                     later includes skipped",
                    path.display()
                ));
                self.files_read += 1;
            }
            return Ok(());
        }
        self.files_read += 1;
        match std::fs::read(path) {
            Ok(bytes) => {
                self.parse_into(&bytes, path, Some(base), depth);
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!("cannot read ssh config {}: {err}", path.display()),
            )),
        }
    }

    /// Appends the blocks of `text`. An `Include` is read in place, as OpenSSH does, with
    /// relative paths under `base` (the directory of the user's config).
    /// Lines that are not UTF-8 are skipped with a warning (at most
    /// [`MAX_WARNINGS_PER_FILE`] per file, then a count).
    fn parse_into(&mut self, bytes: &[u8], origin: &Path, base: Option<&Path>, depth: usize) {
        let mut in_match = false;
        let mut bad = 0usize;
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let Ok(line) = std::str::from_utf8(raw) else {
                bad += 1;
                if bad <= MAX_WARNINGS_PER_FILE {
                    self.warnings.push(format!(
                        "ssh config {} line {}: not valid UTF-8, line skipped",
                        origin.display(),
                        index + 1
                    ));
                }
                continue;
            };
            let Some((keyword, value)) = split_line(line) else {
                continue;
            };
            match keyword.as_str() {
                "host" => {
                    in_match = false;
                    self.blocks.push(Block {
                        patterns: Some(split_words(&value)),
                        options: Vec::new(),
                    });
                }
                "match" => in_match = true,
                _ if in_match => {}
                "include" => {
                    let Some(base) = base.filter(|_| depth < MAX_INCLUDE_DEPTH) else {
                        continue;
                    };
                    for pattern in split_words(&value) {
                        for file in include_files(&pattern, base) {
                            // An unreadable included file is skipped like a missing one.
                            let _ = self.read_file(&file, base, depth + 1);
                        }
                    }
                }
                _ => {
                    if let Some(block) = self.blocks.last_mut() {
                        block.options.push((keyword, value));
                    }
                }
            }
        }
        if bad > MAX_WARNINGS_PER_FILE {
            self.warnings.push(format!(
                "ssh config {}: {} more lines that are not valid UTF-8 skipped",
                origin.display(),
                bad - MAX_WARNINGS_PER_FILE
            ));
        }
    }

    /// The settings for `alias`: the host name as given (the inventory's address).
    pub fn resolve(&self, alias: &str) -> HostSettings {
        let mut settings = HostSettings::default();
        let applying = self.blocks.iter().filter(|block| match &block.patterns {
            None => true,
            Some(patterns) => pattern_list_match(patterns.iter().map(String::as_str), alias),
        });
        for (keyword, value) in applying.flat_map(|block| block.options.iter()) {
            match keyword.as_str() {
                "hostname" => {
                    settings.hostname.get_or_insert_with(|| value.clone());
                }
                "user" => {
                    settings.user.get_or_insert_with(|| value.clone());
                }
                "port" if settings.port.is_none() => settings.port = value.parse().ok(),
                "identityfile" => settings.identity_files.push(value.clone()),
                "proxyjump" => {
                    settings.proxy_jump.get_or_insert_with(|| {
                        if value.eq_ignore_ascii_case("none") {
                            Vec::new()
                        } else {
                            value.split(',').map(|hop| hop.trim().to_string()).collect()
                        }
                    });
                }
                _ => {}
            }
        }
        settings
    }
}

/// OpenSSH's own limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Files read for one config, `Include`d ones too: a file that includes itself twice would
/// otherwise be read 2^16 times within the depth limit.
const MAX_FILES: usize = 256;

/// Warnings kept per file for lines that are not UTF-8; the rest are counted in one line.
const MAX_WARNINGS_PER_FILE: usize = 5;

/// The files an `Include` pattern names, sorted; wildcards in the file name only.
fn include_files(pattern: &str, base: &Path) -> Vec<PathBuf> {
    let path = match pattern.strip_prefix("~/") {
        Some(rest) => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest),
        None => base.join(pattern),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name.filter(|n| n.contains(['*', '?'])) else {
        return vec![path];
    };
    let dir = path.parent().unwrap_or(base);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| wildcard_match(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// `Keyword value`, `Keyword=value` or `Keyword = "quoted value"`; keywords are
/// case-insensitive.
fn split_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let keyword = line[..end].to_ascii_lowercase();
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    let value = rest
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(rest);
    Some((keyword, value.to_string()))
}

fn split_words(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_string).collect()
}

/// Expands the `%` tokens patchgap supports (`%h` host name, `%p` port, `%r` remote user,
/// `%n` original alias, `%d` local home, `%u` local user, `%%`) and a leading `~/`.
pub fn expand_tokens(value: &str, tokens: &Tokens<'_>) -> String {
    let mut out = String::new();
    let value = match value.strip_prefix("~/") {
        Some(rest) => {
            out.push_str(tokens.home);
            out.push('/');
            rest
        }
        None => value,
    };
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(tokens.host),
            Some('p') => out.push_str(&tokens.port.to_string()),
            Some('r') => out.push_str(tokens.remote_user),
            Some('n') => out.push_str(tokens.alias),
            Some('d') => out.push_str(tokens.home),
            Some('u') => out.push_str(tokens.local_user),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Values of the `%` tokens for one host.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    pub alias: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub remote_user: &'a str,
    pub local_user: &'a str,
    pub home: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONFIG: &str = "\
# global defaults apply to every host, but only where nothing earlier set the keyword
IdentityFile ~/.ssh/global_key

Host web* !web3
    HostName %h.internal
    User deploy
    Port=2200
    IdentityFile ~/.ssh/web_key
    ProxyJump bastion,jump2:2222

Match user root
    User nobody

Host web3
    HostName = \"10.0.0.3\"

Host *
    User fallback
    Port 22
    ProxyJump none
";

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let settings = SshConfig::parse(CONFIG).resolve("web1");
        assert_eq!(
            settings,
            HostSettings {
                hostname: Some("%h.internal".into()),
                user: Some("deploy".into()),
                port: Some(2200),
                identity_files: vec!["~/.ssh/global_key".into(), "~/.ssh/web_key".into()],
                proxy_jump: Some(vec!["bastion".into(), "jump2:2222".into()]),
            }
        );
    }

    #[test]
    fn negated_patterns_exclude_and_match_blocks_never_apply() {
        let settings = SshConfig::parse(CONFIG).resolve("web3");
        assert_eq!(settings.hostname.as_deref(), Some("10.0.0.3"));
        assert_eq!(
            settings.user.as_deref(),
            Some("fallback"),
            "not deploy, not nobody"
        );
        assert_eq!(settings.port, Some(22));
        assert_eq!(settings.proxy_jump, Some(vec![]), "ProxyJump none");
    }

    #[test]
    fn included_files_are_read_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let included = dir.path().join("config.d");
        std::fs::create_dir(&included).expect("mkdir");
        std::fs::write(included.join("10-web.conf"), "Host web1\n  User included\n")
            .expect("write");
        std::fs::write(included.join("20-db.conf"), "Host db1\n  Port 2201\n").expect("write");
        std::fs::write(included.join("ignored.txt"), "Host *\n  User wrong\n").expect("write");
        let main = dir.path().join("config");
        std::fs::write(&main, "Include config.d/*.conf\nHost *\n  User fallback\n").expect("write");
        let config = SshConfig::load(&main).expect("load");
        assert_eq!(config.resolve("web1").user.as_deref(), Some("included"));
        assert_eq!(config.resolve("db1").port, Some(2201));
        assert_eq!(config.resolve("db1").user.as_deref(), Some("fallback"));
        assert_eq!(
            SshConfig::load(&dir.path().join("missing"))
                .expect("missing")
                .resolve("x"),
            HostSettings::default()
        );
    }

    /// Regression: one byte that is not UTF-8 made the whole config unreadable, failing
    /// the run.
    #[test]
    fn lines_that_are_not_utf8_are_skipped_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = dir.path().join("config");
        std::fs::write(
            &main,
            b"Host web1\n  User caf\xe9\n  Port 2200\nHost *\n  User ok\n",
        )
        .expect("write");
        let config = SshConfig::load(&main).expect("load");
        let settings = config.resolve("web1");
        assert_eq!(settings.port, Some(2200));
        assert_eq!(
            settings.user.as_deref(),
            Some("ok"),
            "the bad line is skipped"
        );
        assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
        assert!(
            config.warnings()[0].contains("line 2") && config.warnings()[0].contains("config"),
            "{:?}",
            config.warnings()
        );
    }

    #[test]
    fn a_file_including_itself_is_read_a_bounded_number_of_times() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = dir.path().join("config");
        std::fs::write(&main, "Include config\nInclude config\nIdentityFile k\n").expect("write");
        let config = SshConfig::load(&main).expect("load");
        assert_eq!(config.resolve("x").identity_files.len(), MAX_FILES);
        assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
    }

    /// Lines that look like config lines, with random damage.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let word = prop_oneof![
            Just(b"Host".to_vec()),
            Just(b"Match".to_vec()),
            Just(b"Include".to_vec()),
            Just(b"HostName".to_vec()),
            Just(b"Port=".to_vec()),
            Just(b"ProxyJump".to_vec()),
            Just(b"IdentityFile".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"=".to_vec()),
            Just(b"!web*".to_vec()),
            Just("\u{e9}\u{3000}".as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..20),
        ];
        prop::collection::vec(word, 0..5).prop_map(|words| words.join(&b' '))
    }

    fn assert_bounded(config: &SshConfig, lines: usize) -> Result<(), TestCaseError> {
        let options: usize = config.blocks.iter().map(|b| b.options.len()).sum();
        prop_assert!(config.blocks.len() <= lines + 1);
        prop_assert!(options <= lines);
        prop_assert!(config.warnings().len() <= MAX_WARNINGS_PER_FILE + 1);
        Ok(())
    }

    proptest! {
        // 256 cases, or `PROPTEST_CASES`.
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            alias in "[a-z0-9.*!]{0,8}",
        ) {
            let config = SshConfig::from_bytes(&bytes);
            assert_bounded(&config, bytes.split(|&b| b == b'\n').count())?;
            let _ = config.resolve(&alias);
        }

        #[test]
        fn arbitrary_lines_never_panic_and_stay_bounded(
            lines in prop::collection::vec(line(), 0..40),
            alias in "[a-z0-9.*!]{0,8}",
        ) {
            let config = SshConfig::from_bytes(&lines.join(&b'\n'));
            assert_bounded(&config, lines.len().max(1))?;
            let _ = config.resolve(&alias);
        }
    }

    #[test]
    fn an_empty_config_sets_nothing() {
        assert_eq!(SshConfig::parse("").resolve("x"), HostSettings::default());
    }

    #[test]
    fn tokens_and_tilde_expand() {
        let tokens = Tokens {
            alias: "web1",
            host: "web1.internal",
            port: 2200,
            remote_user: "deploy",
            local_user: "me",
            home: "/home/me",
        };
        assert_eq!(
            expand_tokens("~/.ssh/%r@%h:%p-%n-%u-%d-%%-%x", &tokens),
            "/home/me/.ssh/deploy@web1.internal:2200-web1-me-/home/me-%-%x"
        );
    }
}
