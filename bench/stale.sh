#!/usr/bin/env bash
# Stale-process scan benchmark: patchgap-probe vs `needrestart -b` vs `checkrestart`.
#
# One run builds the static probe, times the three tools on this machine without and then
# with a load of N stale processes, checks that every tool actually detects that load, and
# measures the probe's peak RSS. The results go to stdout as a Markdown section; raw files
# (hyperfine JSON, tool outputs) go to bench/results/stale-<UTC time>/ (gitignored).
#
# The stale load: N daemons (parent PID 1) that run the packaged /usr/bin/sleep against a
# private copy of libc in /usr/local/lib/patchgap-bench/lib; that copy is then replaced the
# way dpkg upgrades a file (write a new file, rename it over the old name), so every daemon
# maps a deleted library. /usr/local is owned by no package and is in no tool's ignore list
# (all of them ignore /tmp). No packaged file and no dpkg state is touched.
#
# Safety: needrestart runs in list-only mode (`-r l` and NEEDRESTART_MODE=l; in batch mode
# it never restarts anyway), and systemctl/service/invoke-rc.d are shadowed on PATH by shims
# that refuse and log any verb that would change a service; the run fails if one was called.
#
# Usage: bench/stale.sh [-n N] [-r RUNS] [--nr-runs R] [--no-build] [--max-load L] [--wait S]
#   -n N          stale processes to spawn (default 100)
#   -r RUNS       timed runs of checkrestart per scenario (default 10); the probe gets 5x as
#                 many (it is fast)
#   --nr-runs R   timed runs of each needrestart command per scenario (default 5: with 100
#                 stale daemons one run takes 10-35 s, it forks its dpkg hook per daemon)
#   --no-build    use the probe binary already built
#   --max-load L  before timing, wait until the 1-minute load average is at most L
#   --wait S      give up waiting for --max-load after S seconds and time anyway (default 600)
# Needs root (needrestart and checkrestart read every process), cargo with the musl target,
# needrestart, debian-goodies (checkrestart), lsof, hyperfine, jq and GNU time.
set -euo pipefail

N=100
RUNS=10
NR_RUNS=5
BUILD=1
MAX_LOAD=""
WAIT_SECS=600
while (($#)); do
    case "$1" in
    -n) N="$2"; shift 2 ;;
    -r) RUNS="$2"; shift 2 ;;
    --nr-runs) NR_RUNS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --max-load) MAX_LOAD="$2"; shift 2 ;;
    --wait) WAIT_SECS="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "stale.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=x86_64-unknown-linux-musl
PROBE="$REPO/target/$TARGET/probe/patchgap-probe"
LOAD_DIR=/usr/local/lib/patchgap-bench
OUT="$REPO/bench/results/stale-$(date -u +%Y%m%dT%H%M%SZ)"
SHIMS="$OUT/shims"

log() { echo "stale.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root: needrestart and checkrestart must read every process"
for tool in cargo needrestart checkrestart lsof hyperfine jq /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool not found; install it (apt-get install needrestart debian-goodies lsof hyperfine jq time)"
done
[[ -e $LOAD_DIR ]] && die "$LOAD_DIR exists: a previous run was interrupted; check no process maps it, then remove it"
mkdir -p "$OUT" "$SHIMS"

# --- clean-up: kill every spawned process (only those still mapping our directory) -------
PIDFILE="$OUT/load.pids"
: >"$PIDFILE"
cleanup() {
    local status=$? pid
    set +e
    while read -r pid; do
        grep -qs "$LOAD_DIR/" "/proc/$pid/maps" && kill "$pid" 2>/dev/null
    done <"$PIDFILE"
    # Anything else that maps the directory was started by this run too (the name is ours).
    for pid in $(grep -ls "$LOAD_DIR/" /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3); do
        kill "$pid" 2>/dev/null
    done
    sleep 0.2
    rm -rf "$LOAD_DIR" "$SHIMS"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- never restart anything -------------------------------------------------------------
export NEEDRESTART_MODE=l
for cmd in systemctl service invoke-rc.d; do
    real=$(command -v "$cmd" || true)
    cat >"$SHIMS/$cmd" <<EOF
#!/bin/sh
# Benchmark guard: refuse anything that would change a service.
for a in "\$@"; do
    case "\$a" in
    start|stop|restart|try-restart|reload|reload-or-restart|try-reload-or-restart|kill|daemon-reexec|daemon-reload|isolate|force-reload)
        echo "$cmd \$*" >>"$OUT/refused-restarts.log"; exit 1 ;;
    esac
done
${real:+exec "$real" "\$@"}
exit 1
EOF
    chmod +x "$SHIMS/$cmd"
done
export PATH="$SHIMS:$PATH"
NEEDRESTART=(needrestart -b -r l)

# --- 1. build ---------------------------------------------------------------------------
if ((BUILD)); then
    log "building the static probe (profile probe, $TARGET)"
    (cd "$REPO" && cargo build -q -p patchgap-probe --profile probe --target "$TARGET") >&2
fi
[[ -x $PROBE ]] || die "$PROBE not built (drop --no-build)"
SIZE=$(stat -c %s "$PROBE")
STATIC=$(file -b "$PROBE" | grep -o 'static[-a-z]* linked' || echo "NOT static")

# --- helpers ----------------------------------------------------------------------------
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

# How many of the load's processes each tool reports. needrestart -b names only services,
# sessions and containers, so its verbose trace ("#PID uses deleted PATH") is what shows
# the processes it detected; checkrestart -m -v lists "file PID program path" lines.
count_probe() { jq --arg d "$LOAD_DIR/" '[.processes[] | select(any(.findings[]; .path | startswith($d)))] | length' "$1"; }
count_needrestart() { grep -E "#[0-9]+ uses (deleted|obsolete|non-existing) $LOAD_DIR/" "$1" | grep -oE '#[0-9]+' | sort -u | wc -l; }
count_checkrestart() { awk -F'\t' -v d="$LOAD_DIR/" '$1 == "file" && index($4, d) == 1 { print $2 }' "$1" | sort -u | wc -l; }
total_probe() { jq '.processes | length' "$1"; }
total_checkrestart() { sed -n 's/^PROCESSES: //p' "$1"; }

detect() { # scenario
    local s=$1
    "$PROBE" >"$OUT/$s-probe.json"
    "${NEEDRESTART[@]}" -v >"$OUT/$s-needrestart.out" 2>"$OUT/$s-needrestart.err" || true
    checkrestart -m -v >"$OUT/$s-checkrestart.out" 2>"$OUT/$s-checkrestart.err" || true
}

# "median cpu" (seconds) of each command of a hyperfine JSON, in order; cpu is the mean
# user + system time of the command and its children (the shared machine inflates wall time).
medians() { jq -r '.results[] | "\(.median) \(.user + .system)"' "$1"; }

# The commands timed, in report order: name, then the command line.
COMMANDS=(
    "patchgap-probe|$PROBE"
    "needrestart -b -r l|${NEEDRESTART[*]}"
    "needrestart -b -r l -l (libraries only)|${NEEDRESTART[*]} -l"
    "checkrestart|checkrestart"
)

time_tools() { # scenario
    local s=$1 i runs warmup name cmd before
    wait_for_low_load
    before=$(loadavg)
    log "timing ($s), load average $before"
    for i in "${!COMMANDS[@]}"; do
        IFS='|' read -r name cmd <<<"${COMMANDS[$i]}"
        case "$name" in
        patchgap-probe) runs=$((RUNS * 5)) warmup=2 ;;
        needrestart*) runs=$NR_RUNS warmup=0 ;;
        *) runs=$RUNS warmup=1 ;;
        esac
        hyperfine -N --style basic --warmup "$warmup" --runs "$runs" \
            --export-json "$OUT/$s-time-$i.json" -n "$name" "$cmd" >&2
    done
    echo "$before / $(loadavg)" >"$OUT/$s-load"
}

# --- 2. stale load ----------------------------------------------------------------------
spawn_load() {
    log "spawning $N stale processes under $LOAD_DIR"
    mkdir -p "$LOAD_DIR/lib"
    cp /lib/x86_64-linux-gnu/libc.so.6 "$LOAD_DIR/lib/libc.so.6"
    local i
    for ((i = 0; i < N; i++)); do
        # setsid -f detaches: the daemon's parent becomes PID 1, as for a real service.
        setsid -f bash -c 'echo $$ >>"$1"; exec env LD_LIBRARY_PATH="$2" /usr/bin/sleep 86400' \
            _ "$PIDFILE" "$LOAD_DIR/lib" </dev/null >/dev/null 2>&1
    done
    local tries=0 up=0
    while ((tries < 100)); do
        up=$(grep -ls "$LOAD_DIR/lib/libc.so.6" /proc/[0-9]*/maps 2>/dev/null | wc -l || true)
        if ((up >= N)); then break; fi
        sleep 0.1
        tries=$((tries + 1))
    done
    ((up == N)) || die "only $up of $N stale processes came up"
    # The upgrade, as dpkg does it: new file next to the old, then rename over it.
    cp "$LOAD_DIR/lib/libc.so.6" "$LOAD_DIR/lib/libc.so.6.dpkg-new"
    mv -f "$LOAD_DIR/lib/libc.so.6.dpkg-new" "$LOAD_DIR/lib/libc.so.6"
}

# --- 3. run -----------------------------------------------------------------------------
detect idle
time_tools idle
spawn_load
detect load
for check in "probe load-probe.json" "needrestart load-needrestart.err" "checkrestart load-checkrestart.out"; do
    read -r t file <<<"$check"
    got=$("count_$t" "$OUT/$file")
    [[ $got -eq $N ]] || die "$t detected $got of the $N stale processes (see $OUT/$file)"
done
time_tools load

# --- 4. peak RSS with the load ----------------------------------------------------------
RSS_KB=0
for _ in 1 2 3; do
    kb=$(/usr/bin/time -v "$PROBE" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ { print $2 }')
    if ((kb > RSS_KB)); then RSS_KB=$kb; fi
done

if [[ -s $OUT/refused-restarts.log ]]; then
    die "a tool tried to change a service: $(cat "$OUT/refused-restarts.log")"
fi

# --- 5. report --------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print (ok ? "met" : "**missed**") }'; }

{
    mapfile -t IDLE < <(for i in "${!COMMANDS[@]}"; do medians "$OUT/idle-time-$i.json"; done)
    mapfile -t LOAD < <(for i in "${!COMMANDS[@]}"; do medians "$OUT/load-time-$i.json"; done)
    wall() { cut -d' ' -f1 <<<"$1"; }
    cpu() { cut -d' ' -f2 <<<"$1"; }
    NR_RATIO=$(ratio "$(wall "${LOAD[1]}")" "$(wall "${LOAD[0]}")")
    CR_RATIO=$(ratio "$(wall "${LOAD[3]}")" "$(wall "${LOAD[0]}")")
    SIZE_MIB=$(mib "$SIZE")
    RSS_MIB=$(mib $((RSS_KB * 1024)))

    echo "### Stale-process scan, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB,"
    echo "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), PID 1 \`$(ps -o comm= -p 1)\`;"
    echo "$(dpkg-query -W -f '${Package} ${Version}' needrestart), $(dpkg-query -W -f '${Package} ${Version}' debian-goodies), $(dpkg-query -W -f '${Version}' dpkg | sed 's/^/dpkg /'), $(ls /var/lib/dpkg/info/*.list | wc -l) packages."
    echo "Stale load: $N daemons mapping a deleted copy of libc under \`$LOAD_DIR\`; detected by"
    echo "patchgap-probe $(count_probe "$OUT/load-probe.json"), needrestart $(count_needrestart "$OUT/load-needrestart.err"), checkrestart $(count_checkrestart "$OUT/load-checkrestart.out")"
    echo "(all stale processes on the host: probe $(total_probe "$OUT/load-probe.json"), checkrestart $(total_checkrestart "$OUT/load-checkrestart.out"))."
    echo "Wall: median of $((RUNS * 5)) runs (probe), $NR_RUNS (needrestart), $RUNS (checkrestart). CPU: mean user + system."
    echo "Load average (1/5/15 min) before / after each timing: idle $(cat "$OUT/idle-load"), loaded $(cat "$OUT/load-load")."
    echo
    echo "| command | idle wall (ms) | idle CPU (ms) | $N stale wall (ms) | $N stale CPU (ms) | ratio to probe, $N stale, wall / CPU |"
    echo "|---|---:|---:|---:|---:|---:|"
    for i in "${!COMMANDS[@]}"; do
        echo "| \`${COMMANDS[$i]%%|*}\` | $(ms "$(wall "${IDLE[$i]}")") | $(ms "$(cpu "${IDLE[$i]}")") |" \
            "$(ms "$(wall "${LOAD[$i]}")") | $(ms "$(cpu "${LOAD[$i]}")") |" \
            "$(ratio "$(wall "${LOAD[$i]}")" "$(wall "${LOAD[0]}")")x / $(ratio "$(cpu "${LOAD[$i]}")" "$(cpu "${LOAD[0]}")")x |"
    done
    echo
    echo "| target (issue 2) | measured | |"
    echo "|---|---:|---|"
    echo "| >= 20x faster than \`needrestart -b\` | ${NR_RATIO}x (idle $(ratio "$(wall "${IDLE[1]}")" "$(wall "${IDLE[0]}")")x) | $(verdict "$NR_RATIO" 20 ">=") |"
    echo "| >= 8x faster than \`checkrestart\` | ${CR_RATIO}x (idle $(ratio "$(wall "${IDLE[3]}")" "$(wall "${IDLE[0]}")")x) | $(verdict "$CR_RATIO" 8 ">=") |"
    echo "| static binary <= 3 MiB | $SIZE bytes = $SIZE_MIB MiB ($STATIC) | $(verdict "$SIZE_MIB" 3 "<=") |"
    echo "| peak RSS <= 20 MiB, $N stale | $RSS_KB KiB = $RSS_MIB MiB | $(verdict "$RSS_MIB" 20 "<=") |"
    echo
    echo "Raw files: \`${OUT#"$REPO"/}\`."
} | tee "$OUT/summary.md"
