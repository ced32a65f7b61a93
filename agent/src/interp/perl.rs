//! Perl: `use Module`, `require Module`, `require "file.pl"`, `use parent`/`use base`
//! with their class lists, and `use lib` (which puts directories first on `@INC`, with
//! `$FindBin::Bin` taken as the script's directory). Found in the masked text, so POD,
//! heredocs, comments and strings do not count; `q{}`-style quotes are not masked (a
//! `use` inside one costs an extra lookup). Nothing is evaluated: Module::ScanDeps
//! evaluating code was CVE-2024-11003.

use super::mask::{Syntax, mask};
use super::walk::{Files, Language, dir_of, first_dirs, join, under_any};

/// One statement's meaning for the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Import {
    /// `Foo::Bar`: `Foo/Bar.pm` on `@INC`.
    Module(String),
    /// `require "x.pl"`: a file name, relative to `@INC` unless it starts with `/` or `.`.
    File(String),
    /// `use lib "dir"`.
    Lib(String),
}

/// The import statements of a Perl source file.
pub fn imports(src: &str) -> Vec<Import> {
    let masked = mask(src, Syntax::Perl);
    let mut out = Vec::new();
    for (at, word) in keywords(&masked, &["use", "require"]) {
        let after = at + word.len();
        let rest = &src[after..];
        let body = rest.trim_start();
        if word == "require" {
            if let Some(s) = quoted(body) {
                out.push(Import::File(s));
            } else if let Some(m) = module_name(body) {
                out.push(Import::Module(m));
            }
            continue;
        }
        let Some(m) = module_name(body) else { continue };
        let end = masked[after..]
            .find(';')
            .map_or(masked.len(), |e| after + e);
        let args = &src[after..end];
        match m.as_str() {
            "lib" => out.extend(words(args).into_iter().map(Import::Lib)),
            "parent" | "base" => {
                if !args.contains("-norequire") {
                    out.extend(words(args).into_iter().map(Import::Module));
                }
            }
            _ => out.push(Import::Module(m)),
        }
    }
    out
}

/// Offsets of `words` in `masked` where a statement could start: not part of a longer
/// name, not a method (`->use`), a variable (`$use`) or a hash key (`use =>`).
pub fn keywords<'a>(masked: &str, words: &[&'a str]) -> Vec<(usize, &'a str)> {
    let b = masked.as_bytes();
    let mut out = Vec::new();
    for word in words {
        for (at, _) in masked.match_indices(word) {
            let before = at.checked_sub(1).map(|i| b[i]);
            let after = b.get(at + word.len()).copied();
            let bad_before =
                before.is_some_and(|c| c.is_ascii_alphanumeric() || b"_$@%&>.:".contains(&c));
            let bad_after = after
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
                || masked[at + word.len()..].trim_start().starts_with("=>");
            if !bad_before && !bad_after {
                out.push((at, *word));
            }
        }
    }
    out.sort_unstable();
    out
}

/// A leading `Foo::Bar` (not a version number, not a variable).
fn module_name(s: &str) -> Option<String> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    let m = s[..end].trim_end_matches(':');
    let first = m.chars().next()?;
    let version = first == 'v' && m[1..].starts_with(|c: char| c.is_ascii_digit());
    ((first.is_ascii_alphabetic() || first == '_') && !version).then(|| m.to_string())
}

/// A leading `'...'` or `"..."`.
fn quoted(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &s[1..];
    let end = rest.find(q)?;
    Some(rest[..end].to_string())
}

/// The quoted strings and `qw(...)` words of a `use` statement's arguments.
fn words(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(i) = rest.find(['\'', '"', 'q']) {
        let tail = &rest[i..];
        if let Some(qw) = tail.strip_prefix("qw") {
            let qw = qw.trim_start();
            let Some(open) = qw.chars().next() else { break };
            let close = match open {
                '(' => ')',
                '[' => ']',
                '{' => '}',
                '<' => '>',
                c if c.is_ascii_punctuation() => c,
                _ => {
                    rest = &tail[2..];
                    continue;
                }
            };
            let body = &qw[open.len_utf8()..];
            let end = body.find(close).unwrap_or(body.len());
            out.extend(body[..end].split_whitespace().map(str::to_string));
            rest = &body[end..];
            rest = rest.get(1..).unwrap_or("");
        } else if let Some(s) = quoted(tail) {
            rest = &tail[s.len() + 2..];
            out.push(s);
        } else {
            rest = &tail[1..];
        }
    }
    out
}

/// Where a Perl process finds its modules.
#[derive(Debug, Clone)]
pub struct Search {
    /// `@INC` in order.
    pub inc: Vec<String>,
    /// Directories of Perl's own library (the `perl`, `perl-base`, `perl-modules`
    /// packages): looked at, not parsed.
    pub standard: Vec<String>,
    /// The script's directory, for `$FindBin::Bin`.
    pub bin: String,
    /// The process's working directory, for relative `@INC` entries.
    pub cwd: String,
}

impl Search {
    /// Debian's `@INC` for Perl `version` (`5.36`), after `include` (`-I`) and `perl5lib`.
    pub fn new(
        version: Option<&str>,
        include: &[String],
        perl5lib: Option<&str>,
        bin: String,
        cwd: String,
    ) -> Self {
        let arch = super::ARCH_TRIPLET;
        let mut inc = first_dirs(&cwd, include, perl5lib);
        let mut standard = Vec::new();
        inc.push("/etc/perl".into());
        if let Some(v) = version {
            inc.push(format!("/usr/local/lib/{arch}/perl/{v}.0"));
            inc.push(format!("/usr/local/share/perl/{v}.0"));
            inc.push(format!("/usr/lib/{arch}/perl5/{v}"));
        }
        inc.push("/usr/share/perl5".into());
        standard.push(format!("/usr/lib/{arch}/perl-base"));
        if let Some(v) = version {
            standard.push(format!("/usr/lib/{arch}/perl/{v}"));
            standard.push(format!("/usr/share/perl/{v}"));
        }
        inc.extend(standard.iter().cloned());
        inc.push("/usr/local/lib/site_perl".into());
        Search {
            inc,
            standard,
            bin,
            cwd,
        }
    }

    /// Perl's version on Debian (`5.36`) from its versioned library directory.
    pub fn find_version(files: &mut dyn Files) -> Option<String> {
        (20..=80)
            .rev()
            .step_by(2)
            .map(|m| format!("5.{m}"))
            .find(|v| files.is_dir(&format!("/usr/share/perl/{v}")))
    }

    fn resolve(&mut self, imp: Import, files: &mut dyn Files) -> Option<String> {
        let rel = match imp {
            Import::Lib(dir) => {
                let dir = dir
                    .replace("$FindBin::RealBin", &self.bin)
                    .replace("$FindBin::Bin", &self.bin)
                    .replace("$RealBin", &self.bin)
                    .replace("$Bin", &self.bin);
                if !dir.contains('$') {
                    self.inc.insert(0, join(&self.cwd, &dir));
                }
                return None;
            }
            Import::File(f)
                if f.starts_with('/') || f.starts_with("./") || f.starts_with("../") =>
            {
                return Some(join(&self.cwd, &f));
            }
            Import::File(f) => f,
            Import::Module(m) => format!("{}.pm", m.replace("::", "/")),
        };
        self.inc
            .iter()
            .map(|d| join(d, &rel))
            .find(|p| files.is_file(p))
    }
}

impl Language for Search {
    fn parses(&self, path: &str) -> bool {
        !under_any(path, &self.standard)
    }

    fn imports(&mut self, _path: &str, text: &str, files: &mut dyn Files) -> Vec<String> {
        imports(text)
            .into_iter()
            .filter_map(|i| self.resolve(i, files))
            .collect()
    }
}

/// The directory of the script for `$FindBin::Bin`.
pub fn bin_dir(script: &str) -> String {
    dir_of(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_of_every_form() {
        let src = r#"#!/usr/bin/perl
use strict;
use warnings;
use 5.010;
use v5.36;
use FindBin;
use lib "$FindBin::Bin/../lib", 'extra';
use lib qw(/opt/a /opt/b);
use Foo::Bar qw(baz);
use parent -norequire, 'Skipped';
use base qw(Base::One Base::Two);
require Some::Module;
require "config.pl";
eval { require Optional::Thing; 1 } or warn;
if ($x) { require Cond::Mod }
my $h = { use => 1 }; $obj->use; my $use_it = 1;
# use Commented::Out;
my $s = "use In::String;";
print <<EOT;
use In::Heredoc;
EOT
=pod

use In::Pod;

=cut
__END__
use After::End;
"#;
        let got = imports(src);
        use Import::*;
        assert_eq!(
            got,
            vec![
                Module("strict".into()),
                Module("warnings".into()),
                Module("FindBin".into()),
                Lib("$FindBin::Bin/../lib".into()),
                Lib("extra".into()),
                Lib("/opt/a".into()),
                Lib("/opt/b".into()),
                Module("Foo::Bar".into()),
                Module("Base::One".into()),
                Module("Base::Two".into()),
                Module("Some::Module".into()),
                File("config.pl".into()),
                Module("Optional::Thing".into()),
                Module("Cond::Mod".into()),
            ]
        );
    }

    #[test]
    fn debian_inc() {
        let s = Search::new(
            Some("5.36"),
            &["lib".into()],
            Some("/p5"),
            "/srv/bin".into(),
            "/srv".into(),
        );
        assert_eq!(s.inc[..3], ["/srv/lib", "/p5", "/etc/perl"]);
        assert!(s.inc.contains(&"/usr/share/perl/5.36".to_string()));
        assert!(!s.parses(&format!(
            "/usr/lib/{}/perl-base/strict.pm",
            crate::interp::ARCH_TRIPLET
        )));
        assert!(s.parses("/usr/share/perl5/Foo.pm"));
    }
}
