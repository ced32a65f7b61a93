//! The walk over `/proc`: for every process, the executable, the executable file mappings
//! and the open files that an upgrade replaced. It only reads and stats; ownership by
//! packages is decided afterwards (see `attribute`), once per database, for the few paths
//! found stale.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::identity::{Identity, NamespaceKey, StatCache, compare, namespace_inode};
use crate::procfs::{cgroup, maps, stat};
use crate::readbuf::FileBuf;
use crate::report::{FindingKind, NowAtPath, Owner, ScanStats, StaleProcess};
use crate::roots::{Roots, under};

/// Which dpkg database judges a process's files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Host,
    /// A container: its own database lives under `root` (`/proc/PID/root`).
    Container {
        key: String,
        root: PathBuf,
    },
}

impl Context {
    /// The `context` string of the report.
    pub fn label(&self) -> &str {
        match self {
            Context::Host => "host",
            Context::Container { key, .. } => key,
        }
    }
}

/// A replaced file a process uses, before package attribution and ignore rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub kind: FindingKind,
    pub path: String,
    pub now_at_path: NowAtPath,
}

/// A process with at least one candidate: the report's entry for it, whose findings and
/// `stale_since` attribution fills in, and what only the scan knows.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub process: StaleProcess,
    pub context: Context,
    pub candidates: Vec<Candidate>,
}

/// Everything the walk found.
#[derive(Debug, Default)]
pub struct ScanOutput {
    pub processes: Vec<Inspected>,
    pub stats: ScanStats,
    /// Files currently executed or mapped executable by host processes (path as the
    /// process sees it -> pids), for joining with the integrity check.
    pub in_use: BTreeMap<String, Vec<u32>>,
}

/// Walks every process under `roots.proc`.
pub fn scan(roots: &Roots, booted_at: Option<i64>) -> ScanOutput {
    let mut out = ScanOutput::default();
    let mut cache = StatCache::default();
    let mut bufs = Buffers::default();
    let as_root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let own_pidns = ["self", "1"]
        .iter()
        .find_map(|p| read_link(&roots.proc_path(format!("{p}/ns/pid"))).ok())
        .and_then(|l| namespace_inode(&l));
    let Ok(dir) = fs::read_dir(&roots.proc) else {
        out.stats.partial = true;
        out.stats
            .denied_reasons
            .push(format!("cannot list {}", roots.proc.display()));
        return out;
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        out.stats.processes_seen += 1;
        match inspect(
            roots, pid, booted_at, own_pidns, &mut cache, &mut bufs, &mut out,
        ) {
            Ok(Some(p)) => out.processes.push(p),
            Ok(None) => {}
            Err(e) if vanished(&e) => out.stats.processes_vanished += 1,
            Err(e) => {
                out.stats.processes_denied += 1;
                let reason = match (e.kind(), as_root) {
                    (io::ErrorKind::PermissionDenied, false) => {
                        "permission denied reading other users' processes: run the probe as root"
                            .to_string()
                    }
                    (io::ErrorKind::PermissionDenied, true) => format!(
                        "pid {pid}: permission denied even as root (a security module or \
                         sandbox restricts access to it)"
                    ),
                    _ => format!("pid {pid}: unreadable: {e}"),
                };
                if !out.stats.denied_reasons.contains(&reason) {
                    out.stats.denied_reasons.push(reason);
                }
            }
        }
    }
    out.stats.partial = out.stats.processes_denied > 0;
    for pids in out.in_use.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    out
}

/// A process that exited mid-scan shows up as a missing file or `ESRCH`.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3)
}

fn read_link(p: &Path) -> io::Result<String> {
    Ok(fs::read_link(p)?.to_string_lossy().into_owned())
}

/// Buffers reused for every process (see [`crate::readbuf`]).
#[derive(Default)]
struct Buffers {
    stat: FileBuf,
    maps: FileBuf,
    cgroup: FileBuf,
}

fn inspect(
    roots: &Roots,
    pid: u32,
    booted_at: Option<i64>,
    own_pidns: Option<u64>,
    cache: &mut StatCache,
    bufs: &mut Buffers,
    out: &mut ScanOutput,
) -> io::Result<Option<Inspected>> {
    let base = roots.proc_path(pid.to_string());
    let st = stat::parse(&bufs.stat.text(&base.join("stat"))?)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed stat"))?;
    if st.is_kernel_thread() {
        out.stats.kernel_threads += 1;
        return Ok(None);
    }
    let uid = fs::metadata(&base)?.uid();
    let maps_text = bufs.maps.text(&base.join("maps"))?;
    out.stats.processes_inspected += 1;
    if maps_text.is_empty() {
        // A zombie: nothing mapped any more.
        return Ok(None);
    }
    let exe = read_link(&base.join("exe")).ok();
    let exe_path = exe.as_deref().map(|e| maps::strip_deleted(e).0.to_string());
    let mnt = read_link(&base.join("ns/mnt"))
        .ok()
        .and_then(|l| namespace_inode(&l))
        .map_or(NamespaceKey::Process(pid), NamespaceKey::Mount);
    let pidns = read_link(&base.join("ns/pid"))
        .ok()
        .and_then(|l| namespace_inode(&l));
    let foreign_ns = matches!((own_pidns, pidns), (Some(a), Some(b)) if a != b);
    let proc_root = base.join("root");
    let mut candidates = Vec::new();
    for m in maps::executable_files(&maps_text) {
        let is_exe = exe_path.as_deref() == Some(m.path.as_str());
        let at_path = cache.lookup(mnt, &proc_root, &m.path);
        let identity = if m.deleted {
            Identity::Replaced
        } else {
            compare((m.dev, m.inode), at_path)
        };
        // The kernel marks a name ` (deleted)` once it is unlinked or renamed over, even
        // when another hard link keeps the file: the link count of the mapped inode tells
        // "gone" from "replaced but still there".
        let gone = m.deleted && !still_linked(&base, &m.range, is_exe);
        let kind = match (identity, gone, is_exe) {
            (Identity::Same, ..) => {
                if !foreign_ns {
                    out.in_use.entry(m.path).or_default().push(pid);
                }
                continue;
            }
            (Identity::Unknown, ..) => {
                out.stats.unverifiable_mappings += 1;
                continue;
            }
            (Identity::Replaced, true, true) => FindingKind::ExeDeleted,
            (Identity::Replaced, true, false) => FindingKind::MapDeleted,
            (Identity::Replaced, false, true) => FindingKind::ExeReplaced,
            (Identity::Replaced, false, false) => FindingKind::MapReplaced,
        };
        let now_at_path = match at_path {
            Some(_) => NowAtPath::AnotherFile,
            None if m.deleted => NowAtPath::Nothing,
            None => NowAtPath::Unknown,
        };
        candidates.push(Candidate {
            kind,
            path: m.path,
            now_at_path,
        });
    }
    open_deleted_files(&base, &mut candidates);
    if candidates.is_empty() {
        return Ok(None);
    }
    // Only stale processes need their owner: most processes never read their cgroup.
    let cgroup_text = bufs.cgroup.text(&base.join("cgroup")).unwrap_or_default();
    let mut owner = cgroup::owner(cgroup::systemd_path(&cgroup_text));
    if foreign_ns && !matches!(owner, Owner::Container { .. }) {
        owner = Owner::Container {
            runtime: "unknown".into(),
            id: format!("pidns:{}", pidns.unwrap_or_default()),
            unit: None,
        };
    }
    let context = match &owner {
        Owner::Container { runtime, id, .. } if foreign_ns => Context::Container {
            key: format!("container:{runtime}:{id}"),
            root: base.join("root"),
        },
        _ => Context::Host,
    };
    Ok(Some(Inspected {
        process: StaleProcess {
            pid,
            ppid: st.ppid,
            uid,
            comm: st.comm.clone(),
            exe: exe_path,
            started_at: booted_at.map(|b| st.started_at(b)),
            owner,
            stale_since: None,
            findings: Vec::new(),
        },
        context,
        candidates,
    }))
}

/// Whether a mapped inode still has a link. `map_files` needs root; without it the file
/// is taken as gone, which is what the kernel's mark usually means.
fn still_linked(base: &Path, range: &str, is_exe: bool) -> bool {
    let link = if is_exe {
        base.join("exe")
    } else {
        base.join("map_files").join(range)
    };
    fs::metadata(link).is_ok_and(|m| m.nlink() > 0)
}

/// Open file descriptors to deleted regular files (a `.jar` is opened, not mapped). Paths
/// already reported as deleted mappings are not repeated. Unreadable fd tables are skipped:
/// the maps already decided whether the process could be inspected.
fn open_deleted_files(base: &Path, candidates: &mut Vec<Candidate>) {
    let Ok(fds) = fs::read_dir(base.join("fd")) else {
        return;
    };
    for fd in fds.flatten() {
        let Ok(target) = read_link(&fd.path()) else {
            continue;
        };
        let (path, deleted) = maps::strip_deleted(&target);
        if !deleted || !path.starts_with('/') || candidates.iter().any(|c| c.path == path) {
            continue;
        }
        if fs::metadata(fd.path()).is_ok_and(|m| m.is_file()) {
            candidates.push(Candidate {
                kind: FindingKind::OpenDeleted,
                path: path.to_string(),
                now_at_path: if fs::symlink_metadata(under(&base.join("root"), Path::new(path)))
                    .is_ok()
                {
                    NowAtPath::AnotherFile
                } else {
                    NowAtPath::Nothing
                },
            });
        }
    }
}
