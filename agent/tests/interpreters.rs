//! Real interpreter processes on this machine: a Python, Perl, Ruby and Node.js daemon
//! each import a module from their own directory; the module is then upgraded the way
//! dpkg does it (a new file renamed over it), and the scan must report that module, its
//! package and versions for that process, and nothing before the upgrade.
//!
//! The safety test starts daemons whose environment points `PYTHONPATH`, `PERL5LIB` and
//! `RUBYLIB` (and the `*OPT` variables) at code that leaves a marker file whenever it
//! runs, then runs the probe binary under `strace`: no marker may appear, and the probe
//! may create no process (no `fork`/`vfork`, no `clone` without `CLONE_THREAD`, no
//! `execve` but its own).
//!
//! Files live under Cargo's target tmpdir; a fixture dpkg database (a separate root)
//! owns them as `pgtest-interp`; `/proc` is the real one.

#![allow(clippy::print_stderr)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use patchgap_probe::report::{FindingKind, Report};
use patchgap_probe::{IgnoreRules, Options, Roots, collect};

const PACKAGE: &str = "pgtest-interp";

/// A daemon in its own directory, killed on drop.
struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Daemon {
    /// Writes `files` (relative path, contents) under `app/` and lists them in the
    /// fixture package, version 1.0-2, upgraded from 1.0-1 according to its dpkg.log.
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("interp-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir");
        let mut list = String::new();
        for (name, text) in files {
            let p = dir.path().join("app").join(name);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(&p, text).expect("write");
            list.push_str(&format!("{}\n", p.display()));
        }
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("var/lib/dpkg/info")).expect("mkdir");
        fs::create_dir_all(root.join("var/log")).expect("mkdir");
        fs::write(root.join(format!("var/lib/dpkg/info/{PACKAGE}.list")), list).expect("list");
        fs::write(
            root.join("var/lib/dpkg/status"),
            format!("Package: {PACKAGE}\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-2\n"),
        )
        .expect("status");
        fs::write(
            root.join("var/log/dpkg.log"),
            format!("2026-01-01 00:00:00 upgrade {PACKAGE}:all 1.0-1 1.0-2\n"),
        )
        .expect("log");
        Daemon { dir, child: None }
    }

    fn app(&self, name: &str) -> PathBuf {
        self.dir.path().join("app").join(name)
    }

    /// Starts `program args` in `app/` and waits until it wrote `app/ready` (it has
    /// loaded its modules), then past the probe's start-time tolerance.
    fn start(&mut self, program: &str, args: &[&str], env: &[(&str, String)]) -> u32 {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(self.app(""))
            .stdout(Stdio::null())
            .envs(env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().expect("spawn interpreter");
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.app("ready").exists() {
            assert!(Instant::now() < deadline, "{program} never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The change must be later than the start by more than the tolerance.
        let wait = patchgap_probe::interp::TOLERANCE_SECS.unsigned_abs() + 1;
        std::thread::sleep(Duration::from_secs(wait));
        pid
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

    /// The findings of `pid` under this daemon's directory.
    fn findings(&self, report: &Report, pid: u32) -> Vec<(FindingKind, String, Option<String>)> {
        let mine = self.dir.path().to_string_lossy().into_owned();
        report
            .processes
            .iter()
            .filter(|p| p.pid == pid)
            .flat_map(|p| &p.findings)
            .filter(|f| f.path.starts_with(&mine))
            .map(|f| (f.kind, f.path.clone(), f.package.clone()))
            .collect()
    }

    /// Starts the daemon, checks that it is clean, upgrades `module` like dpkg, and
    /// checks that exactly that module is reported, with its package and versions.
    fn upgraded_module_is_found(mut self, program: &str, args: &[&str], module: &str) {
        let pid = self.start(program, args, &[]);
        let before = self.scan();
        assert_eq!(self.findings(&before, pid), [], "stale before any upgrade");
        assert!(before.scan.interpreters_checked >= 1, "{:?}", before.scan);
        let path = self.app(module);
        let new = path.with_extension("dpkg-new");
        fs::write(&new, "# version 1.0-2\n").expect("write new");
        fs::rename(&new, &path).expect("rename over");
        let after = self.scan();
        assert_eq!(
            self.findings(&after, pid),
            [(
                FindingKind::ModuleChanged,
                path.to_string_lossy().into_owned(),
                Some(PACKAGE.to_string())
            )],
            "report: {:#?}",
            after.processes
        );
        let pkg = after
            .packages
            .iter()
            .find(|p| p.name == PACKAGE)
            .expect("package entry");
        assert_eq!(pkg.version.as_deref(), Some("1.0-2"));
        assert_eq!(pkg.previous_version.as_deref(), Some("1.0-1"));
        let proc_ = after
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .expect("process");
        assert!(
            after.actions.other_pids.contains(&pid)
                || after.actions.sessions.iter().any(|s| s.pids.contains(&pid))
                || after.actions.services.iter().any(|s| s.pids.contains(&pid)),
            "process not in any action: {:?} {:?}",
            proc_.owner,
            after.actions
        );
    }
}

fn have(program: &str) -> bool {
    Path::new(program).exists()
}

#[test]
fn python_module_upgraded_under_a_daemon() {
    let d = Daemon::new(&[
        (
            "daemon.py",
            "import sys, time\n\"\"\"import not_a_module\"\"\"\ntry:\n    from pgpkg import (\n        pgmod,\n    )\nexcept ImportError:\n    raise\nopen('ready', 'w').close()\nwhile True:\n    time.sleep(1)\n",
        ),
        ("pgpkg/__init__.py", ""),
        ("pgpkg/pgmod.py", "VALUE = 1\n"),
    ]);
    d.upgraded_module_is_found("/usr/bin/python3", &["-u", "daemon.py"], "pgpkg/pgmod.py");
}

#[test]
fn perl_module_upgraded_under_a_daemon() {
    let d = Daemon::new(&[
        (
            "daemon.pl",
            "use strict;\nuse FindBin;\nuse lib \"$FindBin::Bin/lib\";\nuse PgTest::Mod;\n=pod\n\nuse Not::There;\n\n=cut\nopen(my $f, '>', 'ready'); close($f);\nsleep 1 while 1;\n",
        ),
        ("lib/PgTest/Mod.pm", "package PgTest::Mod;\n1;\n"),
    ]);
    d.upgraded_module_is_found("/usr/bin/perl", &["-w", "daemon.pl"], "lib/PgTest/Mod.pm");
}

#[test]
fn ruby_library_upgraded_under_a_daemon() {
    // .ci/run installs ruby: in CI a missing interpreter fails here.
    assert!(
        have("/usr/bin/ruby"),
        "ruby is not installed (apt-get install ruby)"
    );
    let d = Daemon::new(&[
        (
            "daemon.rb",
            "require 'json'\nrequire_relative 'lib/pgmod'\n# require 'not_there'\nFile.write('ready', '')\nloop { sleep 1 }\n",
        ),
        ("lib/pgmod.rb", "module PgMod; end\n"),
    ]);
    d.upgraded_module_is_found("/usr/bin/ruby", &["daemon.rb"], "lib/pgmod.rb");
}

#[test]
fn node_module_upgraded_under_a_daemon() {
    let node = ["/usr/bin/node", "/usr/bin/nodejs"]
        .into_iter()
        .find(|p| have(p));
    let Some(node) = node else {
        eprintln!("skipped: Node.js is not installed (no /usr/bin/node or /usr/bin/nodejs)");
        return;
    };
    let d = Daemon::new(&[
        (
            "daemon.js",
            "const fs = require('fs');\nconst m = require('./lib/pgmod');\n// require('./not_there')\nfs.writeFileSync('ready', '');\nsetInterval(() => {}, 1000);\n",
        ),
        ("lib/pgmod.js", "module.exports = 1;\n"),
    ]);
    d.upgraded_module_is_found(node, &["daemon.js"], "lib/pgmod.js");
}

/// Evil code for each language that leaves `marker-PID` in its directory when it runs.
/// A daemon to start: program, arguments, environment.
type Spec = (String, Vec<String>, Vec<(&'static str, String)>);

fn evil_daemons(dir: &Path) -> Vec<Spec> {
    let evil = dir.join("evil");
    fs::create_dir_all(&evil).expect("mkdir");
    let marker = evil.join("marker-");
    let m = marker.display();
    fs::write(
        evil.join("sitecustomize.py"),
        format!("import os\nopen('{m}' + str(os.getpid()), 'w').close()\n"),
    )
    .expect("py");
    fs::write(
        evil.join("PgEvil.pm"),
        format!("package PgEvil;\nopen(my $f, '>', '{m}' . $$); close($f);\n1;\n"),
    )
    .expect("pm");
    fs::write(
        evil.join("pgevil.rb"),
        format!("File.write('{m}' + Process.pid.to_s, '')\n"),
    )
    .expect("rb");
    let e = evil.display().to_string();
    let mut out = vec![
        (
            "/usr/bin/python3".to_string(),
            vec![
                "-c".into(),
                "import sitecustomize, time\nwhile True: time.sleep(1)".into(),
            ],
            vec![("PYTHONPATH", e.clone())],
        ),
        (
            "/usr/bin/perl".to_string(),
            vec!["-e".into(), "use PgEvil; sleep 1 while 1;".into()],
            vec![
                ("PERL5LIB", e.clone()),
                ("PERL5OPT", "-MPgEvil".to_string()),
            ],
        ),
    ];
    if have("/usr/bin/ruby") {
        out.push((
            "/usr/bin/ruby".to_string(),
            vec!["-e".into(), "require 'pgevil'\nloop { sleep 1 }".into()],
            vec![("RUBYLIB", e.clone()), ("RUBYOPT", "-rpgevil".to_string())],
        ));
    }
    out
}

fn markers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("evil"))
        .expect("read evil")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("marker-"))
        .collect();
    names.sort();
    names
}

#[test]
fn hostile_search_paths_are_read_never_run() {
    assert!(
        have("/usr/bin/strace"),
        "strace is not installed (apt-get install strace)"
    );
    let dir = tempfile::Builder::new()
        .prefix("interp-evil-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    let mut children = Vec::new();
    let specs = evil_daemons(dir.path());
    for (program, args, env) in &specs {
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir.path())
            .spawn()
            .expect("spawn");
        children.push(child);
    }
    struct Kill(Vec<Child>);
    impl Drop for Kill {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let children = Kill(children);
    // Each daemon ran its own evil code once: one marker each.
    let deadline = Instant::now() + Duration::from_secs(30);
    while markers(dir.path()).len() < children.0.len() {
        assert!(
            Instant::now() < deadline,
            "daemons did not start: {:?}",
            markers(dir.path())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Change the evil files after the start, so the probe must reach and report them.
    std::thread::sleep(Duration::from_secs(
        patchgap_probe::interp::TOLERANCE_SECS.unsigned_abs() + 1,
    ));
    for name in ["sitecustomize.py", "PgEvil.pm", "pgevil.rb"] {
        let p = dir.path().join("evil").join(name);
        let text = fs::read(&p).expect("read");
        fs::write(&p, text).expect("touch");
    }
    let before = markers(dir.path());
    let trace = dir.path().join("strace.out");
    let out = Command::new("/usr/bin/strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=clone,clone3,fork,vfork,execve",
            "-o",
        ])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_patchgap-probe"))
        .args(["--no-default-ignores"])
        .output()
        .expect("run probe under strace");
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Report = serde_json::from_slice(&out.stdout).expect("probe JSON");
    assert_eq!(markers(dir.path()), before, "the probe ran code it found");
    let trace = fs::read_to_string(&trace).expect("trace");
    let spawned: Vec<&str> = trace
        .lines()
        .filter(|l| {
            let call = l.split_once(' ').map_or("", |(_, r)| r.trim_start());
            let clone = call.starts_with("clone(") || call.starts_with("clone3(");
            call.starts_with("fork(")
                || call.starts_with("vfork(")
                || (clone && !call.contains("CLONE_THREAD"))
        })
        .collect();
    assert_eq!(spawned, Vec::<&str>::new(), "the probe created processes");
    let execs = trace.lines().filter(|l| l.contains("execve(")).count();
    assert_eq!(
        execs, 1,
        "the probe executed something besides itself:\n{trace}"
    );
    // And it did read them: every evil file is reported for its daemon.
    let evil = dir.path().join("evil");
    for (c, (program, _, _)) in children.0.iter().zip(&specs) {
        let p = report.processes.iter().find(|p| p.pid == c.id());
        let found = p.is_some_and(|p| {
            p.findings.iter().any(|f| {
                f.kind == FindingKind::ModuleChanged && f.path.starts_with(&*evil.to_string_lossy())
            })
        });
        assert!(found, "{program}: changed evil module not reported: {p:#?}");
    }
}
