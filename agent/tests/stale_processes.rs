//! Real processes on this machine, each in its own directory: a copy of a real program or
//! shared library is run, then replaced, deleted or held open the ways upgrades do it, and
//! the scan must report exactly that, with the right reason and package.
//!
//! The files live under Cargo's target tmpdir, wherever the checkout is (under /tmp in
//! some CI clones), so the scans run without the default ignore list, which sets /tmp
//! aside; the rules have tests of their own. A fixture dpkg database (a separate
//! filesystem root) claims the files for the package `pgtest-fixture`; `/proc` is the
//! real one.

#![allow(clippy::print_stderr)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use patchgap_probe::report::{FindingKind, NowAtPath, Report};
use patchgap_probe::{IgnoreRules, Options, Roots, collect};

const PACKAGE: &str = "pgtest-fixture";

/// A scenario directory with its fixture dpkg root, and the child it started.
struct Scenario {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn first_existing(candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("none of {candidates:?} exists"))
}

fn sleep_bin() -> PathBuf {
    first_existing(&["/usr/bin/sleep", "/bin/sleep"])
}

fn libm() -> PathBuf {
    first_existing(&[
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/aarch64-linux-gnu/libm.so.6",
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
    ])
}

impl Scenario {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("stale-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir");
        Scenario { dir, child: None }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("files").join(name)
    }

    /// Copies `src` to `files/NAME` and lists it in the fixture package.
    fn install(&self, src: &Path, name: &str) -> PathBuf {
        let dst = self.path(name);
        fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        fs::copy(src, &dst).expect("copy");
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).expect("chmod");
        let info = self.dir.path().join("root/var/lib/dpkg/info");
        fs::create_dir_all(&info).expect("mkdir info");
        let list = info.join(format!("{PACKAGE}.list"));
        let mut text = fs::read_to_string(&list).unwrap_or_default();
        text.push_str(&format!("{}\n", dst.display()));
        fs::write(list, text).expect("list");
        fs::write(
            self.dir.path().join("root/var/lib/dpkg/status"),
            format!("Package: {PACKAGE}\nStatus: install ok installed\nArchitecture: all\nVersion: 2.0-1\n"),
        )
        .expect("status");
        dst
    }

    fn start(&mut self, mut cmd: Command, wait_for: &Path) -> u32 {
        // The binary was just copied: a fork in a concurrent test may still hold the copy's
        // write handle for a moment (ETXTBSY), so spawning is retried briefly.
        let mut tries = 0;
        let child = loop {
            match cmd.stdout(Stdio::null()).spawn() {
                Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other.expect("spawn"),
            }
        };
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let needle = wait_for.to_string_lossy().into_owned();
        while Instant::now() < deadline {
            let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
            let fds = fs::read_link(format!("/proc/{pid}/fd/0")).unwrap_or_default();
            if maps.contains(&needle) || fds.to_string_lossy().contains(&needle) {
                return pid;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process {pid} never used {needle}");
    }

    fn scan(&self) -> Report {
        collect(&Options {
            roots: Roots {
                proc: PathBuf::from("/proc"),
                fs: self.dir.path().join("root"),
            },
            ignore: IgnoreRules::new(false, &[]).expect("no rules"),
            integrity: None,
            skip_interpreters: false,
        })
    }

    /// Asserts that `pid` has exactly one finding, of this kind on this path, owned by the
    /// fixture package, and that no other process mentions this scenario's files.
    fn expect_only(
        &self,
        report: &Report,
        pid: u32,
        kind: FindingKind,
        path: &Path,
        now: NowAtPath,
    ) {
        let mine = self.dir.path().to_string_lossy().into_owned();
        let p = report
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .unwrap_or_else(|| panic!("pid {pid} not reported; report: {report:#?}"));
        assert_eq!(
            p.findings.len(),
            1,
            "exactly one finding: {:#?}",
            p.findings
        );
        let f = &p.findings[0];
        assert_eq!(
            (f.kind, f.path.as_str(), f.now_at_path),
            (kind, &*path.to_string_lossy(), now)
        );
        assert_eq!(f.package.as_deref(), Some(PACKAGE));
        let pkg = report
            .packages
            .iter()
            .find(|k| k.name == PACKAGE)
            .expect("package entry");
        assert_eq!(pkg.version.as_deref(), Some("2.0-1"));
        assert!(pkg.changed_at.is_some());
        for other in report.processes.iter().filter(|o| o.pid != pid) {
            assert!(
                other.findings.iter().all(|f| !f.path.starts_with(&mine)),
                "unrelated process {} reported with this scenario's files",
                other.pid
            );
        }
    }
}

/// Writes a new file beside `path` and renames it over, as dpkg unpacks an upgrade.
fn replace_like_dpkg(path: &Path, content_from: &Path) {
    let new = path.with_extension("dpkg-new");
    fs::copy(content_from, &new).expect("write new");
    fs::rename(&new, path).expect("rename over");
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn program_replaced_like_dpkg_is_exe_deleted() {
    let mut s = Scenario::new();
    let prog = s.install(&sleep_bin(), "prog");
    let mut cmd = Command::new(&prog);
    cmd.arg("60");
    let pid = s.start(cmd, &prog);
    replace_like_dpkg(&prog, &sleep_bin());
    let r = s.scan();
    s.expect_only(
        &r,
        pid,
        FindingKind::ExeDeleted,
        &prog,
        NowAtPath::AnotherFile,
    );
}

fn with_library(s: &mut Scenario) -> (u32, PathBuf) {
    let lib = s.install(&libm(), "libpgtest.so.1");
    let mut cmd = Command::new(sleep_bin());
    cmd.arg("60").env("LD_PRELOAD", &lib);
    let pid = s.start(cmd, &lib);
    (pid, lib)
}

#[test]
fn library_replaced_like_dpkg_is_map_deleted() {
    let mut s = Scenario::new();
    let (pid, lib) = with_library(&mut s);
    replace_like_dpkg(&lib, &libm());
    let r = s.scan();
    s.expect_only(
        &r,
        pid,
        FindingKind::MapDeleted,
        &lib,
        NowAtPath::AnotherFile,
    );
}

#[test]
fn library_deleted_is_map_deleted_with_nothing_left() {
    let mut s = Scenario::new();
    let (pid, lib) = with_library(&mut s);
    fs::remove_file(&lib).expect("rm");
    let r = s.scan();
    s.expect_only(&r, pid, FindingKind::MapDeleted, &lib, NowAtPath::Nothing);
}

#[test]
fn library_replaced_while_hard_link_keeps_it_is_map_replaced() {
    let mut s = Scenario::new();
    let (pid, lib) = with_library(&mut s);
    fs::hard_link(&lib, lib.with_extension("keep")).expect("link");
    replace_like_dpkg(&lib, &libm());
    let r = s.scan();
    // Telling "still linked" from "gone" reads /proc/PID/map_files, which needs root.
    let kind = if is_root() {
        FindingKind::MapReplaced
    } else {
        FindingKind::MapDeleted
    };
    s.expect_only(&r, pid, kind, &lib, NowAtPath::AnotherFile);
}

#[test]
fn library_hidden_by_bind_mount_is_map_replaced() {
    if !is_root() {
        eprintln!("SKIP: bind mounts need root");
        return;
    }
    let mut s = Scenario::new();
    let (pid, lib) = with_library(&mut s);
    let other = s.path("other.so");
    fs::copy(libm(), &other).expect("copy");
    let mounted = Command::new("mount")
        .arg("--bind")
        .arg(&other)
        .arg(&lib)
        .status();
    if !mounted.is_ok_and(|st| st.success()) {
        eprintln!("SKIP: mount --bind is not permitted here");
        return;
    }
    // No ` (deleted)` mark: only comparing device and inode under /proc/PID/root sees it.
    let r = s.scan();
    let _ = Command::new("umount").arg(&lib).status();
    s.expect_only(
        &r,
        pid,
        FindingKind::MapReplaced,
        &lib,
        NowAtPath::AnotherFile,
    );
}

#[test]
fn open_file_deleted_is_open_deleted() {
    let mut s = Scenario::new();
    let jar = s.path("app.jar");
    let _ = s.install(&sleep_bin(), "app.jar");
    let mut cmd = Command::new(sleep_bin());
    cmd.arg("60").stdin(fs::File::open(&jar).expect("open"));
    let pid = s.start(cmd, &jar);
    fs::remove_file(&jar).expect("rm");
    let r = s.scan();
    s.expect_only(&r, pid, FindingKind::OpenDeleted, &jar, NowAtPath::Nothing);
}

#[test]
fn untouched_copies_are_not_reported() {
    let mut s = Scenario::new();
    let (pid, _lib) = with_library(&mut s);
    let r = s.scan();
    assert!(
        r.processes.iter().all(|p| p.pid != pid),
        "nothing changed, nothing stale"
    );
    assert!(r.scan.processes_inspected > 0);
}
