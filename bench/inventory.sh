#!/usr/bin/env bash
# Inventory parsing benchmark: how long `patchgap` takes to read large and hostile
# inventories, and how much memory it needs (issue items 5 and 6: "inventory parsing is
# quadratic").
#
# It generates the inventories below into bench/results/inventory-<UTC time>/, then runs
# `patchgap audit -i FILE --limit no-such-host-xyz` on each with a release build. That
# command reads and resolves the whole inventory, evaluates the --limit pattern against
# every host and group, and stops with "matches no host" before any connection is made,
# so it times parsing only. An inventory refused by a cap stops earlier, with the cap's
# error; the script prints the first line of stderr so that the outcome can be checked.
#
#   flat-100k      100,000 hosts, one per line, in `all`
#   range-100k     one pattern, `host[0:99999]` (the issue's `host[0:99998]`: 12.9 s)
#   ranges-20x100k 20 groups, each `host[0:99999]`: 100,000 hosts in 20 groups each
#   distinct-20x100k 20 patterns `rN-[0:99999]`: 2,000,000 hosts, over the host cap
#   flow-100k      a host variable whose value is 100,000 nested `[` (YAML flow lists)
#   key-100k       a host pattern (quoted) of `h` and 100,000 `[`
#   product-2^20   `h[0:1][0:1]...` with 20 ranges: 1,048,576 names from one pattern
#   block-100k     a host variable whose value is 100,000 nested block lists (`- - - ...`)
#   indent-5k      5,000 mapping keys, each indented one column more than the last (12.5 MB:
#                  the text grows with the square of the depth, so the file cap bounds it)
#   chain-100k     100,000 groups, each the only child of the previous one
#   limit-1000     flat-100k with a --limit of 1,000 host names, a glob and `&no-such-host-xyz`
#                  (which ends the run after every other term was evaluated)
#
# Usage: bench/inventory.sh [--no-build] [--bin PATH] [-r RUNS] [--timeout S] [--max-load L]
#                           [--wait S]
#   --no-build    use target/release/patchgap as it is
#   --bin PATH    time this binary instead (e.g. a build of an older commit); implies --no-build
#   -r RUNS       timed runs per inventory, median reported (default 3)
#   --timeout S   give up on one run after S seconds (default 60; shown as "> S s")
#   --max-load L  before timing, wait until the 1-minute load average is at most L
#   --wait S      give up waiting for --max-load after S seconds and time anyway (default 600)
# Needs cargo, python3 (to generate the files), GNU time and coreutils `timeout`.
# PATCHGAP_SKIP_PROBES=1 is set for the build: parsing does not need the embedded probes.
set -euo pipefail

RUNS=3
TIMEOUT=60
BUILD=1
BIN_ARG=""
MAX_LOAD=""
WAIT_SECS=600
while (($#)); do
    case "$1" in
    -r) RUNS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --bin) BIN_ARG="$2"; BUILD=0; shift 2 ;;
    --max-load) MAX_LOAD="$2"; shift 2 ;;
    --wait) WAIT_SECS="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "inventory.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=${BIN_ARG:-$TARGET_DIR/release/patchgap}
OUT="$REPO/bench/results/inventory-$(date -u +%Y%m%dT%H%M%SZ)"

log() { echo "inventory.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in cargo python3 /usr/bin/time timeout; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
mkdir -p "$OUT"

if ((BUILD)); then
    log "building patchgap (release, PATCHGAP_SKIP_PROBES=1)"
    (cd "$REPO" && PATCHGAP_SKIP_PROBES=1 cargo build -q --release --bin patchgap) >&2
fi
[[ -x $BIN ]] || die "$BIN not built (drop --no-build)"

# --- inventories --------------------------------------------------------------------------
log "generating inventories in $OUT"
python3 - "$OUT" <<'EOF'
import sys, os
out = sys.argv[1]
def write(name, text):
    with open(os.path.join(out, name + ".yaml"), "w") as f:
        f.write(text)
N = 100_000
write("flat-100k", "all:\n  hosts:\n" + "".join(f"    host{i:06}:\n" for i in range(N)))
write("range-100k", "all:\n  hosts:\n    host[0:99999]:\n")
write("ranges-20x100k", "all:\n  children:\n" + "".join(
    f"    g{g}:\n      hosts:\n        host[0:99999]:\n" for g in range(20)))
write("distinct-20x100k", "all:\n  hosts:\n" + "".join(f"    r{g}-[0:99999]:\n" for g in range(20)))
write("flow-100k", "all:\n  hosts:\n    h1:\n      x: " + "[" * N + "]" * N + "\n")
write("key-100k", "all:\n  hosts:\n    \"h" + "[" * N + "\":\n")
write("product-2^20", "all:\n  hosts:\n    h" + "[0:1]" * 20 + ":\n")
write("block-100k", "all:\n  hosts:\n    h1:\n      x:\n        " + "- " * N + "x\n")
write("indent-5k", "all:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(5000)))
write("chain-100k", "all:\n  children:\n    g0:\n" + "".join(
    f"g{i}:\n  children:\n    g{i + 1}:\n" for i in range(N)) + f"g{N}:\n  hosts:\n    h1:\n")
with open(os.path.join(out, "limit-1000.txt"), "w") as f:
    # The last term matches nothing, so the run stops after evaluating all the others
    # (intersections are evaluated after plain terms) instead of connecting to hosts.
    f.write(",".join([f"host{i * 97:06}" for i in range(1000)] + ["host0999*", "&no-such-host-xyz"]))
EOF

# --- timing -------------------------------------------------------------------------------
# run NAME FILE LIMIT: RUNS timed runs; prints "median_wall_ms median_cpu_ms max_rss_kib
# first_stderr_line". CPU is user + system time: on a loaded machine it varies less.
run() {
    local name=$1 file=$2 limit=$3 i start end ms cpu rss times=() cpus=() rsses=()
    for ((i = 0; i < RUNS; i++)); do
        start=$EPOCHREALTIME
        if timeout "$TIMEOUT" /usr/bin/time -v -o "$OUT/$name.time" \
            "$BIN" audit -i "$file" --limit "$limit" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"; then
            :
        fi
        end=$EPOCHREALTIME
        ms=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
        if ((ms >= TIMEOUT * 1000)); then
            echo ">$((TIMEOUT * 1000)) - - timed out after ${TIMEOUT} s"
            return
        fi
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/$name.time")
        cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.0f", t * 1000 }' "$OUT/$name.time")
        times+=("$ms")
        cpus+=("$cpu")
        rsses+=("${rss:-?}")
    done
    local median median_cpu max_rss message killed
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    median_cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    max_rss=$(printf '%s\n' "${rsses[@]}" | sort -n | tail -1)
    # Paths of the generated files are long and the same in every row: drop the directory.
    # The first line that says something (a stack overflow starts with an empty line), and
    # how the process ended when it was killed.
    message=$(head -c 300 "$OUT/$name.stderr" | grep -m1 . | sed "s|$OUT/||g; s/|/\\|/g")
    killed=$(grep -o 'Command terminated by signal [0-9]*' "$OUT/$name.time" || true)
    message+="${killed:+ ($killed)}"
    echo "$median $median_cpu $max_rss $message"
}

wait_for_low_load
LOAD_BEFORE=$(loadavg)
ROWS=()
for name in flat-100k range-100k ranges-20x100k distinct-20x100k flow-100k key-100k product-2^20 block-100k indent-5k chain-100k; do
    log "timing $name"
    ROWS+=("$name|$(stat -c %s "$OUT/$name.yaml")|default|$(run "$name" "$OUT/$name.yaml" no-such-host-xyz)")
done
log "timing limit-1000"
ROWS+=("flat-100k, \`--limit\` of 1,000 names and a glob|$(stat -c %s "$OUT/flat-100k.yaml")|1001 terms|$(run limit-1000 "$OUT/flat-100k.yaml" "$(cat "$OUT/limit-1000.txt")")")
LOAD_AFTER=$(loadavg)

# --- report -------------------------------------------------------------------------------
cat <<EOF
#### Run of $(date -u '+%Y-%m-%d %H:%M') UTC

Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo),
$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r); \`$BIN\`
($(if [[ -n $BIN_ARG ]]; then echo "given with --bin"; else echo "built from $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet || echo ", modified")"; fi)).
Command: \`patchgap audit -i FILE --limit LIMIT\`; wall and CPU (user + system) time: medians
of $RUNS runs; peak RSS: the largest of them. Load average (1/5/15 min) before / after: $LOAD_BEFORE / $LOAD_AFTER.

| inventory | bytes | --limit | wall (ms) | CPU (ms) | peak RSS (KiB) | outcome (first line of stderr) |
|---|---:|---|---:|---:|---:|---|
EOF
for row in "${ROWS[@]}"; do
    IFS='|' read -r name bytes limit rest <<<"$row"
    read -r ms cpu rss message <<<"$rest"
    echo "| $name | $bytes | $limit | $ms | $cpu | $rss | ${message:0:140} |"
done
echo
echo "Raw files: \`${OUT#"$REPO"/}\`."
