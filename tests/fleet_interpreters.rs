//! An interpreted service on a real Debian host: `pgtest-pyd.service` runs
//! /usr/bin/python3 on a script of the test package that imports the package's module;
//! the package is upgraded under it. Nothing it maps changed, so only the probe's
//! interpreter check can see it: the script and its modules must be reported with the
//! package and both versions, the process attributed to its unit, `patchgap restart`
//! must restart that unit, and the probe run again must find it clean.

#[path = "support/campaign.rs"]
mod campaign;
#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/probe.rs"]
mod probe;

use campaign::{Files, finish, path, report_host};
use std::time::{Duration, Instant};

use fleet::Fleet;
use patchgap_probe::Report;
use patchgap_probe::report::FindingKind;

const UNIT: &str = "pgtest-pyd.service";
const MODULE: &str = "/usr/lib/pgtest-pyd/pgtest_pyd/worker.py";
const SCRIPT: &str = "/usr/lib/pgtest-pyd/daemon.py";
/// dpkg replaces every file of the package, the empty package marker too.
const INIT: &str = "/usr/lib/pgtest-pyd/pgtest_pyd/__init__.py";

fn ready(host: &str) -> Option<&'static Fleet> {
    let fleet = Fleet::shared("interpreters", 1)?;
    probe::install(fleet, host);
    Some(fleet)
}

/// The findings of the unit's processes, as `(kind, path, package)`.
fn findings_of(report: &Report) -> Vec<(FindingKind, String, Option<String>)> {
    let pids: Vec<u32> = report
        .actions
        .services
        .iter()
        .filter(|s| s.unit == UNIT)
        .flat_map(|s| s.pids.iter().copied())
        .collect();
    let mut out: Vec<_> = report
        .processes
        .iter()
        .filter(|p| pids.contains(&p.pid))
        .flat_map(|p| &p.findings)
        .map(|f| (f.kind, f.path.clone(), f.package.clone()))
        .collect();
    out.sort();
    out
}

#[test]
fn a_python_service_upgraded_under_it_is_found_restarted_and_clean() {
    let host = "h01";
    let Some(fleet) = ready(host) else { return };
    fleet.install(host, &["pgtest-pyd=1.0-1"]);
    fleet.ssh_ok(
        host,
        "rm -f /run/pgtest-pyd.ready; systemctl start pgtest-pyd",
    );
    // Started means the module was imported: the daemon says so once it has.
    let safety_net = Instant::now() + Duration::from_secs(60);
    while !fleet
        .ssh(host, "test -e /run/pgtest-pyd.ready")
        .status
        .success()
    {
        assert!(Instant::now() < safety_net, "pgtest-pyd never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let clean = probe::run(fleet, host);
    assert_eq!(findings_of(&clean), [], "stale before the upgrade");
    // The upgrade must come later than the start by more than the probe's tolerance.
    std::thread::sleep(Duration::from_secs(
        patchgap_probe::interp::TOLERANCE_SECS.unsigned_abs() + 1,
    ));
    fleet.install(host, &["pgtest-pyd=1.0-2"]);

    let stale = probe::run(fleet, host);
    let pkg = Some("pgtest-pyd".to_string());
    assert_eq!(
        findings_of(&stale),
        [
            (FindingKind::ScriptChanged, SCRIPT.to_string(), pkg.clone()),
            (FindingKind::ModuleChanged, INIT.to_string(), pkg.clone()),
            (FindingKind::ModuleChanged, MODULE.to_string(), pkg.clone()),
        ],
        "processes: {:#?}",
        stale.processes
    );
    let change = stale
        .packages
        .iter()
        .find(|p| p.name.split(':').next() == Some("pgtest-pyd"))
        .expect("package entry");
    assert_eq!(change.version.as_deref(), Some("1.0-2"));
    assert_eq!(change.previous_version.as_deref(), Some("1.0-1"));
    assert!(stale.scan.interpreters_checked >= 1, "{:?}", stale.scan);

    let before = fleet.ssh_ok(host, "systemctl show -p InvocationID --value pgtest-pyd");
    // `patchgap restart` as a user runs it, on an inventory of this host alone.
    let files = Files::new(fleet, &[host]);
    let state = files.state();
    let child = campaign::command(
        fleet,
        &files,
        &["restart", "--yes", "--restart-timeout", "30"],
        &["--state", path(&state)],
    )
    .spawn()
    .expect("run patchgap restart");
    let (code, report) = finish(&files, child);
    assert_eq!(code, Some(0), "{report:#}");
    let units = &report_host(&report, host)["units"];
    let status = units
        .as_array()
        .and_then(|u| u.iter().find(|u| u["unit"] == UNIT))
        .map(|u| u["status"]["kind"].clone());
    assert_eq!(status, Some(serde_json::json!("verified")), "{report:#}");
    let after = fleet.ssh_ok(host, "systemctl show -p InvocationID --value pgtest-pyd");
    assert_ne!(before.trim(), after.trim(), "the unit was not restarted");
    let again = probe::run(fleet, host);
    assert_eq!(findings_of(&again), [], "still stale after the restart");
    assert!(
        again.processes.iter().all(|p| p
            .findings
            .iter()
            .all(|f| !f.path.starts_with("/usr/lib/pgtest-pyd/"))),
        "{:#?}",
        again.processes
    );
}
