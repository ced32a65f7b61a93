"""Scenario helpers: tiny .debs built at run time, installs, reinstalls, tampering, freezing.

The packages (all Architecture: amd64, cached in STATE/debs):
- libpgtest1 (libpgtest.so.1): a shared library; 1.0-1 and 1.0-2 differ in content.
- pgtestd: a daemon linked to it, with `pgtestd.service`.
- pgtest-fragile: a daemon linked to it whose unit starts once and then fails to restart
  (`ExecStartPre` refuses once `/run/pgtest-fragile.started` exists).
- pgtest-tool: an ordinary program linked to it (`pgtest-tool --wait` sleeps), no unit.
- pgtest-nosums: data and a script whose content differs by version, and no DEBIAN/md5sums,
  like the packages a checksum baseline (`--baseline-write`, debsums -g) is for.
- pgtest-pyd: a Python daemon (`pgtest-pyd.service` runs /usr/bin/python3
  /usr/lib/pgtest-pyd/daemon.py) that imports the package's module
  `pgtest_pyd.worker` and writes /run/pgtest-pyd.ready once it has; nothing of it is
  mapped, so only the interpreter check sees it go stale.
Every other package ships DEBIAN/md5sums so integrity checks see them like real packages, and
a Debian changelog (`/usr/share/doc/NAME/changelog.Debian.gz`, see CHANGELOGS): libpgtest1
1.0-2 is a security upload to bookworm-security naming two CVEs, pgtest-tool 1.0-2 an
ordinary one. `pgtestd --serve` listens on TCP 127.0.0.1 (a port the kernel picks, written
to /run/pgtestd.port), so exposure checks see a listening daemon.
"""

import gzip
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from . import hosts, state

VERSIONS = ["1.0-1", "1.0-2"]
LIBDIR = "usr/lib/x86_64-linux-gnu"

LIB_C = r"""
const char *pgtest_version(void) { return "VERSION"; }
"""

MAIN_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
const char *pgtest_version(void);
/* `--serve`: listen on 127.0.0.1, on a port the kernel picks (hosts share one network
   namespace), and say which in /run/pgtestd.port. */
static void serve(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0
        || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return;
    FILE *f = fopen("/run/pgtestd.port", "w");
    if (f) {
        fprintf(f, "%d\n", ntohs(a.sin_port));
        fclose(f);
    }
}
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        serve();
    if (argc > 1 && strcmp(argv[1], "--check") == 0)
        return access("/run/pgtest-fragile.started", F_OK) == 0 ? 1 : 0;
    if (argc > 1 && strcmp(argv[1], "--mark") == 0) {
        FILE *f = fopen("/run/pgtest-fragile.started", "w");
        if (f) fclose(f);
    }
    printf("%s using libpgtest %s\n", argv[0], pgtest_version());
    fflush(stdout);
    if (argc > 1)
        for (;;) pause();
    return 0;
}
"""

UNITS = {
    "pgtestd": ("usr/sbin/pgtestd",
                "[Unit]\nDescription=patchgap test daemon\n\n[Service]\n"
                "ExecStart=/usr/sbin/pgtestd --serve\n\n[Install]\nWantedBy=multi-user.target\n"),
    "pgtest-fragile": ("usr/sbin/pgtest-fragile",
                       "[Unit]\nDescription=patchgap test daemon that cannot restart\n\n"
                       "[Service]\nExecStartPre=/usr/sbin/pgtest-fragile --check\n"
                       "ExecStart=/usr/sbin/pgtest-fragile --mark\n\n"
                       "[Install]\nWantedBy=multi-user.target\n"),
    "pgtest-tool": ("usr/bin/pgtest-tool", None),
}

NOSUMS = "pgtest-nosums"
PYD_DAEMON = r"""import time
from pgtest_pyd import worker

open("/run/pgtest-pyd.ready", "w").write(worker.VERSION)
while True:
    time.sleep(1)
"""

PYD_UNIT = ("[Unit]\nDescription=patchgap test Python daemon\n\n[Service]\n"
            "ExecStart=/usr/bin/python3 /usr/lib/pgtest-pyd/daemon.py\n\n"
            "[Install]\nWantedBy=multi-user.target\n")

PACKAGES = ["libpgtest1"] + list(UNITS) + ["pgtest-pyd", NOSUMS]

# Changelog entries per package and version, newest last; packages not named get a plain
# "New upstream release" entry for 1.0-2.
CHANGELOGS = {
    ("libpgtest1", "1.0-2"): ("bookworm-security", "high",
                              "  * Fix a heap overflow in the parser (CVE-2024-1234).\n"
                              "  * Fix a use-after-free on reload (CVE-2024-12345).\n"),
    ("pgtest-tool", "1.0-2"): ("bookworm", "medium",
                               "  * Reword the help text.\n"),
}


def changelog(name, version):
    """The gzipped Debian changelog of NAME at VERSION: one entry per version up to it."""
    entries = []
    for v in VERSIONS[:VERSIONS.index(version) + 1]:
        suite, urgency, body = CHANGELOGS.get(
            (name, v), ("bookworm", "medium", "  * Initial release.\n" if v == VERSIONS[0]
                        else "  * New upstream release.\n"))
        entries.append("%s (%s) %s; urgency=%s\n\n%s\n -- patchgap tests "
                       "<tests@patchgap.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n"
                       % (name, v, suite, urgency, body))
    return gzip.compress("\n".join(reversed(entries)).encode(), mtime=0)


def add_changelog(pkg, name, version):
    path = os.path.join(pkg, "usr/share/doc", name, "changelog.Debian.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(changelog(name, version))


def deb_dir():
    return state.path("debs")


def deb_path(package, version):
    return os.path.join(deb_dir(), "%s_%s_amd64.deb" % (package, version))


def build_debs():
    """Build every package in every version once per fleet state dir."""
    wanted = [deb_path(p, v) for p in PACKAGES for v in VERSIONS]
    if all(os.path.exists(p) for p in wanted):
        return deb_dir()
    os.makedirs(deb_dir(), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pgtest-") as work:
        for version in VERSIONS:
            build_version(work, version)
    return deb_dir()


def build_version(work, version):
    src = os.path.join(work, version)
    os.makedirs(src)
    write(os.path.join(src, "lib.c"), LIB_C.replace("VERSION", version))
    write(os.path.join(src, "main.c"), MAIN_C)
    lib = tree(src, "libpgtest1", version, "libpgtest1 test library", None)
    os.makedirs(os.path.join(lib, LIBDIR))
    so = os.path.join(lib, LIBDIR, "libpgtest.so.1")
    state.run(["gcc", "-shared", "-fPIC", "-O2", "-Wl,-soname,libpgtest.so.1", "-o", so,
               os.path.join(src, "lib.c")], "compile libpgtest")
    os.symlink("libpgtest.so.1", os.path.join(src, "libpgtest.so"))
    shutil.copy(so, os.path.join(src, "libpgtest.so.1"))
    package(lib, "libpgtest1", version)
    for name, (binary, unit) in UNITS.items():
        pkg = tree(src, name, version, name + " test program",
                   "libpgtest1 (>= %s)" % VERSIONS[0])
        out = os.path.join(pkg, binary)
        os.makedirs(os.path.dirname(out))
        state.run(["gcc", "-O2", "-o", out, os.path.join(src, "main.c"), "-L" + src,
                   "-lpgtest"], "compile " + name)
        if unit:
            write(os.path.join(pkg, "lib/systemd/system", name + ".service"), unit)
        package(pkg, name, version)
    nosums = tree(src, NOSUMS, version, "test data without md5sums", None)
    write(os.path.join(nosums, "usr/share", NOSUMS, "data"), "%s data %s\n" % (NOSUMS, version))
    write(os.path.join(nosums, "usr/bin", NOSUMS), "#!/bin/sh\necho %s\n" % version)
    os.chmod(os.path.join(nosums, "usr/bin", NOSUMS), 0o755)
    package(nosums, NOSUMS, version, sums=False)
    build_pyd(src, version)


def build_pyd(src, version):
    """pgtest-pyd: the daemon script and its module, whose content differs by version."""
    pkg = tree(src, "pgtest-pyd", version, "pgtest-pyd test Python daemon", "python3")
    lib = os.path.join(pkg, "usr/lib/pgtest-pyd")
    write(os.path.join(lib, "daemon.py"), PYD_DAEMON)
    write(os.path.join(lib, "pgtest_pyd/__init__.py"), "")
    write(os.path.join(lib, "pgtest_pyd/worker.py"), "VERSION = %r\n" % version)
    write(os.path.join(pkg, "lib/systemd/system/pgtest-pyd.service"), PYD_UNIT)
    package(pkg, "pgtest-pyd", version)


def tree(src, name, version, description, depends):
    pkg = os.path.join(src, "pkg-" + name)
    control = ["Package: " + name, "Version: " + version, "Architecture: amd64",
               "Maintainer: patchgap tests <tests@patchgap.invalid>", "Section: misc",
               "Priority: optional", "Description: " + description]
    if depends:
        control.insert(3, "Depends: " + depends)
    write(os.path.join(pkg, "DEBIAN/control"), "\n".join(control) + "\n")
    return pkg


def package(pkg, name, version, sums=True):
    """Build the .deb of the tree PKG, with its DEBIAN/md5sums unless SUMS is false."""
    add_changelog(pkg, name, version)
    if sums:
        add_md5sums(pkg)
    state.run(["dpkg-deb", "--root-owner-group", "--build", pkg, deb_path(name, version)],
              "dpkg-deb --build " + name)


def add_md5sums(pkg):
    sums = []
    for dirpath, _, files in os.walk(pkg):
        for entry in sorted(files):
            full = os.path.join(dirpath, entry)
            rel = os.path.relpath(full, pkg)
            if not rel.startswith("DEBIAN") and not os.path.islink(full):
                with open(full, "rb") as f:
                    sums.append("%s  %s\n" % (hashlib.md5(f.read()).hexdigest(), rel))
    write(os.path.join(pkg, "DEBIAN/md5sums"), "".join(sorted(sums, key=lambda s: s[34:])))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def install(name, specs):
    """`dpkg -i` the named test packages (NAME=VERSION) in one transaction on a host."""
    build_debs()
    paths = []
    for spec in specs:
        package_, _, version = spec.partition("=")
        if package_ not in PACKAGES or version not in VERSIONS:
            raise SystemExit("fleet: unknown test package %r: use NAME=VERSION with NAME in "
                             "%s and VERSION in %s" % (spec, ", ".join(PACKAGES),
                                                       ", ".join(VERSIONS)))
        paths.append(deb_path(package_, version))
    remote = []
    for path in paths:
        target = "/var/cache/pgtest/" + os.path.basename(path)
        with open(path, "rb") as f:
            copy(name, f.read(), target)
        remote.append(target)
    return checked(name, ["dpkg", "-i"] + remote, "dpkg -i")


def copy(name, data, target):
    out = subprocess.run(state.ssh_argv(name) + ["--", "mkdir -p %s && cat > %s"
                                                  % (os.path.dirname(target), target)],
                         input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if out.returncode != 0:
        raise SystemExit("fleet: copying to %s:%s failed: %s"
                         % (name, target, out.stderr.decode(errors="replace")))


def reinstall(name, package_):
    """Reinstall a package from the base's cached .debs (or our own cache for test ones)."""
    if package_ in PACKAGES:
        version = checked(name, ["dpkg-query", "-W", "-f=${Version}", package_], "dpkg-query")
        return install(name, ["%s=%s" % (package_, version)])
    return checked(name, ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install",
                          "-y", "-q", "--reinstall", package_], "apt-get --reinstall")


def tamper(name, path):
    """Change a packaged file's content in place (same inode, so no process goes stale)."""
    return checked(name, ["sh", "-c", "printf 'tampered by patchgap fleet\\n' >> \"$1\"",
                          "tamper", path], "tamper " + path)


def checked(name, command, what):
    out = state.ssh(name, command, timeout=600)
    if out.returncode != 0:
        raise SystemExit("fleet: %s on %s failed (exit %d):\n%s%s"
                         % (what, name, out.returncode, out.stdout, out.stderr))
    return out.stdout


def freeze(name):
    """Stop every process of the host: TCP connects still succeed, nothing answers."""
    if hosts.nspawn_pid(name) is None:
        raise SystemExit("fleet: host %s is not running" % name)
    for _ in range(3):  # again, for anything forked while the first pass ran
        hosts.signal_all(name, signal.SIGSTOP)
        time.sleep(0.05)
    port = hosts.ssh_port(name)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.settimeout(1)
        try:
            data = sock.recv(16)
        except socket.timeout:
            return
    raise SystemExit("fleet: host %s still answers on port %d after freezing: %r"
                     % (name, port, data))


def thaw(name):
    hosts.signal_all(name, signal.SIGCONT)
    for _ in range(50):
        if hosts.port_open(hosts.ssh_port(name)):
            return
        time.sleep(0.1)
    raise SystemExit("fleet: host %s does not answer on port %d after thawing"
                     % (name, hosts.ssh_port(name)))


# What `reboot-pending --reason` stages, as Debian does it. `flag`: the package hooks' flag
# files in /run (a tmpfs, so the next boot starts without them). `package`: a real reinstall
# of dbus, one of the probe's boot-time packages (its dpkg file list becomes newer than the
# boot). The probe judges "newer than the boot" against the kernel's boot time, which is
# the machine's for every host (and older than the base image, so every host shows its
# boot-time packages as changed already): a host's reboot does not clear `package`, only
# `flag`.
# A kernel reason cannot be staged: the kernel a host runs is the machine's.
REBOOT_FLAG_PACKAGES = ["libc6", "pgtest-reboot"]
REBOOT_PACKAGE = "dbus"


def reboot_pending(name, reason):
    """Stage a reason for a reboot on a host (see REBOOT_FLAG_PACKAGES)."""
    if reason == "flag":
        return checked(name, ["sh", "-c", "printf '%s\\n' \"$@\" > /run/reboot-required.pkgs && "
                              "echo '*** System restart required ***' > /run/reboot-required",
                              "reboot-pending"] + REBOOT_FLAG_PACKAGES, "reboot-pending flag")
    if reason == "package":
        return reinstall(name, REBOOT_PACKAGE)
    raise SystemExit("fleet: unknown reboot reason %r: use flag or package (a kernel reason "
                     "cannot be staged: hosts run the machine's kernel)" % reason)
