//! Which stale process matters, on real Debian hosts: the test packages carry Debian
//! changelogs (libpgtest1 1.0-2 is a bookworm-security upload naming two CVEs, pgtest-tool
//! 1.0-2 an ordinary one) and pgtestd listens on TCP. The probe must name both CVEs, call
//! the update "security", find the port, and rank pgtestd above a service left stale by
//! the ordinary upgrade; a host whose /usr/share/doc is excluded must say "unknown" and why.
//!
//! One fleet serves the scenarios, each a `#[test]` on a host of its own.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/probe.rs"]
mod probe;

use std::process::Command;

use fleet::Fleet;
use patchgap_probe::Report;
use patchgap_probe::report::{
    AddressClass, PackageExposure, ProcessExposure, Protocol, RiskLevel, Security,
};

/// The fleet of this binary with the probe pushed to `host`; `None` when fleets are
/// skipped on this machine.
fn ready(host: &str) -> Option<&'static Fleet> {
    let fleet = Fleet::shared("exposure", 2)?;
    probe::install(fleet, host);
    Some(fleet)
}

#[test]
fn a_security_update_under_a_listening_daemon_outranks_a_cosmetic_one() {
    if let Some(fleet) = ready("h01") {
        security_versus_cosmetic(fleet, "h01");
    }
}

#[test]
fn a_host_without_changelogs_says_unknown_and_why() {
    if let Some(fleet) = ready("h02") {
        docs_excluded(fleet, "h02");
    }
}

fn package<'r>(report: &'r Report, name: &str) -> &'r PackageExposure {
    let e = report.exposure.as_ref().expect("the probe writes exposure");
    e.packages
        .iter()
        .find(|p| p.name.split(':').next() == Some(name))
        .unwrap_or_else(|| panic!("{name} missing from exposure: {:#?}", e.packages))
}

fn process_of<'r>(report: &'r Report, unit: &str) -> &'r ProcessExposure {
    let pid = report
        .actions
        .services
        .iter()
        .find(|s| s.unit == unit)
        .and_then(|s| s.pids.first())
        .unwrap_or_else(|| panic!("{unit} not stale: {:#?}", report.actions));
    let e = report.exposure.as_ref().expect("the probe writes exposure");
    e.processes
        .iter()
        .find(|p| p.pid == *pid)
        .unwrap_or_else(|| panic!("pid {pid} missing from exposure: {:#?}", e.processes))
}

/// pgtestd maps libpgtest1 1.0-1 when 1.0-2 (security) is installed; a transient service
/// runs pgtest-tool 1.0-1 (started on the new library) when 1.0-2 (not security) is.
fn security_versus_cosmetic(fleet: &Fleet, host: &str) {
    fleet.install(
        host,
        &["libpgtest1=1.0-1", "pgtestd=1.0-1", "pgtest-tool=1.0-1"],
    );
    fleet.ssh_ok(host, "systemctl start pgtestd.service");
    fleet.install(host, &["libpgtest1=1.0-2"]);
    fleet.ssh_ok(
        host,
        "systemd-run --unit=pgtest-tool-wait /usr/bin/pgtest-tool --wait",
    );
    fleet.install(host, &["pgtest-tool=1.0-2"]);
    let port: u16 = fleet
        .ssh_ok(host, "cat /run/pgtestd.port")
        .trim()
        .parse()
        .expect("pgtestd wrote its port");
    let report = probe::run(fleet, host);

    let lib = package(&report, "libpgtest1");
    assert_eq!(lib.security, Security::Security, "{lib:#?}");
    assert_eq!(lib.cves, ["CVE-2024-1234", "CVE-2024-12345"], "{lib:#?}");
    assert_eq!(lib.running_version.as_deref(), Some("1.0-1"), "{lib:#?}");
    assert!(
        lib.security_reasons
            .iter()
            .any(|r| r.contains("bookworm-security")),
        "{lib:#?}"
    );
    let tool = package(&report, "pgtest-tool");
    assert_eq!(tool.security, Security::NotSecurity, "{tool:#?}");
    assert!(tool.cves.is_empty());

    let daemon = process_of(&report, "pgtestd.service");
    let listening = daemon
        .sockets
        .iter()
        .find(|s| s.port == port)
        .unwrap_or_else(|| panic!("port {port} not found: {daemon:#?}"));
    assert_eq!(listening.protocol, Protocol::Tcp);
    assert_eq!(listening.class, AddressClass::Loopback);
    assert_eq!(daemon.risk.level, RiskLevel::High, "{daemon:#?}");
    let cosmetic = process_of(&report, "pgtest-tool-wait.service");
    assert_eq!(cosmetic.risk.level, RiskLevel::Low, "{cosmetic:#?}");
    assert!(daemon.risk.level > cosmetic.risk.level);

    // The controller's table leads with the riskier service and names the CVEs.
    let inventory = fleet.write_inventory("exposure-h01.yml", &[(host, &[])]);
    let out = Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args([
            "audit",
            "--quiet",
            "--format",
            "table",
            "--ssh-config",
            "none",
        ])
        .arg("-i")
        .arg(&inventory)
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg("--private-key")
        .arg(fleet.key())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run patchgap audit");
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains("CVE-2024-1234: 1 service on 1 host"),
        "{table}"
    );
    let at = |what: &str| {
        table
            .find(what)
            .unwrap_or_else(|| panic!("{what}: {table}"))
    };
    assert!(
        at("high: pgtestd.service") < at("low: pgtest-tool-wait.service"),
        "{table}"
    );
}

/// dpkg told not to unpack /usr/share/doc (as slim images do): the security of the update
/// is unknown, and the reason says so.
fn docs_excluded(fleet: &Fleet, host: &str) {
    fleet.ssh_ok(
        host,
        "printf 'path-exclude=/usr/share/doc/*\\npath-include=/usr/share/doc/*/copyright\\n' \
         > /etc/dpkg/dpkg.cfg.d/excludes",
    );
    fleet.install(host, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(host, "systemctl start pgtestd.service");
    fleet.install(host, &["libpgtest1=1.0-2"]);
    let report = probe::run(fleet, host);

    let lib = package(&report, "libpgtest1");
    assert_eq!(lib.security, Security::Unknown, "{lib:#?}");
    assert!(lib.cves.is_empty());
    assert!(
        lib.security_reasons
            .iter()
            .any(|r| r.contains("path-exclude")),
        "{lib:#?}"
    );
    let daemon = process_of(&report, "pgtestd.service");
    assert!(
        daemon.risk.reasons.iter().any(|r| r.contains("unknown")),
        "{daemon:#?}"
    );
}
