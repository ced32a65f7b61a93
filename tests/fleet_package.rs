//! The Debian package on real bookworm hosts (the test fleet): built once by
//! `.ci/build-deb` (from the development build `cargo test` made), installed with apt,
//! then each `#[test]` on a host of its own: an audit that finds a stale service; the APT
//! hook naming the service after an upgrade and never failing one (binary missing, hung,
//! bad config); the timer's service writing the textfile and the JSON report under its
//! sandbox, with a `systemd-analyze security` exposure bound; `apt purge` leaving no file
//! behind; and lintian without errors.
//!
//! The stale scenario is the fleet's test library: `libpgtest1` 1.0-1 under a running
//! `pgtestd` (root) and `pgtest-guest` (the same daemon run as user `guest`), each listening
//! on a TCP port, then 1.0-2.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/formats.rs"]
mod formats;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use fleet::Fleet;

const HOSTS: usize = 4;

fn fleet() -> Option<&'static Fleet> {
    Fleet::shared("package", HOSTS)
}

/// The package, built once per test binary by `.ci/build-deb` from the development build
/// that `cargo test` made (the release package differs only in the binary's
/// optimisation), or the one `PATCHGAP_DEB` names (built beforehand, e.g. a release one).
fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        if let Some(prebuilt) = std::env::var_os("PATCHGAP_DEB") {
            let path = PathBuf::from(prebuilt);
            assert!(path.is_file(), "PATCHGAP_DEB={} is no file", path.display());
            return path;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/build-deb");
        let out = Command::new(&script)
            // The package must embed the probes, whatever a developer's shell says.
            .env_remove("PATCHGAP_SKIP_PROBES")
            .env("PATCHGAP_DEB_PROFILE", "dev")
            .output()
            .expect("run .ci/build-deb");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            ".ci/build-deb failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let path = PathBuf::from(stdout.lines().last().expect("the .deb's path").trim());
        assert!(path.is_file(), "{} was not built", path.display());
        path
    })
}

/// Copies the package into `host` (through its root directory) and installs it with apt,
/// as an admin would: `apt-get install ./patchgap_*.deb`.
fn install_package(fleet: &Fleet, host: &str) -> String {
    copy_package(fleet, host);
    fleet.ssh_ok(
        host,
        "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y ./patchgap.deb 2>&1",
    )
}

fn copy_package(fleet: &Fleet, host: &str) {
    let target = fleet.root_of(host).join("root/patchgap.deb");
    std::fs::copy(deb(), &target).expect("copy the package into the host");
}

/// `libpgtest1` 1.0-1 and `pgtestd`, started as root (`pgtestd.service`) and as user
/// `guest` (`pgtest-guest.service`), both listening and still mapping the old library once
/// this returns with `libpgtest1` 1.0-2 installed (through dpkg: no APT hook runs here).
fn stale_services(fleet: &Fleet, host: &str) {
    fleet.install(host, &["libpgtest1=1.0-1", "pgtestd=1.0-1"]);
    fleet.ssh_ok(
        host,
        "systemctl start pgtestd && systemd-run --unit pgtest-guest --uid guest \
         /usr/sbin/pgtestd --serve",
    );
    fleet.install(host, &["libpgtest1=1.0-2"]);
}

/// `apt-get install --reinstall` of a test package already copied to the host: a dpkg
/// run through APT, so its hooks run. Returns (success, stdout and stderr).
fn apt_reinstall(fleet: &Fleet, host: &str, deb: &str) -> (bool, String) {
    let out = fleet.ssh(
        host,
        &format!("DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall {deb} 2>&1"),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const LIB_V2: &str = "/var/cache/pgtest/libpgtest1_1.0-2_amd64.deb";
const HOOK_LINK: &str = "ln -s /usr/share/patchgap/apt/85patchgap /etc/apt/apt.conf.d/85patchgap";

#[test]
fn an_installed_package_audits_the_host_and_finds_the_stale_service() {
    let Some(fleet) = fleet() else { return };
    install_package(fleet, "h01");
    stale_services(fleet, "h01");
    let out = fleet.ssh(
        "h01",
        "patchgap audit --quiet --format json; echo \"exit=$?\" >&2",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exit=1"), "findings exit 1: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let units: Vec<&str> = report["actions"]["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["unit"].as_str())
        .collect();
    assert!(units.contains(&"pgtestd.service"), "{units:?}");
    // What the package puts where an admin looks.
    let files = fleet.ssh_ok("h01", "dpkg -L patchgap");
    for path in [
        "/usr/bin/patchgap",
        "/usr/share/man/man1/patchgap.1.gz",
        "/usr/share/man/man1/patchgap-audit.1.gz",
        "/usr/share/bash-completion/completions/patchgap",
        "/usr/share/zsh/vendor-completions/_patchgap",
        "/usr/share/fish/vendor_completions.d/patchgap.fish",
        "/usr/share/doc/patchgap/copyright",
        "/usr/share/patchgap/apt/85patchgap",
        "/usr/lib/systemd/system/patchgap-audit.service",
        "/usr/lib/systemd/system/patchgap-audit.timer",
    ] {
        assert!(files.lines().any(|l| l == path), "{path} in:\n{files}");
    }
    let state = fleet.ssh_ok(
        "h01",
        "systemctl is-enabled patchgap-audit.timer; test -e /etc/apt/apt.conf.d/85patchgap && echo hook-on; true",
    );
    assert!(
        state.contains("disabled"),
        "the timer ships disabled: {state}"
    );
    assert!(
        !state.contains("hook-on"),
        "the hook ships disabled: {state}"
    );
}

#[test]
fn the_apt_hook_names_the_service_to_restart_and_never_fails_an_upgrade() {
    let Some(fleet) = fleet() else { return };
    let host = "h02";
    install_package(fleet, host);
    stale_services(fleet, host);
    fleet.ssh_ok(host, HOOK_LINK);

    let (ok, output) = apt_reinstall(fleet, host, LIB_V2);
    assert!(ok, "{output}");
    let hook: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("patchgap:"))
        .collect();
    assert!(
        hook.iter()
            .any(|l| l.contains("to restart:") && l.contains("pgtestd.service")),
        "the hook names the service: {output}"
    );
    assert!(
        hook.iter()
            .any(|l| l.contains("systemctl restart") && l.contains("pgtestd.service")),
        "{output}"
    );

    // Bad configuration: a file the shell cannot parse, then arguments patchgap refuses.
    fleet.ssh_ok(host, "printf 'if then\\n' > /etc/default/patchgap");
    let (ok, output) = apt_reinstall(fleet, host, LIB_V2);
    assert!(
        ok,
        "a broken /etc/default/patchgap failed the upgrade: {output}"
    );
    fleet.ssh_ok(
        host,
        "echo 'PATCHGAP_AUDIT_ARGS=\"--ignore (unclosed\"' > /etc/default/patchgap",
    );
    let (ok, output) = apt_reinstall(fleet, host, LIB_V2);
    assert!(ok, "bad audit arguments failed the upgrade: {output}");
    assert!(output.contains("--ignore"), "patchgap says why: {output}");
    fleet.ssh_ok(host, "rm /etc/default/patchgap");

    // A patchgap that hangs: the hard timeout ends it and the upgrade goes on. (A fake
    // that never ends; the hook's own `timeout` is what bounds it.)
    fleet.ssh_ok(
        host,
        "mv /usr/bin/patchgap /usr/bin/patchgap.real && \
         printf '#!/bin/sh\\necho hung-patchgap-started\\nexec sleep 600\\n' > /usr/bin/patchgap && \
         chmod 755 /usr/bin/patchgap",
    );
    let (ok, output) = apt_reinstall(fleet, host, LIB_V2);
    assert!(ok, "a hung patchgap failed the upgrade: {output}");
    assert!(output.contains("hung-patchgap-started"), "{output}");
    let left = fleet.ssh_ok(host, "pgrep -fc 'slee[p] 600' || true");
    assert_eq!(left.trim(), "0", "the hung audit was killed");

    // A missing binary (removed by hand, the package still installed).
    fleet.ssh_ok(host, "rm /usr/bin/patchgap");
    let (ok, output) = apt_reinstall(fleet, host, LIB_V2);
    assert!(ok, "a missing patchgap failed the upgrade: {output}");
    fleet.ssh_ok(host, "mv /usr/bin/patchgap.real /usr/bin/patchgap");

    // A probe failure: the audit exits non-zero, the upgrade does not mind.
    fleet.ssh_ok(
        host,
        "echo 'PATCHGAP_AUDIT_ARGS=\"--policy /nonexistent/policy.yaml\"' > /etc/default/patchgap",
    );
    let (ok, output) = apt_reinstall(fleet, host, LIB_V2);
    assert!(ok, "a failing audit failed the upgrade: {output}");
    fleet.ssh_ok(host, "rm /etc/default/patchgap");
}

/// Parses `→ Overall exposure level for UNIT: 2.3 OK 🙂` from `systemd-analyze security`.
fn exposure(text: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("Overall exposure level for ")?;
            let (_, rest) = rest.split_once(": ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{text}"))
}

/// The highest exposure accepted. The unit scores 1.4 on bookworm's systemd (root, with
/// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, is most of it). Measured there, each of these
/// alone raises it past 1.5: `PrivateNetwork=no` (1.9), no `CapabilityBoundingSet` (2.8),
/// no `SystemCallFilter` (3.0), `ProtectSystem=no` (1.6). Lighter settings are checked by name
/// ([`MUST_PASS`]).
const EXPOSURE_BOUND: f64 = 1.5;

/// Settings `systemd-analyze security` must list as passed (`✓`), never as missing.
const MUST_PASS: &[&str] = &[
    "PrivateNetwork=",
    "ProtectSystem=",
    "NoNewPrivileges=",
    "PrivateTmp=",
    "PrivateDevices=",
    "ProtectKernelModules=",
    "ProtectKernelTunables=",
    "ProtectControlGroups=",
    "RestrictNamespaces=~user",
    "RestrictAddressFamilies=~AF_(INET|INET6)",
    "CapabilityBoundingSet=~CAP_SYS_ADMIN",
    "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)",
    "MemoryDenyWriteExecute=",
];

#[test]
fn the_timer_service_writes_the_textfile_and_json_with_least_privileges() {
    let Some(fleet) = fleet() else { return };
    let host = "h03";
    install_package(fleet, host);
    stale_services(fleet, host);
    let out = fleet.ssh(
        host,
        "systemctl start patchgap-audit.service; systemctl show -p Result,ExecMainStatus patchgap-audit.service; \
         journalctl -u patchgap-audit.service --no-pager -n 20",
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("Result=success"), "{shown}");

    let root = fleet.root_of(host);
    let json = root.join("var/lib/patchgap/report.json");
    let prom = root.join("var/lib/patchgap/patchgap.prom");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report.json written"))
            .expect("the JSON report parses");
    let units: Vec<&str> = report["actions"]["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["unit"].as_str())
        .collect();
    // pgtest-guest runs as another user: without CAP_SYS_PTRACE its maps are unreadable
    // (the report is partial and it is missing), without CAP_DAC_READ_SEARCH its fd table
    // is, and its listening socket goes unseen.
    for unit in ["pgtestd.service", "pgtest-guest.service"] {
        assert!(units.contains(&unit), "{unit} in {units:?}");
    }
    assert_eq!(report["scan"]["partial"], false, "{}", report["scan"]);
    let exposed = report["exposure"]["processes"]
        .as_array()
        .expect("exposure of the stale processes");
    assert_eq!(exposed.len(), 2, "{exposed:?}");
    for process in exposed {
        let sockets = process["sockets"].as_array().expect("sockets");
        assert!(
            sockets.iter().any(|s| s["protocol"] == "tcp"),
            "the listening socket of every stale daemon is seen: {process}"
        );
    }
    let metrics = formats::parse("prom", &prom);
    let services = formats::metric(&metrics, "patchgap_services_to_restart", &[])
        .or_else(|| {
            let name = report["host"]["hostname"].as_str().unwrap_or_default();
            formats::metric(&metrics, "patchgap_services_to_restart", &[("host", name)])
        })
        .unwrap_or_else(|| panic!("no patchgap_services_to_restart in {metrics}"));
    assert!(services >= 2.0, "{metrics}");
    let modes = fleet.ssh_ok(host, "stat -c '%a %n' /var/lib/patchgap/*");
    assert!(
        modes.contains("644 /var/lib/patchgap/patchgap.prom"),
        "node_exporter can read the textfile: {modes}"
    );
    assert!(
        modes.contains("600 /var/lib/patchgap/report.json"),
        "the report stays private: {modes}"
    );

    let security = fleet.ssh_ok(
        host,
        "systemd-analyze security --no-pager patchgap-audit.service 2>&1",
    );
    let level = exposure(&security);
    assert!(
        level <= EXPOSURE_BOUND,
        "exposure {level} > {EXPOSURE_BOUND}:\n{security}"
    );
    for setting in MUST_PASS {
        let line = security
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(setting))
            .unwrap_or_else(|| panic!("{setting} not rated:\n{security}"));
        assert!(line.starts_with('✓'), "{line}");
    }
}

/// Every path on the host's root filesystem but the package manager's own records and
/// logs, which an install and a purge legitimately change.
fn file_list(fleet: &Fleet, host: &str) -> Vec<String> {
    let list = fleet.ssh_ok(
        host,
        "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
         -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache/apt \
         -o -path /var/cache/debconf -o -path /var/log \\) -prune -o -print | sort",
    );
    list.lines().map(str::to_string).collect()
}

#[test]
fn apt_purge_leaves_no_file_behind() {
    let Some(fleet) = fleet() else { return };
    let host = "h04";
    copy_package(fleet, host);
    let before = file_list(fleet, host);
    install_package(fleet, host);
    // Everything an admin may have turned on, and what it left.
    fleet.ssh_ok(
        host,
        &format!(
            "{HOOK_LINK} && systemctl enable patchgap-audit.timer && \
             systemctl start patchgap-audit.service && test -s /var/lib/patchgap/report.json"
        ),
    );
    fleet.ssh_ok(
        host,
        "DEBIAN_FRONTEND=noninteractive apt-get purge -y patchgap 2>&1 && systemctl daemon-reload",
    );
    let after = file_list(fleet, host);
    let added: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
    let removed: Vec<&String> = before.iter().filter(|p| !after.contains(p)).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "left behind: {added:?}; gone: {removed:?}"
    );
}

#[test]
fn lintian_finds_no_error_in_the_package() {
    // Where the fleet cannot run (it prints why), neither can the package be checked.
    let Some(_) = fleet() else { return };
    let out = Command::new("lintian")
        .args(["--fail-on", "error", "--no-tag-display-limit"])
        .arg(deb())
        .output()
        .expect("run lintian (apt-get install lintian)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lintian found errors:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.lines().any(|l| l.starts_with("E: ")), "{text}");
}
