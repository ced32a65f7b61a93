//! The POSIX sh script that runs on the host in one exec channel: it names the host's
//! architecture, reuses the cached probe when its SHA-256 matches or receives it on stdin,
//! checks the hash, and runs it (through sudo when not root).
//!
//! It talks to the controller in `patchgap:` lines on stdout, before the probe's own output:
//! `have ARCH` / `need ARCH` (then the controller sends the binary, exactly its size, then
//! the sudo password if any, then EOF), `unsupported ARCH`, `error WHY`, and finally
//! `run privileged|user`, after which stdout is the probe's. One channel instead of two
//! saves an sshd session setup per host (205 ms against 302 ms measured).
//!
//! The cache directory is private (0700, never a symlink) and files are created with
//! mktemp, so no predictable name is ever written. The sudo password travels on stdin
//! only. Under sudo, a root shell copies the probe into root's own cache and checks its hash
//! there before running it, so the login user cannot swap the file between the check and
//! its use as root.

use crate::deploy::EmbeddedProbe;

/// How to get root on the host when the login user is not root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escalation {
    /// `sudo -n`: passwordless sudo or nothing.
    SudoNoPassword,
    /// `sudo -S`: the password follows the probe on stdin.
    SudoPassword,
    /// Run as the login user (partial audit).
    None,
}

impl Escalation {
    fn word(self) -> &'static str {
        match self {
            Escalation::SudoNoPassword => "sudo-n",
            Escalation::SudoPassword => "sudo-S",
            Escalation::None => "none",
        }
    }
}

/// The script; it contains no single quote, so it can be passed single-quoted.
const SCRIPT: &str = r#"set -u
mode=$1 become_user=$2 cleanup=$3 probes=$4 dir=$5
shift 5
fail() { echo "patchgap:error $*"; exit 0; }
arch=$(uname -m)
case $arch in amd64) arch=x86_64 ;; arm64) arch=aarch64 ;; esac
want= size=
for spec in $probes; do
  case $spec in "$arch":*) rest=${spec#*:}; want=${rest%%:*}; size=${rest#*:} ;; esac
done
[ -n "$want" ] || { echo "patchgap:unsupported $arch"; exit 0; }
if [ -z "$dir" ]; then
  if [ "$(id -u)" = 0 ]; then dir=/var/cache/patchgap; else dir=${XDG_CACHE_HOME:-$HOME/.cache}/patchgap; fi
fi
[ -L "$dir" ] && fail "$dir is a symbolic link; remove it"
umask 077
mkdir -p "$dir" 2>/dev/null || fail "cannot create $dir"
chmod 0700 "$dir" || fail "cannot make $dir private"
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is missing on the host (install coreutils)"
hash_is() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(sha256sum < "$1" | cut -c1-64)" = "$want" ]; }
probe=$dir/probe-$want
if hash_is "$probe"; then
  echo "patchgap:have $arch"
else
  echo "patchgap:need $arch"
  tmp=$(mktemp "$dir/.upload.XXXXXX") || fail "cannot create a file in $dir"
  head -c "$size" > "$tmp" || { rm -f "$tmp"; fail "cannot write the probe into $dir (no space left?)"; }
  hash_is "$tmp" || { rm -f "$tmp"; fail "the probe written into $dir is incomplete or corrupt (no space left?)"; }
  { chmod 0700 "$tmp" && mv -f "$tmp" "$probe"; } || { rm -f "$tmp"; fail "cannot install the probe in $dir"; }
fi
[ -x "$probe" ] || fail "the probe in $dir cannot be executed (is it on a noexec mount?); choose a cache directory that allows execution"
privileged="want=\$1 src=\$2 cleanup=\$3; shift 3; p=\$src
if [ \"\$(id -u)\" = 0 ]; then
  d=/var/cache/patchgap; umask 077
  { [ ! -L \"\$d\" ] && mkdir -p \"\$d\" && chmod 0700 \"\$d\"; } || { echo \"patchgap:error cannot prepare \$d\"; exit 0; }
  p=\$d/probe-\$want
  if [ \"\$(sha256sum 2>/dev/null < \"\$p\" | cut -c1-64)\" != \"\$want\" ]; then
    t=\$(mktemp \"\$d/.copy.XXXXXX\") || { echo \"patchgap:error cannot create a file in \$d\"; exit 0; }
    { cat \"\$src\" > \"\$t\" && [ \"\$(sha256sum < \"\$t\" | cut -c1-64)\" = \"\$want\" ] && chmod 0700 \"\$t\" && mv -f \"\$t\" \"\$p\"; } || { rm -f \"\$t\"; echo \"patchgap:error cannot copy the probe into \$d (no space left?)\"; exit 0; }
  fi
fi
echo patchgap:run privileged; \"\$p\" \"\$@\"; s=\$?
[ \"\$cleanup\" = 1 ] && [ \"\$p\" != \"\$src\" ] && rm -f \"\$p\"
exit \$s"
if [ "$(id -u)" = 0 ]; then
  echo "patchgap:run privileged"; "$probe" "$@"
elif [ "$mode" = sudo-n ]; then
  sudo -n -u "$become_user" /bin/sh -c "$privileged" patchgap "$want" "$probe" "$cleanup" "$@"
elif [ "$mode" = sudo-S ]; then
  sudo -S -p "" -u "$become_user" /bin/sh -c "$privileged" patchgap "$want" "$probe" "$cleanup" "$@"
else
  echo "patchgap:run user"; "$probe" "$@"
fi
status=$?
[ "$cleanup" = 1 ] && rm -f "$probe"
exit $status
"#;

/// The exec command for one host: the script and its arguments, every one single-quoted.
/// `cache_dir` overrides the default cache directory.
pub fn deploy_command(
    probes: &[EmbeddedProbe],
    escalation: Escalation,
    become_user: &str,
    cleanup: bool,
    cache_dir: Option<&str>,
    probe_args: &[String],
) -> String {
    let specs: Vec<String> = probes
        .iter()
        .map(|probe| format!("{}:{}:{}", probe.arch, probe.sha256, probe.bytes.len()))
        .collect();
    let mut command = format!("/bin/sh -c {} patchgap", shell_quote(SCRIPT));
    for word in [
        escalation.word(),
        become_user,
        if cleanup { "1" } else { "0" },
        &specs.join(" "),
        cache_dir.unwrap_or(""),
    ]
    .into_iter()
    .chain(probe_args.iter().map(String::as_str))
    {
        command.push(' ');
        command.push_str(&shell_quote(word));
    }
    command
}

/// `'word'`, with embedded single quotes closed, escaped and reopened.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn the_script_can_be_single_quoted() {
        assert!(!SCRIPT.contains('\''));
    }

    #[test]
    fn arguments_are_quoted_and_probes_listed_with_hash_and_size() {
        let command = deploy_command(
            PROBES,
            Escalation::SudoNoPassword,
            "root",
            true,
            None,
            &["--ignore".to_string(), "it's;$(rm -rf /)".to_string()],
        );
        assert!(command.starts_with("/bin/sh -c 'set -u\n"));
        assert!(command.ends_with(
            " patchgap 'sudo-n' 'root' '1' 'x86_64:aa:3 aarch64:bb:4' '' '--ignore' 'it'\\''s;$(rm -rf /)'"
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

    #[test]
    fn a_host_of_another_architecture_is_told_apart() {
        let probes = [EmbeddedProbe {
            arch: "no-such-arch",
            sha256: "aa",
            bytes: b"x",
        }];
        let command = deploy_command(&probes, Escalation::None, "root", false, None, &[]);
        let output = std::process::Command::new("/bin/sh")
            .args(["-c", &command])
            .output()
            .expect("sh");
        let stdout = String::from_utf8(output.stdout).expect("utf8");
        assert!(stdout.starts_with("patchgap:unsupported "), "{stdout}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
    }

    /// Runs the script with a local sh when one exists: the cache logic must create a
    /// private directory and receive the probe exactly once.
    #[test]
    fn the_script_caches_the_probe_by_hash() {
        use sha2::{Digest, Sha256};
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let body: &'static [u8] = b"#!/bin/sh\necho probe-ran \"$@\"\n";
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
        let probes = [EmbeddedProbe {
            arch,
            sha256: sha,
            bytes: body,
        }];
        let home = tempfile::tempdir().expect("tempdir");
        let cache = home.path().join("cache").display().to_string();
        let run = || {
            let command = deploy_command(
                &probes,
                Escalation::None,
                "root",
                false,
                Some(&cache),
                &["-x".into()],
            );
            let mut child = Command::new("/bin/sh")
                .args(["-c", &command])
                .env("HOME", home.path())
                .env_remove("XDG_CACHE_HOME")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("sh");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(body)
                .expect("write");
            String::from_utf8(child.wait_with_output().expect("wait").stdout).expect("utf8")
        };
        let first = run();
        let second = run();
        let user_or_root = if first.contains("privileged") {
            "privileged"
        } else {
            "user"
        };
        assert_eq!(
            first,
            format!("patchgap:need {arch}\npatchgap:run {user_or_root}\nprobe-ran -x\n")
        );
        let mode = std::fs::metadata(&cache).expect("cache dir").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700
        );
        assert_eq!(
            second,
            format!("patchgap:have {arch}\npatchgap:run {user_or_root}\nprobe-ran -x\n")
        );
    }
}
