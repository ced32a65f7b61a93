//! One audit of one host, from the roots to the finished [`Report`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::dpkg::Database;
use crate::ignore::IgnoreRules;
use crate::report::{PROBE_VERSION, Report, SCHEMA_VERSION};
use crate::roots::Roots;
use crate::{exposure, host, kernel, microcode, reboot, stale};

/// What to look at and what to set aside.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub roots: Roots,
    pub ignore: IgnoreRules,
    /// Verify packaged files too (reads every file: off unless asked for).
    pub integrity: Option<crate::integrity::IntegrityOptions>,
    /// Do not check interpreted programs' scripts and modules (`--no-interpreters`).
    pub skip_interpreters: bool,
}

/// Audits the host behind `opts.roots`. Never fails: whatever could not be read is
/// counted in `scan` or named in `warnings`, so a partial view still comes out whole.
pub fn collect(opts: &Options) -> Report {
    let started = Instant::now();
    let roots = &opts.roots;
    let host = host::info(roots);
    let scan = stale::scan(
        roots,
        host.booted_at,
        opts.integrity.is_some(),
        !opts.skip_interpreters,
    );
    // One host database for every collector: its status file is parsed once.
    let host_db = Database::new(&roots.fs);
    let mut warnings = Vec::new();
    let integrity = opts.integrity.as_ref().and_then(|io| {
        crate::integrity::verify_with(roots, &host_db, io, &scan.in_use)
            .map_err(|e| warnings.push(format!("integrity check not done: {e}")))
            .ok()
    });
    let (containers, contexts) = contexts(&scan.processes);
    let sockets: HashMap<u32, (Vec<u64>, Option<u64>)> = scan
        .processes
        .iter()
        .map(|p| (p.process.pid, (p.sockets.clone(), p.netns)))
        .collect();
    let attributed = stale::attribute(&host_db, scan.processes, &opts.ignore, &self_pids(roots));
    let actions = stale::group(&attributed.processes);
    let exposure = exposure::collect(&exposure::Input {
        roots,
        host_db: &host_db,
        containers: &containers,
        contexts: &contexts,
        sockets: &sockets,
        processes: &attributed.processes,
        packages: &attributed.packages,
        actions: &actions,
        scanned_at: host.scanned_at,
    });
    let mut stats = scan.stats;
    let kernel = kernel::collect_with(roots, &host_db);
    let microcode = microcode::collect(roots);
    let reboot = reboot::collect_with(roots, &host_db, &kernel, &microcode);
    stats.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Report {
        schema_version: SCHEMA_VERSION,
        probe_version: PROBE_VERSION.to_string(),
        host,
        scan: stats,
        processes: attributed.processes,
        packages: attributed.packages,
        actions,
        ignored: attributed.ignored,
        kernel,
        microcode,
        reboot,
        integrity,
        warnings: attributed.warnings.into_iter().chain(warnings).collect(),
        exposure: Some(exposure),
    }
}

/// Container roots by context label, and the context label of each scanned process.
fn contexts(inspected: &[stale::Inspected]) -> (HashMap<String, PathBuf>, HashMap<u32, String>) {
    let mut roots = HashMap::new();
    let mut labels = HashMap::new();
    for p in inspected {
        if let stale::Context::Container { key, root } = &p.context {
            roots.entry(key.clone()).or_insert_with(|| root.clone());
        }
        labels.insert(p.process.pid, p.context.label().to_string());
    }
    (roots, labels)
}

/// The probe's own PID, and its parent when that is the `sudo` that started it: both map
/// whatever libc was current when they started and are gone a moment later. Only
/// meaningful when scanning the live `/proc`.
fn self_pids(roots: &Roots) -> Vec<u32> {
    if roots.proc != Roots::default().proc {
        return Vec::new();
    }
    let me = std::process::id();
    let mut pids = vec![me];
    let parent = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| crate::procfs::stat::parse(&t));
    if let Some(st) = parent {
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", st.ppid)).unwrap_or_default();
        if comm.trim() == "sudo" {
            pids.push(st.ppid);
        }
    }
    pids
}
