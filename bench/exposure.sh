#!/usr/bin/env bash
# The probe's extra cost for exposure (issue 15): two probe binaries, before and after, timed
# in alternation on the stale.sh load (N daemons mapping a replaced copy of libc under
# /usr/local), once against this machine's dpkg database (the load is owned by no package:
# the socket lookup of every stale process is the extra work) and once against a small fake
# root (--root) in which libc6 owns the load, was upgraded from 2.36-8 per its dpkg.log, and
# ships this machine's real glibc changelog (the changelog read is extra work too).
#
# Usage: bench/exposure.sh BEFORE_PROBE AFTER_PROBE [N] [RUNS]
#   Build each probe with `cargo build -p patchgap-probe --profile probe --target
#   x86_64-unknown-linux-musl` from the two commits. Needs root, python3 and jq.
set -euo pipefail

BEFORE=${1:?before probe}
AFTER=${2:?after probe}
N=${3:-100}
RUNS=${4:-40}
LOAD_DIR=/usr/local/lib/patchgap-bench-exposure
WORK=$(mktemp -d)
PIDFILE="$WORK/pids"
: >"$PIDFILE"
cleanup() {
    xargs -r kill <"$PIDFILE" 2>/dev/null || true
    rm -rf "$LOAD_DIR" "$WORK"
}
trap cleanup EXIT

# The fake root: libc6 owns the load's libc, upgraded from 2.36-8 to the version installed.
ROOT="$WORK/root"
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/log" "$ROOT/usr/share/doc/libc6"
VERSION=$(dpkg-query -W -f='${Version}' libc6)
printf 'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nSource: glibc\nVersion: %s\n\n' \
    "$VERSION" >"$ROOT/var/lib/dpkg/status"
echo "$LOAD_DIR/lib/libc.so.6" >"$ROOT/var/lib/dpkg/info/libc6:amd64.list"
printf '2024-01-01 00:00:00 upgrade libc6:amd64 2.36-8 %s\n' "$VERSION" >"$ROOT/var/log/dpkg.log"
cp /usr/share/doc/libc6/changelog.Debian.gz "$ROOT/usr/share/doc/libc6/"

# Alternating runs, so that the machine's load changes hit both probes alike.
timing() { # label, extra probe arguments
    python3 - "$RUNS" "$1" "$BEFORE $2" "$AFTER $2" <<'EOF'
import resource, statistics, subprocess, sys, time
runs, label, cmds = int(sys.argv[1]), sys.argv[2], [c.split() for c in sys.argv[3:]]
wall, cpu = [[], []], [[], []]
for r in range(runs + 2):
    for i, c in enumerate(cmds):
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(c, stdout=subprocess.DEVNULL, check=True)
        w = time.perf_counter() - t
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r >= 2:
            wall[i].append(w * 1000)
            cpu[i].append((a.ru_utime - b.ru_utime + a.ru_stime - b.ru_stime) * 1000)
m = [(statistics.median(wall[i]), statistics.median(cpu[i])) for i in range(2)]
print("| %s | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f |"
      % (label, m[0][0], m[0][1], m[1][0], m[1][1], m[1][0] / m[0][0], m[1][1] / m[0][1]))
EOF
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| scenario | before wall / CPU (ms) | after wall / CPU (ms) | after / before |"
echo "|---|---|---|---|"
timing "idle, this host" ""
timing "idle, fake root" "--root $ROOT"
mkdir -p "$LOAD_DIR/lib"
cp /lib/x86_64-linux-gnu/libc.so.6 "$LOAD_DIR/lib/libc.so.6"
for ((i = 0; i < N; i++)); do
    setsid -f bash -c 'echo $$ >>"$1"; exec env LD_LIBRARY_PATH="$2" /usr/bin/sleep 86400' \
        _ "$PIDFILE" "$LOAD_DIR/lib" </dev/null >/dev/null 2>&1
done
sleep 2
cp "$LOAD_DIR/lib/libc.so.6" "$LOAD_DIR/lib/libc.so.6.dpkg-new"
mv -f "$LOAD_DIR/lib/libc.so.6.dpkg-new" "$LOAD_DIR/lib/libc.so.6"
timing "$N stale, this host" ""
timing "$N stale, fake root" "--root $ROOT"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$AFTER" --root "$ROOT" | jq -c '{stale: (.processes | length),
    packages: [.exposure.packages[] | {name, security, entries, cves: (.cves | length)}]}'
