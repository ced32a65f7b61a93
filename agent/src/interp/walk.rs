//! The bounded walk from a process's main script through the files it imports: each file
//! is stat'ed (changed after the process started?), and parsed for its own imports unless
//! it belongs to the interpreter's standard library, until the bounds stop it.

use std::collections::{HashSet, VecDeque};

/// At most this many files are looked at per process.
pub const MAX_FILES: usize = 256;
/// A file larger than this is not parsed (no generated module is worth the read).
pub const MAX_BYTES: u64 = 1024 * 1024;
/// Imports are followed this many levels deep from the main script.
pub const MAX_DEPTH: usize = 12;

/// What the walk needs of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub is_dir: bool,
    pub is_file: bool,
    /// The later of its change and modification times (Unix seconds): a file dpkg renamed
    /// into place has the rename's ctime.
    pub changed_at: i64,
}

/// A file that may exist but could not be looked at (permission, a refused link, no
/// `openat2`): counted, never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unverifiable;

/// The files of a process's view, as the walk reads them. The probe's implementation
/// resolves every path inside the process's root (see [`super::RootFiles`]).
pub trait Files {
    /// `Ok(None)`: nothing there. `Err(Unverifiable)`: there may be something, but it could not be
    /// looked at (permission, a refused link, no `openat2`).
    fn meta(&mut self, path: &str) -> Result<Option<Meta>, Unverifiable>;
    /// The contents of the regular file at `path`, at most [`MAX_BYTES`].
    fn read(&mut self, path: &str) -> Option<Vec<u8>>;

    fn is_file(&mut self, path: &str) -> bool {
        matches!(self.meta(path), Ok(Some(m)) if m.is_file)
    }

    fn is_dir(&mut self, path: &str) -> bool {
        matches!(self.meta(path), Ok(Some(m)) if m.is_dir)
    }
}

/// A language's rules: which files to parse, and the files their imports name.
pub trait Language {
    /// Whether to parse `path` for imports (not the interpreter's own library, not data).
    fn parses(&self, path: &str) -> bool;
    /// The files the imports in `text` (the file at `path`) name.
    fn imports(&mut self, path: &str, text: &str, files: &mut dyn Files) -> Vec<String>;
}

/// What the walk found for one process.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files changed after the process started, and whether each is the main script.
    pub changed: Vec<(String, bool)>,
    /// Files looked at.
    pub checked: u32,
    /// Files that exist but could not be looked at or read.
    pub unverifiable: u32,
}

/// Walks from `main` (the script, or the `-m` module's files) and `more` (preloaded
/// modules, files named by inline code), reporting files changed after `since`.
pub fn walk(
    lang: &mut dyn Language,
    files: &mut dyn Files,
    main: Option<String>,
    more: Vec<String>,
    since: i64,
) -> Outcome {
    let mut out = Outcome::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<(String, usize, bool)> = VecDeque::new();
    queue.extend(main.map(|m| (normalise(&m), 0, true)));
    queue.extend(more.into_iter().map(|m| (normalise(&m), 1, false)));
    while let Some((path, depth, is_main)) = queue.pop_front() {
        if seen.len() >= MAX_FILES {
            break;
        }
        if !seen.insert(path.clone()) {
            continue;
        }
        let meta = match files.meta(&path) {
            Ok(Some(m)) if m.is_file => m,
            Ok(_) => continue,
            Err(Unverifiable) => {
                out.unverifiable += 1;
                continue;
            }
        };
        out.checked += 1;
        if meta.changed_at > since {
            out.changed.push((path.clone(), is_main));
        }
        if depth >= MAX_DEPTH || !lang.parses(&path) {
            continue;
        }
        let Some(bytes) = files.read(&path) else {
            out.unverifiable += 1;
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for next in lang.imports(&path, &text, files) {
            let next = normalise(&next);
            if !seen.contains(&next) {
                queue.push_back((next, depth + 1, false));
            }
        }
    }
    out
}

/// The directories put first on a search path: `-I` options, then a `:`-separated
/// variable of the environment, relative ones taken from the working directory `cwd`.
pub fn first_dirs(cwd: &str, include: &[String], var: Option<&str>) -> Vec<String> {
    let from_env = var.unwrap_or_default().split(':').filter(|d| !d.is_empty());
    include
        .iter()
        .map(String::as_str)
        .chain(from_env)
        .map(|d| join(cwd, d))
        .collect()
}

/// Whether `path` lies under one of `dirs`.
pub fn under_any(path: &str, dirs: &[String]) -> bool {
    dirs.iter().any(|d| {
        path.strip_prefix(d.as_str())
            .is_some_and(|r| r.starts_with('/'))
    })
}

/// `dir/name`; an absolute `name` stands alone.
pub fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory of a path (`/` for a top-level name).
pub fn dir_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
    }
}

/// Removes `.`, `..` and repeated slashes, lexically: the path is reported and looked up
/// in dpkg's lists as written there. (The kernel resolves the real path inside the
/// process's root whatever this gives.)
pub fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A view with a chain of imports longer than the bounds, and an unreadable file.
    struct Chain {
        metas: HashMap<String, Result<Option<Meta>, Unverifiable>>,
    }

    impl Files for Chain {
        fn meta(&mut self, path: &str) -> Result<Option<Meta>, Unverifiable> {
            self.metas.get(path).copied().unwrap_or(Ok(None))
        }
        fn read(&mut self, path: &str) -> Option<Vec<u8>> {
            let n: usize = path.trim_start_matches("/f").parse().ok()?;
            Some(format!("/f{}\n/f{}\n/denied\n", n + 1, n * 2 + 1).into_bytes())
        }
    }

    struct Lines;

    impl Language for Lines {
        fn parses(&self, _: &str) -> bool {
            true
        }
        fn imports(&mut self, _: &str, text: &str, _: &mut dyn Files) -> Vec<String> {
            text.lines().map(str::to_string).collect()
        }
    }

    #[test]
    fn bounded_by_files_and_depth_and_counts_the_unverifiable() {
        let file = |changed_at| {
            Ok(Some(Meta {
                is_dir: false,
                is_file: true,
                changed_at,
            }))
        };
        let mut metas: HashMap<String, Result<Option<Meta>, Unverifiable>> = (0..10_000)
            .map(|i| (format!("/f{i}"), file(i64::from(i % 2 == 0))))
            .collect();
        metas.insert("/denied".into(), Err(Unverifiable));
        let out = walk(
            &mut Lines,
            &mut Chain { metas },
            Some("/f0".into()),
            vec![],
            0,
        );
        assert_eq!(out.checked as usize + 1, MAX_FILES);
        assert_eq!(out.unverifiable, 1);
        assert_eq!(out.changed[0], ("/f0".to_string(), true));
        assert!(
            out.changed
                .iter()
                .skip(1)
                .all(|(p, main)| !main && p != "/f1")
        );
        // Depth: a straight chain stops after MAX_DEPTH levels.
        let metas = (0..100).map(|i| (format!("/f{i}"), file(0))).collect();
        struct Straight;
        impl Language for Straight {
            fn parses(&self, _: &str) -> bool {
                true
            }
            fn imports(&mut self, p: &str, _: &str, _: &mut dyn Files) -> Vec<String> {
                let n: usize = p.trim_start_matches("/f").parse().unwrap_or(0);
                vec![format!("/f{}", n + 1)]
            }
        }
        let out = walk(
            &mut Straight,
            &mut Chain { metas },
            Some("/f0".into()),
            vec![],
            0,
        );
        assert_eq!(out.checked as usize, MAX_DEPTH + 1);
    }

    #[test]
    fn paths() {
        assert_eq!(normalise("/srv/app/../lib//./x.py"), "/srv/lib/x.py");
        assert_eq!(normalise("/../../etc"), "/etc");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(join("/a", "/b"), "/b");
        assert_eq!(dir_of("/a/b"), "/a");
        assert_eq!(dir_of("/a"), "/");
    }
}
