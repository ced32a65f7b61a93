#!/usr/bin/env bash
# Many real SSH hosts on one machine: one OpenSSH sshd, in a network namespace made for the
# run (only `lo`, so nothing leaves it), listening on port 22 of every address; the
# inventory names N hosts at distinct loopback addresses (127.0.x.y). Each host is a real
# TCP connection, key exchange, public-key authentication, upload and probe run, and each
# has its own `patchgap_cache_dir`, so a first run really uploads N times. The probes all
# inspect this machine (the namespace shares its processes and files).
#
# Usage:
#   bench/many-hosts.sh up N DIR      set up N hosts; DIR gets inventory.yml, known_hosts,
#                                     id_ed25519 (the client key), netns (the namespace name)
#   bench/many-hosts.sh exec DIR CMD...   run CMD inside the namespace (the controller must
#                                     run there to reach the hosts)
#   bench/many-hosts.sh down DIR      stop sshd, delete the namespace and DIR
#   bench/many-hosts.sh bench [-n N] [-r ROUNDS] [--floor-hosts M] [--forks F] [--no-build]
#                                     [--max-load L] [--wait S]
#       the benchmark: patchgap on 100, 250, 500 and N (default 1000) hosts, first run
#       (upload) and cached, with peak RSS; the OpenSSH floor (`xargs -P F ssh HOST true`)
#       and Ansible (`-m command -a true`) at the same forks on M (default 200) hosts;
#       medians of ROUNDS (default 3). A Markdown section on stdout, raw files in
#       bench/results/many-hosts-<UTC time>/. Cleans up on exit, also on failure.
# Needs root, iproute2 (ip netns), openssh-server (/usr/sbin/sshd, not started as a
# service), openssh-client, python3 (+ venv and pip for Ansible), GNU time, flock.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "many-hosts.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The address of host number I (0-based): 127.0.x.y, skipping .0 and .255 and 127.0.0.1
# (which the controller's own machine uses for everything else).
address() {
    local i=$(($1 + 2))
    echo "127.0.$((i / 250)).$((i % 250 + 1))"
}

# Writes DIR/inventory.yml for hosts FROM..TO-1 (0-based) into FILE.
write_inventory() { # DIR FILE COUNT
    local dir=$1 file=$2 count=$3 i
    {
        echo "# $count hosts of bench/many-hosts.sh: one sshd, distinct loopback addresses."
        echo "all:"
        echo "  vars:"
        echo "    ansible_user: root"
        echo "    ansible_python_interpreter: /usr/bin/python3"
        echo "  hosts:"
        for ((i = 0; i < count; i++)); do
            printf '    m%04d: {ansible_host: %s, patchgap_cache_dir: %s/cache/m%04d}\n' \
                "$i" "$(address "$i")" "$dir" "$i"
        done
    } >"$file"
}

up() { # N DIR
    local n=$1 dir=$2 ns i
    [[ $EUID -eq 0 ]] || die "run as root: it creates a network namespace and runs sshd"
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 60000)) || die "N must be 1..60000"
    [[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd missing (apt-get install openssh-server)"
    command -v ip >/dev/null || die "ip missing (apt-get install iproute2)"
    [[ ! -e $dir ]] || die "$dir exists: take it down first (bench/many-hosts.sh down $dir)"
    mkdir -p -m 0700 "$dir" "$dir/cache"
    dir=$(cd "$dir" && pwd)
    ns="pgmany-$(basename "$dir" | tr -c 'a-zA-Z0-9\n' '-' | cut -c1-20)-$$"
    echo "$ns" >"$dir/netns"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ssh-keygen -q -t ed25519 -N '' -C patchgap-many-hosts -f "$dir/host_ed25519"
    ssh-keygen -q -t ed25519 -N '' -C patchgap-many-hosts-client -f "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    mkdir -p /run/sshd
    # MaxStartups: every host of a run is a new unauthenticated connection at once.
    cat >"$dir/sshd_config" <<EOF
ListenAddress 0.0.0.0:22
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 4000
MaxSessions 10
LoginGraceTime 120
UseDNS no
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    # The hosts' root has a home of its own, empty: sshd starts every command through
    # root's login shell, which would otherwise read this machine's dotfiles (a pyenv or
    # conda hook in ~/.bashrc takes a lock per shell and stalls a hundred logins at once).
    # A bind mount in a mount namespace of sshd's own; this machine's /root is untouched.
    mkdir -m 0700 "$dir/root-home"
    ip netns exec "$ns" unshare --mount --propagation private /bin/sh -c \
        'mount --bind "$1" /root && exec /usr/sbin/sshd -f "$2" -E "$3"' \
        sh "$dir/root-home" "$dir/sshd_config" "$dir/sshd.log"
    local key
    key=$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")
    for ((i = 0; i < n; i++)); do echo "$(address "$i") $key"; done >"$dir/known_hosts"
    write_inventory "$dir" "$dir/inventory.yml" "$n"
    # sshd is up when it answers on the first and the last address.
    for i in $(seq 1 50); do
        if ip netns exec "$ns" ssh -F none -i "$dir/id_ed25519" -o BatchMode=yes \
            -o UserKnownHostsFile="$dir/known_hosts" -o StrictHostKeyChecking=yes \
            "root@$(address $((n - 1)))" true 2>/dev/null; then
            log "$n hosts up in namespace $ns ($dir)"
            return 0
        fi
        sleep 0.2
    done
    die "sshd did not answer in $ns (see $dir/sshd.log)"
}

down() { # DIR
    local dir=$1 ns
    [[ -d $dir ]] || return 0
    ns=$(cat "$dir/netns" 2>/dev/null || true)
    if [[ -f $dir/sshd.pid ]]; then
        kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
    fi
    if [[ -n $ns ]]; then
        # Every process left in the namespace (sshd children, a stuck controller).
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns delete "$ns" 2>/dev/null || true
    fi
    rm -rf "$dir"
}

in_ns() { # DIR CMD...
    local dir=$1
    shift
    [[ -f $dir/netns ]] || die "$dir is not a many-hosts directory (run: up N DIR)"
    ulimit -n "$(ulimit -Hn)"
    exec ip netns exec "$(cat "$dir/netns")" "$@"
}

# --- the benchmark ----------------------------------------------------------------------------
bench() {
    local N=1000 ROUNDS=3 FLOOR_HOSTS=200 FORKS=100 BUILD=1 MAX_LOAD="" WAIT_SECS=600
    while (($#)); do
        case "$1" in
        -n) N="$2"; shift 2 ;;
        -r) ROUNDS="$2"; shift 2 ;;
        --floor-hosts) FLOOR_HOSTS="$2"; shift 2 ;;
        --forks) FORKS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --max-load) MAX_LOAD="$2"; shift 2 ;;
        --wait) WAIT_SECS="$2"; shift 2 ;;
        *) die "unknown argument '$1' (see --help)" ;;
        esac
    done
    ((N >= 100)) || die "-n must be at least 100 (the curve starts at 100 hosts)"
    ((FLOOR_HOSTS <= N)) || die "--floor-hosts must be at most -n"
    local OUT="$REPO/bench/results/many-hosts-$(date -u +%Y%m%dT%H%M%SZ)"
    local DIR=/tmp/patchgap-many-hosts
    local PATCHGAP="$REPO/target/release/patchgap"
    local CACHE=${PATCHGAP_BENCH_CACHE:-$HOME/.cache/patchgap-bench}
    local VENV=$CACHE/ansible-venv
    mkdir -p "$OUT"
    # shellcheck disable=SC2064
    trap "down '$DIR'" EXIT
    trap 'exit 130' INT TERM
    # shellcheck source=bench/lib.sh
    source "$REPO/bench/lib.sh"
    for tool in cargo python3 ssh flock xargs /usr/bin/time; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done
    local ANSIBLE_VERSION
    prepare_controller_and_ansible

    down "$DIR"
    up "$N" "$DIR"
    local NS
    NS=$(cat "$DIR/netns")
    ulimit -n "$(ulimit -Hn)"
    for size in 100 250 500 "$FLOOR_HOSTS" "$N"; do
        write_inventory "$DIR" "$OUT/inventory-$size.yml" "$size"
    done

    # One timed command: prints "wall_s cpu_s rss_kib", checks its exit status.
    timed() { # NAME CMD...
        local name=$1
        shift
        /usr/bin/time -f '%e %U %S %M' -o "$OUT/$name.time" \
            ip netns exec "$NS" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || true
        awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$OUT/$name.time"
    }
    audit() { # SIZE NAME
        timed "$2" "$PATCHGAP" audit -i "$OUT/inventory-$1.yml" --known-hosts "$DIR/known_hosts" \
            --private-key "$DIR/id_ed25519" --ssh-config none --forks "$FORKS" --quiet \
            --format json -o "$OUT/$2.json"
    }
    check() { # NAME SIZE: every host audited
        python3 - "$OUT/$1.json" "$2" <<'PY' || die "$1: not every host was audited (see $OUT/$1.json)"
import json, sys
report = json.load(open(sys.argv[1]))
hosts = report["hosts"]
audited = sum(1 for h in hosts if h["result"]["state"] == "audited")
failed = [(h["host"], h["result"].get("failure"), h["result"].get("message")) for h in hosts if h["result"]["state"] != "audited"]
print(f"{audited}/{len(hosts)} audited", file=sys.stderr)
if failed:
    print(failed[:5], file=sys.stderr)
sys.exit(0 if audited == len(hosts) == int(sys.argv[2]) else 1)
PY
    }
    median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

    exec 9>/tmp/patchgap-bench.lock
    flock 9
    wait_for_low_load
    local LOAD_BEFORE
    LOAD_BEFORE=$(loadavg)
    declare -A FIRST CACHED
    for size in 100 250 500 "$N"; do
        for ((r = 1; r <= ROUNDS; r++)); do
            log "patchgap, $size hosts, round $r: first run (upload), then cached"
            rm -rf "$DIR/cache"
            mkdir -m 0700 "$DIR/cache"
            audit "$size" "first-$size-$r" >>"$OUT/first-$size.times"
            check "first-$size-$r" "$size"
            audit "$size" "cached-$size-$r" >>"$OUT/cached-$size.times"
            check "cached-$size-$r" "$size"
        done
    done
    export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_LOCAL_TEMP=$OUT/ansible-tmp ANSIBLE_NOCOLOR=1
    export ANSIBLE_SSH_ARGS="-F none -i $DIR/id_ed25519 -o UserKnownHostsFile=$DIR/known_hosts -o StrictHostKeyChecking=yes -o ControlMaster=no"
    # head reads the file itself: with pipefail, awk cut off by head's exit would end the run.
    head -n "$FLOOR_HOSTS" "$DIR/known_hosts" | awk '{ print $1 }' >"$OUT/floor-addresses"
    for ((r = 1; r <= ROUNDS; r++)); do
        log "floor and Ansible, $FLOOR_HOSTS hosts, round $r"
        timed "floor-$r" xargs -P "$FORKS" -a "$OUT/floor-addresses" -I{} ssh -F none \
            -i "$DIR/id_ed25519" -o UserKnownHostsFile="$DIR/known_hosts" \
            -o StrictHostKeyChecking=yes -o BatchMode=yes root@{} true >>"$OUT/floor.times"
        audit "$FLOOR_HOSTS" "cached-floor-$r" >>"$OUT/cached-floor.times"
        check "cached-floor-$r" "$FLOOR_HOSTS"
        timed "ansible-$r" "$VENV/bin/ansible" all -i "$OUT/inventory-$FLOOR_HOSTS.yml" \
            -f "$FORKS" -m command -a true >>"$OUT/ansible.times"
        grep -c 'CHANGED\|SUCCESS' "$OUT/ansible-$r.out" >"$OUT/ansible-$r.ok" || true
        (($(cat "$OUT/ansible-$r.ok") == FLOOR_HOSTS)) ||
            log "warning: Ansible reached $(cat "$OUT/ansible-$r.ok") of $FLOOR_HOSTS hosts in round $r"
    done
    local LOAD_AFTER
    LOAD_AFTER=$(loadavg)

    col() { awk -v c="$2" '{ print $c }' "$OUT/$1.times" | median; }
    echo "## $N hosts on one controller (bench/many-hosts.sh)"
    echo
    echo "$(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB; one sshd and every probe share"
    echo "the controller's cores. --forks $FORKS, medians of $ROUNDS rounds. Load average before:"
    echo "$LOAD_BEFORE, after: $LOAD_AFTER. patchgap $("$PATCHGAP" --version | cut -d' ' -f2),"
    echo "OpenSSH $(ssh -V 2>&1 | cut -d' ' -f1 | cut -d_ -f2 | tr -d ,), ansible-core $ANSIBLE_VERSION."
    echo
    echo "| hosts | first run (upload) | cached | cached, per host | controller CPU (cached) | peak RSS (cached) |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for size in 100 250 500 "$N"; do
        local first cached cpu rss
        first=$(col "first-$size" 1)
        cached=$(col "cached-$size" 1)
        cpu=$(col "cached-$size" 2)
        rss=$(col "cached-$size" 3)
        printf '| %s | %s s | %s s | %.1f ms | %s s | %d MiB |\n' "$size" "$first" "$cached" \
            "$(awk -v t="$cached" -v n="$size" 'BEGIN { print t * 1000 / n }')" "$cpu" "$((rss / 1024))"
    done
    echo
    local floor ansible ours
    floor=$(col floor 1)
    ansible=$(col ansible 1)
    ours=$(col cached-floor 1)
    echo "| $FLOOR_HOSTS hosts, --forks $FORKS | wall | CPU (all processes of the command) | patchgap cached / this |"
    echo "|---|---:|---:|---:|"
    printf '| patchgap audit, probes cached | %s s | %s s | 1.00 |\n' "$ours" "$(col cached-floor 2)"
    printf '| OpenSSH floor: xargs -P %s ssh HOST true | %s s | %s s | %.2f |\n' "$FORKS" "$floor" \
        "$(col floor 2)" "$(awk -v a="$ours" -v b="$floor" 'BEGIN { print a / b }')"
    printf '| Ansible -m command -a true | %s s | %s s | %.3f |\n' "$ansible" "$(col ansible 2)" \
        "$(awk -v a="$ours" -v b="$ansible" 'BEGIN { print a / b }')"
    echo
    echo "Raw files: ${OUT#"$REPO"/}"
}

case "${1:-}" in
up) (($# == 3)) || die "usage: up N DIR"; up "$2" "$3" ;;
down) (($# == 2)) || die "usage: down DIR"; down "$2" ;;
exec) (($# >= 3)) || die "usage: exec DIR CMD..."; dir=$2; shift 2; in_ns "$dir" "$@" ;;
bench) shift; bench "$@" ;;
-h | --help | "") sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) die "unknown command '$1' (see --help)" ;;
esac
