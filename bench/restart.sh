#!/usr/bin/env bash
# Restart campaign benchmark (issue 13): `patchgap restart --serial B` against an Ansible play
# with `serial: B` that runs needrestart on each host and restarts what it lists, on one test
# fleet of real Debian hosts booted for the run (tests/fleet/fleet).
#
# The campaign is the same for both: `libssl3` reinstalled on every host (nginx and sshd run
# the replaced library), then nginx.service and ssh.service restarted, B hosts at a time.
# patchgap also waits for each unit to be active again and probes every host once more to
# verify the restart; the play does not verify anything. Before each timed command the
# staging is done again (not timed); after it, a `patchgap audit` (not timed) checks that
# nginx and ssh run the new library on every host, for both tools.
# Rounds are interleaved (patchgap, then Ansible); every timed command runs under
# /usr/bin/time -v (CPU of the controller side and its children). Results: a Markdown
# section on stdout; raw files in bench/results/restart-<UTC time>/ (gitignored). Timings
# hold /tmp/patchgap-bench.lock so that two benchmarks on this machine never overlap.
#
# Usage: bench/restart.sh [-n N] [-b B] [-r ROUNDS] [--no-build] [--keep-fleet]
#                         [--max-load L] [--wait S]
#   -n N          hosts to boot (default 12)
#   -b B          batch size, patchgap --serial and the play's serial (default 4)
#   -r ROUNDS     timed rounds (default 3); medians over the rounds
#   --no-build    use target/release/patchgap as it is
#   --keep-fleet  leave the fleet up at the end (`tests/fleet/fleet down` later)
#   --max-load L  before timing, wait until the 1-minute load average is at most L
#   --wait S      give up waiting for --max-load after S seconds (default 600)
# Environment: PATCHGAP_FLEET_DIR (default /tmp/patchgap-bench-restart),
# PATCHGAP_FLEET_PORT_BASE (default 48600, outside the test harness's 23000-43000),
# PATCHGAP_BENCH_CACHE (the Ansible venv of bench/fleet.sh, default ~/.cache/patchgap-bench).
# Needs what bench/fleet.sh needs (root, cargo, python3-venv, openssh-client, jq, GNU time,
# flock) and the fleet's requirements (tests/fleet/README.md).
set -euo pipefail

N=12
BATCH=4
ROUNDS=3
BUILD=1
KEEP=0
MAX_LOAD=""
WAIT_SECS=600
while (($#)); do
    case "$1" in
    -n) N="$2"; shift 2 ;;
    -b) BATCH="$2"; shift 2 ;;
    -r) ROUNDS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep-fleet) KEEP=1; shift ;;
    --max-load) MAX_LOAD="$2"; shift 2 ;;
    --wait) WAIT_SECS="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "restart.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
export PATCHGAP_FLEET_DIR=${PATCHGAP_FLEET_DIR:-/tmp/patchgap-bench-restart}
export PATCHGAP_FLEET_PORT_BASE=${PATCHGAP_FLEET_PORT_BASE:-48600}
CACHE=${PATCHGAP_BENCH_CACHE:-$HOME/.cache/patchgap-bench}
VENV=$CACHE/ansible-venv
FLEET="$REPO/tests/fleet/fleet"
PATCHGAP="$REPO/target/release/patchgap"
STATE=$PATCHGAP_FLEET_DIR
INV=$STATE/inventory.yml
KH=$STATE/known_hosts
KEY=$STATE/id_ed25519
LOCK=/tmp/patchgap-bench.lock
OUT="$REPO/bench/results/restart-$(date -u +%Y%m%dT%H%M%SZ)"

log() { echo "restart.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root: the test fleet boots systemd-nspawn containers"
[[ $N =~ ^[0-9]+$ ]] && ((N >= 2 && N <= 99)) || die "-n must be 2..99"
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "-b must be a positive number"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "-r must be a positive number"
for tool in cargo python3 jq flock /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install jq time util-linux python3-venv)"
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

# The play: needrestart lists, Ansible restarts the same two units patchgap restarts.
cat >"$OUT/play.yml" <<'EOF'
- hosts: all
  serial: "{{ batch }}"
  gather_facts: false
  tasks:
    - name: services needrestart lists
      command: needrestart -b -r l
      register: nr
      changed_when: false
    - name: restart them
      systemd:
        name: "{{ item }}"
        state: restarted
      loop: "{{ nr.stdout_lines | select('match', '^NEEDRESTART-SVC:') | map('regex_replace', '^NEEDRESTART-SVC: ', '') | select('in', ['nginx.service', 'ssh.service']) | list }}"
EOF

export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_LOCAL_TEMP=$OUT/ansible-tmp
export ANSIBLE_PYTHON_INTERPRETER=auto_silent ANSIBLE_NOCOLOR=1

stage() { # libssl3 reinstalled under nginx and sshd on every host, in parallel
    printf '%s\n' "${HOSTS[@]}" | xargs -P "$N" -I{} "$FLEET" reinstall {} libssl3 >>"$OUT/stage.log" 2>&1 ||
        die "staging failed; see $OUT/stage.log"
}
stale_units() { # report.json -> "host unit" lines of nginx/ssh still stale
    jq -r '.hosts[] | .host as $h | .result.report.actions.services[]?.unit
           | select(. == "nginx.service" or . == "ssh.service") | "\($h) \(.)"' "$1"
}
audit_json() { # report.json
    local rc=0
    "$PATCHGAP" audit -i "$INV" --known-hosts "$KH" --private-key "$KEY" --ssh-config none \
        --forks "$N" --quiet --format json -o "$1" || rc=$?
    ((rc <= 1)) || die "patchgap audit exited $rc; see $1"
}
check_staged() {
    audit_json "$OUT/staged.json"
    (($(stale_units "$OUT/staged.json" | wc -l) == 2 * N)) ||
        die "staging did not make nginx and ssh stale on every host; see $OUT/staged.json"
}
check_done() { # tool round
    audit_json "$OUT/after-$1.$2.json"
    [[ -z $(stale_units "$OUT/after-$1.$2.json") ]] ||
        die "$1 left nginx or ssh stale in round $2: $(stale_units "$OUT/after-$1.$2.json" | tr '\n' ' ')"
}

# Ansible's ControlPersist masters outlive the play: their sshd sessions on the hosts would
# still map the library the next staging replaces, and make ssh.service stale for patchgap's
# next verification. Each master is asked to exit through its own socket.
close_masters() {
    local socket
    for socket in "$OUT"/ansible-cp/*; do
        [[ -S $socket ]] && ssh -O exit -o ControlPath="$socket" patchgap-bench >/dev/null 2>&1
    done
    return 0
}

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
    stage && check_staged
    rc=0
    timed patchgap "$r" "$PATCHGAP" restart -i "$INV" --known-hosts "$KH" --private-key "$KEY" \
        --ssh-config none --forks "$N" --quiet --yes --serial "$BATCH" --units nginx --units ssh \
        --state "$OUT/state.$r.jsonl" --format json -o "$OUT/patchgap.$r.json" || rc=$?
    ((rc == 0)) || die "patchgap restart exited $rc in round $r; see $OUT/patchgap.$r.json"
    VERIFIED=$(jq '[.campaign.hosts[].units[] | select(.status.kind == "verified")] | length' "$OUT/patchgap.$r.json")
    ((VERIFIED == 2 * N)) || die "patchgap verified $VERIFIED units, not $((2 * N)), in round $r"
    check_done patchgap "$r"
    stage && check_staged
    rm -rf "$OUT/ansible-cp" && mkdir -p "$OUT/ansible-cp"
    ANSIBLE_SSH_CONTROL_PATH_DIR=$OUT/ansible-cp timed ansible "$r" "$VENV/bin/ansible-playbook" \
        -i "$INV" -f "$N" -e "batch=$BATCH" "$OUT/play.yml" ||
        die "the play failed in round $r; see $OUT/ansible.$r.out"
    close_masters
    check_done ansible "$r"
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

# --- results ----------------------------------------------------------------------------------
median() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cpu_median() { awk '{ print $3 + $4 }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A WALL CPU
for name in patchgap ansible; do
    WALL[$name]=$(median "$OUT/$name.times" 2)
    CPU[$name]=$(cpu_median "$OUT/$name.times")
done
SPEEDUP=$(ratio "${WALL[ansible]}" "${WALL[patchgap]}")

cat <<EOF
#### Run of $(date -u '+%Y-%m-%d %H:%M') UTC

Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)),
$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r).
Campaign: $N Debian bookworm hosts, \`libssl3\` reinstalled on each (staged again before
every timed command), nginx.service and ssh.service restarted in batches of $BATCH.
patchgap $("$PATCHGAP" --version | awk '{ print $2 }'): \`restart --serial $BATCH --units nginx --units ssh\`,
which also waits for each unit and verifies every restart by probing again ($((2 * N))
units verified each round). ansible-core $ANSIBLE_VERSION: \`serial: $BATCH\`, \`needrestart -b -r l\`
then the \`systemd\` module for the units it lists (no verification). After each timed
command a \`patchgap audit\` (not timed) checked that no nginx or sshd runs the old library.
Wall: median of $ROUNDS rounds; CPU: median user + system of the controller and its children.
Load average (1/5/15 min) before / after timing: $LOAD_BEFORE / $LOAD_AFTER.

| command | wall (ms) | controller CPU (ms) |
|---|---:|---:|
| \`patchgap restart\` (restart + wait + re-probe) | $(ms "${WALL[patchgap]}") | $(ms "${CPU[patchgap]}") |
| \`ansible-playbook\` (needrestart + systemd) | $(ms "${WALL[ansible]}") | $(ms "${CPU[ansible]}") |

Speed-up: $SPEEDUP x (target: at least 3x). Raw files: \`bench/results/$(basename "$OUT")\`.
EOF
