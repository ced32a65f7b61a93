//! The POSIX sh script that runs on the host in one exec channel: it names the host's
//! architecture, reuses the cached probe when its SHA-256 matches or receives it on stdin,
//! checks the hash, and runs it (through sudo when not root).
//!
//! The exec command itself is a fixed one-line bootstrap ([`BOOTSTRAP`]) made only of
//! characters that mean the same to every login shell sshd may start (sh, bash, zsh, fish,
//! csh, tcsh): it reads a length line and then the script with its arguments from stdin and
//! hands them to `/bin/sh`. No argument ever passes through the login shell's quoting.
//!
//! It talks to the controller in `patchgap:` lines on stdout, before the probe's own output:
//! `have ARCH [password]` / `need ARCH [password]` (then the controller sends the binary,
//! exactly its size, for `need`; the sudo password, only when the line says sudo will read
//! it; then EOF), `unsupported ARCH`, `error WHY`, and finally `run privileged|user`, after
//! which stdout is the probe's. One channel instead of two saves an sshd session setup per
//! host (205 ms against 302 ms measured).
//!
//! The cache directory is private (0700, never a symlink) and files are created with
//! mktemp, so no predictable name is ever written. A root shell only uses a cache directory
//! that root owns all the way up to `/`, with no component others can write to (a sticky
//! ancestor such as `/tmp` is fine, since only root can then rename root's entries in it):
//! otherwise a local user who owns the directory could swap the probe between its hash check
//! and its execution. Under sudo, a root shell copies the probe into root's own cache and
//! checks its hash there before running it, for the same reason.

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

/// The exec command: reads `LENGTH\n` and then LENGTH bytes of script from stdin, and runs
/// them with `/bin/sh`. Only letters, digits, spaces and `'"$()&=;-/` are used, with no
/// backslash, `!` or newline, so sh, bash, zsh, fish, csh and tcsh all pass the single-quoted
/// part to `/bin/sh` unchanged. `head -c` reads exactly LENGTH bytes, leaving the probe
/// upload that follows on stdin.
pub const BOOTSTRAP: &str = r#"exec /bin/sh -c 'IFS= read -r n && s=$(head -c "$n") && eval "$s"'"#;

/// The script proper; its arguments are set by the `set --` line [`deploy_command`] puts
/// before it.
const SCRIPT: &str = r#"set -u
mode=$1 become_user=$2 cleanup=$3 probes=$4 dir=$5
shift 5
fail() { echo "patchgap:error $*"; exit 0; }
root_only=$(cat <<'END_ROOT_ONLY'
root_only() {
  d=$1 top=1
  while :; do
    [ -L "$d" ] && { echo "$d is a symbolic link"; return 1; }
    set -- $(stat -c '%u %a' "$d" 2>/dev/null)
    [ $# = 2 ] || { echo "cannot inspect $d"; return 1; }
    [ "$1" = 0 ] || { echo "$d belongs to uid $1, not root"; return 1; }
    m=$((0$2))
    if [ $((m & 18)) != 0 ] && { [ -n "$top" ] || [ $((m & 512)) = 0 ]; }; then
      echo "$d can be written by other users"; return 1
    fi
    top=
    [ "$d" = / ] && return 0
    d=$(dirname "$d")
  done
}
END_ROOT_ONLY
)
eval "$root_only"
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
if [ "$(id -u)" = 0 ]; then
  real=$(cd "$dir" && pwd -P) || fail "cannot enter $dir"
  why=$(root_only "$real") || fail "$dir is not safe for root: $why; choose a cache directory (patchgap_cache_dir) that only root can write to, or leave it unset"
  dir=$real
fi
chmod 0700 "$dir" || fail "cannot make $dir private"
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is missing on the host (install coreutils)"
hash_is() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(sha256sum < "$1" | cut -c1-64)" = "$want" ]; }
password=
[ "$(id -u)" != 0 ] && [ "$mode" = sudo-S ] && password=" password"
probe=$dir/probe-$want
if hash_is "$probe"; then
  echo "patchgap:have $arch$password"
else
  echo "patchgap:need $arch$password"
  tmp=$(mktemp "$dir/.upload.XXXXXX") || fail "cannot create a file in $dir"
  head -c "$size" > "$tmp" || { rm -f "$tmp"; fail "cannot write the probe into $dir (no space left?)"; }
  hash_is "$tmp" || { rm -f "$tmp"; fail "the probe written into $dir is incomplete or corrupt (no space left?)"; }
  { chmod 0700 "$tmp" && mv -f "$tmp" "$probe"; } || { rm -f "$tmp"; fail "cannot install the probe in $dir"; }
fi
[ -x "$probe" ] || fail "the probe in $dir cannot be executed (is it on a noexec mount?); choose a cache directory that allows execution"
privileged="$root_only
want=\$1 src=\$2 cleanup=\$3; shift 3; p=\$src
if [ \"\$(id -u)\" = 0 ]; then
  d=/var/cache/patchgap; umask 077
  { [ ! -L \"\$d\" ] && mkdir -p \"\$d\" && chmod 0700 \"\$d\"; } || { echo \"patchgap:error cannot prepare \$d\"; exit 0; }
  why=\$(root_only \"\$d\") || { echo \"patchgap:error \$d is not safe for root: \$why\"; exit 0; }
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

/// What the controller sends to start the deploy script on one host: the exec command and
/// the first bytes of stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployCommand {
    /// [`BOOTSTRAP`], the same for every host.
    pub command: &'static str,
    /// `LENGTH\n`, then the `set --` line with the script's arguments and the script.
    pub stdin: Vec<u8>,
}

/// The deploy script for one host. `cache_dir` overrides the default cache directory.
pub fn deploy_command(
    probes: &[EmbeddedProbe],
    escalation: Escalation,
    become_user: &str,
    cleanup: bool,
    cache_dir: Option<&str>,
    probe_args: &[String],
) -> DeployCommand {
    let specs: Vec<String> = probes
        .iter()
        .map(|probe| format!("{}:{}:{}", probe.arch, probe.sha256, probe.bytes.len()))
        .collect();
    let mut script = String::from("set --");
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
        script.push(' ');
        script.push_str(&shell_quote(word));
    }
    script.push('\n');
    script.push_str(SCRIPT);
    let mut stdin = format!("{}\n", script.len()).into_bytes();
    stdin.extend_from_slice(script.as_bytes());
    DeployCommand {
        command: BOOTSTRAP,
        stdin,
    }
}

/// `'word'` for POSIX sh, with embedded single quotes closed, escaped and reopened.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
