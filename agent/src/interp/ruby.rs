//! Ruby: `require 'x'`, `require_relative 'x'`, `load 'x.rb'` and `autoload :X, 'x'`,
//! with or without parentheses, also under `if`/`unless`/`begin ... rescue`. Found in the
//! masked text (comments, `=begin` blocks, heredocs and strings do not count). Gems
//! activated through RubyGems are not followed: their directories depend on what
//! RubyGems decides at run time.

use super::mask::{Syntax, mask};
use super::perl::keywords;
use super::walk::{Files, Language, dir_of, first_dirs, join, under_any};

/// One statement's meaning for the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Import {
    /// `require 'x'` and `load 'x'`: on `$LOAD_PATH` unless absolute or `./`-relative.
    Require(String),
    /// `require_relative 'x'`: next to the requiring file.
    Relative(String),
}

/// The require statements of a Ruby source file.
pub fn imports(src: &str) -> Vec<Import> {
    let masked = mask(src, Syntax::Ruby);
    let mut out = Vec::new();
    for (at, word) in keywords(
        &masked,
        &["require", "require_relative", "load", "autoload"],
    ) {
        let mut rest = src[at + word.len()..].trim_start();
        rest = rest.strip_prefix('(').unwrap_or(rest).trim_start();
        if word == "autoload" {
            // `autoload :Name, 'path'`: the path is the second argument.
            let Some((_, second)) = rest.split_once(',') else {
                continue;
            };
            rest = second.trim_start();
        }
        let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            continue;
        };
        let Some(end) = rest[1..].find(q) else {
            continue;
        };
        let name = rest[1..=end].to_string();
        if name.is_empty() || name.contains("#{") {
            continue;
        }
        out.push(match word {
            "require_relative" => Import::Relative(name),
            _ => Import::Require(name),
        });
    }
    out
}

/// Where a Ruby process finds its libraries.
#[derive(Debug, Clone)]
pub struct Search {
    /// `$LOAD_PATH` in order: `-I`, `RUBYLIB`, Debian's directories.
    pub path: Vec<String>,
    /// Ruby's own library (the `libruby` package): looked at, not parsed.
    pub standard: Vec<String>,
    pub cwd: String,
}

impl Search {
    /// Debian's `$LOAD_PATH` for Ruby `version` (`3.1`).
    pub fn new(
        version: Option<&str>,
        include: &[String],
        rubylib: Option<&str>,
        cwd: String,
    ) -> Self {
        let arch = super::ARCH_TRIPLET;
        let mut path = first_dirs(&cwd, include, rubylib);
        let mut standard = Vec::new();
        if let Some(v) = version {
            let abi = format!("{v}.0");
            path.push(format!("/usr/local/lib/site_ruby/{abi}"));
            path.push(format!("/usr/local/lib/{arch}/site_ruby"));
            path.push("/usr/local/lib/site_ruby".into());
            path.push(format!("/usr/lib/ruby/vendor_ruby/{abi}"));
            path.push(format!("/usr/lib/{arch}/ruby/vendor_ruby/{abi}"));
            path.push("/usr/lib/ruby/vendor_ruby".into());
            standard.push(format!("/usr/lib/ruby/{abi}"));
            standard.push(format!("/usr/lib/{arch}/ruby/{abi}"));
        } else {
            path.push("/usr/local/lib/site_ruby".into());
            path.push("/usr/lib/ruby/vendor_ruby".into());
        }
        path.extend(standard.iter().cloned());
        Search {
            path,
            standard,
            cwd,
        }
    }

    fn resolve(&self, imp: Import, from: &str, files: &mut dyn Files) -> Option<String> {
        let with_rb = |p: String| -> [String; 2] {
            let rb = if p.ends_with(".rb") {
                p.clone()
            } else {
                format!("{p}.rb")
            };
            [rb, p]
        };
        let candidates: Vec<String> = match imp {
            Import::Relative(n) => with_rb(join(&dir_of(from), &n)).into(),
            Import::Require(n)
                if n.starts_with('/') || n.starts_with("./") || n.starts_with("../") =>
            {
                with_rb(join(&self.cwd, &n)).into()
            }
            Import::Require(n) => self
                .path
                .iter()
                .flat_map(|d| with_rb(join(d, &n)))
                .collect(),
        };
        candidates.into_iter().find(|p| files.is_file(p))
    }
}

impl Language for Search {
    fn parses(&self, path: &str) -> bool {
        !under_any(path, &self.standard)
    }

    fn imports(&mut self, path: &str, text: &str, files: &mut dyn Files) -> Vec<String> {
        imports(text)
            .into_iter()
            .filter_map(|i| self.resolve(i, path, files))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_of_every_form() {
        let src = r#"#!/usr/bin/ruby
require 'json'
require("net/http")
require_relative '../lib/app'
require 'optional' if ENV['X']
begin
  require 'fast'
rescue LoadError
  require 'slow'
end
load './config.rb'
autoload :Thing, 'thing/impl'
# require 'commented'
s = "require 'in_string'"
t = <<~TXT
  require 'in_heredoc'
TXT
obj.require 'method_call'
:require
require "dyn/#{name}"
=begin
require 'in_block'
=end
__END__
require 'after_end'
"#;
        use Import::*;
        assert_eq!(
            imports(src),
            vec![
                Require("json".into()),
                Require("net/http".into()),
                Relative("../lib/app".into()),
                Require("optional".into()),
                Require("fast".into()),
                Require("slow".into()),
                Require("./config.rb".into()),
                Require("thing/impl".into()),
            ]
        );
    }

    #[test]
    fn debian_load_path() {
        let s = Search::new(Some("3.1"), &["lib".into()], Some("/rl"), "/srv".into());
        assert_eq!(s.path[..2], ["/srv/lib", "/rl"]);
        assert!(s.path.contains(&"/usr/lib/ruby/vendor_ruby".to_string()));
        assert!(!s.parses("/usr/lib/ruby/3.1.0/json.rb"));
        assert!(s.parses("/usr/lib/ruby/vendor_ruby/x.rb"));
    }
}
