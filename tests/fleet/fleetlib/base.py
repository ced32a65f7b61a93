"""The base image every host overlays: a debootstrap of Debian bookworm.

Built once per recipe and cached outside the clone. The cache directory's name carries a
hash of the recipe (this file's RECIPE plus the setup script), so changing either builds a
new base instead of reusing a stale one. Built in a temporary directory and renamed into
place, so an interrupted build never leaves a half base that looks finished.
"""

import fcntl
import glob
import hashlib
import os
import shutil
import sys
import time

from . import state

SUITE = "bookworm"
PACKAGES = [
    "systemd", "systemd-sysv", "openssh-server", "dbus", "iproute2", "procps",
    "python3", "nginx-light", "sudo", "needrestart",
]
# Packages whose .debs stay in /var/cache/apt/archives of the base, so that
# `apt-get install --reinstall` works inside a host without the network.
KEEP_DEBS = ["libssl3"]

# Runs inside the new tree (chroot) once debootstrap is done.
SETUP = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive
useradd --create-home --shell /bin/bash ops
useradd --create-home --shell /bin/bash guest
echo 'ops ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/ops
chmod 0440 /etc/sudoers.d/ops
# Timers that would reach the network or churn the disk while tests run.
systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
    fstrim.timer >/dev/null 2>&1 || true
# The package lists let apt find the cached .debs for --reinstall.
apt-get update -qq
apt-get install -y -qq --reinstall --download-only KEEP_DEBS >/dev/null
# Per host, not per base: host keys are made at `up`, the machine id at boot.
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
"""

CACHE_DEFAULT = "/var/cache/patchgap-fleet"


def mirror():
    """The Debian mirror that apt on this machine uses (never written into the project)."""
    uris = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        uri, suites = None, ""
        with open(path) as f:
            for line in f.read().splitlines() + [""]:
                if line.startswith("URIs:"):
                    uri = line.split(":", 1)[1].split()[0]
                elif line.startswith("Suites:"):
                    suites = line.split(":", 1)[1]
                elif not line.strip():
                    if uri and "security" not in uri and "security" not in suites:
                        uris.append(uri)
                    uri, suites = None, ""
    if os.path.exists("/etc/apt/sources.list"):
        with open("/etc/apt/sources.list") as f:
            for line in f:
                words = line.split()
                if len(words) >= 3 and words[0] == "deb" and "security" not in line:
                    uris.append(next(w for w in words[1:] if not w.startswith("[")))
    if not uris:
        raise SystemExit("fleet: no Debian mirror in /etc/apt/sources.list(.d): "
                         "add the mirror apt should use, then retry")
    return uris[0].rstrip("/")


def recipe_hash():
    text = "\n".join([SUITE, ",".join(PACKAGES), ",".join(KEEP_DEBS), SETUP])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_dir():
    return os.environ.get("PATCHGAP_FLEET_CACHE", CACHE_DEFAULT)


def base_path():
    return os.path.join(cache_dir(), "base-" + recipe_hash())


def ensure_base(log=sys.stderr):
    """Return the base's path, building it first when this recipe has no base yet."""
    path = base_path()
    if os.path.isdir(path):
        return path
    os.makedirs(cache_dir(), exist_ok=True)
    # Two fleets starting at once build the base once: the second waits, then reuses it.
    with open(os.path.join(cache_dir(), ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isdir(path):
            return path
        return build(path, log)


def build(path, log):
    for leftover in glob.glob(os.path.join(cache_dir(), "base-*.tmp-*")):
        shutil.rmtree(leftover, ignore_errors=True)  # interrupted builds; we hold the lock
    tmp = "%s.tmp-%d" % (path, os.getpid())
    url = mirror()
    started = time.monotonic()
    print("fleet: building base image %s from %s (a few minutes, once)" % (path, url),
          file=log, flush=True)
    try:
        state.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
             SUITE, tmp, url], "debootstrap")
        if os.path.exists("/etc/resolv.conf"):
            shutil.copyfile("/etc/resolv.conf", os.path.join(tmp, "etc/resolv.conf"))
        script = SETUP.replace("KEEP_DEBS", " ".join(KEEP_DEBS))
        state.run(["chroot", tmp, "/bin/sh", "-c", script], "base setup")
        with open("/proc/mounts") as f:
            mounts = f.read()
        for stale in glob.glob(os.path.join(cache_dir(), "base-*")):
            # An older recipe's base still under a booted fleet's overlay stays.
            if ".tmp-" not in stale and stale != path and stale not in mounts:
                shutil.rmtree(stale, ignore_errors=True)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print("fleet: base image built in %.0f s" % (time.monotonic() - started),
          file=log, flush=True)
    return path

