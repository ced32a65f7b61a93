//! The test fleet itself (`tests/fleet/fleet`): what the probe and controller tests rely on.
//!
//! Hosts are real: systemd running, sshd with its own host keys on its own port, nginx on
//! its own port, the three users, the scenario helpers doing what they claim. Also: hosts
//! go down by themselves when the process that owns them dies.
//!
//! One fleet serves every scenario of this binary (but the reaper's, which needs an owner of
//! its own), each a `#[test]`: h01 and h02 are never changed, and each scenario that
//! changes a host has it to itself: h03 (test packages), h04 (tamper), h05 (freeze),
//! h06 (kill).

#[path = "support/fleet.rs"]
mod fleet;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleet::Fleet;

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("harness", 6)
}

/// The hosts no scenario changes.
const PRISTINE: [&str; 2] = ["h01", "h02"];

#[test]
fn hosts_run_systemd_sshd_and_nginx_with_their_own_host_keys() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    for name in PRISTINE {
        let host = fleet.host(name);
        assert_eq!(fleet.ssh_ok(name, "hostname").trim(), name);
        assert_eq!(
            fleet.ssh_ok(name, "systemctl is-system-running").trim(),
            "running"
        );
        let mut http = TcpStream::connect(("127.0.0.1", host.http_port)).expect("nginx port");
        http.write_all(b"HEAD / HTTP/1.0\r\n\r\n")
            .expect("send to nginx");
        let mut answer = String::new();
        http.read_to_string(&mut answer)
            .expect("read nginx's answer");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "nginx on {name}: {answer}"
        );
    }
    let keys: Vec<String> = PRISTINE
        .iter()
        .map(|name| fleet.ssh_ok(name, "cat /etc/ssh/ssh_host_ed25519_key.pub"))
        .collect();
    assert_ne!(keys[0], keys[1], "hosts share their sshd host key");
}

#[test]
fn kill_stops_a_host() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h06";
    fleet.kill(host);
    let status = fleet.tool_ok(&["status"]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with(host) && l.ends_with("down")),
        "{status}"
    );
    assert!(
        !fleet.ssh(host, "true").status.success(),
        "killed {host} still answers"
    );
}

#[test]
fn hosts_go_down_when_their_owner_dies() {
    let mut owner = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("start an owner process");
    let Some(fleet) = Fleet::up_owned_by("reaper", 1, owner.id()) else {
        owner.kill().expect("kill the owner");
        owner.wait().expect("reap the owner");
        return;
    };
    assert_eq!(fleet.ssh_ok("h01", "hostname").trim(), "h01");
    owner.kill().expect("kill the owner");
    owner.wait().expect("reap the owner");
    // Generous: the reaper polls each second and shutting a host down takes a few.
    let deadline = Instant::now() + Duration::from_secs(120);
    while fleet.dir().exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        !fleet.dir().exists(),
        "fleet {} outlived its owner",
        fleet.dir().display()
    );
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    assert!(
        !mounts.contains(&*fleet.dir().to_string_lossy()),
        "overlays of a reaped fleet are still mounted"
    );
}

/// Regression: a shared fleet goes down by its reaper after its test process has exited,
/// and the next process claimed the same port range at once (its lock had gone with the
/// process) and booted hosts of the same machine names, which that teardown killed. A range
/// whose fleet directory is still there is not claimed. Boots nothing, so it also runs
/// where the fleet cannot.
#[test]
fn a_port_range_is_not_claimed_while_its_last_fleet_goes_down() {
    let (base, claim) = fleet::claim_ports(1);
    drop(claim);
    let leftover = std::env::temp_dir().join(format!(
        "patchgap-fleet-leftover-{}-{base}",
        std::process::id()
    ));
    std::fs::create_dir(&leftover).expect("create a leftover fleet directory");
    let (again, _claim) = fleet::claim_ports(1);
    std::fs::remove_dir(&leftover).expect("remove the leftover fleet directory");
    assert_ne!(again, base, "claimed the range of a fleet still going down");
}

#[test]
fn inventory_and_known_hosts_name_every_host() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let inventory = read(&fleet.inventory());
    let known = read(&fleet.known_hosts());
    assert!(inventory.contains("    fleet:\n"), "{inventory}");
    for host in fleet.hosts() {
        let entry = format!(
            "        {}:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n          ansible_user: root\n",
            host.name, host.port
        );
        assert!(
            inventory.contains(&entry),
            "{} missing from:\n{inventory}",
            host.name
        );
        let prefix = format!("[127.0.0.1]:{} ssh-ed25519 ", host.port);
        assert!(
            known.lines().any(|l| l.starts_with(&prefix)),
            "{prefix} missing:\n{known}"
        );
    }
    let key = fleet.key().display().to_string();
    assert!(
        inventory.contains(&format!("ansible_ssh_private_key_file: {key}")),
        "{inventory}"
    );
}

#[test]
fn users_have_the_right_privileges() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let as_user = |user: &str, cmd: &str| {
        fleet
            .tool(&["ssh", "-l", user, "h01", cmd])
            .status
            .success()
    };
    assert!(as_user("ops", "sudo -n true"), "ops cannot sudo");
    assert!(as_user("guest", "id -un"), "guest cannot log in");
    assert!(!as_user("guest", "sudo -n true"), "guest can sudo");
}

#[test]
fn test_packages_install_and_fragile_unit_fails_to_restart() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h03";
    fleet.install(
        host,
        &[
            "libpgtest1=1.0-1",
            "pgtest-fragile=1.0-1",
            "pgtest-tool=1.0-1",
        ],
    );
    assert_eq!(
        fleet.ssh_ok(host, "pgtest-tool").trim(),
        "pgtest-tool using libpgtest 1.0-1"
    );
    fleet.ssh_ok(host, "systemctl start pgtest-fragile.service");
    let restart = fleet.ssh(host, "systemctl restart pgtest-fragile.service");
    assert!(!restart.status.success(), "pgtest-fragile restarted");
    fleet.install(host, &["libpgtest1=1.0-2"]);
    assert_eq!(
        fleet.ssh_ok(host, "pgtest-tool").trim(),
        "pgtest-tool using libpgtest 1.0-2"
    );
    let log = fleet.ssh_ok(host, "grep ' upgrade libpgtest1' /var/log/dpkg.log");
    assert!(log.contains("1.0-1 1.0-2"), "{log}");
}

#[test]
fn tamper_changes_a_packaged_file() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h04";
    let before = fleet.ssh_ok(host, "dpkg --verify base-files");
    assert!(
        !before.contains("/usr/lib/os-release"),
        "os-release modified already: {before}"
    );
    fleet.tamper(host, "/usr/lib/os-release");
    let verify = fleet.ssh_ok(host, "dpkg --verify base-files");
    assert!(
        verify.contains("/usr/lib/os-release"),
        "tamper not seen by dpkg: {verify}"
    );
}

#[test]
fn freeze_accepts_tcp_but_never_answers() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h05";
    fleet.freeze(host);
    let status = fleet.tool_ok(&["status"]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with(host) && l.contains("frozen")),
        "{status}"
    );
    let mut sock = TcpStream::connect(("127.0.0.1", fleet.host(host).port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("set a read timeout");
    let mut byte = [0u8; 1];
    let read = sock.read(&mut byte);
    assert!(
        matches!(&read, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "frozen {host} answered: {read:?}"
    );
    fleet.thaw(host);
    assert_eq!(fleet.ssh_ok(host, "hostname").trim(), host);
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
