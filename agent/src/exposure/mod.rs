//! Which stale process matters: what the replaced code lacks (from Debian changelogs),
//! who can reach the process (its listening sockets), and the risk both give with the
//! time it has run replaced code. Read-only, no network, nothing executed; only the
//! packages and processes behind findings are looked at.

mod changelog;
mod packages;
mod risk;
mod sockets;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use crate::dpkg::Database;
use crate::report::{
    Actions, Exposure, PackageChange, PackageExposure, ProcessExposure, ServiceRisk, StaleProcess,
};
use crate::roots::Roots;

pub use changelog::{Entry, Parsed, Summary, parse as parse_changelog, parse_file};
pub use packages::Changelogs;
pub use risk::{Facts, LONG_DAYS, of_process, of_service};
pub use sockets::{Sockets, classify, parse_endpoint, parse_table, socket_inode};

/// What the exposure collector needs from the rest of the scan.
#[derive(Debug)]
pub struct Input<'a> {
    pub roots: &'a Roots,
    pub host_db: &'a Database,
    /// Context label (`container:RUNTIME:ID`) -> the container's root, `/proc/PID/root`.
    pub containers: &'a HashMap<String, PathBuf>,
    /// PID -> context label of each stale process.
    pub contexts: &'a HashMap<u32, String>,
    /// PID -> the socket inodes and network namespace the scan saw; processes missing
    /// here have their fds read again.
    pub sockets: &'a HashMap<u32, (Vec<u64>, Option<u64>)>,
    pub processes: &'a [StaleProcess],
    pub packages: &'a [PackageChange],
    pub actions: &'a Actions,
    /// `scanned_at` of the report: the only clock risk is measured against.
    pub scanned_at: i64,
}

/// The exposure part of the report.
pub fn collect(input: &Input<'_>) -> Exposure {
    let mut changelogs = Changelogs::new(&input.roots.fs, input.containers, input.packages);
    let sources: HashMap<String, String> = input
        .host_db
        .status()
        .map(|all| {
            all.iter()
                .filter_map(|p| Some((p.info_name(), p.source.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    let packages: Vec<PackageExposure> = input
        .packages
        .iter()
        .map(|p| {
            // Container databases are not parsed again for this: their binNMUs read only
            // their own doc directory.
            let source = (p.context == "host")
                .then(|| sources.get(&p.name).map(String::as_str))
                .flatten();
            changelogs.describe(p, source)
        })
        .collect();
    let mut sockets = Sockets::default();
    let processes: Vec<ProcessExposure> = input
        .processes
        .iter()
        .map(|p| {
            let ctx = input.contexts.get(&p.pid).map_or("host", String::as_str);
            let names: BTreeSet<&str> = p
                .findings
                .iter()
                .filter_map(|f| f.package.as_deref())
                .collect();
            let behind: Vec<&PackageExposure> = packages
                .iter()
                .filter(|e| e.context == ctx && names.contains(e.name.as_str()))
                .collect();
            let seen = match input.sockets.get(&p.pid) {
                Some((inodes, netns)) => sockets.listening(input.roots, p.pid, *netns, inodes),
                None => sockets.of(input.roots, p.pid),
            };
            let (found, sockets_unknown) = match seen {
                Ok(s) => (s, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            let risk = of_process(Facts {
                process: p,
                packages: &behind,
                sockets: &found,
                scanned_at: input.scanned_at,
            });
            ProcessExposure {
                pid: p.pid,
                sockets: found,
                sockets_unknown,
                risk,
            }
        })
        .collect();
    let services = services(input.actions, &processes, &packages, input.processes);
    Exposure {
        packages,
        processes,
        services,
    }
}

/// The risk of each service, riskiest first.
fn services(
    actions: &Actions,
    processes: &[ProcessExposure],
    packages: &[PackageExposure],
    stale: &[StaleProcess],
) -> Vec<ServiceRisk> {
    let by_pid: HashMap<u32, &ProcessExposure> = processes.iter().map(|p| (p.pid, p)).collect();
    let mut out: Vec<ServiceRisk> = actions
        .services
        .iter()
        .filter_map(|s| {
            let risk = of_service(
                s.pids
                    .iter()
                    .filter_map(|pid| by_pid.get(pid))
                    .map(|p| &p.risk),
            )?;
            let names: BTreeSet<&str> = stale
                .iter()
                .filter(|p| s.pids.contains(&p.pid))
                .flat_map(|p| p.findings.iter().filter_map(|f| f.package.as_deref()))
                .collect();
            let cves: BTreeSet<String> = packages
                .iter()
                .filter(|e| e.context == "host" && names.contains(e.name.as_str()))
                .flat_map(|e| e.cves.iter().cloned())
                .collect();
            Some(ServiceRisk {
                unit: s.unit.clone(),
                risk,
                cves: cves.into_iter().collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.risk.level.cmp(&a.risk.level).then(a.unit.cmp(&b.unit)));
    out
}
