//! Fleet runs that must stop, or adapt, before touching a host: bad arguments exit 2 with
//! no connection made, and a low open-files limit shrinks `--forks` instead of failing
//! hosts with "Too many open files".

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// A TCP port that accepts connections and never says a word (no SSH banner), holding
/// every connection until the test ends.
struct SilentPort {
    listener: TcpListener,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl SilentPort {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self {
            listener,
            held: Arc::default(),
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().expect("addr").port()
    }

    /// Accepts and holds connections on a thread, for the rest of the test.
    fn serve(self) -> u16 {
        let port = self.port();
        let held = self.held.clone();
        std::thread::spawn(move || {
            for stream in self.listener.incoming().flatten() {
                held.lock().unwrap_or_else(|e| e.into_inner()).push(stream);
            }
        });
        port
    }

    /// Whether anyone connected so far.
    fn was_contacted(&self) -> bool {
        self.listener.set_nonblocking(true).expect("nonblocking");
        !matches!(self.listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock)
    }
}

fn inventory(dir: &Path, port: u16, hosts: usize) -> String {
    let mut yaml = String::from("all:\n  hosts:\n");
    for i in 0..hosts {
        yaml.push_str(&format!(
            "    h{i:03}: {{ansible_host: 127.0.0.1, ansible_port: {port}, ansible_user: root}}\n"
        ));
    }
    let path = dir.join("inventory.yaml");
    std::fs::write(&path, yaml).expect("inventory");
    std::fs::write(dir.join("known_hosts"), "").expect("known_hosts");
    path.display().to_string()
}

/// `patchgap audit -i INVENTORY ARGS...` through `sh -c 'PRELUDE; exec patchgap ...'`.
fn audit(dir: &Path, inventory: &str, prelude: &str, args: &[&str]) -> Output {
    let known_hosts = dir.join("known_hosts").display().to_string();
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(format!("{prelude}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_patchgap"))
        .args(["audit", "-i", inventory, "--quiet", "--ssh-config", "none"])
        .args(["--known-hosts", &known_hosts, "--format", "json"])
        .args(args)
        .env("HOME", dir)
        .env_remove("SSH_AUTH_SOCK");
    command.output().expect("run patchgap")
}

#[test]
fn a_bad_ignore_regex_exits_2_before_any_host_is_contacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = SilentPort::new();
    let inventory = inventory(dir.path(), port.port(), 3);
    let out = audit(dir.path(), &inventory, ":", &["--ignore", "(unclosed"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--ignore"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!port.was_contacted(), "a host was contacted");
}

#[test]
fn a_limit_that_matches_nothing_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = SilentPort::new();
    let inventory = inventory(dir.path(), port.port(), 3);
    let out = audit(dir.path(), &inventory, ":", &["--limit", "nosuchhost"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nosuchhost"), "{stderr}");
    assert!(!port.was_contacted(), "a host was contacted");
}

#[test]
fn a_bad_min_risk_level_exits_2_and_names_the_levels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = SilentPort::new();
    let inventory = inventory(dir.path(), port.port(), 1);
    let out = audit(dir.path(), &inventory, ":", &["--min-risk", "severe"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("critical"), "{stderr}");
    assert!(!port.was_contacted(), "a host was contacted");
}

/// With a hard limit of 40 descriptors, 50 forks would run out of them: the run audits
/// fewer hosts at once, says so, and every host ends in its own state (a handshake
/// timeout here), none in "Too many open files".
#[test]
fn a_low_open_files_limit_lowers_forks_instead_of_failing_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = SilentPort::new().serve();
    let inventory = inventory(dir.path(), port, 12);
    let out = audit(
        dir.path(),
        &inventory,
        "ulimit -n 40",
        &["--forks", "50", "--connect-timeout", "1"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("instead of --forks 50"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("fleet report JSON");
    let hosts = report["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 12);
    for host in hosts {
        assert_eq!(host["result"]["state"], "failed", "{host}");
        assert_eq!(host["result"]["failure"], "timeout", "{host}");
    }
    assert!(!stdout.contains("Too many open files"), "{stdout}");
}
