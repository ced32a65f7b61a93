#!/usr/bin/env bash
# Full-machine package integrity check: patchgap's probe vs `dpkg --verify` vs `debsums -s`,
# same run, warm page cache. Prints medians, ratios and peak RSS (see bench/README.md).
#
# Usage: bench/integrity.sh [RUNS] [DEBSUMS_RUNS]    (defaults 5 and 3)
# Needs: hyperfine, GNU time (/usr/bin/time), debsums, python3. Run as root so that every
# tool can read every file. Read-only: nothing on the host is changed.
set -euo pipefail

runs=${1:-5}
debsums_runs=${2:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for tool in hyperfine /usr/bin/time debsums dpkg python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing; install it" >&2; exit 2; }
done

# The static probe exactly as it is shipped to hosts; the whole audit (process scan
# included) is timed, since that is what `patchgap audit --integrity` runs.
(cd "$repo" && cargo build --quiet -p patchgap-probe --profile probe --target x86_64-unknown-linux-musl)
probe_bin="$repo/target/x86_64-unknown-linux-musl/probe/patchgap-probe"
probe="'$probe_bin' --integrity"

echo "host: $(nproc) cores, $(dpkg-query -W | wc -l) packages, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$probe_bin" --integrity | python3 -c 'import json,sys; s=json.load(sys.stdin)["integrity"]["summary"]; print("probe checks %d entries, hashes %d files, %.2f GB on %d threads" % (s["files_checked"], s["files_hashed"], s["bytes_hashed"]/1e9, s["threads"]))'

# Warm the page cache once with each reader, then time.
"$probe_bin" --integrity >/dev/null
dpkg --verify >/dev/null

hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$out/fast.json" \
    -n probe "$probe >/dev/null" \
    -n "dpkg --verify" "dpkg --verify >/dev/null"
hyperfine --style basic --runs "$debsums_runs" --ignore-failure --export-json "$out/debsums.json" \
    -n "debsums -s" "debsums -s >/dev/null 2>&1"

rss() { # peak RSS in KiB of one run of a shell command
    /usr/bin/time -v sh -c "$1" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}'
}
{
    echo "probe $(rss "$probe >/dev/null")"
    echo "dpkg --verify $(rss 'dpkg --verify')"
    echo "debsums -s $(rss 'debsums -s 2>/dev/null')"
} >"$out/rss.txt"

python3 - "$out" <<'EOF'
import json, sys, os
out = sys.argv[1]
med = {}
for f in ("fast.json", "debsums.json"):
    for r in json.load(open(os.path.join(out, f)))["results"]:
        med[r["command"]] = r["median"]
rss = {}
for line in open(os.path.join(out, "rss.txt")):
    name, kib = line.rsplit(" ", 1)
    rss[name] = int(kib) / 1024
p = med["probe"]
print()
print("| tool | median (s) | vs probe | peak RSS (MiB) |")
print("|---|---|---|---|")
for name in ("probe", "dpkg --verify", "debsums -s"):
    print(f"| {name} | {med[name]:.2f} | {med[name] / p:.1f}x | {rss[name]:.1f} |")
ok = med["dpkg --verify"] / p >= 2 and med["debsums -s"] / p >= 10 and rss["probe"] <= 64
print()
print("targets (>= 2x dpkg --verify, >= 10x debsums -s, <= 64 MiB):", "met" if ok else "NOT met")
EOF
