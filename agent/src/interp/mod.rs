//! Interpreted programs: Python, Perl, Ruby and Node.js code updated under a running
//! process, found by reading only.
//!
//! An interpreter reads its script and modules and closes them, so `/proc/PID/maps` does
//! not show them. For a process whose executable is an interpreter (see [`launch`]), the
//! main script comes from its command line, the search path from the interpreter's
//! version, its options and its environment (`/proc/PID/environ`, read as data); the
//! import statements of the script are parsed ([`python`], [`perl`], [`ruby`], [`node`])
//! and followed through the files they name ([`walk`], bounded in files, bytes and
//! depth). A file whose change time is after the process's start is a finding.
//!
//! Nothing found is ever executed: needrestart ran the process's interpreter with its
//! environment to learn the search path, which gave local users root four times in 2024
//! (CVE-2024-48990, -48991, -48992, -11003). Every path is resolved inside the process's
//! root by the kernel ([`crate::rawfs::Root`]), only regular files are read, without
//! waiting on FIFOs, and never more than [`walk::MAX_BYTES`] of one. See
//! docs/interpreters.md.

pub mod launch;
pub mod mask;
pub mod node;
pub mod perl;
pub mod python;
pub mod ruby;
pub mod walk;

use std::collections::HashMap;
use std::path::Path;

use rustix::fd::OwnedFd;
use rustix::fs::FileType;

use crate::rawfs::{self, FileBuf, LinkBuf, Root};
use launch::{Lang, Launch};
use walk::{Files, Language, Meta, Outcome, Unverifiable, dir_of, join};

/// Debian's multiarch triplet of the probe's architecture, in library paths.
#[cfg(target_arch = "aarch64")]
pub const ARCH_TRIPLET: &str = "aarch64-linux-gnu";
/// Debian's multiarch triplet of the probe's architecture, in library paths.
#[cfg(not(target_arch = "aarch64"))]
pub const ARCH_TRIPLET: &str = "x86_64-linux-gnu";

/// Seconds a file may have changed after the process's start time and still count as
/// loaded before: the start time is known to the second only (`btime` is whole seconds),
/// and an interpreter reads its modules in its first moments (needrestart allows 2 s too).
pub const TOLERANCE_SECS: i64 = 2;

/// Largest `/proc/PID/cmdline` or `environ` read: more than any argument list a kernel
/// accepts by default.
const PROC_CAP: u64 = 2 * 1024 * 1024;

/// One process, as the scan has it.
pub struct Process<'a> {
    /// Its `/proc/PID` directory.
    pub dir: &'a OwnedFd,
    /// Its executable's path.
    pub exe: &'a str,
    /// Unix time it started.
    pub started_at: i64,
}

/// Checks one process. `None` when its executable is no interpreter; otherwise the files
/// changed since it started. `root` is its root directory, `None` when that could not be
/// opened (then nothing can be verified). Fails only when `/proc/PID` itself cannot be
/// read (the process exited or is denied).
pub fn check(
    p: &Process<'_>,
    root: Option<&Root>,
    buf: &mut FileBuf,
    link: &mut LinkBuf,
) -> Option<std::io::Result<Outcome>> {
    let interp = launch::recognise(p.exe)?;
    Some(check_interpreter(p, &interp, root, buf, link))
}

fn check_interpreter(
    p: &Process<'_>,
    interp: &launch::Interpreter,
    root: Option<&Root>,
    buf: &mut FileBuf,
    link: &mut LinkBuf,
) -> std::io::Result<Outcome> {
    let args = launch::arguments(buf.read_fd(&rawfs::open_file(p.dir, "cmdline")?, PROC_CAP)?);
    let launch = launch::parse(interp.lang, &args);
    if launch.script.is_none()
        && launch.module.is_none()
        && launch.code.is_empty()
        && launch.preload.is_empty()
    {
        // An interactive interpreter, or one reading its program from stdin.
        return Ok(Outcome::default());
    }
    let Some(root) = root else {
        return Ok(Outcome {
            unverifiable: 1,
            ..Outcome::default()
        });
    };
    // A process may hide its environment; without it the search path lacks its variables.
    let environ = rawfs::open_file(p.dir, "environ")
        .and_then(|fd| buf.read_fd(&fd, PROC_CAP).map(<[u8]>::to_vec))
        .unwrap_or_default();
    let cwd = link
        .read_at(p.dir, "cwd")
        .ok()
        .filter(|c| c.starts_with('/') && !c.ends_with(" (deleted)"))
        .map_or_else(|| "/".to_string(), |c| c.into_owned());
    let env = |name: &str| {
        (!launch.ignore_env)
            .then(|| launch::env_var(&environ, name))
            .flatten()
    };
    let mut files = RootFiles {
        root,
        metas: HashMap::new(),
    };
    let script = launch
        .script
        .as_deref()
        .map(|s| walk::normalise(&join(&cwd, s)));
    let since = p.started_at.saturating_add(TOLERANCE_SECS);
    let version = interp.version.as_deref();
    let mut lang: Box<dyn Language> = match interp.lang {
        Lang::Python => {
            let first = match &script {
                Some(s) if !launch.safe_path => Some(dir_of(s)),
                None if !launch.safe_path => Some(cwd.clone()),
                _ => None,
            };
            Box::new(python::Search::new(
                version,
                first,
                env("PYTHONPATH").as_deref(),
            ))
        }
        Lang::Perl => {
            let version = version
                .map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."))
                .or_else(|| perl::Search::find_version(&mut files));
            let lib = env("PERL5LIB").or_else(|| env("PERLLIB"));
            let bin = script.as_deref().map_or_else(|| cwd.clone(), perl::bin_dir);
            Box::new(perl::Search::new(
                version.as_deref(),
                &launch.include,
                lib.as_deref(),
                bin,
                cwd.clone(),
            ))
        }
        Lang::Ruby => Box::new(ruby::Search::new(
            version,
            &launch.include,
            env("RUBYLIB").as_deref(),
            cwd.clone(),
        )),
        Lang::Node => Box::new(node::Search::new(env("NODE_PATH").as_deref())),
    };
    let more = entry_points(interp.lang, &launch, &cwd, lang.as_mut(), &mut files);
    let main = match (interp.lang, &script) {
        // `node app` runs `app.js` as readily as `app`.
        (Lang::Node, Some(s)) => node::Search::new(None)
            .resolve(&format!("./{}", s.trim_start_matches('/')), "/", &mut files)
            .or(Some(s.clone())),
        (_, s) => s.clone(),
    };
    Ok(walk::walk(lang.as_mut(), &mut files, main, more, since))
}

/// The files loaded besides the script: the `-m` module, preloaded modules, and what
/// inline code (`-c`, `-e`) imports. They are resolved as imports of a file in `cwd`.
fn entry_points(
    lang: Lang,
    launch: &Launch,
    cwd: &str,
    rules: &mut dyn Language,
    files: &mut dyn Files,
) -> Vec<String> {
    let from = join(cwd, "-");
    let mut text = String::new();
    if let Some(m) = &launch.module {
        text.push_str(&format!("import {m}\n"));
    }
    for m in &launch.preload {
        let line = match lang {
            Lang::Python => String::new(),
            Lang::Perl => format!("use {m};\n"),
            Lang::Ruby => format!("require '{m}'\n"),
            Lang::Node => format!("require('{m}');\n"),
        };
        text.push_str(&line);
    }
    for c in &launch.code {
        text.push_str(c);
        text.push('\n');
    }
    let mut out = rules.imports(&from, &text, files);
    if let (Lang::Python, Some(m)) = (lang, &launch.module) {
        // `-m pkg` runs `pkg/__main__.py`.
        let main = m.replace('.', "/");
        let found = out
            .iter()
            .find(|f| f.ends_with(&format!("{main}/__init__.py")))
            .cloned();
        out.extend(found.map(|init| join(&dir_of(&init), "__main__.py")));
    }
    out
}

/// The files of a process's view: every path resolved inside its root by the kernel.
struct RootFiles<'a> {
    root: &'a Root,
    /// Lookups already made: search paths make the walk ask about the same directories
    /// many times.
    metas: HashMap<String, Result<Option<Meta>, Unverifiable>>,
}

impl Files for RootFiles<'_> {
    fn meta(&mut self, path: &str) -> Result<Option<Meta>, Unverifiable> {
        if let Some(m) = self.metas.get(path) {
            return *m;
        }
        let m = match self.root.stat(Path::new(path), true) {
            Ok(st) => {
                let kind = FileType::from_raw_mode(st.st_mode);
                Ok(Some(Meta {
                    is_dir: kind == FileType::Directory,
                    is_file: kind == FileType::RegularFile,
                    changed_at: st.st_ctime.max(st.st_mtime),
                }))
            }
            Err(e) if matches!(e.raw_os_error(), Some(2 | 20)) => Ok(None),
            Err(_) => Err(Unverifiable),
        };
        self.metas.insert(path.to_string(), m);
        m
    }

    fn read(&mut self, path: &str) -> Option<Vec<u8>> {
        self.root
            .read_following(Path::new(path), walk::MAX_BYTES)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::CWD;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// A process root holding a Python package with relative imports, and a module that
    /// is a link to a file outside the root: the walk resolves it inside the root, where
    /// it names nothing, so the outside file is never looked at.
    #[test]
    fn resolves_inside_the_root_only() {
        let outer = tempfile::tempdir().expect("tempdir");
        let root_dir = outer.path().join("root");
        let outside = outer.path().join("outside.py");
        std::fs::write(&outside, "import os\n").expect("write");
        write(
            &root_dir,
            "srv/app.py",
            "from pkg import sub\nimport escape\n",
        );
        write(
            &root_dir,
            "srv/pkg/__init__.py",
            "from . import sibling\nfrom .sub import x\n",
        );
        write(&root_dir, "srv/pkg/sub.py", "");
        write(&root_dir, "srv/pkg/sibling.py", "");
        symlink(&outside, root_dir.join("srv/escape.py")).expect("link");
        let root = Root::open(CWD, &root_dir, true).expect("root");
        let mut files = RootFiles {
            root: &root,
            metas: HashMap::new(),
        };
        let mut lang = python::Search::new(Some("3.11"), Some("/srv".into()), None);
        let out = walk::walk(&mut lang, &mut files, Some("/srv/app.py".into()), vec![], 0);
        let mut changed: Vec<&str> = out.changed.iter().map(|(p, _)| p.as_str()).collect();
        changed.sort_unstable();
        assert_eq!(
            changed,
            [
                "/srv/app.py",
                "/srv/pkg/__init__.py",
                "/srv/pkg/sibling.py",
                "/srv/pkg/sub.py"
            ]
        );
        assert_eq!(out.checked, 4);
    }
}
