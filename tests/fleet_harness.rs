//! The test fleet itself (`tests/fleet/fleet`): what the probe and controller tests rely on.
//!
//! Hosts are real: systemd running, sshd with its own host keys on its own port, nginx on
//! its own port, the three users, the scenario helpers doing what they claim. Also: hosts
//! go down by themselves when the process that owns them dies.
//!
//! One fleet serves every scenario of this binary (but the reaper's, which needs an owner of
//! its own), each a `#[test]`: h01 and h02 are never changed (nor rebooted), and each
//! scenario that changes a host has it to itself: h03 (test packages), h04 (tamper), h05
//! (freeze), h06 (kill), h07 (reboot), h08 (held down), h09 (a staged reboot reason),
//! h10 (killed while held down).
//!
//! The FleetLock test server (`support/fleetlock.rs`) is tested here too, over TCP with
//! plain HTTP/1.1 requests written by hand (no fleet needed).
//!
//! Hosts survive a reboot: `systemctl reboot` in a host ends its nspawn with status 133,
//! and the host's supervisor boots it again with the same overlay, ports and keys.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/fleetlock.rs"]
mod fleetlock;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleet::{Fleet, host_result};

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("harness", 10)
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
    assert!(!fleet.is_up(host), "killed {host} still answers");
    // A killed host has no supervisor left to boot it again: `status` would say
    // `rebooting` while one waits.
    let root = fleet.root_of(host).to_string_lossy().into_owned();
    let left: Vec<String> = processes_of(fleet.dir())
        .into_iter()
        .filter(|p| p.contains(&format!(" supervise {host} ")) || p.contains(&root))
        .collect();
    assert!(
        left.is_empty(),
        "processes of killed {host} remain: {left:?}"
    );
    assert_eq!(fleet.state(host), "down");
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
    assert_eq!(
        processes_of(fleet.dir()),
        Vec::<String>::new(),
        "processes of a reaped fleet remain"
    );
}

/// `down` while a host reboots (its nspawn gone or about to be, its supervisor booting it
/// again): nothing of the fleet keeps running.
#[test]
fn down_during_a_reboot_leaves_nothing_running() {
    let Some(fleet) = Fleet::up("downreboot", 1) else {
        return;
    };
    let dir = fleet.dir().to_path_buf();
    // The SSH session may end with the connection dropped: that is the reboot.
    fleet.ssh("h01", "systemctl reboot");
    drop(fleet);
    assert!(!dir.exists(), "fleet {} not removed", dir.display());
    assert_eq!(
        processes_of(&dir),
        Vec::<String>::new(),
        "processes of a fleet taken down mid-reboot remain"
    );
}

/// A host rebooted from inside comes back by itself: a new boot, the same host key (the
/// fleet's OpenSSH has strict host-key checking against the known_hosts written at `up`),
/// the same ports; the other hosts keep their boot.
#[test]
fn a_rebooted_host_comes_back_with_a_new_boot_and_the_same_host_key() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h07";
    let key = fleet.ssh_ok(host, "cat /etc/ssh/ssh_host_ed25519_key.pub");
    let others: Vec<String> = PRISTINE.iter().map(|h| fleet.boot_id(h)).collect();
    let first = fleet.boot_id(host);
    let second = fleet.reboot(host);
    assert_ne!(first, second, "{host} kept its boot");
    let third = fleet.reboot(host);
    assert!(
        third != first && third != second,
        "{host}: boot ids {first} {second} {third}"
    );
    assert_eq!(
        fleet.ssh_ok(host, "cat /etc/ssh/ssh_host_ed25519_key.pub"),
        key
    );
    assert_eq!(fleet.ssh_ok(host, "hostname").trim(), host);
    assert_eq!(
        fleet.ssh_ok(host, "systemctl is-system-running").trim(),
        "running"
    );
    assert_eq!(fleet.state(host), "running");
    let console = read(&fleet.dir().join("hosts").join(host).join("console.log"));
    let reboots = console
        .lines()
        .filter(|l| {
            l.starts_with(&format!("fleet supervise {host}: "))
                && l.ends_with("exited with status 133")
        })
        .count();
    assert_eq!(reboots, 2, "{host} console:\n{console}");
    let now: Vec<String> = PRISTINE.iter().map(|h| fleet.boot_id(h)).collect();
    assert_eq!(others, now, "rebooting {host} rebooted another host");
}

/// The fleet tool's state files (`pidns`, `nspawn.pid`, ...) are rewritten by several
/// processes at once: `fleet status` run by two tests rewrites every host's `pidns`. None
/// may fail because another writer renamed a shared temporary file away. Four processes
/// rewrite one file 300 times each; needs python3 only, no fleet.
#[test]
fn state_files_survive_concurrent_writers() {
    let dir = std::env::temp_dir().join(format!("patchgap-replace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    let target = dir.join("pidns");
    let lib = fleet::tool_path()
        .parent()
        .expect("tests/fleet")
        .to_path_buf();
    let script = "import sys\nfrom fleetlib import state\nfor i in range(300):\n    state.replace(sys.argv[1], '%d\\n' % i)\n";
    let writers: Vec<_> = (0..4)
        .map(|_| {
            Command::new("python3")
                .args(["-B", "-c", script])
                .arg(&target)
                .current_dir(&lib)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start python3")
        })
        .collect();
    let failed: Vec<String> = writers
        .into_iter()
        .map(|w| w.wait_with_output().expect("wait for a writer"))
        .filter(|out| !out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stderr).into_owned())
        .collect();
    let last = std::fs::read_to_string(&target).unwrap_or_default();
    std::fs::remove_dir_all(&dir).expect("remove the scratch directory");
    assert!(failed.is_empty(), "writers failed:\n{}", failed.join("\n"));
    assert_eq!(last, "299\n");
}

/// A host killed while its supervisor waits to boot it again (held down after a reboot)
/// does not come back: `kill` ends the supervisor too.
#[test]
fn a_host_killed_while_held_down_keeps_no_supervisor() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h10";
    fleet.hold(host);
    fleet.ssh(host, "systemctl reboot");
    assert!(
        wait_for_state(fleet, host, "held down"),
        "{host}: {}",
        fleet.state(host)
    );
    fleet.kill(host);
    assert_eq!(fleet.state(host), "down");
    let left: Vec<String> = processes_of(fleet.dir())
        .into_iter()
        .filter(|p| p.contains(&format!(" supervise {host} ")))
        .collect();
    assert!(
        left.is_empty(),
        "supervisor of killed {host} remains: {left:?}"
    );
}

/// Poll `fleet status` (no SSH) until `host` is in `state`; `false` after many looks.
fn wait_for_state(fleet: &Fleet, host: &str, state: &str) -> bool {
    (0..600).any(|_| {
        fleet.state(host) == state || {
            std::thread::sleep(Duration::from_millis(200));
            false
        }
    })
}

/// A held host stays down after its reboot (the host that never comes back) until
/// released; then it boots again, with its own key still accepted.
#[test]
fn a_held_host_stays_down_until_released() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h08";
    let before = fleet.boot_id(host);
    fleet.hold(host);
    fleet.ssh(host, "systemctl reboot");
    assert!(
        wait_for_state(fleet, host, "held down"),
        "{host} never went down: {}",
        fleet.state(host)
    );
    assert!(!fleet.is_up(host), "held {host} answers");
    let wait = fleet.tool(&["wait-ready", host]);
    assert!(!wait.status.success(), "wait-ready passed on held {host}");
    assert!(
        String::from_utf8_lossy(&wait.stderr).contains("held down"),
        "{}",
        String::from_utf8_lossy(&wait.stderr)
    );
    // Still down: the supervisor waits and boots nothing while the hold lasts.
    assert_eq!(fleet.state(host), "held down");
    fleet.release(host);
    assert!(fleet.is_up(host), "released {host} does not answer");
    assert_ne!(fleet.boot_id(host), before, "{host} kept its boot");
    assert_eq!(fleet.state(host), "running");
}

/// `reboot-pending` stages what Debian's packages do for a reboot, the probe reports it
/// through `patchgap audit`, and the host's next boot has it gone (`/run` is a fresh tmpfs),
/// so a re-probe is clean.
#[test]
fn a_staged_reboot_reason_is_reported_and_gone_after_a_reboot() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let host = "h09";
    let audit = |file: &str| {
        let inventory = fleet.write_inventory(file, &[(host, &[])]);
        let (_, report) = fleet.start_audit(&inventory, &[]).finish();
        let result = host_result(&report, host);
        assert_eq!(result["state"], "audited", "{result}");
        result["report"]["reboot"].clone()
    };
    let clean = audit("reboot-before.yml");
    assert_eq!(clean["flag_file"], false, "{clean}");
    fleet.reboot_pending(host);
    let pending = audit("reboot-pending.yml");
    assert_eq!(pending["flag_file"], true, "{pending}");
    assert_eq!(
        pending["flag_packages"],
        serde_json::json!(["libc6", "pgtest-reboot"]),
        "{pending}"
    );
    fleet.reboot(host);
    let after = audit("reboot-after.yml");
    assert_eq!(after["flag_file"], false, "{after}");
    assert_eq!(after["flag_packages"], serde_json::json!([]), "{after}");
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

/// POST `body` to `path` of a FleetLock server as a client would, over a TCP connection of
/// its own; `protocol_header` adds `fleet-lock-protocol: true`. The status and the JSON
/// body of the answer.
fn fleetlock_post(
    server: &fleetlock::FleetLock,
    path: &str,
    body: &str,
    protocol_header: bool,
) -> (u16, serde_json::Value) {
    let header = if protocol_header {
        "fleet-lock-protocol: true\r\n"
    } else {
        ""
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\n{header}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    fleetlock_exchange(server, request.as_bytes())
}

/// Send raw request bytes, read the answer up to the server's close.
fn fleetlock_exchange(server: &fleetlock::FleetLock, request: &[u8]) -> (u16, serde_json::Value) {
    let mut conn = TcpStream::connect(server.addr()).expect("connect to the FleetLock server");
    // Safety net only: the server answers and closes at once.
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("set a read timeout");
    conn.write_all(request).expect("send the request");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().expect("a content-length number"))
        })
        .unwrap_or_else(|| panic!("no content-length in {head:?}"));
    assert_eq!(length, body.len(), "content-length of {answer:?}");
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}

fn params(id: &str, group: Option<&str>) -> String {
    match group {
        Some(group) => serde_json::json!({"client_params": {"id": id, "group": group}}),
        None => serde_json::json!({"client_params": {"id": id}}),
    }
    .to_string()
}

/// The protocol of campaigns.md: a semaphore of one per group, owned and recursive slots,
/// `steady-state` idempotent, groups apart, every decision in the log in order.
#[test]
fn fleetlock_server_is_a_semaphore_per_group_with_owned_recursive_slots() {
    use fleetlock::EventKind::{Granted, NotHeld, Refused, Released};
    let server = fleetlock::FleetLock::start(1);
    let post = |path: &str, id: &str, group: Option<&str>| {
        fleetlock_post(&server, path, &params(id, group), true)
    };
    let pre = "/v1/pre-reboot";
    let steady = "/v1/steady-state";
    assert_eq!(post(pre, "h01", None).0, 200);
    let (status, body) = post(pre, "h02", None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["kind"], "failed_lock_semaphore_full", "{body}");
    assert!(
        body["value"].as_str().is_some_and(|v| v.contains("h01")),
        "{body}"
    );
    assert_eq!(post(pre, "h01", Some("default")).0, 200, "h01 asks again");
    assert_eq!(server.holders("default"), ["h01"]);
    assert_eq!(post(pre, "h03", Some("db-1.b")).0, 200, "another group");
    assert_eq!(server.holders("db-1.b"), ["h03"]);
    assert_eq!(
        post(steady, "h02", None).0,
        200,
        "steady-state of a non-holder"
    );
    assert_eq!(server.holders("default"), ["h01"]);
    assert_eq!(post(steady, "h01", None).0, 200);
    assert!(server.holders("default").is_empty());
    assert_eq!(post(pre, "h02", None).0, 200, "the freed slot");
    assert_eq!(server.holders("default"), ["h02"]);
    assert!(server.release("h02", "default"), "an operator's release");
    assert!(server.holders("default").is_empty());

    let events = server.events();
    let log: Vec<(fleetlock::EventKind, &str, &str, bool, usize)> = events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.id.as_str(),
                e.group.as_str(),
                e.again,
                e.holders_after,
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            (Granted, "h01", "default", false, 1),
            (Refused, "h02", "default", false, 1),
            (Granted, "h01", "default", true, 1),
            (Granted, "h03", "db-1.b", false, 1),
            (NotHeld, "h02", "default", false, 1),
            (Released, "h01", "default", false, 0),
            (Granted, "h02", "default", false, 1),
            (Released, "h02", "default", false, 0),
        ]
    );
    let seqs: Vec<usize> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..8).collect::<Vec<_>>());
    assert_eq!(server.max_holders("default"), 1);
}

/// Requests outside the protocol get an error with a `{kind, value}` body and change
/// nothing.
#[test]
fn fleetlock_server_refuses_what_is_not_the_protocol() {
    let server = fleetlock::FleetLock::start(1);
    let pre = "/v1/pre-reboot";
    let refused = [
        fleetlock_post(&server, pre, &params("h01", None), false),
        fleetlock_post(&server, pre, &params("", None), true),
        fleetlock_post(&server, pre, &params("h01", Some("a b")), true),
        fleetlock_post(&server, pre, "{\"id\": \"h01\"}", true),
        fleetlock_post(&server, pre, "not json", true),
        fleetlock_post(&server, "/v1/other", &params("h01", None), true),
        fleetlock_exchange(
            &server,
            b"GET /v1/pre-reboot HTTP/1.1\r\nfleet-lock-protocol: true\r\n\r\n",
        ),
        fleetlock_exchange(&server, b"nonsense\r\n\r\n"),
    ];
    let statuses: Vec<u16> = refused.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [400, 400, 400, 400, 400, 404, 405, 400]);
    for (_, body) in &refused {
        assert!(
            body["kind"].is_string() && body["value"].is_string(),
            "{body}"
        );
    }
    assert_eq!(refused[0].1["kind"], "missing_fleet_lock_protocol_header");
    assert!(server.events().is_empty(), "{:?}", server.events());
    assert!(server.holders("default").is_empty());
}

/// Many clients at once against a semaphore of two: exactly two are granted, and the log
/// never shows more than two holders.
#[test]
fn fleetlock_server_never_grants_more_than_its_slots() {
    let server = fleetlock::FleetLock::start(2);
    let granted: Vec<u16> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..16)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    fleetlock_post(
                        server,
                        "/v1/pre-reboot",
                        &params(&format!("n{i}"), None),
                        true,
                    )
                    .0
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().expect("a client thread"))
            .collect()
    });
    assert_eq!(
        granted.iter().filter(|s| **s == 200).count(),
        2,
        "{granted:?}"
    );
    assert_eq!(
        granted.iter().filter(|s| **s == 409).count(),
        14,
        "{granted:?}"
    );
    assert_eq!(server.holders("default").len(), 2);
    assert_eq!(server.max_holders("default"), 2);
    assert_eq!(server.events().len(), 16);
}

/// Command lines of the live processes that name `path` (a fleet's directory or a host's
/// root): supervisors and nspawns of a fleet.
fn processes_of(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!("{}: {cmdline}", name.to_string_lossy()));
        }
    }
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
