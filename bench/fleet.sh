#!/usr/bin/env bash
# Fleet audit benchmark: `patchgap audit -i INVENTORY` vs Ansible running `needrestart -b`
# vs the OpenSSH floor (`ssh HOST true` on every host at once), on one test fleet of real
# Debian hosts booted for the run (tests/fleet/fleet).
#
# One run builds the controller (`cargo build --release`, which embeds the static probe),
# boots N hosts, stages stale services on two of them, checks that patchgap and needrestart
# both find exactly those, then times in interleaved rounds (one of each command per round,
# so a change in the machine's load hits all of them alike):
#   floor             xargs -P N running `ssh -p PORT root@127.0.0.1 true` for every host
#   patchgap first    `patchgap audit`, the probe removed from every host before the run
#   patchgap cached   `patchgap audit` again: the probe is already on the hosts
#   ansible           `ansible all -m command -a 'needrestart -b -r l'`, forks N, a fresh
#                     ControlPersist directory per run (no connection reused from the last)
# Every timed command runs under /usr/bin/time -v (CPU time of the controller side and its
# children, peak RSS). Results go to stdout as a Markdown section; raw files (per-run times,
# reports, outputs) to bench/results/fleet-<UTC time>/ (gitignored). Timings hold
# /tmp/patchgap-bench.lock so that two benchmarks on this machine never overlap.
#
# Usage: bench/fleet.sh [-n N] [-r ROUNDS] [--no-build] [--keep-fleet] [--max-load L] [--wait S]
#   -n N          hosts to boot (default 12, at least 12 for the issue's figures; minimum 5)
#   -r ROUNDS     timed rounds (default 10); medians over the rounds
#   --no-build    use target/release/patchgap as it is
#   --keep-fleet  leave the fleet up at the end (to iterate; `tests/fleet/fleet down` later)
#   --max-load L  before timing, wait until the 1-minute load average is at most L
#   --wait S      give up waiting for --max-load after S seconds and time anyway (default 600)
# Environment: PATCHGAP_FLEET_DIR (default /tmp/patchgap-bench-fleet),
# PATCHGAP_FLEET_PORT_BASE (default 24300), PATCHGAP_BENCH_CACHE (the Ansible venv lives in
# $PATCHGAP_BENCH_CACHE/ansible-venv; default ~/.cache/patchgap-bench).
# Needs root (the fleet), cargo, python3 with venv and pip (ansible-core comes from PyPI),
# openssh-client, jq, GNU time, flock (util-linux), and the fleet's requirements
# (tests/fleet/README.md).
set -euo pipefail

N=12
ROUNDS=10
BUILD=1
KEEP=0
MAX_LOAD=""
WAIT_SECS=600
while (($#)); do
    case "$1" in
    -n) N="$2"; shift 2 ;;
    -r) ROUNDS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep-fleet) KEEP=1; shift ;;
    --max-load) MAX_LOAD="$2"; shift 2 ;;
    --wait) WAIT_SECS="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fleet.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
export PATCHGAP_FLEET_DIR=${PATCHGAP_FLEET_DIR:-/tmp/patchgap-bench-fleet}
export PATCHGAP_FLEET_PORT_BASE=${PATCHGAP_FLEET_PORT_BASE:-24300}
CACHE=${PATCHGAP_BENCH_CACHE:-$HOME/.cache/patchgap-bench}
VENV=$CACHE/ansible-venv
FLEET="$REPO/tests/fleet/fleet"
PATCHGAP="$REPO/target/release/patchgap"
STATE=$PATCHGAP_FLEET_DIR
INV=$STATE/inventory.yml
KH=$STATE/known_hosts
KEY=$STATE/id_ed25519
LOCK=/tmp/patchgap-bench.lock
OUT="$REPO/bench/results/fleet-$(date -u +%Y%m%dT%H%M%SZ)"

log() { echo "fleet.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root: the test fleet boots systemd-nspawn containers"
[[ $N =~ ^[0-9]+$ ]] && ((N >= 5 && N <= 99)) || die "-n must be 5..99 (the issue asks for at least 12)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "-r must be a positive number"
for tool in cargo python3 ssh jq flock xargs /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install openssh-client jq time util-linux findutils python3-venv)"
done
mkdir -p "$OUT"

cleanup() {
    local status=$?
    set +e
    if ((KEEP)); then
        log "fleet left up (--keep-fleet): PATCHGAP_FLEET_DIR=$STATE PATCHGAP_FLEET_PORT_BASE=$PATCHGAP_FLEET_PORT_BASE $FLEET down"
    else
        "$FLEET" down >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- 1. the controller, the Ansible venv, the fleet ----------------------------------------
prepare_controller_and_ansible

log "booting $N hosts in $STATE (ports from $PATCHGAP_FLEET_PORT_BASE)"
"$FLEET" up "$N" >&2
mapfile -t HOSTS < <("$FLEET" status | awk '$4 == "running" { print $1 }')
((${#HOSTS[@]} == N)) || die "expected $N running hosts, got ${#HOSTS[@]}"
"$FLEET" status | awk '{ n = split($2, a, ":"); print a[n] }' >"$OUT/ports"

# Staged findings: h03's libssl3 reinstalled under its running services (nginx, sshd,
# journald, PID 1 go stale); h05 runs pgtestd, then its library is upgraded underneath.
log "staging stale services on h03 (libssl3) and h05 (pgtestd)"
"$FLEET" reinstall h03 libssl3 >"$OUT/stage-h03.log" 2>&1
"$FLEET" install h05 libpgtest1=1.0-1 pgtestd=1.0-1 >"$OUT/stage-h05.log" 2>&1
"$FLEET" ssh h05 systemctl start pgtestd >>"$OUT/stage-h05.log" 2>&1
"$FLEET" install h05 libpgtest1=1.0-2 >>"$OUT/stage-h05.log" 2>&1

# --- the commands ---------------------------------------------------------------------------
export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_LOCAL_TEMP=$OUT/ansible-tmp
export ANSIBLE_PYTHON_INTERPRETER=auto_silent ANSIBLE_NOCOLOR=1
audit() { "$PATCHGAP" audit -i "$INV" --known-hosts "$KH" --private-key "$KEY" --ssh-config none --forks "$N" --quiet "$@"; }
ansible_run() { "$VENV/bin/ansible" all -i "$INV" -f "$N" -m command -a 'needrestart -b -r l'; }
FLOOR=(xargs -P "$N" -a "$OUT/ports" -I{} ssh -F none -i "$KEY" -o UserKnownHostsFile="$KH"
    -o StrictHostKeyChecking=yes -o BatchMode=yes -p {} root@127.0.0.1 true)
drop_probes() {
    local h
    for h in "${HOSTS[@]}"; do rm -rf "$STATE/hosts/$h/root/var/cache/patchgap"; done
}

# --- 2. are the results right? ----------------------------------------------------------------
# patchgap's report: every host audited, h03 with nginx and ssh to restart, h05 with pgtestd,
# the others with no service. Used on the check run and on every timed run.
check_report() { # report.json -> prints a one-line summary, fails if wrong
    jq -e -r --argjson n "$N" '
        def units($h): [.hosts[] | select(.host == $h) | .result.report.actions.services[].unit];
        ([.hosts[] | select(.result.state == "audited")] | length) as $ok
        | [.hosts[] | select(.host != "h03" and .host != "h05")
                    | .result.report.actions.services | length] as $others
        | if $ok == $n
             and (units("h03") | index("nginx.service") and index("ssh.service"))
             and (units("h05") | index("pgtestd.service"))
             and ($others | add == 0)
          then "\($ok)/\($n) audited; h03: \(units("h03") | join(" ")); h05: \(units("h05") | join(" ")); others: none"
          else error("wrong report: \($ok)/\($n) audited, h03 \(units("h03")), h05 \(units("h05")), others \($others)")
          end' "$1"
}
audit_checked() { # report.json [patchgap flags] -> runs the audit, accepts exit 0 (clean) or 1 (findings)
    local report=$1 rc=0
    shift
    audit --format json -o "$report" "$@" || rc=$?
    ((rc <= 1)) || die "patchgap audit exited $rc (4: some hosts failed); see $report"
}

log "checking the results of patchgap and needrestart"
drop_probes
audit_checked "$OUT/check.json"
PATCHGAP_FOUND=$(check_report "$OUT/check.json") || die "patchgap's report is not what was staged: $PATCHGAP_FOUND"
audit --format table >"$OUT/check.txt" || true
mkdir -p "$OUT/ansible-cp"
ANSIBLE_SSH_CONTROL_PATH_DIR=$OUT/ansible-cp ansible_run >"$OUT/check-ansible.txt" 2>&1 ||
    die "ansible failed; see $OUT/check-ansible.txt"
nr_units() { awk -v h="$1" '$2 == "|" { cur = $1 } cur == h && /^NEEDRESTART-SVC:/ { print $2 }' "$OUT/check-ansible.txt" | tr '\n' ' '; }
NR_H03=$(nr_units h03) NR_H05=$(nr_units h05)
[[ $NR_H03 == *nginx.service* && $NR_H03 == *ssh.service* && $NR_H05 == *pgtestd.service* ]] ||
    die "needrestart did not report the staged services (h03: $NR_H03; h05: $NR_H05)"
NR_OTHERS=$(awk '$2 == "|" { cur = $1 } cur != "h03" && cur != "h05" && /^NEEDRESTART-SVC:/' "$OUT/check-ansible.txt" | wc -l)
((NR_OTHERS == 0)) || die "needrestart reported services on unstaged hosts; see $OUT/check-ansible.txt"
"${FLOOR[@]}" || die "ssh to some host failed"

# --- 3. timing --------------------------------------------------------------------------------
# One run of a command: wall time from bash's clock, CPU and peak RSS from GNU time.
timed() { # name round command... -> appends "round wall_s user_s sys_s maxrss_kib" to $OUT/name.times
    local name=$1 round=$2 start end rc=0
    shift 2
    start=$EPOCHREALTIME
    /usr/bin/time -v -o "$OUT/$name.$round.time" "$@" >"$OUT/$name.$round.out" 2>&1 || rc=$?
    end=$EPOCHREALTIME
    echo "$round $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }') $(awk -F': ' '
        /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
        END { print u, s, m }' "$OUT/$name.$round.time")" >>"$OUT/$name.times"
    return "$rc"
}

run_round() { # round
    local r=$1 rc
    timed floor "$r" "${FLOOR[@]}" ||
        die "the floor failed in round $r; see $OUT/floor.$r.out"
    drop_probes
    rc=0; timed patchgap-first "$r" "$PATCHGAP" audit -i "$INV" --known-hosts "$KH" --private-key "$KEY" \
        --ssh-config none --forks "$N" --quiet --format json -o "$OUT/first.$r.json" || rc=$?
    ((rc <= 1)) || die "patchgap (first) exited $rc in round $r"
    check_report "$OUT/first.$r.json" >/dev/null
    rc=0; timed patchgap-cached "$r" "$PATCHGAP" audit -i "$INV" --known-hosts "$KH" --private-key "$KEY" \
        --ssh-config none --forks "$N" --quiet --format json -o "$OUT/cached.$r.json" || rc=$?
    ((rc <= 1)) || die "patchgap (cached) exited $rc in round $r"
    check_report "$OUT/cached.$r.json" >/dev/null
    rm -rf "$OUT/ansible-cp" && mkdir -p "$OUT/ansible-cp"
    ANSIBLE_SSH_CONTROL_PATH_DIR=$OUT/ansible-cp timed ansible "$r" "$VENV/bin/ansible" all -i "$INV" -f "$N" \
        -m command -a 'needrestart -b -r l' || die "ansible failed in round $r; see $OUT/ansible.$r.out"
}

wait_for_low_load
exec {lockfd}>"$LOCK"
log "waiting for $LOCK (another benchmark may be timing)"
flock "$lockfd"
LOAD_BEFORE=$(loadavg)
log "timing $ROUNDS rounds (load $LOAD_BEFORE)"
for ((r = 1; r <= ROUNDS; r++)); do
    run_round "$r"
    log "round $r/$ROUNDS done (load $(loadavg))"
done
LOAD_AFTER=$(loadavg)
flock -u "$lockfd"

# --- 4. results -------------------------------------------------------------------------------
median() { # file column -> median of that column
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
cpu_median() { awk '{ print $3 + $4 }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
peak() { awk 'm < $5 { m = $5 } END { print m }' "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : (op == "<") ? v < t : v <= t; print (ok ? "met" : "**missed**") }'; }
per_host() { # kind -> median over rounds of the hosts' median elapsed_ms, and the slowest host's
    jq -s '[.[] | [.hosts[].elapsed_ms] | sort | {med: .[length / 2 | floor], max: .[-1]}]
           | {med: ([.[].med] | sort | .[length / 2 | floor]), max: ([.[].max] | sort | .[length / 2 | floor])}
           | "\(.med) ms (slowest host \(.max) ms)"' -r "$OUT"/"$1".*.json
}

declare -A WALL CPU RSS
for name in floor patchgap-first patchgap-cached ansible; do
    WALL[$name]=$(median "$OUT/$name.times" 2)
    CPU[$name]=$(cpu_median "$OUT/$name.times")
    RSS[$name]=$(peak "$OUT/$name.times")
done
R_ANS=$(ratio "${WALL[ansible]}" "${WALL[patchgap-first]}")
R_ANS_CACHED=$(ratio "${WALL[ansible]}" "${WALL[patchgap-cached]}")
R_FIRST=$(ratio "${WALL[patchgap-first]}" "${WALL[floor]}")
R_CACHED=$(ratio "${WALL[patchgap-cached]}" "${WALL[floor]}")
PROBE_BYTES=$(stat -c %s "$REPO/target/probe-build/x86_64-unknown-linux-musl/probe/patchgap-probe" 2>/dev/null || true)

cat <<EOF
#### Run of $(date -u '+%Y-%m-%d %H:%M') UTC

Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo),
$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r).
Fleet: $N Debian bookworm hosts (systemd-nspawn on this machine, sshd on 127.0.0.1), staged:
h03 \`libssl3\` reinstalled, h05 \`pgtestd\` running on an upgraded \`libpgtest1\`.
Tools: patchgap $("$PATCHGAP" --version | awk '{ print $2 }') (\`--forks $N\`), ansible-core $ANSIBLE_VERSION (venv, \`-f $N\`,
host keys checked), $(ssh -V 2>&1 | cut -d, -f1) (client), needrestart $(sed -n 's/^NEEDRESTART-VER: //p' "$OUT/check-ansible.txt" | head -1) (hosts).
Findings checked on every patchgap run: $PATCHGAP_FOUND.
needrestart (through Ansible) found h03: $NR_H03; h05: $NR_H05.
Wall: median of $ROUNDS interleaved rounds. CPU: median user + system of the controller
and its children (not the hosts' sshd and probe, which run on the same 2 cores).
Load average (1/5/15 min) before / after timing: $LOAD_BEFORE / $LOAD_AFTER.

| command | wall (ms) | controller CPU (ms) | peak RSS (KiB) |
|---|---:|---:|---:|
| floor: \`xargs -P $N ssh HOST true\` | $(ms "${WALL[floor]}") | $(ms "${CPU[floor]}") | ${RSS[floor]} (one ssh) |
| \`patchgap audit\`, first run (probe uploaded) | $(ms "${WALL[patchgap-first]}") | $(ms "${CPU[patchgap-first]}") | ${RSS[patchgap-first]} |
| \`patchgap audit\`, probe cached | $(ms "${WALL[patchgap-cached]}") | $(ms "${CPU[patchgap-cached]}") | ${RSS[patchgap-cached]} |
| \`ansible all -m command -a 'needrestart -b -r l'\` | $(ms "${WALL[ansible]}") | $(ms "${CPU[ansible]}") | ${RSS[ansible]} (largest process) |

Per-host time inside patchgap (median host / slowest host, median over rounds):
first run $(per_host first), cached $(per_host cached).

| target (issue 6) | measured | |
|---|---:|---|
| >= 5x faster than Ansible | $R_ANS x (cached: $R_ANS_CACHED x) | $(verdict "$R_ANS" 5 ">=") |
| first run <= 1.2x the OpenSSH floor | $R_FIRST x | $(verdict "$R_FIRST" 1.2 "<=") |
| cached run below the OpenSSH floor | $R_CACHED x | $(verdict "$R_CACHED" 1 "<") |
| controller peak RSS (reported) | ${RSS[patchgap-first]} KiB = $(awk -v k="${RSS[patchgap-first]}" 'BEGIN { printf "%.1f", k / 1024 }') MiB | |

Embedded x86_64 probe: ${PROBE_BYTES:-?} bytes. Raw files: \`bench/results/$(basename "$OUT")\`.
EOF
