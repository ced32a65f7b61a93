//! Every report format from one `patchgap audit -i` of real hosts, staged with one stale
//! service (h01: libssl3 reinstalled under its daemons), one reboot pending (h02:
//! `/run/reboot-required` set) and one host that cannot be reached (`gone`: nothing
//! listens on its port). The audit runs once with `-o` for every format; each file is read
//! by the independent parsers of tests/support/check_formats.py, and each `#[test]` checks
//! that one format shows the three facts.
//!
//! The fleet's hosts are systemd-nspawn containers, where the probe rightly asks for no
//! reboot (the kernel is the host's). h02 is made to look like a machine of its own to the
//! probe: `/run/systemd/container` removed and PID 1's environment (its `container=`
//! variable) hidden by a bind mount, so the reboot check runs as on a real host.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/formats.rs"]
mod formats;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use fleet::Fleet;
use formats::{Outputs, case, column, has_row, metric, parse, rows, suite};

const STALE: &str = "h01";
const REBOOT: &str = "h02";
const GONE: &str = "gone";

/// The files of the one audit, by format, and its exit status.
struct Audited {
    files: Outputs,
    status: Option<i32>,
}

impl Audited {
    fn file(&self, format: &str) -> &Path {
        self.files.file(format)
    }
}

/// A port on 127.0.0.1 where nothing listens: taken from the kernel, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn stage(fleet: &Fleet) {
    fleet.reinstall(STALE, "libssl3");
    fleet.ssh_ok(
        REBOOT,
        "set -e; rm -f /run/systemd/container; : > /run/patchgap-no-environ; \
         mount --bind /run/patchgap-no-environ /proc/1/environ; \
         touch /run/reboot-required; echo libc6 > /run/reboot-required.pkgs",
    );
}

/// Stages the fleet and audits it once, for every test of this binary; `None` when the
/// fleet cannot run here (and is not required).
fn audited() -> Option<&'static Audited> {
    static AUDITED: OnceLock<Option<Audited>> = OnceLock::new();
    AUDITED
        .get_or_init(|| {
            let fleet = Fleet::shared("reports", 2)?;
            stage(fleet);
            let dir = tempfile::tempdir().expect("tempdir");
            let inventory = dir.path().join("inventory.yaml");
            let mut text = String::from("all:\n  hosts:\n");
            for (name, port) in [
                (STALE, fleet.host(STALE).port),
                (REBOOT, fleet.host(REBOOT).port),
                (GONE, closed_port()),
            ] {
                text.push_str(&format!(
                    "    {name}:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n      ansible_user: root\n"
                ));
            }
            std::fs::write(&inventory, text).expect("inventory");
            let files = Outputs::new();
            let mut command = Command::new(env!("CARGO_BIN_EXE_patchgap"));
            command
                .args(["audit", "--quiet", "--ssh-config", "none", "-i"])
                .arg(&inventory)
                .arg("--known-hosts")
                .arg(fleet.known_hosts())
                .arg("--private-key")
                .arg(fleet.key())
                .env_remove("SSH_AUTH_SOCK");
            command.args(files.args());
            let out = command.output().expect("run patchgap");
            assert!(
                out.stdout.is_empty(),
                "-o only: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            Some(Audited {
                files,
                status: out.status.code(),
            })
        })
        .as_ref()
}

#[test]
fn the_audit_exits_for_the_failed_host_and_writes_every_file_privately() {
    let Some(a) = audited() else { return };
    assert_eq!(a.status, Some(4), "a host failed: exit 4");
    a.files.assert_private();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.file("json")).expect("json")).expect("JSON");
    let states: Vec<&str> = report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["result"]["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["audited", "audited", "failed"]);
    let table = std::fs::read_to_string(a.file("table")).expect("table");
    assert!(
        table.contains(GONE) && table.contains("unreachable"),
        "{table}"
    );
}

#[test]
fn csv_shows_the_stale_service_the_reboot_and_the_failed_host() {
    let Some(a) = audited() else { return };
    let findings = rows(&parse("csv", a.file("csv")));
    assert!(
        has_row(&findings, &[("host", STALE), ("owner", "nginx.service")]),
        "{findings:?}"
    );
    assert!(
        has_row(
            &findings,
            &[
                ("host", GONE),
                ("state", "failed"),
                ("failure", "unreachable")
            ]
        ),
        "{findings:?}"
    );
    let hosts = rows(&parse("csv", a.file("csv-hosts")));
    let reboot = column(&hosts, "reboot");
    let row = |name: &str| hosts.iter().find(|r| r[0] == name).expect("a row per host");
    assert_eq!(row(REBOOT)[reboot], "needed", "{hosts:?}");
    assert_eq!(row(STALE)[reboot], "not needed");
    assert_eq!(row(GONE)[column(&hosts, "failure")], "unreachable");
}

#[test]
fn junit_shows_the_stale_service_the_reboot_and_the_failed_host() {
    let Some(a) = audited() else { return };
    let junit = parse("junit", a.file("junit"));
    let services = case(suite(&junit, STALE), "services");
    assert_eq!(services["status"], "failure");
    assert!(
        services["message"]
            .as_str()
            .is_some_and(|m| m.contains("nginx.service")),
        "{services}"
    );
    let reboot = case(suite(&junit, REBOOT), "reboot");
    assert_eq!(reboot["status"], "failure", "{reboot}");
    assert!(
        reboot["message"]
            .as_str()
            .is_some_and(|m| m.contains("/run/reboot-required")),
        "{reboot}"
    );
    let gone = suite(&junit, GONE);
    assert_eq!(case(gone, "reachability")["status"], "error");
    assert_eq!(gone["skipped"], 6);
}

#[test]
fn openmetrics_shows_the_stale_service_the_reboot_and_the_failed_host() {
    let Some(a) = audited() else { return };
    let prom = parse("prom", a.file("openmetrics"));
    let services = metric(&prom, "patchgap_services_to_restart", &[("host", STALE)]);
    assert!(services.is_some_and(|n| n >= 1.0), "{services:?}");
    assert_eq!(
        metric(&prom, "patchgap_reboot_required", &[("host", REBOOT)]),
        Some(1.0)
    );
    assert_eq!(
        metric(&prom, "patchgap_reboot_required", &[("host", STALE)]),
        Some(0.0)
    );
    assert_eq!(
        metric(&prom, "patchgap_audit_success", &[("host", GONE)]),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &prom,
            "patchgap_audit_failure",
            &[("host", GONE), ("failure", "unreachable")]
        ),
        Some(1.0)
    );
}

#[test]
fn nagios_shows_the_stale_service_the_reboot_and_the_failed_host() {
    let Some(a) = audited() else { return };
    let nagios = parse("nagios", a.file("nagios"));
    assert_eq!(nagios["status"], "WARNING", "{nagios}");
    let perf = &nagios["perfdata"];
    assert!(perf["services"]["value"].as_f64().is_some_and(|n| n >= 1.0));
    assert_eq!(perf["reboot"]["value"], 1.0);
    assert_eq!(perf["unreachable"]["value"], 1.0);
    let details: Vec<&str> = nagios["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    let line = |host: &str| {
        details
            .iter()
            .find(|d| d.starts_with(&format!("{host}: ")))
            .unwrap_or_else(|| panic!("no line for {host}: {details:?}"))
    };
    assert!(line(STALE).contains("nginx.service"));
    assert!(line(REBOOT).contains("reboot needed"));
    assert!(line(GONE).contains("unreachable"));
}
