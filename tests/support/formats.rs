//! Reading patchgap's report files with independent parsers: tests/support/check_formats.py
//! (Python's csv module, lxml against tests/data/junit.xsd, prometheus_client, the
//! monitoring-plugins output rules) prints what it read as JSON, and these helpers look
//! things up in it. Include with `#[path = "support/formats.rs"] mod formats;`. Python and
//! its modules are required: a missing one fails the test, it never skips.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A file of tests/data/.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Debian's python3, where python3-lxml and python3-prometheus-client install.
pub const PYTHON: &str = "/usr/bin/python3";

/// What the independent parser read from `file` in `mode`.
pub fn parse(mode: &str, file: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/check_formats.py");
    let mut command = Command::new(PYTHON);
    command.arg(&script).arg(mode).arg(file);
    if mode == "junit" {
        command.arg(data("junit.xsd"));
    }
    let out = command.output().unwrap_or_else(|e| {
        panic!("{PYTHON} is required (apt-get install python3 python3-lxml python3-prometheus-client): {e}")
    });
    assert!(
        out.status.success(),
        "{mode} check of {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the checker prints JSON")
}

pub fn rows(csv: &Value) -> Vec<Vec<String>> {
    serde_json::from_value(csv["rows"].clone()).expect("rows of strings")
}

pub fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The sample (value) of `family` with these labels.
pub fn metric(prom: &Value, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = prom["families"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == family)?;
    family["samples"].as_array()?.iter().find_map(|s| {
        labels
            .iter()
            .all(|(k, v)| s["labels"][*k] == *v)
            .then(|| s["value"].as_f64())
            .flatten()
    })
}

pub fn suite<'a>(junit: &'a Value, name: &str) -> &'a Value {
    junit["suites"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no testsuite {name}"))
}

pub fn case<'a>(suite: &'a Value, name: &str) -> &'a Value {
    suite["cases"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

/// True when some row of a CSV (header first) has every `(column, value)` given.
pub fn has_row(rows: &[Vec<String>], cells: &[(&str, &str)]) -> bool {
    let columns: Vec<(usize, &str)> = cells.iter().map(|(c, v)| (column(rows, c), *v)).collect();
    rows[1..]
        .iter()
        .any(|r| columns.iter().all(|(i, v)| r[*i] == *v))
}

/// One file for every format, in a directory of its own, for one run to write with `-o`.
pub struct Outputs {
    _dir: tempfile::TempDir,
    files: Vec<(&'static str, PathBuf)>,
}

impl Outputs {
    pub fn new() -> Outputs {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = [
            ("csv", "findings.csv"),
            ("csv-hosts", "hosts.csv"),
            ("csv-policy", "policy.csv"),
            ("junit", "report.xml"),
            ("openmetrics", "patchgap.prom"),
            ("nagios", "status.nagios"),
            ("json", "report.json"),
            ("table", "summary.txt"),
        ]
        .into_iter()
        .map(|(format, name)| (format, dir.path().join(name)))
        .collect();
        Outputs { _dir: dir, files }
    }

    /// `-o` for each file: by its extension where that names the format, else FORMAT:FILE.
    pub fn args(&self) -> Vec<String> {
        self.files
            .iter()
            .flat_map(|(format, path)| {
                let spec = match *format {
                    "csv-hosts" | "csv-policy" | "nagios" => format!("{format}:{}", path.display()),
                    _ => path.display().to_string(),
                };
                ["-o".to_string(), spec]
            })
            .collect()
    }

    pub fn file(&self, format: &str) -> &Path {
        self.files
            .iter()
            .find(|(f, _)| *f == format)
            .map(|(_, p)| p.as_path())
            .unwrap_or_else(|| panic!("no {format} output"))
    }

    /// Every file exists, readable by its owner only.
    pub fn assert_private(&self) {
        for (format, path) in &self.files {
            let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{format}");
        }
    }
}
