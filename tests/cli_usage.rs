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

/// Every command as typed after `patchgap` (`[]` is `patchgap` itself), from the clap
/// definitions: a subcommand added later is covered without touching these tests.
fn command_paths() -> Vec<Vec<String>> {
    use clap::CommandFactory as _;
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let mut next = path.clone();
            next.push(sub.get_name().to_string());
            walk(sub, next, out);
        }
    }
    let mut paths = Vec::new();
    walk(&patchgap::cli::Cli::command(), Vec::new(), &mut paths);
    assert!(paths.len() > 5, "the walk found the subcommands: {paths:?}");
    paths
}

fn patchgap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(args)
        .output()
        .expect("run patchgap")
}

#[test]
fn every_help_ends_with_examples() {
    for path in command_paths() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = patchgap(&args);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {help}");
        let (_, examples) = help.split_once("\nExamples:\n").unwrap_or_else(|| {
            panic!(
                "`patchgap {}` has no Examples section:\n{help}",
                path.join(" ")
            )
        });
        let lines: Vec<&str> = examples.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            lines.iter().all(|l| l.starts_with("  ")),
            "the examples end the help of {path:?}: {examples}"
        );
        assert!(
            lines.iter().any(|l| l.trim_start().starts_with("patchgap")
                || l.trim_start().starts_with("sudo patchgap")),
            "an example runs patchgap for {path:?}: {examples}"
        );
    }
}

#[test]
fn every_command_has_a_manual_page_that_man_renders_without_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = patchgap(&["man", "--dir", &dir.path().display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = command_paths()
        .iter()
        .map(|path| {
            let mut name = vec!["patchgap".to_string()];
            name.extend(path.iter().cloned());
            format!("{}.1", name.join("-"))
        })
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    for page in &written {
        let file = dir.path().join(page);
        // man-db's `man -l` through groff with every warning on (-ww): a warning means a
        // page that renders wrong.
        let rendered = Command::new("man")
            .arg("--warnings")
            .arg("-l")
            .arg(&file)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run man (apt-get install man-db groff-base)");
        let stderr = String::from_utf8_lossy(&rendered.stderr);
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(rendered.status.success(), "{page}: {stderr}");
        assert!(stderr.trim().is_empty(), "{page}: man warns:\n{stderr}");
        for section in ["NAME", "SYNOPSIS", "EXAMPLES"] {
            assert!(text.contains(section), "{page} has no {section}:\n{text}");
        }
    }
    let one = patchgap(&["man", "audit"]);
    assert_eq!(
        one.stdout,
        std::fs::read(dir.path().join("patchgap-audit.1")).expect("page"),
        "`patchgap man audit` prints the same page"
    );
    let unknown = patchgap(&["man", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(2));
}

/// Runs `shell args...` and panics with its output unless it succeeds.
fn shell_accepts(shell: &str, args: &[&str]) -> String {
    let out = Command::new(shell)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {shell} (installed by .ci/run): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{shell} {args:?} failed ({}): {stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_zsh_and_fish_accept_the_completion_scripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |shell: &str, name: &str| {
        let out = patchgap(&["completions", shell]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.path().join(name);
        std::fs::write(&path, &out.stdout).expect("write the script");
        path.display().to_string()
    };
    let bash = write("bash", "patchgap");
    shell_accepts("bash", &["-n", &bash]);
    let registered = shell_accepts(
        "bash",
        &["-c", &format!("source {bash} && complete -p patchgap")],
    );
    assert!(registered.contains("patchgap"), "{registered}");

    let zsh = write("zsh", "_patchgap");
    shell_accepts("zsh", &["-n", &zsh]);
    let dir_arg = dir.path().display().to_string();
    let loaded = shell_accepts(
        "zsh",
        &[
            "-f",
            "-c",
            &format!(
                "fpath=({dir_arg} $fpath); autoload -Uz compinit && compinit -u -d {dir_arg}/zcompdump \
                 && autoload -Uz +X _patchgap && whence -w _patchgap"
            ),
        ],
    );
    assert!(loaded.contains("_patchgap: function"), "{loaded}");

    let fish = write("fish", "patchgap.fish");
    shell_accepts("fish", &["--no-execute", &fish]);
    let subcommands = shell_accepts(
        "fish",
        &["-c", &format!("source {fish}; complete -C 'patchgap '")],
    );
    for path in command_paths().iter().filter(|p| p.len() == 1) {
        assert!(
            subcommands.contains(&path[0]),
            "{} in {subcommands}",
            path[0]
        );
    }
}
