# Helpers shared by the benchmark scripts. Source it after defining `log`, MAX_LOAD and
# WAIT_SECS.

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The machine is shared: with --max-load L, wait (at most WAIT_SECS) for the 1-minute load
# average to drop to L before timing, then time anyway.
wait_for_low_load() {
    [[ -n $MAX_LOAD ]] || return 0
    local waited=0
    log "waiting up to ${WAIT_SECS}s for the 1-minute load average to drop to $MAX_LOAD (now $(loadavg))"
    until awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$MAX_LOAD" 'BEGIN { exit !(l <= m) }'; do
        if ((waited >= WAIT_SECS)); then
            log "load still $(loadavg) after ${WAIT_SECS}s; timing anyway"
            return 0
        fi
        sleep 10
        waited=$((waited + 10))
    done
}

# The controller and the Ansible venv the fleet benchmarks compare it with: builds
# target/release/patchgap unless BUILD=0, creates VENV (ansible-core from PyPI) on first
# use, and sets ANSIBLE_VERSION. Needs REPO, PATCHGAP, VENV, BUILD, `log` and `die`.
prepare_controller_and_ansible() {
    if ((BUILD)); then
        log "building the controller (cargo build --release; embeds the static probes)"
        (cd "$REPO" && cargo build --release --quiet) >&2
    fi
    [[ -x $PATCHGAP ]] || die "$PATCHGAP missing: run without --no-build"
    if [[ ! -x $VENV/bin/ansible-playbook ]]; then
        log "creating the Ansible venv in $VENV (pip install ansible-core)"
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
        "$VENV/bin/pip" install --quiet ansible-core >&2
    fi
    ANSIBLE_VERSION=$("$VENV/bin/ansible" --version 2>/dev/null | sed -n '1s/.*\[core \(.*\)\]/\1/p')
}
