//! Python: `import a.b as c, d`, `from a.b import (c, d)`, `from . import x`, found in
//! the masked text (see [`super::mask`]) across parenthesised and continued lines, also
//! under `try:`/`if`/`else:` (a conditional import is looked up; if the file is there
//! and changed, the process may have loaded it). `__import__()` and `importlib` calls
//! name modules at run time and are not followed.

use super::mask::{Syntax, mask};
use super::walk::{Files, Language, dir_of, join};

/// One import statement's modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Leading dots of a relative import (`from .. import x` is 2), 0 for absolute.
    pub level: usize,
    /// The dotted module name (empty for `from . import x`).
    pub module: String,
    /// Names imported from it, which may be submodules (`from a import b`).
    pub names: Vec<String>,
}

/// The import statements of a Python source file.
pub fn imports(src: &str) -> Vec<Import> {
    let masked = mask(src, Syntax::Python);
    statements(&masked)
        .iter()
        .filter_map(|s| statement(s))
        .collect()
}

/// Logical statements: lines joined inside brackets and after a backslash, split at `;`.
fn statements(masked: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut chars = masked.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                cur.push(' ');
                continue;
            }
            '\n' | ';' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            '\n' => {
                cur.push(' ');
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// Compound statement headers after which an import may follow on the same line.
const HEADERS: &[&str] = &[
    "if", "elif", "else", "try", "except", "finally", "with", "for", "while",
];

fn statement(s: &str) -> Option<Import> {
    let mut s = s.trim();
    let first = s.split(|c: char| !c.is_alphanumeric() && c != '_').next()?;
    if HEADERS.contains(&first) {
        s = s.split_once(':')?.1.trim();
    }
    if let Some(rest) = s.strip_prefix("import") {
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        // `import a, b.c as d`: several modules; report them one by one as names of ``.
        let names: Vec<String> = rest.split(',').filter_map(name).collect();
        return (!names.is_empty()).then_some(Import {
            level: 0,
            module: String::new(),
            names,
        });
    }
    let rest = s.strip_prefix("from")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let (from, what) = rest.split_once(" import")?;
    let from = from.trim();
    let level = from.len() - from.trim_start_matches('.').len();
    let module = from[level..].trim().to_string();
    if !(module.is_empty() || dotted(&module)) || (level == 0 && module.is_empty()) {
        return None;
    }
    let what = what.trim().trim_start_matches('(').trim_end_matches(')');
    let names = what.split(',').filter_map(name).collect();
    Some(Import {
        level,
        module,
        names,
    })
}

/// `a.b as c` gives `a.b`; anything not a dotted name gives nothing.
fn name(item: &str) -> Option<String> {
    let n = item.split_whitespace().next()?;
    dotted(n).then(|| n.to_string())
}

fn dotted(n: &str) -> bool {
    !n.is_empty()
        && n.split('.').all(|p| {
            p.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// Where a Python process finds its modules.
#[derive(Debug, Clone)]
pub struct Search {
    /// `sys.path` in order: the script's directory, `PYTHONPATH`, Debian's directories.
    pub path: Vec<String>,
}

impl Search {
    /// The search path of Debian's `python{version}` running a script in `script_dir`
    /// (`None` with `-P`/`-I`), with `pythonpath` from the environment.
    pub fn new(
        version: Option<&str>,
        script_dir: Option<String>,
        pythonpath: Option<&str>,
    ) -> Self {
        let mut path: Vec<String> = script_dir.into_iter().collect();
        path.extend(
            pythonpath
                .unwrap_or_default()
                .split(':')
                .filter(|p| p.starts_with('/'))
                .map(str::to_string),
        );
        if let Some(v) = version {
            path.push(format!("/usr/lib/python{v}"));
            path.push(format!("/usr/local/lib/python{v}/dist-packages"));
        }
        path.push("/usr/lib/python3/dist-packages".to_string());
        if let Some(v) = version {
            path.push(format!("/usr/lib/python{v}/dist-packages"));
        }
        Search { path }
    }

    /// The interpreter's own library, which its package upgrades together with the
    /// interpreter (a replaced mapping already tells): looked at, not parsed.
    pub fn standard(&self, path: &str) -> bool {
        path.strip_prefix("/usr/lib/python")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(ver, rest)| ver != "3" && !rest.starts_with("dist-packages/"))
    }

    /// The files behind `imp`, imported by the file at `from`.
    pub fn resolve(&self, imp: &Import, from: &str, files: &mut dyn Files) -> Vec<String> {
        let mut out = Vec::new();
        if imp.module.is_empty() && imp.level == 0 {
            for n in &imp.names {
                self.absolute(n, &[], files, &mut out);
            }
            return out;
        }
        if imp.level > 0 {
            let mut base = dir_of(from);
            for _ in 1..imp.level {
                base = dir_of(&base);
            }
            let parts: Vec<&str> = imp.module.split('.').filter(|p| !p.is_empty()).collect();
            if let Some(pkg) = descend(&base, &parts, files, &mut out) {
                submodules(&pkg, &imp.names, files, &mut out);
            }
            return out;
        }
        self.absolute(&imp.module, &imp.names, files, &mut out);
        out
    }

    /// `module` from the first directory of the path that has it, then `names` in it.
    fn absolute(
        &self,
        module: &str,
        names: &[String],
        files: &mut dyn Files,
        out: &mut Vec<String>,
    ) {
        let parts: Vec<&str> = module.split('.').collect();
        for dir in &self.path {
            let before = out.len();
            let found = descend(dir, &parts, files, out);
            if let Some(pkg) = found {
                submodules(&pkg, names, files, out);
                return;
            }
            if out.len() > before {
                return;
            }
        }
    }
}

impl Language for Search {
    fn parses(&self, path: &str) -> bool {
        !self.standard(path) && !path.ends_with(".so")
    }

    fn imports(&mut self, path: &str, text: &str, files: &mut dyn Files) -> Vec<String> {
        imports(text)
            .iter()
            .flat_map(|i| self.resolve(i, path, files))
            .collect()
    }
}

/// Follows `parts` from `dir`: the `__init__.py` of each package and the module file go
/// to `out`. Returns the last package's directory if the whole name is a package, `None`
/// if the name ends in a module or is not there (then `out` tells which).
fn descend(
    dir: &str,
    parts: &[&str],
    files: &mut dyn Files,
    out: &mut Vec<String>,
) -> Option<String> {
    let mut at = dir.to_string();
    for part in parts {
        let pkg = join(&at, part);
        let init = join(&pkg, "__init__.py");
        let module = format!("{pkg}.py");
        if files.is_file(&init) {
            out.push(init);
        } else if files.is_file(&module) {
            out.push(module);
            return None;
        } else if !files.is_dir(&pkg) {
            return None;
        }
        at = pkg;
    }
    Some(at)
}

/// Names imported from a package that are submodules of it.
fn submodules(pkg: &str, names: &[String], files: &mut dyn Files, out: &mut Vec<String>) {
    for n in names {
        descend(pkg, &[n.as_str()], files, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp(level: usize, module: &str, names: &[&str]) -> Import {
        Import {
            level,
            module: module.to_string(),
            names: names.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn statements_of_every_form() {
        let src = r#"
import os, sys as system
import a.b.c as abc
from x.y import (
    one,   # a comment with import z
    two as deux,
)
from . import sibling
from ..parent.mod import thing
from m import *
try:
    import fast
except ImportError:
    import slow
if TYPE_CHECKING: import typing_only
import cont, \
    inued
x = 1; import semi
"""#;
        assert_eq!(
            imports(src),
            vec![
                imp(0, "", &["os", "sys"]),
                imp(0, "", &["a.b.c"]),
                imp(0, "x.y", &["one", "two"]),
                imp(1, "", &["sibling"]),
                imp(2, "parent.mod", &["thing"]),
                imp(0, "m", &[]),
                imp(0, "", &["fast"]),
                imp(0, "", &["slow"]),
                imp(0, "", &["typing_only"]),
                imp(0, "", &["cont", "inued"]),
                imp(0, "", &["semi"]),
            ]
        );
    }

    #[test]
    fn strings_comments_and_lookalikes_are_not_imports() {
        let src = "\"\"\"\nimport in_docstring\n\"\"\"\n# import commented\ns = 'import quoted'\nimportant = 1\nfrom_x = 2\nprint(f\"from y import z\")\nimport(x)\n";
        assert_eq!(imports(src), Vec::<Import>::new());
    }

    #[test]
    fn debian_search_path() {
        let s = Search::new(
            Some("3.11"),
            Some("/srv/app".into()),
            Some("/opt/lib:relative:/x"),
        );
        assert_eq!(
            s.path,
            [
                "/srv/app",
                "/opt/lib",
                "/x",
                "/usr/lib/python3.11",
                "/usr/local/lib/python3.11/dist-packages",
                "/usr/lib/python3/dist-packages",
                "/usr/lib/python3.11/dist-packages",
            ]
        );
        assert!(s.standard("/usr/lib/python3.11/os.py"));
        assert!(!s.standard("/usr/lib/python3/dist-packages/yaml/__init__.py"));
        assert!(!s.standard("/usr/lib/python3.11/dist-packages/x.py"));
    }
}
