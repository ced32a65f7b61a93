"""Booting and stopping hosts: one overlay over the base and one systemd-nspawn each.

A host lives in STATE/hosts/NAME: `upper`/`work` (its overlay layers), `root` (the merged
tree nspawn boots), `nspawn.pid`, `console.log`. Hosts are found by these pid files, never
by counting nspawn processes, so two fleets (two state dirs, two port ranges) coexist.
"""

import os
import re
import signal
import socket
import subprocess
import time
import uuid

from . import state

FLEET_TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "fleet")
MASKED = ["sys-fs-fuse-connections.mount", "systemd-remount-fs.service"]


def names(count):
    if not 1 <= count <= 99:
        raise SystemExit("fleet: host count must be 1..99, got %d" % count)
    return ["h%02d" % i for i in range(1, count + 1)]


def index(name):
    match = re.fullmatch(r"h(\d\d)", name)
    if not match:
        raise SystemExit("fleet: no host %r: hosts are named h01..h99" % name)
    return int(match.group(1))


def ssh_port(name):
    return state.port_base() + index(name)


def http_port(name):
    return state.port_base() + 100 + index(name)


def host_dir(name):
    return os.path.join(state.root(), "hosts", name)


def merged(name):
    return os.path.join(host_dir(name), "root")


def known():
    """Names of the hosts this fleet has state for."""
    hosts = os.path.join(state.root(), "hosts")
    if not os.path.isdir(hosts):
        return []
    return sorted(n for n in os.listdir(hosts) if re.fullmatch(r"h\d\d", n))


def nspawn_pid(name):
    """The host's live nspawn process, or None (no pid file, exited, zombie, reused pid).
    The supervisor rewrites the pid file for each boot, so this follows reboots."""
    pid = live_pid(os.path.join(host_dir(name), "nspawn.pid"))
    if pid is None:
        return None
    cmdline = read_cmdline(pid)
    if not cmdline or b"systemd-nspawn" not in os.path.basename(cmdline[0]):
        return None
    if merged(name).encode() not in cmdline:
        return None
    return pid


def container_pids(name):
    """Every process in the host's PID namespace: its systemd and all it runs.

    The namespace is the one of nspawn's child (the host's PID 1), remembered in a file with
    that PID 1 and its start time, so that a host whose nspawn died can still be found and
    killed. The namespace's inode number alone is not enough: the kernel reuses it once the
    namespace is gone, and a reaper taking an old fleet down would then kill the host of
    another fleet booting at the same time. A namespace whose PID 1 is gone is empty (the
    kernel kills the rest with it), so nothing is returned for it.
    """
    memo = os.path.join(host_dir(name), "pidns")
    pid = nspawn_pid(name)
    if pid is not None:
        own = ns_of("self")
        for child in children(pid):
            pidns = ns_of(child)
            if pidns not in (None, own):
                state.replace(memo, "%s %s %s\n" % (pidns, child, start_time(child)))
                break
    try:
        with open(memo) as f:
            pidns, init, started = f.read().split()
    except (OSError, ValueError):
        return []
    if ns_of(init) != pidns or start_time(init) != started:
        return []
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and ns_of(p) == pidns]


def start_time(pid):
    """A process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def ns_of(pid):
    try:
        return os.readlink("/proc/%s/ns/pid" % pid)
    except OSError:
        return None


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(entry)
            except (OSError, ValueError, IndexError):
                continue
    return found


def is_frozen(name):
    """True when the host's processes are stopped (by `freeze`)."""
    for pid in container_pids(name):
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                    return True
        except (OSError, IndexError):
            continue
    return False


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


def prepare(name, base, pubkey):
    """Mount the host's overlay and write everything that makes it this host."""
    hdir = host_dir(name)
    for sub in ("upper", "work", "root"):
        os.makedirs(os.path.join(hdir, sub), exist_ok=True)
    root = merged(name)
    if not is_mounted(root):
        opts = "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (base, hdir, hdir)
        state.run(["mount", "-t", "overlay", "overlay", "-o", opts, root], "mount overlay")
    write(root, "etc/hostname", name + "\n")
    write(root, "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 %s\n" % name)
    write(root, "etc/machine-id", uuid.uuid4().hex + "\n")
    write(root, "etc/ssh/sshd_config.d/port.conf",
          "Port %d\nListenAddress 127.0.0.1\n" % ssh_port(name))
    site = os.path.join(root, "etc/nginx/sites-available/default")
    with open(site) as f:
        text = f.read()
    text = re.sub(r"(?m)^\s*listen\s+\[::\]:\d+.*\n", "", text)
    text = re.sub(r"(?m)^(\s*)listen\s+[^;\s]+(\s+default_server;)",
                  r"\g<1>listen 127.0.0.1:%d\2" % http_port(name), text)
    write(root, "etc/nginx/sites-available/default", text)
    # fusectl is the machine's, shared by every host: mounting it in one races the others
    # and sometimes fails, which leaves that host `degraded`. systemd-remount-fs remounts
    # `/`, which here is an overlay nspawn set up: it has nothing to do in a host and once
    # failed with nothing in its journal, leaving the host `degraded` too.
    for unit in MASKED:
        link = os.path.join(root, "etc/systemd/system", unit)
        if not os.path.islink(link):
            os.symlink("/dev/null", link)
    for key in os.listdir(os.path.join(root, "etc/ssh")):
        if key.startswith("ssh_host_"):
            os.remove(os.path.join(root, "etc/ssh", key))
    state.run(["ssh-keygen", "-q", "-A", "-f", root], "generate host keys")
    authorize(root, pubkey)


def authorize(root, pubkey):
    """Install this run's client key for root, ops and guest (users of the base)."""
    users = {}
    with open(os.path.join(root, "etc/passwd")) as f:
        for line in f:
            fields = line.split(":")
            users[fields[0]] = (int(fields[2]), int(fields[3]), fields[5])
    for user in ("root", "ops", "guest"):
        uid, gid, home = users[user]
        sshdir = os.path.join(root, home.lstrip("/"), ".ssh")
        os.makedirs(sshdir, mode=0o700, exist_ok=True)
        keys = os.path.join(sshdir, "authorized_keys")
        with open(keys, "w") as f:
            f.write(pubkey)
        for path in (sshdir, keys):
            os.chown(path, uid, gid)
        os.chmod(sshdir, 0o700)
        os.chmod(keys, 0o600)


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# Every host's systemd, logind, dbus and agetty hold inotify instances (about 8 a host), and
# all hosts run as this machine's root, so they share root's per-user limit, 128 by default
# on Debian. Past it, a booting host's path units, getty or user-sessions fail and the host
# comes up `degraded` (seen with a 14-host fleet beside another one). Enough for every host
# of several full fleets at once.
INOTIFY_INSTANCES = 8192
INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"


def ensure_inotify_instances():
    """Raise root's inotify instance limit to INOTIFY_INSTANCES if it is lower (never lower
    it: another user of the machine may have set it higher)."""
    try:
        with open(INOTIFY_LIMIT) as f:
            current = int(f.read().strip())
        if current < INOTIFY_INSTANCES:
            with open(INOTIFY_LIMIT, "w") as f:
                f.write("%d\n" % INOTIFY_INSTANCES)
    except (OSError, ValueError) as e:
        raise SystemExit("fleet: cannot raise %s to %d (%s); hosts may boot degraded"
                         % (INOTIFY_LIMIT, INOTIFY_INSTANCES, e))


# systemd-nspawn's exit status when the host asked for a reboot (`systemctl reboot`): its
# PID 1 was ended by the kernel with SIGINT. systemd-nspawn@.service boots the host again
# for it (RestartForceExitStatus=133); so does the supervisor.
REBOOT_STATUS = 133


def boot(name):
    """Start the host's supervisor in its own session: it boots the host, boots it again each
    time the host reboots, and outlives this command (not the fleet)."""
    hdir = host_dir(name)
    argv = [FLEET_TOOL, "supervise", name, state.root()]
    with open(os.path.join(hdir, "console.log"), "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env=os.environ.copy())
    state.replace(os.path.join(hdir, "supervisor.pid"), "%d\n" % proc.pid)
    # Until the supervisor has started nspawn and nspawn has exec'd, nspawn_pid() cannot
    # see it.
    for _ in range(200):
        if nspawn_pid(name) is not None or proc.poll() is not None:
            return
        time.sleep(0.05)


def cgroup_dirs(name):
    """The host's own cgroup in each hierarchy systemd uses (cgroup v2, or v1's name=systemd
    and the hybrid `unified` one), under the supervisor's cgroup.

    With `--keep-unit` nspawn puts the container in `payload/` under the cgroup it was
    started in. Without a cgroup of its own per host, every host's systemd would share one
    `payload/system.slice/...` tree: one host stopping a unit removes the cgroup another
    host's systemd is starting the same unit in, which fails that start (status
    219/CGROUP) and leaves the host `degraded`."""
    own = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                own[controllers] = path
    except (OSError, ValueError):
        return []
    mounts = [("/sys/fs/cgroup", own.get(""))]  # cgroup v2 alone
    if not os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        mounts = [("/sys/fs/cgroup/systemd", own.get("name=systemd")),
                  ("/sys/fs/cgroup/unified", own.get(""))]
    leaf = "pgfleet-%d" % ssh_port(name)
    return [os.path.join(mount, path.lstrip("/"), leaf) for mount, path in mounts
            if path is not None and os.path.exists(os.path.join(mount, "cgroup.procs"))]


def enter_cgroups(dirs):
    """Move the calling process into `dirs` (run in the child, before nspawn starts)."""
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write("%d\n" % os.getpid())


def remove_cgroups(dirs):
    """Remove what a finished boot left of the host's cgroups, deepest first (best effort:
    a cgroup that still has processes stays)."""
    for top in dirs:
        for root, subdirs, _ in os.walk(top, topdown=False):
            for d in subdirs:
                try:
                    os.rmdir(os.path.join(root, d))
                except OSError:
                    pass
        try:
            os.rmdir(top)
        except OSError:
            pass


def spawn_nspawn(name):
    """Start one boot of the host (the supervisor's child) in the host's own cgroup and
    record its pid."""
    argv = ["systemd-nspawn", "--quiet", "-D", merged(name), "--register=no", "--keep-unit",
            "--boot", "--machine=pgfleet-%d" % ssh_port(name), "--hostname=" + name,
            "--console=read-only"]
    dirs = cgroup_dirs(name)
    remove_cgroups(dirs)  # the previous boot's, so this boot starts from a clean tree
    with open(os.path.join(host_dir(name), "console.log"), "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True,
                                preexec_fn=lambda: enter_cgroups(dirs))
    state.replace(os.path.join(host_dir(name), "nspawn.pid"), "%d\n" % proc.pid)
    return proc


def supervise(name):
    """Boot the host and boot it again whenever it reboots (nspawn exits REBOOT_STATUS), as
    systemd-nspawn@.service does; any other exit ends the host. A host held down (`hold`)
    is booted again only once released. SIGTERM (from `down`) powers the host off and ends
    the supervisor without booting it again."""
    stopping = False
    proc = None

    def on_term(_sig, _frame):
        nonlocal stopping
        stopping = True
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    boots = 0
    while not stopping and os.path.isdir(host_dir(name)):
        proc = spawn_nspawn(name)
        boots += 1
        if stopping:  # SIGTERM came while nspawn was starting
            proc.send_signal(signal.SIGTERM)
        code = proc.wait()
        note(name, "nspawn %d (boot %d) exited with status %d" % (proc.pid, boots, code))
        if code != REBOOT_STATUS:
            break
        if is_held(name):
            note(name, "held down: not booting again until `fleet release %s`" % name)
        while is_held(name) and not stopping and os.path.isdir(host_dir(name)):
            time.sleep(0.2)
        if not stopping:
            note(name, "booting again")
    remove_cgroups(cgroup_dirs(name))


def note(name, text):
    """A line of the supervisor's in the host's console log."""
    try:
        with open(os.path.join(host_dir(name), "console.log"), "a") as log:
            log.write("fleet supervise %s: %s\n" % (name, text))
    except OSError:
        pass


def hold_path(name):
    return os.path.join(host_dir(name), "hold")


def is_held(name):
    return os.path.exists(hold_path(name))


def supervisor_pid(name):
    """The host's live supervisor, or None (no pid file, exited, zombie, reused pid)."""
    pid = live_pid(os.path.join(host_dir(name), "supervisor.pid"))
    if pid is None:
        return None
    cmdline = read_cmdline(pid)
    if b"supervise" not in cmdline:
        return None
    at = cmdline.index(b"supervise")
    if cmdline[at + 1:at + 3] != [name.encode(), state.root().encode()]:
        return None
    return pid


def is_alive(name):
    """True while the host runs or its supervisor is about to boot it again (a reboot, or
    held down): such a host must never be booted a second time."""
    return nspawn_pid(name) is not None or supervisor_pid(name) is not None


def live_pid(pid_file):
    """The pid in a pid file if that process exists and is no zombie."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/stat" % pid) as f:
            status = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if status == "Z" else pid


def read_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def console_tail(name, lines=20):
    try:
        with open(os.path.join(host_dir(name), "console.log"), errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])
    except OSError:
        return "(no console log)"


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.settimeout(1)
            return sock.recv(4).startswith(b"SSH")
    except OSError:
        return False


def wait_ready(pending, timeout):
    """Wait until each host's systemd is `running` and its sshd accepts this run's key.

    A host that is rebooting (its old boot still `stopping`, or its supervisor about to boot
    it again) is waited for; one that stopped for good, or is held down, is an error.
    """
    deadline = time.monotonic() + timeout
    pending = list(pending)
    while pending:
        for name in list(pending):
            if nspawn_pid(name) is None:
                if supervisor_pid(name) is None:
                    raise SystemExit("fleet: host %s stopped while booting; console:\n%s"
                                     % (name, console_tail(name)))
                if is_held(name):
                    raise SystemExit("fleet: host %s is held down: `fleet release %s` boots "
                                     "it again" % (name, name))
                continue
            if not port_open(ssh_port(name)):
                continue
            try:
                out = state.ssh(name, ["systemctl", "is-system-running", "--wait"],
                                timeout=max(5, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                continue
            verdict = out.stdout.strip()
            if verdict == "running":
                pending.remove(name)
            elif verdict in ("degraded", "maintenance", "offline"):
                failed = state.ssh(name, ["systemctl", "--failed", "--no-legend"]).stdout
                # What the failed units said, so that a rare degraded boot can be diagnosed
                # from the test log alone.
                units = [line.split()[1] if line.split()[0] == "●" else line.split()[0]
                         for line in failed.splitlines() if line.split()]
                journal = state.ssh(name, ["journalctl", "-b", "--no-pager", "-n", "40"]
                                    + ["-u" + unit for unit in units]).stdout if units else ""
                # The journal may hold nothing of a unit that failed early in the boot:
                # the console shows systemd's own lines.
                raise SystemExit("fleet: host %s booted %s, failed units:\n%s\n%s\n"
                                 "console:\n%s" % (name, verdict, failed, journal,
                                                    console_tail(name, 40)))
            # `stopping` (the boot before a reboot), `starting`, or no answer: not yet.
        if pending and time.monotonic() > deadline:
            raise SystemExit(
                "fleet: hosts %s not running after %d s (raise PATCHGAP_FLEET_BOOT_TIMEOUT "
                "on a loaded machine); console of %s:\n%s"
                % (" ".join(pending), timeout, pending[0], console_tail(pending[0])))
        if pending:
            time.sleep(0.3)


def signal_all(name, sig):
    for pid in container_pids(name):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop(names_, grace=15):
    """Power the hosts off and end their supervisors (SIGTERM: the supervisor passes it to
    nspawn and does not boot the host again), kill what is left, unmount, forget them."""
    for name in names_:
        signal_all(name, signal.SIGCONT)  # a frozen host cannot shut down
        pid = supervisor_pid(name) or nspawn_pid(name)
        if pid:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_alive(n) for n in names_):
        time.sleep(0.2)
    for name in names_:
        kill(name)
        # The supervisor removes them when it ends by itself; a killed one cannot.
        remove_cgroups(cgroup_dirs(name))
        root = merged(name)
        for _ in range(50):
            if not is_mounted(root):
                break
            if subprocess.run(["umount", root], stderr=subprocess.DEVNULL).returncode != 0:
                time.sleep(0.1)
        if is_mounted(root):
            state.run(["umount", "--lazy", root], "unmount " + root)
        state.run(["rm", "-rf", "--one-file-system", host_dir(name)], "remove " + name)


def stop_supervisor(name):
    """End the host's supervisor for good, so that it boots nothing again. It is stopped
    first: an nspawn it has just started, before recording its pid, is then its child and
    gets recorded here, so `kill` finds it."""
    pid = supervisor_pid(name)
    if pid is None:
        return
    os.kill(pid, signal.SIGSTOP)
    for child in children(pid):
        cmdline = read_cmdline(int(child))
        if cmdline and b"systemd-nspawn" in os.path.basename(cmdline[0]):
            state.replace(os.path.join(host_dir(name), "nspawn.pid"), "%s\n" % child)
        else:  # forked, not yet exec'd: not a host yet
            try:
                os.kill(int(child), signal.SIGKILL)
            except ProcessLookupError:
                pass
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if supervisor_pid(name) is None:
            break
        time.sleep(0.1)


def kill(name):
    """Stop a host abruptly, as a power cut would: its supervisor first (a killed host does
    not come back), then SIGKILL to everything in it."""
    stop_supervisor(name)
    pid = nspawn_pid(name)
    for _ in range(20):
        pids = container_pids(name)
        if not pids:
            break
        signal_all(name, signal.SIGKILL)
        time.sleep(0.1)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for _ in range(50):
            if nspawn_pid(name) is None:
                break
            time.sleep(0.1)
