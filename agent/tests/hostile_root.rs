//! A local user's container is the user's to shape: the probe, running as root, must not
//! be hung, blown up or redirected by what it finds under `/proc/PID/root`.
//!
//! The real scenarios are what any user can do: as `nobody`, `unshare -Ur -p -f --root`
//! into a fake root whose dpkg database is a trap, with a process in it that maps a
//! deleted library so that the probe reads that database. The real probe binary then
//! audits the whole machine, under a memory limit and with a timeout that only serves as
//! a safety net: it must finish, name the container's database unusable and why, and
//! still report the container's process. The fake roots live under Cargo's target tmpdir,
//! outside `/tmp` and `/var/tmp`, which the default ignore rules set aside.
//!
//! The maps comparison is checked on a fixture `/proc`, where a mapping's path can be made
//! to lead, through a link, to a host file with the mapped inode.

#![allow(clippy::print_stderr)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use patchgap_probe::report::{FindingKind, NowAtPath, Report};
use patchgap_probe::{IgnoreRules, Options, Roots, collect};

/// The library the container's process maps, as the process names it.
const VICTIM: &str = "/opt/victim/libvictim.so.1";

/// Safety net only: the probe takes about a second; a hung probe fails the test here.
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// Address space the probe may use: a probe that reads `/dev/zero` or a huge file into
/// memory fails here instead of taking the machine's memory.
const PROBE_MEMORY: u64 = 4 << 30;

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn first_existing(candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("none of {candidates:?} exists"))
}

/// The libraries `ldd` names for `bin`, and its loader.
fn needed(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = l.split_once("=> ").map_or(l, |(_, p)| p);
            let path = path.split(" (").next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Copies `src` to the same absolute path under `root`, readable by everyone.
fn copy_under(root: &Path, src: &Path, at: &str) {
    let dst = root.join(at.trim_start_matches('/'));
    fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
    fs::copy(src, &dst).expect("copy");
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// An unprivileged user's container: a fake root with `sleep`, its libraries and a victim
/// library, and `sleep` running in it in new user and PID namespaces.
struct Container {
    dir: tempfile::TempDir,
    launcher: Option<Child>,
    /// The `sleep` inside, as the probe's PID namespace numbers it.
    pid: u32,
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(c) = &mut self.launcher {
            // `--kill-child` takes the process inside down with unshare.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Container {
    /// Builds the fake root, lets `trap` shape its dpkg database, starts the process and
    /// deletes the library it maps. `None` when this machine cannot run the scenario.
    fn start(trap: impl FnOnce(&Path)) -> Option<Self> {
        if !is_root() {
            eprintln!("SKIP: needs root, to drop to nobody and to run the probe as root");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("hostile-")
            .permissions(fs::Permissions::from_mode(0o755))
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir");
        let root = dir.path().join("root");
        let sleep = first_existing(&["/usr/bin/sleep", "/bin/sleep"]);
        copy_under(&root, &sleep, "/usr/bin/sleep");
        for lib in needed(&sleep) {
            copy_under(&root, &lib, &lib.to_string_lossy());
        }
        let libm = first_existing(&[
            "/usr/lib/x86_64-linux-gnu/libm.so.6",
            "/usr/lib/aarch64-linux-gnu/libm.so.6",
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/aarch64-linux-gnu/libm.so.6",
        ]);
        copy_under(&root, &libm, VICTIM);
        let admin = root.join("var/lib/dpkg");
        fs::create_dir_all(admin.join("info")).expect("mkdir dpkg");
        fs::write(
            admin.join("status"),
            "Package: victim\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-1\n\n",
        )
        .expect("status");
        fs::write(admin.join("info/victim.list"), format!("{VICTIM}\n")).expect("list");
        trap(&admin);
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(dir.path())
            .status()
            .expect("chmod");
        let launcher = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["unshare", "-Ur", "-p", "-f", "--kill-child"])
            .arg(format!("--root={}", root.display()))
            .args(["/usr/bin/sleep", "600"])
            // Read inside the fake root by its loader; the host tools before it print a
            // warning about a library they cannot find and go on.
            .env("LD_PRELOAD", VICTIM)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn setpriv unshare");
        let mut c = Container {
            dir,
            launcher: Some(launcher),
            pid: 0,
        };
        let launcher_pid = c.launcher.as_ref().map_or(0, Child::id);
        let mapped = root.join(VICTIM.trim_start_matches('/'));
        let needle = mapped.to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.pid == 0 && Instant::now() < deadline {
            let children =
                fs::read_to_string(format!("/proc/{launcher_pid}/task/{launcher_pid}/children"))
                    .unwrap_or_default();
            for pid in children.split_whitespace().filter_map(|p| p.parse().ok()) {
                let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
                if maps.contains(&needle) {
                    c.pid = pid;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            c.pid != 0,
            "no process of the container mapped {needle}: are unprivileged user namespaces \
             enabled (kernel.unprivileged_userns_clone)?"
        );
        fs::remove_file(&mapped).expect("delete the victim library");
        Some(c)
    }

    /// Runs the real probe on the whole machine, as root, and returns its report.
    fn audit(&self) -> Report {
        let out_path = self.dir.path().join("report.json");
        let out = fs::File::create(&out_path).expect("report file");
        let mut probe = Command::new("prlimit")
            .arg(format!("--as={PROBE_MEMORY}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_patchgap-probe"))
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the probe");
        let deadline = Instant::now() + PROBE_TIMEOUT;
        let status = loop {
            if let Some(status) = probe.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = probe.kill();
                let _ = probe.wait();
                panic!("the probe hung on the container's files");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = probe
            .stderr
            .take()
            .map(|mut e| {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut e, &mut s);
                s
            })
            .unwrap_or_default();
        assert!(status.success(), "the probe failed: {status}: {stderr}");
        let bytes = fs::read(&out_path).expect("read report");
        serde_json::from_slice(&bytes).expect("report JSON")
    }

    /// Asserts that the container's process is reported, its library owned by no package
    /// (its database is not used), and that a warning names the database and `reason`.
    fn expect_unusable(&self, r: &Report, file: &str, reason: &str) {
        let p = r
            .processes
            .iter()
            .find(|p| p.pid == self.pid)
            .unwrap_or_else(|| panic!("container process {} not reported", self.pid));
        let f = p
            .findings
            .iter()
            .find(|f| f.path.ends_with(VICTIM))
            .unwrap_or_else(|| panic!("no finding for the victim: {:#?}", p.findings));
        assert_eq!(f.kind, FindingKind::MapDeleted);
        assert_eq!(f.package, None);
        let admin = format!("/proc/{}/root/var/lib/dpkg/{file}", self.pid);
        let warning = r
            .warnings
            .iter()
            .find(|w| w.contains(&admin))
            .unwrap_or_else(|| panic!("no warning names {admin}: {:#?}", r.warnings));
        assert!(
            warning.contains("dpkg database unusable") && warning.contains(reason),
            "{warning}"
        );
        eprintln!("reported: {warning}");
        // The host's own processes are still audited.
        assert!(r.scan.processes_inspected > 1);
    }
}

#[test]
fn diversions_fifo_does_not_hang_the_probe() {
    let Some(c) = Container::start(|admin| {
        let fifo = admin.join("diversions");
        let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
    }) else {
        return;
    };
    let r = c.audit();
    c.expect_unusable(&r, "diversions", "is a FIFO, not a regular file");
}

#[test]
fn diversions_linked_to_dev_zero_are_not_read() {
    let Some(c) = Container::start(|admin| {
        symlink("/dev/zero", admin.join("diversions")).expect("link");
    }) else {
        return;
    };
    let r = c.audit();
    c.expect_unusable(&r, "diversions", "symbolic link");
}

#[test]
fn status_linked_to_a_host_file_is_not_read() {
    let Some(c) = Container::start(|admin| {
        fs::remove_file(admin.join("status")).expect("rm status");
        // Followed from the probe's root, this is the host's file.
        symlink("/etc/passwd", admin.join("status")).expect("link");
    }) else {
        return;
    };
    let r = c.audit();
    c.expect_unusable(&r, "status", "symbolic link");
}

#[test]
fn huge_status_is_refused_by_its_size() {
    let Some(c) = Container::start(|admin| {
        // Sparse: costs no disk, announces 64 GiB.
        let f = fs::OpenOptions::new()
            .append(true)
            .open(admin.join("status"))
            .expect("open status");
        f.set_len(64 << 30).expect("grow status");
    }) else {
        return;
    };
    let r = c.audit();
    c.expect_unusable(&r, "status", "bytes");
}

#[test]
fn file_list_linked_to_dev_zero_is_skipped() {
    let Some(c) = Container::start(|admin| {
        let list = admin.join("info/victim.list");
        fs::remove_file(&list).expect("rm list");
        symlink("/dev/zero", list).expect("link");
    }) else {
        return;
    };
    let r = c.audit();
    // Every list is read when a path has no owner: this one is skipped, as a list that
    // cannot be read always was, and the rest of the database still counts.
    let p = r
        .processes
        .iter()
        .find(|p| p.pid == c.pid)
        .unwrap_or_else(|| panic!("container process {} not reported", c.pid));
    assert!(
        p.findings
            .iter()
            .any(|f| f.path.ends_with(VICTIM) && f.package.is_none()),
        "{:#?}",
        p.findings
    );
    assert!(
        r.warnings.iter().all(|w| !w.contains(&c.pid.to_string())),
        "{:#?}",
        r.warnings
    );
}

/// A fixture host: `/proc` entries of processes whose roots are directories of it.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let f = Fixture {
            dir: tempfile::Builder::new()
                .prefix("maps-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .expect("tempdir"),
        };
        f.write("proc/stat", "cpu 1 2 3\nbtime 1700000000\n");
        fs::create_dir_all(f.p("proc/self/ns")).expect("self");
        symlink("pid:[4026531836]", f.p("proc/self/ns/pid")).expect("self ns");
        f
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.p(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    /// A process of another PID namespace, in mount namespace `mnt`, rooted at `root`
    /// (relative to the fixture), mapping the inode of `file` under the name `shown`.
    fn process(&self, pid: u32, mnt: &str, root: &str, file: &Path, shown: &str) {
        let m = fs::metadata(file).expect("mapped file");
        let dev = m.dev();
        let (major, minor) = (
            ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
            (dev & 0xff) | ((dev >> 12) & !0xff),
        );
        let base = format!("proc/{pid}");
        self.write(
            &format!("{base}/stat"),
            &format!("{pid} (evil) S 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0"),
        );
        self.write(
            &format!("{base}/maps"),
            &format!(
                "1000-2000 r-xp 00000000 {major:02x}:{minor:02x} {} {shown}\n",
                m.ino()
            ),
        );
        self.write(&format!("{base}/cgroup"), "0::/\n");
        fs::create_dir_all(self.p(&format!("{base}/ns"))).expect("ns");
        fs::create_dir_all(self.p(&format!("{base}/fd"))).expect("fd");
        symlink("pid:[4026532999]", self.p(&format!("{base}/ns/pid"))).expect("pidns");
        symlink(mnt, self.p(&format!("{base}/ns/mnt"))).expect("mntns");
        symlink("/usr/bin/evil", self.p(&format!("{base}/exe"))).expect("exe");
        symlink(self.p(root), self.p(&format!("{base}/root"))).expect("root");
    }

    fn scan(&self) -> Report {
        collect(&Options {
            roots: Roots::fixture(self.dir.path()),
            ignore: IgnoreRules::new(false, &[]).expect("no rules"),
            integrity: None,
            skip_interpreters: false,
        })
    }
}

/// The one finding of `pid`, which must be reported.
fn only_finding(r: &Report, pid: u32) -> (FindingKind, &str, NowAtPath, Option<&str>) {
    let p = r
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("the stale mapping of {pid} is not reported: {r:#?}"));
    assert_eq!(p.findings.len(), 1, "{:#?}", p.findings);
    let f = &p.findings[0];
    (f.kind, f.path.as_str(), f.now_at_path, f.package.as_deref())
}

/// A container maps a library at a path that, inside the container, is a link to
/// `/etc/passwd`, and its maps line names the inode of the host's `/etc/passwd`. In the
/// container's own view that path leads to its own `/etc/passwd`, another file: the
/// mapping is stale. Followed from the probe's root, the link would lead to the host's
/// file and make the mapping look current.
#[test]
fn mapped_paths_are_compared_inside_the_process_root() {
    let h = Fixture::new();
    h.write(
        "c1/var/lib/dpkg/status",
        "Package: evil\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n",
    );
    h.write("c1/var/lib/dpkg/info/evil.list", "/usr/lib/libevil.so\n");
    h.write("c1/etc/passwd", "root:x:0:0::/:/bin/sh\n");
    fs::create_dir_all(h.p("c1/usr/lib")).expect("mkdir");
    symlink("/etc/passwd", h.p("c1/usr/lib/libevil.so")).expect("link");
    h.process(
        10,
        "mnt:[4026532500]",
        "c1",
        Path::new("/etc/passwd"),
        "/usr/lib/libevil.so",
    );
    let r = h.scan();
    assert_eq!(
        only_finding(&r, 10),
        (
            FindingKind::MapReplaced,
            "/usr/lib/libevil.so",
            NowAtPath::AnotherFile,
            Some("evil")
        )
    );
}

/// Two chroots in one mount namespace (`unshare -Ur` and `chroot` make one) see different
/// files at the same path: one process's answer must not be taken for the other's.
#[test]
fn chroots_sharing_a_mount_namespace_are_compared_each_in_its_own_root() {
    let h = Fixture::new();
    h.write("c1/usr/lib/libx.so", "one");
    h.write("c2/usr/lib/libx.so", "two");
    let mapped = h.p("c1/usr/lib/libx.so");
    // Both map c1's file: current for the first, replaced for the second.
    h.process(10, "mnt:[4026532500]", "c1", &mapped, "/usr/lib/libx.so");
    h.process(11, "mnt:[4026532500]", "c2", &mapped, "/usr/lib/libx.so");
    let r = h.scan();
    assert!(
        r.processes.iter().all(|p| p.pid != 10),
        "current mapping reported: {:#?}",
        r.processes
    );
    assert_eq!(
        only_finding(&r, 11),
        (
            FindingKind::MapReplaced,
            "/usr/lib/libx.so",
            NowAtPath::AnotherFile,
            None
        )
    );
}
