//! The walk over `/proc`: for every process, the executable, the executable file mappings
//! and the open files that an upgrade replaced. It only reads and stats; ownership by
//! packages is decided afterwards (see `attribute`), once per database, for the few paths
//! found stale.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{CWD, FileType};

use super::identity::{Identity, NamespaceKey, ProcessRoot, StatCache, compare, namespace_inode};
use crate::interp;
use crate::parallel::{self, Flow};
use crate::procfs::{cgroup, maps, stat};
use crate::rawfs::{self, DirBuf, FileBuf, LinkBuf};
use crate::report::{FindingKind, NowAtPath, Owner, ScanStats, StaleProcess};
use crate::roots::Roots;

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
    /// Inodes of the sockets among its open files (`socket:[INODE]` fd links), seen by the
    /// same walk of its fds that looks for deleted files: exposure needs no second walk.
    pub sockets: Vec<u64>,
    /// Inode of its network namespace (`/proc/PID/ns/net`), when readable.
    pub netns: Option<u64>,
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

/// Processes handed to a thread at a time.
const PIDS_PER_BATCH: usize = 8;

/// What every thread of the walk shares.
struct Walk<'a> {
    roots: &'a Roots,
    booted_at: Option<i64>,
    own_pidns: Option<u64>,
    /// `(st_dev, st_ino)` of the audited filesystem root: processes rooted there are the
    /// host's own (see [`ProcessRoot`]).
    host_root: Option<(u64, u64)>,
    /// The probe's own mount namespace and root, when it scans the live `/proc`.
    probe_view: Option<NamespaceKey>,
    proc_dir: OwnedFd,
    want_in_use: bool,
    /// Check interpreted programs' scripts and modules (see [`crate::interp`]).
    interpreters: bool,
}

/// One thread's buffers and findings.
#[derive(Default)]
struct Worker {
    cache: StatCache,
    bufs: Buffers,
    processes: Vec<Inspected>,
    stats: ScanStats,
    in_use: BTreeMap<String, Vec<u32>>,
    /// Why processes could not be inspected, by PID, so that the merged list follows the
    /// PIDs whatever thread saw them.
    denied: Vec<(u32, String)>,
}

/// Buffers reused for every process of a thread (see [`crate::rawfs`]).
#[derive(Default)]
struct Buffers {
    stat: FileBuf,
    maps: FileBuf,
    cgroup: FileBuf,
    link: LinkBuf,
    dir: DirBuf,
    /// `cmdline` and `environ` of interpreter processes.
    interp: FileBuf,
}

/// Walks every process under `roots.proc`. `want_in_use` also records which files every
/// process uses (`ScanOutput::in_use`), which only the integrity check needs;
/// `interpreters` also checks the scripts and modules of interpreter processes.
pub fn scan(
    roots: &Roots,
    booted_at: Option<i64>,
    want_in_use: bool,
    interpreters: bool,
) -> ScanOutput {
    let mut out = ScanOutput::default();
    let as_root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut link = LinkBuf::default();
    let own_pidns = ["self", "1"].iter().find_map(|p| {
        let l = link
            .read_at(CWD, roots.proc_path(format!("{p}/ns/pid")))
            .ok()?;
        namespace_inode(&l)
    });
    let listed = rawfs::open_dir(CWD, &roots.proc).and_then(|dir| {
        let mut pids: Vec<u32> = Vec::new();
        DirBuf::default().for_each(&dir, |name| {
            if let Some(pid) = name.to_str().ok().and_then(|n| n.parse().ok()) {
                pids.push(pid);
            }
        })?;
        Ok((dir, pids))
    });
    let Ok((proc_dir, mut pids)) = listed else {
        out.stats.partial = true;
        out.stats
            .denied_reasons
            .push(format!("cannot list {}", roots.proc.display()));
        return out;
    };
    pids.sort_unstable();
    let host_root = rawfs::stat_at(CWD, &roots.fs)
        .ok()
        .map(|st| (st.st_dev, st.st_ino));
    let probe_view = link
        .read_at(CWD, roots.proc_path("self/ns/mnt"))
        .ok()
        .and_then(|l| namespace_inode(&l))
        .zip(rawfs::stat_at(CWD, "/").ok())
        .map(|(ns, st)| NamespaceKey::Mount {
            ns,
            root: (st.st_dev, st.st_ino),
        });
    let walk = Walk {
        roots,
        booted_at,
        own_pidns,
        host_root,
        probe_view,
        proc_dir,
        want_in_use,
        interpreters,
    };
    let workers = parallel::run(
        &pids,
        parallel::threads(),
        PIDS_PER_BATCH,
        Worker::default,
        |w, _, &pid| {
            match inspect(&walk, pid, w) {
                Ok(Some(p)) => w.processes.push(p),
                Ok(None) => {}
                Err(e) if vanished(&e) => w.stats.processes_vanished += 1,
                Err(e) => {
                    w.stats.processes_denied += 1;
                    w.denied.push((pid, denied_reason(pid, &e, as_root)));
                }
            }
            Flow::Continue
        },
    );
    out.stats.processes_seen = u32::try_from(pids.len()).unwrap_or(u32::MAX);
    let mut denied = Vec::new();
    for w in workers {
        out.processes.extend(w.processes);
        add_counts(&mut out.stats, &w.stats);
        for (path, pids) in w.in_use {
            out.in_use.entry(path).or_default().extend(pids);
        }
        denied.extend(w.denied);
    }
    out.processes.sort_by_key(|p| p.process.pid);
    denied.sort_by_key(|(pid, _)| *pid);
    for (_, reason) in denied {
        if !out.stats.denied_reasons.contains(&reason) {
            out.stats.denied_reasons.push(reason);
        }
    }
    out.stats.partial = out.stats.processes_denied > 0;
    for pids in out.in_use.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    out
}

/// Adds one thread's counters to the total.
fn add_counts(total: &mut ScanStats, part: &ScanStats) {
    total.processes_inspected += part.processes_inspected;
    total.processes_vanished += part.processes_vanished;
    total.processes_denied += part.processes_denied;
    total.kernel_threads += part.kernel_threads;
    total.unverifiable_mappings += part.unverifiable_mappings;
    total.interpreters_checked += part.interpreters_checked;
    total.interpreted_files_checked += part.interpreted_files_checked;
    total.unverifiable_scripts += part.unverifiable_scripts;
}

fn denied_reason(pid: u32, e: &io::Error, as_root: bool) -> String {
    match (e.kind(), as_root) {
        (io::ErrorKind::PermissionDenied, false) => {
            "permission denied reading other users' processes: run the probe as root".to_string()
        }
        (io::ErrorKind::PermissionDenied, true) => format!(
            "pid {pid}: permission denied even as root (a security module or sandbox \
             restricts access to it)"
        ),
        _ => format!("pid {pid}: unreadable: {e}"),
    }
}

/// A process that exited mid-scan shows up as a missing file or `ESRCH`.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3)
}

/// The namespace inode behind `/proc/PID/ns/NAME`.
fn namespace(dir: &OwnedFd, name: &str, link: &mut LinkBuf) -> Option<u64> {
    namespace_inode(&link.read_at(dir, name).ok()?)
}

fn inspect(walk: &Walk<'_>, pid: u32, w: &mut Worker) -> io::Result<Option<Inspected>> {
    let Worker {
        cache,
        bufs,
        stats,
        in_use,
        ..
    } = w;
    let Buffers {
        stat: stat_buf,
        maps: maps_buf,
        cgroup: cgroup_buf,
        link,
        dir: dir_buf,
        interp: interp_buf,
    } = bufs;
    let dir = rawfs::open_dir(&walk.proc_dir, pid.to_string().as_str())?;
    let st = stat::parse(&stat_buf.text_at(&dir, "stat")?)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed stat"))?;
    if st.is_kernel_thread() {
        stats.kernel_threads += 1;
        return Ok(None);
    }
    let uid = rawfs::stat_fd(&dir)?.st_uid;
    let maps_text = maps_buf.text_at(&dir, "maps")?;
    stats.processes_inspected += 1;
    if maps_text.is_empty() {
        // A zombie: nothing mapped any more.
        return Ok(None);
    }
    // The `root` link leads to the process's root directory: its identity, unlike a path,
    // tells two chroots apart.
    let root_id = rawfs::stat_at(&dir, "root")
        .ok()
        .map(|st| (st.st_dev, st.st_ino));
    let mnt = match (namespace(&dir, "ns/mnt", link), root_id) {
        (Some(ns), Some(root)) => NamespaceKey::Mount { ns, root },
        _ => NamespaceKey::Process(pid),
    };
    let mut root = ProcessRoot::new(&dir, root_id, walk.host_root)
        .in_probe_view(matches!(mnt, NamespaceKey::Mount { .. }) && Some(mnt) == walk.probe_view);
    // Read on first need: most processes are not stale, and only the integrity check
    // wants to know about those.
    let mut pidns: Option<Option<u64>> = None;
    let mut exe: Option<Option<String>> = None;
    let mut candidates = Vec::new();
    for m in maps::executable_files(&maps_text) {
        let at_path = cache.lookup(mnt, &mut root, m.path);
        let identity = if m.deleted {
            Identity::Replaced
        } else {
            compare((m.dev, m.inode), at_path)
        };
        match identity {
            Identity::Same => {
                if walk.want_in_use {
                    let ns = *pidns.get_or_insert_with(|| namespace(&dir, "ns/pid", link));
                    if !foreign(walk.own_pidns, ns) {
                        in_use.entry(m.path.to_string()).or_default().push(pid);
                    }
                }
                continue;
            }
            Identity::Unknown => {
                stats.unverifiable_mappings += 1;
                continue;
            }
            Identity::Replaced => {}
        }
        let exe_path = exe.get_or_insert_with(|| executable(&dir, link)).as_deref();
        let is_exe = exe_path == Some(m.path);
        // The kernel marks a name ` (deleted)` once it is unlinked or renamed over, even
        // when another hard link keeps the file: the link count of the mapped inode tells
        // "gone" from "replaced but still there".
        let gone = m.deleted && !still_linked(&dir, m.range, is_exe);
        let kind = match (gone, is_exe) {
            (true, true) => FindingKind::ExeDeleted,
            (true, false) => FindingKind::MapDeleted,
            (false, true) => FindingKind::ExeReplaced,
            (false, false) => FindingKind::MapReplaced,
        };
        let now_at_path = match at_path {
            Some(_) => NowAtPath::AnotherFile,
            None if m.deleted => NowAtPath::Nothing,
            None => NowAtPath::Unknown,
        };
        candidates.push(Candidate {
            kind,
            path: m.path.to_string(),
            now_at_path,
        });
    }
    let mut sockets = Vec::new();
    open_deleted_files(
        &dir,
        &mut root,
        link,
        dir_buf,
        &mut candidates,
        &mut sockets,
    );
    if walk.interpreters
        && let Some(started_at) = walk.booted_at.map(|b| st.started_at(b))
        && let Some(exe_path) = exe.get_or_insert_with(|| executable(&dir, link)).clone()
    {
        let p = interp::Process {
            dir: &dir,
            exe: &exe_path,
            started_at,
        };
        interpreted(&p, &mut root, interp_buf, link, stats, &mut candidates);
    }
    if candidates.is_empty() {
        return Ok(None);
    }
    let netns = namespace(&dir, "ns/net", link);
    let exe_path = exe.unwrap_or_else(|| executable(&dir, link));
    let pidns = pidns.unwrap_or_else(|| namespace(&dir, "ns/pid", link));
    let foreign_ns = foreign(walk.own_pidns, pidns);
    // Only stale processes need their owner: most processes never read their cgroup.
    let cgroup_text = cgroup_buf.text_at(&dir, "cgroup").unwrap_or_default();
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
            root: walk.roots.proc_path(format!("{pid}/root")),
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
            started_at: walk.booted_at.map(|b| st.started_at(b)),
            owner,
            stale_since: None,
            findings: Vec::new(),
        },
        context,
        candidates,
        sockets,
        netns,
    }))
}

/// Adds the scripts and modules an interpreter process loaded that changed since it
/// started (see [`crate::interp`]); counts what could not be verified.
fn interpreted(
    p: &interp::Process<'_>,
    root: &mut ProcessRoot<'_>,
    buf: &mut FileBuf,
    link: &mut LinkBuf,
    stats: &mut ScanStats,
    candidates: &mut Vec<Candidate>,
) {
    let Some(outcome) = interp::check(p, root.get(), buf, link) else {
        return;
    };
    stats.interpreters_checked += 1;
    let Ok(outcome) = outcome else {
        stats.unverifiable_scripts += 1;
        return;
    };
    stats.interpreted_files_checked += outcome.checked;
    stats.unverifiable_scripts += outcome.unverifiable;
    for (path, main) in outcome.changed {
        if candidates.iter().all(|c| c.path != path) {
            candidates.push(Candidate {
                kind: if main {
                    FindingKind::ScriptChanged
                } else {
                    FindingKind::ModuleChanged
                },
                path,
                now_at_path: NowAtPath::AnotherFile,
            });
        }
    }
}

/// Whether a process in PID namespace `theirs` runs in another one than the probe.
fn foreign(own: Option<u64>, theirs: Option<u64>) -> bool {
    matches!((own, theirs), (Some(a), Some(b)) if a != b)
}

/// The executable's path, without the kernel's ` (deleted)` mark.
fn executable(dir: &OwnedFd, link: &mut LinkBuf) -> Option<String> {
    let target = link.read_at(dir, "exe").ok()?;
    Some(maps::strip_deleted(&target).0.to_string())
}

/// Whether a mapped inode still has a link. `map_files` needs root; without it the file
/// is taken as gone, which is what the kernel's mark usually means.
fn still_linked(dir: &OwnedFd, range: &str, is_exe: bool) -> bool {
    let found = if is_exe {
        rawfs::stat_at(dir, "exe")
    } else {
        rawfs::stat_at(dir, format!("map_files/{range}").as_str())
    };
    found.is_ok_and(|st| st.st_nlink > 0)
}

/// Open file descriptors to deleted regular files (a `.jar` is opened, not mapped). Paths
/// already reported as deleted mappings are not repeated. Unreadable fd tables are skipped:
/// the maps already decided whether the process could be inspected. The inodes of the
/// sockets met on the way go to `sockets`.
fn open_deleted_files(
    dir: &OwnedFd,
    root: &mut ProcessRoot<'_>,
    link: &mut LinkBuf,
    dir_buf: &mut DirBuf,
    candidates: &mut Vec<Candidate>,
    sockets: &mut Vec<u64>,
) {
    let Ok(fd_dir) = rawfs::open_dir(dir, "fd") else {
        return;
    };
    // A process that exits while its fds are listed: what was seen until then stands.
    let _ = dir_buf.for_each(&fd_dir, |fd| {
        let Ok(target) = link.read_at(&fd_dir, fd) else {
            return;
        };
        if let Some(inode) = crate::exposure::socket_inode(&target) {
            sockets.push(inode);
            return;
        }
        let (path, deleted) = maps::strip_deleted(&target);
        if !deleted || !path.starts_with('/') || candidates.iter().any(|c| c.path == path) {
            return;
        }
        let is_file = rawfs::stat_at(&fd_dir, fd)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile);
        if is_file {
            // Looked up inside the process's root, as its maps are.
            let now_at_path = match root.get().map(|r| r.stat(Path::new(path), false)) {
                Some(Ok(_)) => NowAtPath::AnotherFile,
                Some(Err(e)) if e.kind() != io::ErrorKind::Unsupported => NowAtPath::Nothing,
                _ => NowAtPath::Unknown,
            };
            candidates.push(Candidate {
                kind: FindingKind::OpenDeleted,
                path: path.to_string(),
                now_at_path,
            });
        }
    });
}
