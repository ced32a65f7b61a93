//! Read access to one dpkg database (`/var/lib/dpkg` under some root: the host's, or a
//! container's under `/proc/PID/root`). Everything is read directly from the files; no
//! `dpkg-query` is forked.
//!
//! A container's database is in the hands of whoever controls the container, an
//! unprivileged user included. So every file is opened inside its root (see
//! [`crate::rawfs::Root`]): only regular files, no link as the last component, each kind
//! of file under a cap. A database that fails these checks is an error that names the
//! file and the reason, for the caller to report.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::diversions::Diversions;
use super::status::{PackageStatus, parse_status};
use super::usrmerge::other_spelling;
use crate::parallel::{self, Flow};
use crate::rawfs::{FileBuf, Root};
use crate::roots::under;
use rustix::fs::CWD;

/// Where the dpkg database lives relative to the filesystem root.
pub const ADMIN_DIR: &str = "/var/lib/dpkg";

/// Where dpkg logs its changes relative to the filesystem root.
const LOG_FILE: &str = "/var/log/dpkg.log";

/// Largest status file read: a few MB on big hosts.
const STATUS_MAX: u64 = 64 << 20;
/// Largest diversions file read: a few KB in practice.
const DIVERSIONS_MAX: u64 = 16 << 20;
/// Largest info file (`.list`, `.md5sums`) read: the biggest packages list tens of MB.
pub const INFO_MAX: u64 = 128 << 20;
/// Largest `dpkg.log` read: it is rotated monthly.
const LOG_MAX: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DpkgError {
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> DpkgError + '_ {
    move |source| DpkgError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// The package that owns a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOwner {
    /// Info name of the package (`bash`, `libssl3:amd64`).
    pub package: String,
    /// How the path was found: as given, under its other merged-/usr spelling, or through
    /// a diversion.
    pub via: OwnerVia,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerVia {
    Exact,
    UsrMerge,
    Diversion,
}

/// A queried path waiting in [`Database::owners`]: the path as asked, how the spelling
/// being looked for relates to it, and a package whose listing does not count (the
/// diverter, for a diverted-to path).
type Query = (String, OwnerVia, Option<String>);

/// File lists handed to a thread at a time: enough to keep the shared counter quiet.
const LISTS_PER_BATCH: usize = 16;

/// Owners found so far by [`Database::owners`].
struct Found {
    owners: HashMap<String, PathOwner>,
    unresolved: HashSet<String>,
}

impl Found {
    /// A list of `pkg` names the spelling that `query` looks for.
    fn offer(&mut self, (path, via, skip): &Query, pkg: &str) {
        if skip.as_deref() == Some(pkg) {
            return;
        }
        let better = match self.owners.get(path) {
            None => true,
            // An exact match beats one under the other spelling; between equals (a
            // directory, or a file two packages both list) the first name in sort order
            // wins, whatever order the threads read the lists in.
            Some(prev) => {
                (prev.via == OwnerVia::UsrMerge && *via == OwnerVia::Exact)
                    || (prev.via == *via && pkg < prev.package.as_str())
            }
        };
        if !better {
            return;
        }
        if *via != OwnerVia::UsrMerge {
            self.unresolved.remove(path);
        }
        self.owners.insert(
            path.clone(),
            PathOwner {
                package: pkg.to_string(),
                via: *via,
            },
        );
    }
}

/// The whole lines of `bytes` that contain one of the finders' needles.
fn lines_containing<'b>(bytes: &'b [u8], finders: &[memchr::memmem::Finder<'_>]) -> Vec<&'b [u8]> {
    let mut lines = Vec::new();
    for finder in finders {
        for pos in finder.find_iter(bytes) {
            let start = memchr::memrchr(b'\n', &bytes[..pos]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
            lines.push(&bytes[start..end]);
        }
    }
    lines
}

/// One dpkg database. Clones share the open root and the parsed status file, which
/// several collectors read in one run.
#[derive(Debug, Clone)]
pub struct Database {
    fs_root: PathBuf,
    admin: PathBuf,
    /// The filesystem root, opened once; why not, when it could not be.
    root: Arc<Result<Root, String>>,
    status: Arc<OnceLock<Vec<PackageStatus>>>,
}

/// One `upgrade`/`install` line of `dpkg.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    /// `<none>` on first install is mapped to `None`.
    pub previous_version: Option<String>,
    pub version: String,
    /// `YYYY-MM-DD HH:MM:SS` in the host's local time, as dpkg writes it.
    pub at: String,
}

impl Database {
    /// The database of the host's filesystem rooted at `fs_root` (`/`, or a fixture's).
    /// On a kernel without `openat2` its files are opened with `openat`, still never
    /// through a final link, never a FIFO or device, always under a cap.
    pub fn new(fs_root: &Path) -> Self {
        Self::open(fs_root, false)
    }

    /// The database of a root that someone else may control: a container's, at
    /// `/proc/PID/root`. Nothing is read from it without `openat2`.
    pub fn contained(fs_root: &Path) -> Self {
        Self::open(fs_root, true)
    }

    fn open(fs_root: &Path, confined: bool) -> Self {
        let root = Root::open(CWD, fs_root, confined)
            .map_err(|e| format!("cannot open the root {}: {e}", fs_root.display()));
        Database {
            fs_root: fs_root.to_path_buf(),
            admin: under(fs_root, Path::new(ADMIN_DIR)),
            root: Arc::new(root),
            status: Arc::default(),
        }
    }

    pub fn admin_dir(&self) -> &Path {
        &self.admin
    }

    /// The open root, or why it could not be opened.
    fn root(&self) -> io::Result<&Root> {
        self.root
            .as_ref()
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))
    }

    /// The path as messages name it, and as it is resolved inside the root.
    fn admin_file(&self, name: &str) -> (PathBuf, PathBuf) {
        (self.admin.join(name), Path::new(ADMIN_DIR).join(name))
    }

    /// A whole file of the database, at most `cap` bytes.
    fn read(&self, name: &str, cap: u64) -> Result<Vec<u8>, DpkgError> {
        let (shown, inside) = self.admin_file(name);
        self.root()
            .and_then(|r| r.read(&inside, cap))
            .map_err(read_err(&shown))
    }

    /// True when the root has a dpkg database at all (not Debian-based otherwise): something
    /// is at `status`. Whether it can be read is for [`Database::status`] to say.
    pub fn exists(&self) -> bool {
        let (_, inside) = self.admin_file("status");
        match self.root().and_then(|r| r.stat(&inside, false)) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::NotFound,
        }
    }

    /// Every package paragraph of the status file, parsed on first use.
    pub fn status(&self) -> Result<&[PackageStatus], DpkgError> {
        if let Some(parsed) = self.status.get() {
            return Ok(parsed);
        }
        let text = self.read("status", STATUS_MAX)?;
        let parsed = parse_status(&String::from_utf8_lossy(&text));
        Ok(self.status.get_or_init(|| parsed))
    }

    /// The diversions; an absent file means none.
    pub fn diversions(&self) -> Result<Diversions, DpkgError> {
        match self.read("diversions", DIVERSIONS_MAX) {
            Ok(b) => Ok(Diversions::parse(&String::from_utf8_lossy(&b))),
            Err(DpkgError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(Diversions::default())
            }
            Err(e) => Err(e),
        }
    }

    /// Path of an info file of a package (`info/NAME.EXT`), for messages.
    pub fn info_file(&self, info_name: &str, ext: &str) -> PathBuf {
        self.admin.join("info").join(format!("{info_name}.{ext}"))
    }

    /// The whole info file `info/NAME.EXT` of a package, at most [`INFO_MAX`] bytes.
    pub fn read_info(&self, info_name: &str, ext: &str) -> Result<Vec<u8>, DpkgError> {
        self.read(&format!("info/{info_name}.{ext}"), INFO_MAX)
    }

    /// Unix time of the package's last unpack: dpkg rewrites `NAME.list` on every
    /// install, upgrade and reinstall.
    pub fn changed_at(&self, info_name: &str) -> Option<i64> {
        let (_, inside) = self.admin_file(&format!("info/{info_name}.list"));
        let st = self.root().and_then(|r| r.stat(&inside, false)).ok()?;
        Some(st.st_mtime)
    }

    /// The paths of a package's `.list` file.
    pub fn file_list(&self, info_name: &str) -> Result<Vec<String>, DpkgError> {
        let text = self.read_info(info_name, "list")?;
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Finds the owning package of each path in one pass over all `.list` files.
    ///
    /// Only the asked-for paths are kept in memory, so this costs at most one streaming
    /// read of each file list however many packages there are. Paths are resolved under both
    /// merged-/usr spellings and through diversions. Paths owned by no package are
    /// absent from the result.
    pub fn owners<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, PathOwner>, DpkgError> {
        let diversions = self.diversions()?;
        let mut result: HashMap<String, PathOwner> = HashMap::new();
        // spelling -> (queried path, how, package to skip)
        let mut wanted: HashMap<Vec<u8>, Vec<Query>> = HashMap::new();
        for path in paths {
            if let Some(by) = diversions.diverted_from(path).and_then(|d| d.by.as_ref()) {
                result.insert(
                    path.to_string(),
                    PathOwner {
                        package: by.clone(),
                        via: OwnerVia::Diversion,
                    },
                );
                continue;
            }
            let (lookup, via, skip) = match diversions.diverted_to(path) {
                Some(d) => (d.from.clone(), OwnerVia::Diversion, d.by.clone()),
                None => (path.to_string(), OwnerVia::Exact, None),
            };
            let other = other_spelling(&lookup);
            wanted.entry(lookup.into_bytes()).or_default().push((
                path.to_string(),
                via,
                skip.clone(),
            ));
            if let Some(o) = other {
                let via = if via == OwnerVia::Exact {
                    OwnerVia::UsrMerge
                } else {
                    via
                };
                wanted
                    .entry(o.into_bytes())
                    .or_default()
                    .push((path.to_string(), via, skip));
            }
        }
        if wanted.is_empty() {
            return Ok(result);
        }
        let (info, inside) = self.admin_file("info");
        let info_dir = self
            .root()
            .and_then(|r| r.dir(&inside))
            .map_err(read_err(&info))?;
        // The lists of the packages in the status file, as dpkg itself reads them: a list
        // left behind by a purged package owns nothing, and no listing of the info
        // directory (thousands of entries) is needed.
        let lists: Vec<String> = self
            .status()?
            .iter()
            .filter(|p| p.state != "not-installed")
            .map(|p| {
                let mut name = p.info_name();
                name.push_str(".list");
                name
            })
            .collect();
        // A list can only own a path if it contains the path's last component: one SIMD
        // substring search per name skips almost every list without splitting or hashing it.
        let mut names: Vec<&[u8]> = wanted
            .keys()
            .map(|k| k.rsplit(|b| *b == b'/').next().unwrap_or(k))
            .collect();
        names.sort_unstable();
        names.dedup();
        let finders: Vec<memchr::memmem::Finder<'_>> =
            names.iter().map(memchr::memmem::Finder::new).collect();
        let found = Mutex::new(Found {
            owners: result,
            // Paths without a final answer yet. Only a match under the other merged-/usr
            // spelling can still be beaten, so once every path has another kind of match
            // the remaining lists cannot change anything (the usual case: stale files are
            // packaged).
            unresolved: wanted.values().flatten().map(|(p, ..)| p.clone()).collect(),
        });
        // Reading the lists is most of the cost when a stale file belongs to no package
        // (every list is read): it is spread over the cores. Each thread keeps one buffer,
        // and a list is streamed through it: one package's list can be megabytes.
        parallel::run(
            &lists,
            parallel::threads(),
            LISTS_PER_BATCH,
            FileBuf::default,
            |buf, _, name| {
                let mut hits: Vec<Vec<u8>> = Vec::new();
                let read = info_dir.lines(Path::new(name), INFO_MAX, buf, |chunk| {
                    for line in lines_containing(chunk, &finders) {
                        if wanted.contains_key(line) {
                            hits.push(line.to_vec());
                        }
                    }
                });
                // A package without a list (removed, configuration files left) owns no
                // file, as for dpkg; one that cannot be read (a package being removed) is
                // skipped too: its files are then reported as unowned rather than failing.
                if read.is_err() || hits.is_empty() {
                    return Flow::Continue;
                }
                let pkg = name.strip_suffix(".list").unwrap_or(name);
                let mut found = found.lock().unwrap_or_else(PoisonError::into_inner);
                for line in &hits {
                    for query in wanted.get(line).into_iter().flatten() {
                        found.offer(query, pkg);
                    }
                }
                if found.unresolved.is_empty() {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            },
        );
        let result = found
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .owners;
        Ok(result)
    }

    /// The last `install`/`upgrade` line of `/var/log/dpkg.log` (under the same root) for
    /// each package whose bare name is in `names`. The log is rotated, so older changes are
    /// simply not found; no log means none.
    pub fn logged_changes(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, LoggedChange>, DpkgError> {
        let shown = under(&self.fs_root, Path::new(LOG_FILE));
        let read = self
            .root()
            .and_then(|r| r.read(Path::new(LOG_FILE), LOG_MAX));
        match read {
            Ok(bytes) => Ok(parse_dpkg_log(&String::from_utf8_lossy(&bytes), names)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(read_err(&shown)(e)),
        }
    }
}

/// Parses `dpkg.log` text, keeping the latest change of each wanted package (bare name).
pub fn parse_dpkg_log(text: &str, names: &[&str]) -> HashMap<String, LoggedChange> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut w = line.split(' ');
        let (Some(date), Some(time), Some(action), Some(pkg), Some(old), Some(new)) =
            (w.next(), w.next(), w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        if action != "upgrade" && action != "install" {
            continue;
        }
        let bare = pkg.split(':').next().unwrap_or(pkg);
        if !names.contains(&bare) {
            continue;
        }
        out.insert(
            bare.to_string(),
            LoggedChange {
                previous_version: (old != "<none>").then(|| old.to_string()),
                version: new.to_string(),
                at: format!("{date} {time}"),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = under(root, Path::new(rel));
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    #[test]
    fn owners_resolve_usrmerge_archs_and_diversions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            root,
            "/var/lib/dpkg/status",
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: coreutils\nStatus: install ok installed\n\n\
             Package: my-ls\nStatus: install ok installed\n\n\
             Package: purged\nStatus: purge ok not-installed\n",
        );
        // Left behind by a purged package: dpkg does not read it, nor does the probe.
        write(
            root,
            "/var/lib/dpkg/info/purged.list",
            "/opt/unowned/lib.so\n",
        );
        write(
            root,
            "/var/lib/dpkg/info/libc6:amd64.list",
            "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n",
        );
        write(
            root,
            "/var/lib/dpkg/info/libssl3:amd64.list",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3\n",
        );
        write(root, "/var/lib/dpkg/info/coreutils.list", "/bin/ls\n");
        write(
            root,
            "/var/lib/dpkg/info/my-ls.list",
            "/bin/ls\n/usr/local/x\n",
        );
        write(
            root,
            "/var/lib/dpkg/diversions",
            "/bin/ls\n/bin/ls.distrib\nmy-ls\n",
        );
        let db = Database::new(root);
        let found = db
            .owners([
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
                "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                "/bin/ls",
                "/bin/ls.distrib",
                "/opt/unowned/lib.so",
            ])
            .expect("owners");
        let get = |p: &str| found.get(p).map(|o| (o.package.as_str(), o.via));
        assert_eq!(
            get("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            Some(("libc6:amd64", OwnerVia::UsrMerge))
        );
        assert_eq!(
            get("/usr/lib/x86_64-linux-gnu/libssl.so.3"),
            Some(("libssl3:amd64", OwnerVia::Exact))
        );
        assert_eq!(get("/bin/ls"), Some(("my-ls", OwnerVia::Diversion)));
        assert_eq!(
            get("/bin/ls.distrib"),
            Some(("coreutils", OwnerVia::Diversion))
        );
        assert_eq!(get("/opt/unowned/lib.so"), None);
    }

    #[test]
    fn dpkg_log_keeps_latest_change() {
        let log = "\
2026-11-01 10:00:00 install libssl3:amd64 <none> 3.0.11-1
2026-11-20 09:30:01 upgrade libssl3:amd64 3.0.11-1 3.0.13-1
2026-11-20 09:30:02 status unpacked libssl3:amd64 3.0.13-1
2026-11-20 09:30:03 upgrade bash:amd64 5.2-1 5.2-2
truncated line
";
        let m = parse_dpkg_log(log, &["libssl3"]);
        assert_eq!(m.len(), 1);
        let c = &m["libssl3"];
        assert_eq!(c.previous_version.as_deref(), Some("3.0.11-1"));
        assert_eq!(c.version, "3.0.13-1");
        assert_eq!(c.at, "2026-11-20 09:30:01");
        assert_eq!(
            parse_dpkg_log(log, &["bash"])["bash"]
                .previous_version
                .as_deref(),
            Some("5.2-1")
        );
    }
}
