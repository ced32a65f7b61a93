//! From raw candidates to findings: apply ignore rules, find the package behind each file
//! in the right dpkg database (the host's, or a container's own), and describe each
//! package's last change.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::scan::{Context, Inspected};
use crate::dpkg::Database;
use crate::ignore::IgnoreRules;
use crate::report::{Finding, FindingKind, IgnoredFinding, PackageChange, Severity, StaleProcess};

/// Rule name under which deleted open files owned by no package are set aside: programs
/// keep deleted logs and scratch files open all the time, and no upgrade is behind them.
pub const UNOWNED_OPEN_FILE: &str = "open deleted file owned by no package";

/// Rule name for the probe's own process and the `sudo` that started it.
pub const PROBE_ITSELF: &str = "patchgap's own process";

/// What attribution produces for the report.
#[derive(Debug, Default)]
pub struct Attributed {
    pub processes: Vec<StaleProcess>,
    pub packages: Vec<PackageChange>,
    pub ignored: Vec<IgnoredFinding>,
    pub warnings: Vec<String>,
}

/// Attributes the scan's candidates. `host_db` is the host's dpkg database; `exclude`
/// are PIDs whose findings are set aside (the probe itself).
pub fn attribute(
    host_db: &Database,
    inspected: Vec<Inspected>,
    rules: &IgnoreRules,
    exclude: &[u32],
) -> Attributed {
    let mut out = Attributed::default();
    // Paths to look up, per context.
    let mut wanted: BTreeMap<Context, BTreeSet<String>> = BTreeMap::new();
    let mut kept: Vec<(Inspected, Vec<usize>)> = Vec::new();
    for p in inspected {
        let mut keep = Vec::new();
        for (i, c) in p.candidates.iter().enumerate() {
            let rule = if exclude.contains(&p.process.pid) {
                Some(PROBE_ITSELF)
            } else {
                rules.matching(&c.path)
            };
            match rule {
                Some(rule) => out.ignored.push(ignored(&p, c.kind, &c.path, rule)),
                None => {
                    wanted
                        .entry(p.context.clone())
                        .or_default()
                        .insert(c.path.clone());
                    keep.push(i);
                }
            }
        }
        if !keep.is_empty() {
            kept.push((p, keep));
        }
    }

    let mut owners: HashMap<(Context, String), String> = HashMap::new();
    let mut dbs: HashMap<Context, Database> = HashMap::new();
    for (ctx, paths) in &wanted {
        let db = match ctx {
            Context::Host => host_db.clone(),
            Context::Container { root, .. } => Database::contained(root),
        };
        if !db.exists() {
            out.warnings.push(format!(
                "{}: no dpkg database at {}: its files are reported as owned by no package",
                ctx.label(),
                db.admin_dir().display()
            ));
        }
        match db.owners(paths.iter().map(String::as_str)) {
            Ok(found) => {
                for (path, o) in found {
                    owners.insert((ctx.clone(), path), o.package);
                }
            }
            Err(e) => out.warnings.push(format!(
                "{}: dpkg database unusable, its files are reported as owned by no package: {e}",
                ctx.label()
            )),
        }
        dbs.insert(ctx.clone(), db);
    }

    // (context, package) -> number of processes using it.
    let mut users: BTreeMap<(Context, String), u32> = BTreeMap::new();
    // Context of each entry of out.processes, for stale_since below.
    let mut contexts = Vec::new();
    for (p, keep) in kept {
        let mut findings = Vec::new();
        for i in keep {
            let c = &p.candidates[i];
            let package = owners.get(&(p.context.clone(), c.path.clone())).cloned();
            if package.is_none() && c.kind == FindingKind::OpenDeleted {
                out.ignored
                    .push(ignored(&p, c.kind, &c.path, UNOWNED_OPEN_FILE));
                continue;
            }
            let severity = if package.is_some() {
                Severity::Normal
            } else {
                Severity::Low
            };
            findings.push(Finding {
                kind: c.kind,
                path: c.path.clone(),
                now_at_path: c.now_at_path,
                package,
                severity,
            });
        }
        if findings.is_empty() {
            continue;
        }
        let pkgs: BTreeSet<&String> = findings.iter().filter_map(|f| f.package.as_ref()).collect();
        for name in pkgs {
            *users.entry((p.context.clone(), name.clone())).or_default() += 1;
        }
        out.processes.push(StaleProcess {
            findings,
            ..p.process
        });
        contexts.push(p.context);
    }
    out.packages = describe_packages(&dbs, &users, &mut out.warnings);
    for (proc_, ctx) in out.processes.iter_mut().zip(contexts) {
        proc_.stale_since = stale_since(proc_, ctx.label(), &out.packages);
    }
    out
}

fn ignored(p: &Inspected, kind: FindingKind, path: &str, rule: &str) -> IgnoredFinding {
    IgnoredFinding {
        pid: p.process.pid,
        comm: p.process.comm.clone(),
        kind,
        path: path.to_string(),
        rule: rule.to_string(),
    }
}

/// Version, last change and previous version of each package behind findings.
fn describe_packages(
    dbs: &HashMap<Context, Database>,
    users: &BTreeMap<(Context, String), u32>,
    warnings: &mut Vec<String>,
) -> Vec<PackageChange> {
    let mut versions: HashMap<Context, HashMap<String, Option<String>>> = HashMap::new();
    let mut logs = HashMap::new();
    let mut out = Vec::new();
    for ((ctx, name), count) in users {
        let Some(db) = dbs.get(ctx) else { continue };
        let by_name = versions
            .entry(ctx.clone())
            .or_insert_with(|| match db.status() {
                Ok(all) => all
                    .iter()
                    .map(|p| (p.info_name(), p.version.clone()))
                    .collect(),
                Err(e) => {
                    warnings.push(format!("{}: {e}", ctx.label()));
                    HashMap::new()
                }
            });
        let log = logs.entry(ctx.clone()).or_insert_with(|| {
            let bare: Vec<&str> = users
                .keys()
                .filter(|(c, _)| c == ctx)
                .map(|(_, n)| bare_name(n))
                .collect();
            db.logged_changes(&bare).unwrap_or_else(|e| {
                warnings.push(format!("{}: {e}", ctx.label()));
                HashMap::new()
            })
        });
        let logged = log.get(bare_name(name));
        let version = by_name.get(name).cloned().flatten();
        out.push(PackageChange {
            context: ctx.label().to_string(),
            name: name.clone(),
            // The log's previous version only describes the installed one if the log's
            // last change led to it.
            previous_version: logged
                .filter(|l| version.as_deref().is_none_or(|v| v == l.version))
                .and_then(|l| l.previous_version.clone()),
            version,
            changed_at: db.changed_at(name),
            processes: *count,
        });
    }
    out
}

fn bare_name(info_name: &str) -> &str {
    info_name.split(':').next().unwrap_or(info_name)
}

/// The later of the process's start and the last change of the packages behind it.
fn stale_since(p: &StaleProcess, context: &str, packages: &[PackageChange]) -> Option<i64> {
    let changed = p
        .findings
        .iter()
        .filter_map(|f| f.package.as_ref())
        .filter_map(|name| {
            packages
                .iter()
                .find(|pk| pk.context == context && &pk.name == name)?
                .changed_at
        })
        .max();
    match (changed, p.started_at) {
        (Some(c), Some(s)) => Some(c.max(s)),
        (c, s) => c.or(s),
    }
}
