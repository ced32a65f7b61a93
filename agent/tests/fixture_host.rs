//! A whole fake host under a temporary directory: `/proc` entries for a system manager, a
//! service with a worker, a login session, a docker container with its own dpkg database,
//! an unowned library, memfd noise, a kernel thread and processes that vanish or are
//! malformed. Drives the scan, attribution and grouping end to end without root.

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};

use patchgap_probe::report::{FindingKind, Owner, Report, Severity};
use patchgap_probe::{IgnoreRules, Options, Roots, collect, roots::under};

const HOST_NS: &str = "pid:[4026531836]";
const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";
const LIBSSL: &str = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

struct Host {
    dir: tempfile::TempDir,
}

struct Proc<'a> {
    pid: u32,
    comm: &'a str,
    cgroup: &'a str,
    pidns: &'a str,
    root: &'a str,
    exe: &'a str,
    maps: Vec<String>,
}

impl Host {
    fn new() -> Self {
        let h = Host {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        h.write("proc/stat", "cpu 1 2 3\nbtime 1700000000\n");
        fs::create_dir_all(h.p("proc/self/ns")).expect("self");
        symlink(HOST_NS, h.p("proc/self/ns/pid")).expect("self ns");
        h
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.p(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    /// A dpkg database under `root` ("" for the host) with packages and their files.
    fn dpkg(&self, root: &str, packages: &[(&str, &str, &str, &[&str])]) {
        let mut status = String::new();
        for (info_name, arch, version, files) in packages {
            let name = info_name.split(':').next().unwrap_or(info_name);
            let ma = if info_name.contains(':') {
                "Multi-Arch: same\n"
            } else {
                ""
            };
            status.push_str(&format!(
                "Package: {name}\nStatus: install ok installed\nArchitecture: {arch}\n{ma}Version: {version}\n\n"
            ));
            let list: String = files.iter().map(|f| format!("{f}\n")).collect();
            self.write(&format!("{root}var/lib/dpkg/info/{info_name}.list"), &list);
        }
        self.write(&format!("{root}var/lib/dpkg/status"), &status);
    }

    /// A real file under `root`, returning the maps line that maps it intact.
    fn mapped_file(&self, root: &str, path: &str) -> String {
        let full = under(&self.p(root), Path::new(path));
        fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        fs::write(&full, b"ELF").expect("write");
        let m = fs::metadata(&full).expect("stat");
        let dev = m.dev();
        let (major, minor) = (
            ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
            (dev & 0xff) | ((dev >> 12) & !0xff),
        );
        format!(
            "1000-2000 r-xp 00000000 {major:02x}:{minor:02x} {} {path}",
            m.ino()
        )
    }

    fn process(&self, p: Proc) {
        let base = format!("proc/{}", p.pid);
        self.write(
            &format!("{base}/stat"),
            &format!(
                "{} ({}) S 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0",
                p.pid, p.comm
            ),
        );
        self.write(&format!("{base}/maps"), &(p.maps.join("\n") + "\n"));
        self.write(&format!("{base}/cgroup"), p.cgroup);
        fs::create_dir_all(self.p(&format!("{base}/ns"))).expect("ns");
        fs::create_dir_all(self.p(&format!("{base}/fd"))).expect("fd");
        symlink(p.pidns, self.p(&format!("{base}/ns/pid"))).expect("pidns");
        symlink(p.exe, self.p(&format!("{base}/exe"))).expect("exe");
        symlink(self.p(p.root), self.p(&format!("{base}/root"))).expect("root");
    }

    fn scan(&self) -> Report {
        collect(&Options {
            roots: Roots::fixture(self.dir.path()),
            ignore: IgnoreRules::default(),
            integrity: None,
            skip_interpreters: false,
        })
    }
}

fn deleted(path: &str) -> String {
    format!("3000-4000 r-xp 00001000 fd:01 999 {path} (deleted)")
}

fn build() -> Host {
    let h = Host::new();
    h.dpkg(
        "",
        &[
            // Merged /usr: dpkg lists /lib, the kernel shows /usr/lib.
            (
                "libc6:amd64",
                "amd64",
                "2.36-9+deb12u9",
                &["/lib/x86_64-linux-gnu/libc.so.6"],
            ),
            ("libssl3:amd64", "amd64", "3.0.15-1~deb12u1", &[LIBSSL]),
            ("nginx-light", "amd64", "1.22.1-9", &["/usr/sbin/nginx"]),
        ],
    );
    h.write(
        "var/log/dpkg.log",
        "2026-11-20 10:00:00 upgrade libssl3:amd64 3.0.14-1~deb12u2 3.0.15-1~deb12u1\n",
    );
    h.dpkg(
        "containers/abc/",
        &[("libssl3:amd64", "amd64", "3.0.9-1", &[LIBSSL])],
    );
    let nginx_ok = h.mapped_file("", "/usr/sbin/nginx");
    let service = |pid, comm| Proc {
        pid,
        comm,
        cgroup: "12:pids:/system.slice/nginx.service\n1:name=systemd:/system.slice/nginx.service\n",
        pidns: HOST_NS,
        root: "",
        exe: "/usr/sbin/nginx",
        maps: vec![nginx_ok.clone(), deleted(LIBSSL), deleted(LIBC)],
    };
    h.process(service(100, "nginx"));
    h.process(service(101, "nginx: worker) S 9"));
    h.process(Proc {
        pid: 1,
        comm: "systemd",
        cgroup: "0::/init.scope\n",
        pidns: HOST_NS,
        root: "",
        exe: "/usr/lib/systemd/systemd",
        maps: vec![deleted(LIBC)],
    });
    h.process(Proc {
        pid: 200,
        comm: "bash",
        cgroup: "0::/user.slice/user-1000.slice/session-3.scope\n",
        pidns: HOST_NS,
        root: "",
        exe: "/usr/bin/bash",
        maps: vec![deleted(LIBC)],
    });
    h.process(Proc {
        pid: 300,
        comm: "sshd",
        cgroup: "0::/system.slice/docker-abc123.scope\n",
        pidns: "pid:[4026532000]",
        root: "containers/abc",
        exe: "/usr/sbin/sshd",
        maps: vec![deleted(LIBSSL)],
    });
    h.process(Proc {
        pid: 400,
        comm: "app",
        cgroup: "0::/\n",
        pidns: HOST_NS,
        root: "",
        exe: "/opt/app/bin/app",
        maps: vec![deleted("/opt/app/lib/libfoo.so")],
    });
    h.process(Proc {
        pid: 500,
        comm: "jit",
        cgroup: "0::/\n",
        pidns: HOST_NS,
        root: "",
        exe: "/memfd:jit (deleted)",
        maps: vec![deleted("/memfd:jit")],
    });
    // A kernel thread: PF_KTHREAD in the flags field.
    h.write(
        "proc/2/stat",
        "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0",
    );
    // A process that exited between listing and reading: an empty directory.
    fs::create_dir_all(h.p("proc/700")).expect("vanished");
    // Garbage where stat should be.
    h.write("proc/600/stat", "\u{1b}[2J not a stat line");
    h
}

#[test]
fn groups_findings_by_what_fixes_them() {
    let h = build();
    let r = h.scan();
    let a = &r.actions;
    assert_eq!(a.services.len(), 1, "{:#?}", a.services);
    assert_eq!(a.services[0].unit, "nginx.service");
    assert_eq!(a.services[0].pids, vec![100, 101]);
    assert_eq!(a.services[0].packages, vec!["libc6:amd64", "libssl3:amd64"]);
    assert!(!a.services[0].restart_refused);
    assert_eq!(a.system_manager, vec![1]);
    assert_eq!(a.sessions.len(), 1);
    assert_eq!(
        (a.sessions[0].name.as_str(), a.sessions[0].uid),
        ("session-3.scope", Some(1000))
    );
    assert_eq!(a.containers.len(), 1);
    assert_eq!(
        (
            a.containers[0].runtime.as_str(),
            a.containers[0].id.as_str()
        ),
        ("docker", "abc123")
    );
    assert_eq!(a.other_pids, vec![400]);
    let worker = r.processes.iter().find(|p| p.pid == 101).expect("worker");
    assert_eq!(worker.comm, "nginx: worker) S 9");
    assert_eq!(
        worker.findings.len(),
        2,
        "the intact nginx binary is not stale"
    );
}

#[test]
fn packages_come_from_the_right_database() {
    let r = build().scan();
    let find = |ctx: &str, name: &str| {
        r.packages
            .iter()
            .find(|p| p.context == ctx && p.name == name)
            .unwrap_or_else(|| panic!("{ctx} {name} missing: {:#?}", r.packages))
    };
    let host_ssl = find("host", "libssl3:amd64");
    assert_eq!(host_ssl.version.as_deref(), Some("3.0.15-1~deb12u1"));
    assert_eq!(
        host_ssl.previous_version.as_deref(),
        Some("3.0.14-1~deb12u2")
    );
    assert_eq!(host_ssl.processes, 2);
    assert_eq!(find("host", "libc6:amd64").processes, 4);
    let ctr = find("container:docker:abc123", "libssl3:amd64");
    assert_eq!(
        ctr.version.as_deref(),
        Some("3.0.9-1"),
        "judged by the container's own database"
    );
    let sshd = r
        .processes
        .iter()
        .find(|p| p.pid == 300)
        .expect("container process");
    assert!(matches!(sshd.owner, Owner::Container { .. }));
    let unowned = r.processes.iter().find(|p| p.pid == 400).expect("unowned");
    assert_eq!(unowned.findings[0].package, None);
    assert_eq!(unowned.findings[0].severity, Severity::Low);
    assert_eq!(unowned.findings[0].kind, FindingKind::MapDeleted);
}

#[test]
fn noise_and_odd_entries_are_counted_not_lost() {
    let r = build().scan();
    assert!(r.processes.iter().all(|p| p.pid != 500));
    let memfd: Vec<_> = r.ignored.iter().filter(|i| i.pid == 500).collect();
    assert!(!memfd.is_empty() && memfd.iter().all(|i| i.rule == "^/memfd:"));
    assert_eq!(r.scan.kernel_threads, 1);
    assert_eq!(r.scan.processes_vanished, 1);
    assert_eq!(r.scan.processes_denied, 1, "the malformed stat is counted");
    assert!(r.scan.partial);
    assert!(r.scan.denied_reasons.iter().any(|d| d.contains("pid 600")));
    // The report round-trips through its JSON form.
    let json = serde_json::to_string(&r).expect("serialize");
    let back: Report = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, r);
}

#[test]
fn no_dpkg_database_is_a_warning_not_a_failure() {
    let h = Host::new();
    h.process(Proc {
        pid: 10,
        comm: "daemon",
        cgroup: "0::/system.slice/d.service\n",
        pidns: HOST_NS,
        root: "",
        exe: "/usr/sbin/d",
        maps: vec![deleted(LIBC)],
    });
    let r = h.scan();
    assert_eq!(r.processes.len(), 1);
    assert_eq!(r.processes[0].findings[0].package, None);
    assert!(
        r.warnings.iter().any(|w| w.contains("no dpkg database")),
        "{:?}",
        r.warnings
    );
}
