//! The probe on real Debian hosts (systemd as PID 1, sshd, nginx, dpkg upgrades under
//! running daemons), booted by `tests/fleet/fleet`.
//!
//! One fleet serves every scenario of this binary, each a `#[test]` of its own on a host of
//! its own, so none sees another's upgrades, they may run in parallel, and a failure names
//! its scenario.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/probe.rs"]
mod probe;

use fleet::Fleet;
use patchgap_probe::Report;
use patchgap_probe::report::Problem;
use patchgap_probe::report::{Owner, Severity, StaleProcess};

/// The fleet of this binary: one host per scenario.
fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("probe", 4)
}

/// Run `scenario` on `host` of the shared fleet with the probe installed there (nothing, when
/// the fleet is skipped).
fn on_host(host: &str, scenario: fn(&Fleet, &str)) {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    probe::install(fleet, host);
    scenario(fleet, host);
}

#[test]
fn clean_host_reports_nothing() {
    on_host("h01", clean_host);
}

#[test]
fn library_upgraded_under_its_daemon() {
    on_host("h02", library_upgraded);
}

#[test]
fn libssl3_reinstalled_under_every_daemon() {
    on_host("h03", libssl3_reinstalled);
}

#[test]
fn tampered_library_in_use_is_high_severity() {
    on_host("h04", tampered_library_in_use);
}

/// A freshly booted host runs nothing replaced: any finding here is a false positive.
fn clean_host(fleet: &Fleet, host: &str) {
    let report = probe::run(fleet, host);
    assert!(
        report.processes.is_empty(),
        "clean host {host} reported stale processes: {:#?}",
        report.processes
    );
    assert!(
        !report.scan.partial,
        "scan as root was partial: {:?}",
        report.scan
    );
    assert!(
        report.scan.processes_inspected > 0,
        "no process inspected: {:?}",
        report.scan
    );
}

/// Upgrade libpgtest1 1.0-1 -> 1.0-2 while pgtestd runs: pgtestd.service maps the deleted
/// library, and the package entry carries both versions and the upgrade time.
fn library_upgraded(fleet: &Fleet, host: &str) {
    fleet.install(host, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(host, "systemctl start pgtestd.service");
    fleet.install(host, &["libpgtest1=1.0-2"]);
    let report = probe::run(fleet, host);

    let daemon = by_unit(&report, "pgtestd.service").unwrap_or_else(|| {
        panic!(
            "pgtestd.service not reported on {host}: {:#?}",
            report.processes
        )
    });
    let finding = daemon
        .findings
        .iter()
        .find(|f| f.path.ends_with("/libpgtest.so.1"))
        .unwrap_or_else(|| panic!("no finding on libpgtest.so.1: {daemon:#?}"));
    assert!(
        finding.package.as_deref().is_some_and(is_libpgtest1),
        "libpgtest.so.1 not attributed to libpgtest1: {finding:#?}"
    );
    let package = report
        .packages
        .iter()
        .find(|p| is_libpgtest1(&p.name))
        .unwrap_or_else(|| panic!("libpgtest1 missing from packages: {:#?}", report.packages));
    assert_eq!(package.version.as_deref(), Some("1.0-2"), "{package:#?}");
    assert_eq!(
        package.previous_version.as_deref(),
        Some("1.0-1"),
        "{package:#?}"
    );
    assert!(
        package.changed_at.is_some(),
        "no upgrade time: {package:#?}"
    );
    let action = report
        .actions
        .services
        .iter()
        .find(|s| s.unit == "pgtestd.service")
        .unwrap_or_else(|| panic!("no restart action for pgtestd: {:#?}", report.actions));
    assert!(
        action.pids.contains(&daemon.pid),
        "{action:#?} lacks pid {}",
        daemon.pid
    );
}

/// `apt-get install --reinstall libssl3` under the running daemons: every unit mapping
/// libssl/libcrypto is reported with libssl3, and so is the system manager, as needrestart
/// does.
fn libssl3_reinstalled(fleet: &Fleet, host: &str) {
    fleet.reinstall(host, "libssl3");
    let report = probe::run(fleet, host);

    for unit in [
        "nginx.service",
        "ssh.service",
        "systemd-journald.service",
        "systemd-logind.service",
    ] {
        let process = by_unit(&report, unit)
            .unwrap_or_else(|| panic!("{unit} not reported on {host}: {:#?}", report.processes));
        assert!(
            uses_libssl3(process),
            "{unit} reported without libssl3: {process:#?}"
        );
    }
    let manager = report
        .processes
        .iter()
        .find(|p| p.owner == Owner::SystemManager)
        .unwrap_or_else(|| panic!("system manager not reported: {:#?}", report.processes));
    assert!(
        uses_libssl3(manager),
        "PID 1 reported without libssl3: {manager:#?}"
    );
    assert!(
        report.actions.system_manager.contains(&manager.pid),
        "system manager missing from actions: {:#?}",
        report.actions
    );
    assert!(
        report
            .packages
            .iter()
            .any(|p| is_package(&p.name, "libssl3")),
        "libssl3 missing from packages: {:#?}",
        report.packages
    );
}

fn by_unit<'r>(report: &'r Report, unit: &str) -> Option<&'r StaleProcess> {
    report
        .processes
        .iter()
        .find(|p| matches!(&p.owner, Owner::Service { unit: u } if u == unit))
}

fn uses_libssl3(process: &StaleProcess) -> bool {
    process.findings.iter().any(|f| {
        f.package
            .as_deref()
            .is_some_and(|p| is_package(p, "libssl3"))
    })
}

fn is_libpgtest1(name: &str) -> bool {
    is_package(name, "libpgtest1")
}

/// dpkg names Multi-Arch: same packages with their architecture (`libssl3:amd64`).
fn is_package(name: &str, package: &str) -> bool {
    name == package
        || name
            .strip_prefix(package)
            .is_some_and(|a| a.starts_with(':'))
}

/// Modify libpgtest.so.1 in place while pgtestd maps it: same inode, so nothing is stale,
/// but `--integrity` finds the content changed and joins it with the daemon's PID.
fn tampered_library_in_use(fleet: &Fleet, host: &str) {
    const LIB: &str = "/usr/lib/x86_64-linux-gnu/libpgtest.so.1";
    fleet.install(host, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(host, "systemctl start pgtestd.service");
    let pid: u32 = fleet
        .ssh_ok(host, "systemctl show -P MainPID pgtestd.service")
        .trim()
        .parse()
        .expect("pgtestd main pid");
    fleet.tamper(host, LIB);
    let report = probe::run_with(fleet, host, "--integrity --integrity-packages 'libpgtest*'");

    assert!(
        by_unit(&report, "pgtestd.service").is_none(),
        "an in-place change is not a stale mapping: {:#?}",
        report.processes
    );
    let integrity = report.integrity.expect("integrity part requested");
    let finding = integrity
        .findings
        .iter()
        .find(|f| f.path == LIB)
        .unwrap_or_else(|| panic!("{LIB} not found modified: {:#?}", integrity.findings));
    assert_eq!(finding.package.split(":").next(), Some("libpgtest1"));
    assert_eq!(finding.severity, Severity::High);
    match &finding.problem {
        Problem::ModifiedInUse { pids, .. } => assert!(pids.contains(&pid), "{pids:?} lacks {pid}"),
        other => panic!("expected modified_in_use, got {other:?}"),
    }
    assert!(integrity.has_findings());
}
