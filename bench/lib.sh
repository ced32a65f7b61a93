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
