//! A guard over `tests/fleet/fleet`: boots real Debian hosts for one test binary and always
//! takes them down again.
//!
//! Each guard has its own state directory and port range (claimed with a lock file, so
//! parallel tests and parallel `cargo test` runs never share a host), and passes its own pid
//! as the fleet's owner: if the test process is killed before `Drop` runs, the fleet's
//! reaper takes the hosts down. Include it with `#[path = "support/fleet.rs"] mod fleet;`.
//!
//! Hosts survive a reboot (the fleet tool's supervisor boots a host again when its nspawn
//! exits with 133, as `systemd-nspawn@.service` does): [`Fleet::reboot`], [`Fleet::hold`]
//! and [`Fleet::release`] (a host that never comes back), [`Fleet::reboot_pending`] (a
//! staged reason for the probe) are for the reboot campaign tests.
//!
//! Without root or the tools the fleet needs, [`Fleet::up`] prints `SKIP: reason` and
//! returns `None`; with `PATCHGAP_FLEET=required` (CI) it panics with the reason instead.

#![allow(dead_code, clippy::print_stderr)]

use std::fs::{self, File};
use std::io::Write;
use std::net::TcpListener;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Programs the fleet tool runs on this machine.
const TOOLS: &[&str] = &[
    "systemd-nspawn",
    "debootstrap",
    "gcc",
    "dpkg-deb",
    "python3",
    "ssh",
    "ssh-keygen",
    "mount",
];

/// First port base tried, and the stride between fleets (the tool uses BASE+1..BASE+199).
const PORT_FLOOR: u16 = 23000;
const PORT_STRIDE: u16 = 200;
const PORT_SLOTS: u16 = 100;

/// One booted host of the fleet.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// sshd's port on 127.0.0.1.
    pub port: u16,
    /// nginx's port on 127.0.0.1.
    pub http_port: u16,
}

/// Booted hosts, taken down on drop (also when the test panics).
pub struct Fleet {
    dir: PathBuf,
    port_base: u16,
    hosts: Vec<Host>,
    /// Set once the test packages are built: scenarios of one binary run in parallel
    /// threads, and two `fleet install` runs building them at once would each write the
    /// same `.deb` files (one could copy a half-written package).
    debs: OnceLock<()>,
    /// Held for the guard's life: the port range belongs to this fleet.
    _claim: File,
}

impl Fleet {
    /// Boot `count` hosts for the test binary `label`, or `None` (after printing why) when
    /// this machine cannot run them and the fleet is not required.
    pub fn up(label: &str, count: usize) -> Option<Fleet> {
        Fleet::up_owned_by(label, count, std::process::id())
    }

    /// Like [`Fleet::up`], but the hosts also go down by themselves once process `owner`
    /// exits (the reaper of the fleet tool).
    pub fn up_owned_by(label: &str, count: usize, owner: u32) -> Option<Fleet> {
        if let Err(reason) = prerequisites() {
            if std::env::var("PATCHGAP_FLEET").as_deref() == Ok("required") {
                panic!("PATCHGAP_FLEET=required but the test fleet cannot run: {reason}");
            }
            eprintln!(
                "SKIP: test fleet unavailable: {reason} (set PATCHGAP_FLEET=required to fail instead)"
            );
            return None;
        }
        let (port_base, claim) = claim_ports(count);
        let dir = std::env::temp_dir().join(format!(
            "patchgap-fleet-{label}-{}-{port_base}",
            std::process::id()
        ));
        let hosts = (1..=count)
            .map(|i| {
                let i = u16::try_from(i).expect("at most 99 hosts");
                Host {
                    name: format!("h{i:02}"),
                    port: port_base + i,
                    http_port: port_base + 100 + i,
                }
            })
            .collect();
        let fleet = Fleet {
            dir,
            port_base,
            hosts,
            debs: OnceLock::new(),
            _claim: claim,
        };
        fleet.tool_ok(&["up", &count.to_string(), "--owner-pid", &owner.to_string()]);
        Some(fleet)
    }

    /// One fleet for every test of a binary, booted by the first test that asks (the
    /// `label` and `count` of that call win: call it from one function per binary). Each
    /// test works on hosts of its own, and leaves any host it shares (a healthy one) as it
    /// found it. A static is never dropped: the hosts go down by the fleet's reaper once the
    /// test process exits. A boot that fails is tried once: every test then fails with the
    /// first one's reason instead of booting again.
    pub fn shared(label: &str, count: usize) -> Option<&'static Fleet> {
        static SHARED: OnceLock<Result<Option<Fleet>, String>> = OnceLock::new();
        let booted = SHARED.get_or_init(|| {
            catch_unwind(AssertUnwindSafe(|| Fleet::up(label, count))).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "no reason given".into())
            })
        });
        match booted {
            Ok(fleet) => fleet.as_ref(),
            Err(why) => panic!("the shared test fleet {label} did not boot: {why}"),
        }
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name} in this fleet"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A host's root filesystem as this machine sees it (its overlay): what the host writes
    /// outside its own tmpfs mounts (`/run`, `/tmp`) shows here at once, so a test can watch
    /// for a marker file without an SSH round trip per look.
    pub fn root_of(&self, host: &str) -> PathBuf {
        self.host(host);
        self.dir.join("hosts").join(host).join("root")
    }

    /// Write an inventory of `hosts` (root logins), each with its extra `name: value`
    /// variables, to `file` in the fleet's directory; returns its path.
    pub fn write_inventory(&self, file: &str, hosts: &[(&str, &[(&str, &str)])]) -> PathBuf {
        let mut text = String::from("all:\n  hosts:\n");
        for (name, vars) in hosts {
            text.push_str(&format!(
                "    {name}:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: root\n",
                self.host(name).port
            ));
            for (var, value) in *vars {
                text.push_str(&format!("      {var}: {value}\n"));
            }
        }
        let path = self.dir.join(file);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Start `patchgap audit` on `inventory` with this fleet's key and known_hosts, the
    /// JSON report going to a file; `extra` are more command-line arguments.
    pub fn start_audit(&self, inventory: &Path, extra: &[&str]) -> Audit {
        let stem = inventory.with_extension("");
        let report = stem.with_extension("report.json");
        let stderr = stem.with_extension("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_patchgap"))
            .args([
                "audit",
                "--quiet",
                "--format",
                "json",
                "--ssh-config",
                "none",
            ])
            .arg("-i")
            .arg(inventory)
            .arg("--known-hosts")
            .arg(self.known_hosts())
            .arg("--private-key")
            .arg(self.key())
            .arg("--output")
            .arg(&report)
            .args(extra)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("create the audit's stderr file"))
            .spawn()
            .expect("start patchgap audit");
        Audit {
            child,
            report,
            stderr,
        }
    }

    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory.yml")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    /// Run the fleet tool for this fleet (its state dir and ports).
    pub fn tool(&self, args: &[&str]) -> Output {
        Command::new(tool_path())
            .args(args)
            .env("PATCHGAP_FLEET_DIR", &self.dir)
            .env("PATCHGAP_FLEET_PORT_BASE", self.port_base.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run tests/fleet/fleet")
    }

    /// Like [`Fleet::tool`], panicking with the tool's output when it fails.
    pub fn tool_ok(&self, args: &[&str]) -> String {
        let out = self.tool(args);
        assert!(
            out.status.success(),
            "fleet {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run a shell command on a host as root over OpenSSH.
    pub fn ssh(&self, host: &str, cmd: &str) -> Output {
        self.ssh_with_input(host, cmd, &[])
    }

    /// Run a shell command on a host with `input` on its stdin.
    pub fn ssh_with_input(&self, host: &str, cmd: &str, input: &[u8]) -> Output {
        let mut child = Command::new(tool_path())
            .args(["ssh", host, cmd])
            .env("PATCHGAP_FLEET_DIR", &self.dir)
            .env("PATCHGAP_FLEET_PORT_BASE", self.port_base.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ssh through tests/fleet/fleet");
        let mut stdin = child.stdin.take().expect("ssh stdin");
        stdin.write_all(input).expect("write to ssh");
        drop(stdin);
        child.wait_with_output().expect("wait for ssh")
    }

    /// Run a shell command on a host and return its stdout; panics when it fails.
    pub fn ssh_ok(&self, host: &str, cmd: &str) -> String {
        let out = self.ssh(host, cmd);
        assert!(
            out.status.success(),
            "on {host}: {cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Copy a local file to `target` on a host, executable.
    pub fn push(&self, host: &str, local: &Path, target: &str) {
        let data = fs::read(local).unwrap_or_else(|e| panic!("read {}: {e}", local.display()));
        let cmd =
            format!("cat > {target}.tmp && chmod 755 {target}.tmp && mv {target}.tmp {target}");
        let out = self.ssh_with_input(host, &cmd, &data);
        assert!(
            out.status.success(),
            "copy {} to {host}:{target}: {}",
            local.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `dpkg -i` test packages, e.g. `["libpgtest1=1.0-1", "pgtestd=1.0-1"]`.
    pub fn install(&self, host: &str, specs: &[&str]) {
        self.build_debs();
        let mut args = vec!["install", host];
        args.extend_from_slice(specs);
        self.tool_ok(&args);
    }

    /// `apt-get install --reinstall` of a real package (test packages: `dpkg -i`).
    pub fn reinstall(&self, host: &str, package: &str) {
        self.build_debs();
        self.tool_ok(&["reinstall", host, package]);
    }

    /// Build the test packages once, before any host installs them (see the `debs` field);
    /// other threads wait until they are complete.
    fn build_debs(&self) {
        self.debs.get_or_init(|| {
            self.tool_ok(&["debs"]);
        });
    }

    /// Change the content of a packaged file in place.
    pub fn tamper(&self, host: &str, path: &str) {
        self.tool_ok(&["tamper", host, path]);
    }

    /// Stop a host abruptly.
    pub fn kill(&self, host: &str) {
        self.tool_ok(&["kill", host]);
    }

    /// Make a host accept TCP connections but never answer.
    pub fn freeze(&self, host: &str) {
        self.tool_ok(&["freeze", host]);
    }

    pub fn thaw(&self, host: &str) {
        self.tool_ok(&["thaw", host]);
    }

    /// Stage a reason for a reboot that the probe reports: `/run/reboot-required` and
    /// `/run/reboot-required.pkgs` (naming `libc6` and `pgtest-reboot`). The next boot of
    /// the host starts without them (`/run` is a fresh tmpfs).
    pub fn reboot_pending(&self, host: &str) {
        self.tool_ok(&["reboot-pending", host]);
    }

    /// Stage a reboot reason of kind `reason`: `flag` (as [`Fleet::reboot_pending`]) or
    /// `package` (a real reinstall of dbus, a boot-time package; the probe judges it against
    /// the machine's boot time, so a host's reboot does not clear it).
    pub fn reboot_pending_with(&self, host: &str, reason: &str) {
        self.tool_ok(&["reboot-pending", host, "--reason", reason]);
    }

    /// Keep a host down after its next exit (a `systemctl reboot` in it): the host that
    /// never comes back. [`Fleet::release`] boots it again.
    pub fn hold(&self, host: &str) {
        self.tool_ok(&["hold", host]);
    }

    /// End a hold: a host held down boots again (same overlay, keys and ports); returns
    /// once it is ready (systemd `running`, sshd answering).
    pub fn release(&self, host: &str) {
        self.tool_ok(&["release", host]);
    }

    /// Wait until the hosts are ready (systemd `running`, sshd answering), through a reboot
    /// in progress; panics when one is down for good or held down, or at the fleet's boot
    /// timeout.
    pub fn wait_ready(&self, hosts: &[&str]) {
        let mut args = vec!["wait-ready"];
        args.extend_from_slice(hosts);
        self.tool_ok(&args);
    }

    /// The host's `/proc/sys/kernel/random/boot_id` (over SSH): it changes on every boot.
    pub fn boot_id(&self, host: &str) -> String {
        self.try_boot_id(host)
            .unwrap_or_else(|| panic!("{host}: cannot read its boot id over SSH"))
    }

    /// [`Fleet::boot_id`], or `None` when the host does not answer (it is rebooting).
    pub fn try_boot_id(&self, host: &str) -> Option<String> {
        let out = self.ssh(host, "cat /proc/sys/kernel/random/boot_id");
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && id.len() == 36).then_some(id)
    }

    /// Whether the host answers over SSH (strict host-key checking) and runs a command.
    pub fn is_up(&self, host: &str) -> bool {
        self.ssh(host, "true").status.success()
    }

    /// The host's state as `fleet status` says it, without SSH: `running`, `frozen`,
    /// `rebooting` (between two boots), `held down` or `down`.
    pub fn state(&self, host: &str) -> String {
        self.host(host);
        let status = self.tool_ok(&["status"]);
        let line = status
            .lines()
            .find(|l| l.split('\t').next() == Some(host))
            .unwrap_or_else(|| panic!("{host} missing from fleet status:\n{status}"));
        let state = line.rsplit('\t').next().unwrap_or_default();
        state.split(" pid ").next().unwrap_or_default().to_string()
    }

    /// Reboot a host (`systemctl reboot` over SSH) and wait until it is back and ready with
    /// a new boot; returns the new boot id. The SSH session may end with the connection
    /// dropped: that is the reboot, not a failure.
    pub fn reboot(&self, host: &str) -> String {
        let before = self.boot_id(host);
        self.ssh(host, "systemctl reboot");
        // `wait-ready` may still find the old boot answering before it stops: look again
        // (bounded by a count, each wait by the fleet's boot timeout).
        for _ in 0..REBOOT_LOOKS {
            self.wait_ready(&[host]);
            match self.try_boot_id(host) {
                Some(after) if after != before => return after,
                _ => std::thread::sleep(Duration::from_millis(500)),
            }
        }
        panic!("{host} still runs boot {before} after asking it to reboot");
    }
}

/// How often [`Fleet::reboot`] looks for the new boot before giving up.
const REBOOT_LOOKS: usize = 120;

/// A `patchgap audit` running in the background (see [`Fleet::start_audit`]).
pub struct Audit {
    child: Child,
    report: PathBuf,
    stderr: PathBuf,
}

/// Safety nets only: a run that goes past these is a hang, reported as such.
const AUDIT_SAFETY_NET: Duration = Duration::from_secs(900);
const POLL: Duration = Duration::from_millis(50);

impl Audit {
    /// Wait until `path` exists; `false` if the audit ended first.
    pub fn wait_for(&mut self, path: &Path) -> bool {
        let mut waited = Duration::ZERO;
        loop {
            if path.exists() {
                return true;
            }
            if self.child.try_wait().expect("poll patchgap").is_some() {
                return path.exists();
            }
            assert!(
                waited < AUDIT_SAFETY_NET,
                "neither {} appeared nor did the audit end: hung",
                path.display()
            );
            std::thread::sleep(POLL);
            waited += POLL;
        }
    }

    /// Wait for the audit to end; its exit status and JSON fleet report.
    pub fn finish(mut self) -> (ExitStatus, serde_json::Value) {
        let mut waited = Duration::ZERO;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll patchgap") {
                break status;
            }
            if waited >= AUDIT_SAFETY_NET {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("patchgap audit did not end: hung");
            }
            std::thread::sleep(POLL);
            waited += POLL;
        };
        let stderr = fs::read_to_string(&self.stderr).unwrap_or_default();
        let report = fs::read(&self.report)
            .unwrap_or_else(|e| panic!("no fleet report ({e}; exit {status}):\n{stderr}"));
        let report = serde_json::from_slice(&report)
            .unwrap_or_else(|e| panic!("fleet report is not JSON ({e}):\n{stderr}"));
        (status, report)
    }
}

impl Drop for Audit {
    /// A test that panics mid-run leaves no audit behind (the child is ours, by its id).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `result` of host `name` in a JSON fleet report.
pub fn host_result(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == name))
        .map(|h| h["result"].clone())
        .unwrap_or_else(|| panic!("{name} missing from the fleet report: {report}"))
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let out = self.tool(&["down"]);
        if !out.status.success() {
            eprintln!(
                "fleet down failed for {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `tests/fleet/fleet` of this package.
pub fn tool_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/fleet")
}

/// Why this machine cannot boot the fleet, if it cannot.
pub fn prerequisites() -> Result<(), String> {
    if !effective_root() {
        return Err(
            "not running as root (the fleet mounts overlays and runs systemd-nspawn)".into(),
        );
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !in_path(t)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing {} (apt-get install debootstrap systemd-container gcc dpkg-dev openssh-client python3)",
            missing.join(", ")
        ));
    }
    Ok(())
}

fn effective_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn in_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|dir| dir.join(program).is_file())
}

/// Pick a port range no other fleet holds: a lock file per range, its ports free, and no
/// fleet directory of this kind left for it. The lock goes with its process, but a shared
/// fleet (never dropped) is taken down by its reaper only after the process has exited: until
/// its directory is gone, its hosts (whose machine names come from the ports) may still be
/// shutting down, and a fleet booted on the same range then loses hosts to that teardown.
pub fn claim_ports(count: usize) -> (u16, File) {
    let claims = std::env::temp_dir().join("patchgap-fleet-ports");
    fs::create_dir_all(&claims).expect("create the port claim directory");
    let start = u16::try_from(std::process::id() % u32::from(PORT_SLOTS)).expect("slot");
    for step in 0..PORT_SLOTS {
        let base = PORT_FLOOR + ((start + step) % PORT_SLOTS) * PORT_STRIDE;
        let file = File::create(claims.join(base.to_string())).expect("create a port claim");
        if file.try_lock().is_err() || fleet_dir_left(base) {
            continue;
        }
        let free = (1..=count).all(|i| {
            let i = u16::try_from(i).expect("at most 99 hosts");
            TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + 100 + i)).is_ok()
        });
        if free {
            return (base, file);
        }
    }
    panic!(
        "no free port range for a test fleet in {PORT_FLOOR}..+{}",
        PORT_SLOTS * PORT_STRIDE
    );
}

/// Whether a guard's fleet directory (`patchgap-fleet-LABEL-PID-BASE`, see [`Fleet::up`])
/// for port range `base` still exists.
fn fleet_dir_left(base: u16) -> bool {
    let suffix = format!("-{base}");
    fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("patchgap-fleet-") && name.ends_with(&suffix)
        })
}
