//! Node.js: `require('x')`, `import ... from 'x'`, `import 'x'`, `import('x')` and
//! `export ... from 'x'`, found in the masked text (comments, strings and template
//! literals do not count). Specifiers resolve as Node does for files and packages
//! (`main` of `package.json`, else `index.js`); conditional `exports` maps are not read.

use super::mask::{Syntax, mask};
use super::perl::keywords;
use super::walk::{Files, Language, dir_of, join};

/// Modules built into the node binary: nothing to look at on disk.
const BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
    "test",
];

/// The specifiers a JavaScript file imports.
pub fn imports(src: &str) -> Vec<String> {
    let masked = mask(src, Syntax::JavaScript);
    let mut out = Vec::new();
    for (at, word) in keywords(&masked, &["require", "import", "export"]) {
        let mut i = at + word.len();
        i = skip_ws(&masked, i);
        if masked[i..].starts_with('(') && word != "export" {
            if let Some(s) = literal(src, skip_ws(&masked, i + 1)) {
                out.push(s);
            }
            continue;
        }
        if word == "require" {
            continue;
        }
        if word == "import"
            && let Some(s) = literal(src, i)
        {
            out.push(s);
            continue;
        }
        if let Some(s) = clause(&masked, i, word == "export").and_then(|i| literal(src, i)) {
            out.push(s);
        }
    }
    out
}

fn skip_ws(s: &str, i: usize) -> usize {
    i + s[i..].len() - s[i..].trim_start().len()
}

/// The string literal starting at `i` of the original text.
fn literal(src: &str, i: usize) -> Option<String> {
    let q = src
        .get(i..)?
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')?;
    let body = src.get(i + 1..)?;
    let end = body.find([q, '\n'])?;
    (end > 0 && body[end..].starts_with(q)).then(|| body[..end].to_string())
}

/// After `import`/`export`: skips `Default, { a, b as c }` or `* as ns` and the `from`,
/// returning where the specifier starts. `export` must re-export (`{...}` or `*`).
fn clause(masked: &str, mut i: usize, export: bool) -> Option<usize> {
    let ident_end = |i: usize| {
        i + masked[i..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(masked.len() - i)
    };
    if !export {
        let end = ident_end(i);
        if end > i {
            i = skip_ws(masked, end);
            if masked[i..].starts_with(',') {
                i = skip_ws(masked, i + 1);
            }
        }
    }
    if masked[i..].starts_with('{') {
        i += masked[i..].find('}')? + 1;
    } else if masked[i..].starts_with('*') {
        i = skip_ws(masked, i + 1);
        if masked[i..].starts_with("as") {
            i = ident_end(skip_ws(masked, i + 2));
        }
    } else if export {
        return None;
    }
    i = skip_ws(masked, i);
    masked[i..].strip_prefix("from")?;
    Some(skip_ws(masked, i + 4))
}

/// Where a Node.js process finds its modules.
#[derive(Debug, Clone)]
pub struct Search {
    /// `NODE_PATH` and the global directories, after the `node_modules` of each parent.
    pub global: Vec<String>,
}

impl Search {
    pub fn new(node_path: Option<&str>) -> Self {
        let arch = super::ARCH_TRIPLET;
        let mut global: Vec<String> = node_path
            .unwrap_or_default()
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(str::to_string)
            .collect();
        for d in [
            "/usr/local/lib/nodejs",
            "/usr/share/nodejs",
            "/usr/lib/nodejs",
            "/usr/lib/node",
        ] {
            global.push(d.to_string());
        }
        global.push(format!("/usr/lib/{arch}/nodejs"));
        Search { global }
    }

    /// The file a specifier names, from the file at `from`.
    pub fn resolve(&self, spec: &str, from: &str, files: &mut dyn Files) -> Option<String> {
        let spec = spec.strip_prefix("file://").unwrap_or(spec);
        if spec.starts_with("node:") || BUILTINS.contains(&spec.split('/').next().unwrap_or(spec)) {
            return None;
        }
        if spec.starts_with('/')
            || spec.starts_with("./")
            || spec.starts_with("../")
            || spec == "."
            || spec == ".."
        {
            let p = join(&dir_of(from), spec);
            return as_file(&p, files).or_else(|| as_dir(&p, files));
        }
        // `@scope/name/sub` or `name/sub`.
        let mut parts = spec.splitn(if spec.starts_with('@') { 3 } else { 2 }, '/');
        let name: Vec<&str> = if spec.starts_with('@') {
            parts.by_ref().take(2).collect()
        } else {
            parts.by_ref().take(1).collect()
        };
        let name = name.join("/");
        let sub = parts.next();
        let mut dirs = Vec::new();
        let mut d = dir_of(from);
        loop {
            if !d.ends_with("/node_modules") {
                dirs.push(join(&d, "node_modules"));
            }
            if d == "/" {
                break;
            }
            d = dir_of(&d);
        }
        dirs.extend(self.global.iter().cloned());
        for base in dirs {
            let pkg = join(&base, &name);
            if !files.is_dir(&pkg) {
                continue;
            }
            return match sub {
                Some(s) => {
                    let p = join(&pkg, s);
                    as_file(&p, files).or_else(|| as_dir(&p, files))
                }
                None => as_dir(&pkg, files),
            };
        }
        None
    }
}

fn as_file(p: &str, files: &mut dyn Files) -> Option<String> {
    ["", ".js", ".json", ".mjs", ".cjs", ".node"]
        .iter()
        .map(|ext| format!("{p}{ext}"))
        .find(|f| files.is_file(f))
}

fn as_dir(p: &str, files: &mut dyn Files) -> Option<String> {
    let manifest = join(p, "package.json");
    let main = files
        .read(&manifest)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("main")?.as_str().map(str::to_string));
    if let Some(m) = main {
        let m = join(p, &m);
        if let Some(f) = as_file(&m, files).or_else(|| as_file(&join(&m, "index"), files)) {
            return Some(f);
        }
    }
    as_file(&join(p, "index"), files)
}

impl Language for Search {
    fn parses(&self, path: &str) -> bool {
        !(path.ends_with(".json") || path.ends_with(".node"))
    }

    fn imports(&mut self, path: &str, text: &str, files: &mut dyn Files) -> Vec<String> {
        imports(text)
            .iter()
            .filter_map(|s| self.resolve(s, path, files))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_of_every_form() {
        let src = r#"#!/usr/bin/env node
'use strict';
const fs = require('fs');
const lib = require("./lib");
const { a,
  b } = require('pkg/sub');
import def from './def.mjs';
import def2, { x as y,
  z } from "../up.js";
import * as ns from '@scope/name';
import './side-effect.js';
export { q } from './reexport.js';
export * from './all.js';
export const notFrom = 1;
const lazy = await import('./lazy.js');
if (cond) { require('./cond'); }
// require('./commented')
/* import './blocked' */
const s = "require('./in-string')";
const t = `import './in-template'`;
obj.require('./method');
"#;
        assert_eq!(
            imports(src),
            [
                "fs",
                "./lib",
                "pkg/sub",
                "./def.mjs",
                "../up.js",
                "@scope/name",
                "./side-effect.js",
                "./reexport.js",
                "./all.js",
                "./lazy.js",
                "./cond",
            ]
        );
    }
}
