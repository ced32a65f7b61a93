//! What the real-host tests of campaigns (`restart`, `reboot`) share: a campaign's working
//! files (inventory of some fleet hosts, state file, report, stderr), the command as a user
//! runs it (stdin not a terminal, no agent, the fleet's keys), and reading back its
//! journal and report.

// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet::Fleet;

/// A campaign's working files: inventory, state file, report, stderr.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub fn new(fleet: &Fleet, hosts: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = String::from("all:\n  hosts:\n");
        for name in hosts {
            text.push_str(&format!(
                "    {name}:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: root\n",
                fleet.host(name).port
            ));
        }
        std::fs::write(dir.path().join("inventory.yml"), text).expect("inventory");
        Files { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn state(&self) -> PathBuf {
        self.path("state.jsonl")
    }

    /// The journal's records so far (a torn last line is skipped).
    pub fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// When the journal recorded `step` of `host` (Unix ms).
    pub fn at_ms(&self, step: &str, host: &str) -> i64 {
        self.journal()
            .iter()
            .find(|r| {
                r["step"]["step"] == step
                    && (r["step"]["host"] == host || r["step"]["outcome"]["host"] == host)
            })
            .and_then(|r| r["at_ms"].as_i64())
            .unwrap_or_else(|| panic!("no {step} of {host} in the journal"))
    }

    /// Waits (bounded by a safety net only) until the journal has a record matching
    /// `wanted`.
    pub fn wait_for_record(&self, wanted: impl Fn(&Value) -> bool) {
        let safety_net = Instant::now() + Duration::from_secs(300);
        while !self.journal().iter().any(&wanted) {
            assert!(
                Instant::now() < safety_net,
                "the journal never showed the step"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `patchgap SUBCOMMAND` (`args` first: the subcommand and its own options) on the
/// files' inventory, its stdin not a terminal, the JSON report to `report.json`.
pub fn command(fleet: &Fleet, files: &Files, args: &[&str], extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_patchgap"));
    command
        .args(args)
        .args(["--quiet", "--format", "json", "--ssh-config", "none"])
        .arg("-i")
        .arg(files.path("inventory.yml"))
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg("--private-key")
        .arg(fleet.key())
        .arg("-o")
        .arg(files.path("report.json"))
        .args(extra)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(files.path("stderr")).expect("stderr file"));
    command
}

/// Waits for the campaign and returns its exit code and report.
pub fn finish(files: &Files, child: Child) -> (Option<i32>, Value) {
    let out: Output = child.wait_with_output().expect("wait for patchgap");
    let stderr = std::fs::read_to_string(files.path("stderr")).unwrap_or_default();
    let report = std::fs::read_to_string(files.path("report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}); stderr:\n{stderr}"));
    let report = serde_json::from_str(&report)
        .unwrap_or_else(|e| panic!("report is not JSON: {e}\n{report}"));
    (out.status.code(), report)
}

/// A host of the campaign report.
pub fn report_host<'r>(report: &'r Value, host: &str) -> &'r Value {
    report["campaign"]["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == host))
        .unwrap_or_else(|| panic!("{host} not in the report: {report:#}"))
}

pub fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}
