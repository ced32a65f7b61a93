"""The fleet's state directory and the files clients use: key, known_hosts, inventory.

Everything a fleet owns lives under PATCHGAP_FLEET_DIR, and its ports start at
PATCHGAP_FLEET_PORT_BASE, so two fleets with different values never touch each other.
"""

import fcntl
import os
import shlex
import subprocess

DIR_DEFAULT = "/tmp/patchgap-fleet"
PORT_BASE_DEFAULT = 22300


def root():
    return os.path.abspath(os.environ.get("PATCHGAP_FLEET_DIR", DIR_DEFAULT))


def port_base():
    value = os.environ.get("PATCHGAP_FLEET_PORT_BASE", str(PORT_BASE_DEFAULT))
    try:
        base = int(value)
    except ValueError:
        raise SystemExit("fleet: PATCHGAP_FLEET_PORT_BASE=%r is not a port number" % value)
    if not 1024 <= base <= 65535 - 200:
        raise SystemExit("fleet: PATCHGAP_FLEET_PORT_BASE=%d: use 1024..65335, "
                         "the fleet needs 200 ports above it" % base)
    return base


def path(name):
    return os.path.join(root(), name)


def key():
    return path("id_ed25519")


def known_hosts():
    return path("known_hosts")


def inventory():
    return path("inventory.yml")


def lock():
    """Serialise commands on one fleet (an `up` racing a `down` would corrupt hosts)."""
    os.makedirs(root(), exist_ok=True)
    handle = open(path(".lock"), "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def ensure_key():
    """The client key of this fleet, made at the first `up` and kept until `down`."""
    if not os.path.exists(key()):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "patchgap-fleet",
             "-f", key()], "generate client key")
    with open(key() + ".pub") as f:
        return f.read()


def run(argv, what, **kwargs):
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         **kwargs)
    if out.returncode != 0:
        tail = "\n".join(out.stdout.splitlines()[-25:])
        raise SystemExit("fleet: %s failed (exit %d):\n%s" % (what, out.returncode, tail))
    return out.stdout


def ssh_argv(name, user="root"):
    from . import hosts

    return ["ssh", "-F", "/dev/null", "-i", key(), "-o", "IdentitiesOnly=yes",
            "-o", "UserKnownHostsFile=" + known_hosts(), "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
            "-p", str(hosts.ssh_port(name)), "-l", user, "127.0.0.1"]


def ssh(name, command, user="root", timeout=120, input=None):
    """Run an argv on a host (quoted for the remote shell); returns the CompletedProcess."""
    remote = " ".join(shlex.quote(word) for word in command)
    return subprocess.run(ssh_argv(name, user) + ["--", remote], input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def write_client_files(names):
    """Rewrite known_hosts and the inventory for the hosts that are up."""
    from . import hosts

    lines = []
    for name in names:
        sshdir = os.path.join(hosts.merged(name), "etc/ssh")
        for entry in sorted(os.listdir(sshdir)):
            if entry.startswith("ssh_host_") and entry.endswith(".pub"):
                with open(os.path.join(sshdir, entry)) as f:
                    kind, blob = f.read().split()[:2]
                lines.append("[127.0.0.1]:%d %s %s\n" % (hosts.ssh_port(name), kind, blob))
    replace(known_hosts(), "".join(lines))
    inv = ["# Written by tests/fleet/fleet up; rewritten on every up and removed by down.\n",
           "all:\n  children:\n    fleet:\n      vars:\n",
           "        ansible_ssh_common_args: \"-o UserKnownHostsFile=%s\"\n" % known_hosts(),
           "      hosts:\n"]
    for name in names:
        inv.append("        %s:\n          ansible_host: 127.0.0.1\n"
                   "          ansible_port: %d\n          ansible_user: root\n"
                   "          ansible_ssh_private_key_file: %s\n"
                   % (name, hosts.ssh_port(name), key()))
    replace(inventory(), "".join(inv))


def replace(target, text):
    """Write a file whole or not at all. The temporary name is this process's own: `status`
    run by two tests at once rewrites the same `pidns` files, and with one shared name a
    writer's rename finds the file already renamed away by the other."""
    tmp = "%s.tmp-%d" % (target, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, target)
