//! The deploy script run by real local shells: `/bin/sh` for the logic, and every login
//! shell sshd may start for the bootstrap.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::*;

const PROBES: &[EmbeddedProbe] = &[
    EmbeddedProbe {
        arch: "x86_64",
        sha256: "aa",
        bytes: b"abc",
    },
    EmbeddedProbe {
        arch: "aarch64",
        sha256: "bb",
        bytes: b"abcd",
    },
];

/// Login shells the bootstrap must survive. In CI (`PATCHGAP_FLEET=required`) each must be
/// installed; elsewhere missing ones are passed over.
const LOGIN_SHELLS: &[&str] = &[
    "sh", "dash", "bash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh",
];

#[test]
fn the_bootstrap_has_no_character_a_login_shell_would_reinterpret() {
    assert!(BOOTSTRAP.is_ascii());
    for bad in ['\\', '!', '\n', '`', '{', '}', '*', '?', '[', '~', '#'] {
        assert!(!BOOTSTRAP.contains(bad), "{bad:?} in the bootstrap");
    }
}

#[test]
fn arguments_travel_on_stdin_quoted_for_sh() {
    let deploy = deploy_command(
        PROBES,
        Escalation::SudoNoPassword,
        "root",
        true,
        None,
        &["--ignore".to_string(), "it's;$(rm -rf /)".to_string()],
    );
    assert_eq!(deploy.command, BOOTSTRAP);
    let stdin = String::from_utf8(deploy.stdin).expect("utf8");
    let (length, script) = stdin.split_once('\n').expect("length line");
    assert_eq!(length.parse::<usize>().expect("length"), script.len());
    assert!(script.starts_with(
        "set -- 'sudo-n' 'root' '1' 'x86_64:aa:3 aarch64:bb:4' '' '--ignore' 'it'\\''s;$(rm -rf /)'\nset -u\n"
    ));
}

#[test]
fn escalation_words_match_the_script() {
    for escalation in [
        Escalation::SudoNoPassword,
        Escalation::SudoPassword,
        Escalation::None,
    ] {
        assert!(SCRIPT.contains(escalation.word()) || escalation == Escalation::None);
    }
}

/// Runs the deploy script as sshd would: `SHELL -c BOOTSTRAP`, with its stdin.
fn run_as_sshd(shell: &str, deploy: &DeployCommand, after: &[u8], home: &Path) -> String {
    let mut child = Command::new(shell)
        .args(["-c", deploy.command])
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shell");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&deploy.stdin).expect("write script");
    // The probe may not be wanted (cached): a closed pipe is fine then.
    let _ = stdin.write_all(after);
    drop(stdin);
    let output = child.wait_with_output().expect("wait");
    String::from_utf8(output.stdout).expect("utf8")
}

#[test]
fn a_host_of_another_architecture_is_told_apart() {
    let probes = [EmbeddedProbe {
        arch: "no-such-arch",
        sha256: "aa",
        bytes: b"x",
    }];
    let deploy = deploy_command(&probes, Escalation::None, "root", false, None, &[]);
    let home = tempfile::tempdir().expect("tempdir");
    let stdout = run_as_sshd("/bin/sh", &deploy, b"", home.path());
    assert!(stdout.starts_with("patchgap:unsupported "), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

/// A probe that prints its arguments, one per line, for this machine's architecture.
fn echo_probe() -> [EmbeddedProbe; 1] {
    let body: &'static [u8] = b"#!/bin/sh\nfor a in \"$@\"; do echo \"arg:$a\"; done\n";
    let sha: &'static str = Box::leak(hex::encode(Sha256::digest(body)).into_boxed_str());
    let arch = String::from_utf8(
        Command::new("uname")
            .arg("-m")
            .output()
            .expect("uname")
            .stdout,
    )
    .expect("utf8");
    let arch: &'static str = Box::leak(arch.trim().to_string().into_boxed_str());
    [EmbeddedProbe {
        arch,
        sha256: sha,
        bytes: body,
    }]
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout == b"0\n")
}

/// The cache logic must create a private directory and receive the probe exactly once.
#[test]
fn the_script_caches_the_probe_by_hash() {
    let probes = echo_probe();
    let home = tempfile::tempdir().expect("tempdir");
    let cache = home.path().join("cache").display().to_string();
    let deploy = deploy_command(
        &probes,
        Escalation::None,
        "root",
        false,
        Some(&cache),
        &["-x".into()],
    );
    let first = run_as_sshd("/bin/sh", &deploy, probes[0].bytes, home.path());
    let second = run_as_sshd("/bin/sh", &deploy, b"", home.path());
    let arch = probes[0].arch;
    let who = if is_root() { "privileged" } else { "user" };
    assert_eq!(
        first,
        format!("patchgap:need {arch}\npatchgap:run {who}\narg:-x\n")
    );
    let mode = std::fs::metadata(&cache).expect("cache dir").permissions();
    assert_eq!(mode.mode() & 0o777, 0o700);
    assert_eq!(
        second,
        format!("patchgap:have {arch}\npatchgap:run {who}\narg:-x\n")
    );
}

/// Arguments that every shell would reinterpret reach the probe unchanged, whatever the
/// login shell: they never pass through it.
#[test]
fn any_login_shell_runs_the_script_with_arguments_intact() {
    let probes = echo_probe();
    let hostile = [
        "it's",
        "a\"b",
        "$HOME",
        "!!",
        "`id`",
        "$(id)",
        "two\nlines",
        "back\\slash",
        "*",
        "~",
        "{a,b}",
        "",
    ];
    let args: Vec<String> = hostile.iter().map(|s| s.to_string()).collect();
    let expected: String = hostile.iter().map(|a| format!("arg:{a}\n")).collect();
    let required = std::env::var("PATCHGAP_FLEET").as_deref() == Ok("required");
    let mut ran = 0;
    for shell in LOGIN_SHELLS {
        let Some(path) = which(shell) else {
            assert!(
                !required,
                "login shell {shell} is not installed (PATCHGAP_FLEET=required: .ci/run installs it)"
            );
            continue;
        };
        let home = tempfile::tempdir().expect("tempdir");
        let cache = home.path().join("cache").display().to_string();
        let deploy = deploy_command(
            &probes,
            Escalation::None,
            "root",
            false,
            Some(&cache),
            &args,
        );
        let stdout = run_as_sshd(&path, &deploy, probes[0].bytes, home.path());
        let (_, probe_output) = stdout
            .split_once("\npatchgap:run ")
            .and_then(|(_, rest)| rest.split_once('\n'))
            .unwrap_or_else(|| panic!("{shell}: the probe did not run: {stdout:?}"));
        assert_eq!(probe_output, expected, "login shell {shell}");
        ran += 1;
    }
    assert!(ran > 0);
}

fn which(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .map(|found| found.display().to_string())
}

/// As root, a cache directory that another user owns, or that others can write to, is
/// refused before anything is written or run from it.
#[test]
fn root_refuses_a_cache_directory_others_control() {
    if !is_root() {
        return; // the check is the root shell's; CI runs as root
    }
    let probes = echo_probe();
    let base = tempfile::tempdir().expect("tempdir");
    let owned = base.path().join("owned-by-nobody");
    std::fs::create_dir(&owned).expect("mkdir");
    std::os::unix::fs::chown(&owned, Some(65534), Some(65534)).expect("chown");
    let open = base.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let sticky = base.path().join("sticky");
    std::fs::create_dir(&sticky).expect("mkdir");
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    for (dir, why) in [
        (owned.clone(), "belongs to uid 65534"),
        (owned.join("sub"), "belongs to uid 65534"),
        (open.join("cache"), "can be written by other users"),
    ] {
        let dir = dir.display().to_string();
        let deploy = deploy_command(&probes, Escalation::None, "root", false, Some(&dir), &[]);
        let stdout = run_as_sshd("/bin/sh", &deploy, probes[0].bytes, base.path());
        assert!(
            stdout.starts_with("patchgap:error ") && stdout.contains("not safe for root"),
            "{dir}: {stdout}"
        );
        assert!(stdout.contains(why), "{dir}: {stdout}");
        assert!(!stdout.contains("patchgap:run"), "{dir}: {stdout}");
    }
    // Root's own directory under a sticky one (like /tmp) is fine.
    let dir = sticky.join("cache").display().to_string();
    let deploy = deploy_command(&probes, Escalation::None, "root", false, Some(&dir), &[]);
    let stdout = run_as_sshd("/bin/sh", &deploy, probes[0].bytes, base.path());
    assert!(stdout.contains("patchgap:run privileged\n"), "{stdout}");
}
