//! `patchgap report SAVED.json` into every format, as a user runs it, on the saved reports
//! of tests/data/ (JSON copies of the fixtures in src/report/hostile.rs): each file is read
//! back by an independent parser (tests/support/check_formats.py: Python's csv module,
//! lxml against tests/data/junit.xsd, prometheus_client's text parser, the
//! monitoring-plugins output rules) and must show the report's facts, with every hostile
//! string inert. Also `patchgap diff` of two saved reports into every format (the HTML read
//! by tests/support/html_check.py), the `-o` rules, the exit statuses and the errors for
//! bad input.
//! Python and its modules are required: a missing one fails the test.

#[path = "support/formats.rs"]
mod formats;

use std::path::Path;
use std::process::{Command, Output};

use formats::{Outputs, case, column, data, has_row, metric, parse, rows, suite};
use serde_json::Value;

fn patchgap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(args)
        .output()
        .expect("run patchgap")
}

/// Every format of a saved report, written with one `patchgap report` run.
struct Rendered {
    files: Outputs,
    status: Option<i32>,
}

impl Rendered {
    fn of(saved: &str) -> Rendered {
        let files = Outputs::new();
        let mut args = vec!["report".to_string(), data(saved).display().to_string()];
        args.extend(files.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = patchgap(&args);
        assert!(out.stdout.is_empty(), "with -o only the files are written");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Rendered {
            files,
            status: out.status.code(),
        }
    }

    fn file(&self, format: &str) -> &Path {
        self.files.file(format)
    }
}

#[test]
fn every_format_of_a_saved_fleet_parses_and_shows_its_facts() {
    let r = Rendered::of("sample-fleet.json");
    assert_eq!(r.status, Some(4), "hosts failed: the audit's exit status");
    r.files.assert_private();

    let findings = rows(&parse("csv", r.file("csv")));
    assert!(has_row(
        &findings,
        &[("host", "web1"), ("owner", "nginx.service")]
    ));
    for failed in ["old1", "new1"] {
        assert!(has_row(&findings, &[("host", failed), ("state", "failed")]));
    }
    let hosts = rows(&parse("csv", r.file("csv-hosts")));
    assert_eq!(hosts.len(), 1 + 7, "every host, one row each");
    let boot = hosts.iter().find(|r| r[0] == "boot1").expect("boot1");
    assert_eq!(boot[column(&hosts, "reboot")], "needed");

    let junit = parse("junit", r.file("junit"));
    assert_eq!(junit["suites"].as_array().map(Vec::len), Some(7));
    let web1 = suite(&junit, "web1");
    assert_eq!(web1["tests"], 7);
    assert_eq!(case(web1, "services")["status"], "failure");
    assert_eq!(case(suite(&junit, "boot1"), "reboot")["status"], "failure");
    assert_eq!(
        case(suite(&junit, "boot1"), "integrity")["status"],
        "failure"
    );
    let old1 = suite(&junit, "old1");
    assert_eq!(case(old1, "reachability")["status"], "error");
    assert_eq!(case(old1, "services")["status"], "skipped");

    let prom = parse("prom", r.file("openmetrics"));
    assert_eq!(
        metric(&prom, "patchgap_reboot_required", &[("host", "boot1")]),
        Some(1.0)
    );
    assert_eq!(
        metric(&prom, "patchgap_audit_success", &[("host", "old1")]),
        Some(0.0)
    );
    assert_eq!(
        metric(&prom, "patchgap_services_to_restart", &[("host", "web1")]),
        Some(3.0)
    );
    assert_eq!(
        metric(&prom, "patchgap_stale_processes", &[("host", "old1")]),
        None
    );
    assert_eq!(
        metric(&prom, "patchgap_last_audit_timestamp_seconds", &[]),
        Some(160.0)
    );

    let nagios = parse("nagios", r.file("nagios"));
    assert_eq!(nagios["status"], "WARNING");
    assert_eq!(nagios["perfdata"]["unreachable"]["value"], 2.0);
    assert_eq!(nagios["perfdata"]["reboot"]["value"], 1.0);

    let copy: Value =
        serde_json::from_slice(&std::fs::read(r.file("json")).expect("json")).expect("JSON");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(data("sample-fleet.json")).expect("saved"))
            .expect("JSON");
    assert_eq!(copy, saved, "json renders the saved report back");
}

/// A string as an OpenMetrics label shows it: controls (but newline, escaped) and the
/// bidirectional override as `?`.
fn inert(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' || c == '\u{202e}' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Every host-supplied string of the hostile fixture, as the JSON holds it.
fn hostile_strings(report: &Value) -> Vec<String> {
    let mut strings = Vec::new();
    for host in report["hosts"].as_array().expect("hosts") {
        strings.push(host["host"].as_str().expect("name").to_string());
        if let Some(message) = host["result"]["message"].as_str() {
            strings.push(message.to_string());
        }
        for process in host["result"]["report"]["processes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            strings.push(process["comm"].as_str().expect("comm").to_string());
            strings.push(process["owner"]["unit"].as_str().expect("unit").to_string());
            for finding in process["findings"].as_array().expect("findings") {
                strings.push(finding["path"].as_str().expect("path").to_string());
            }
        }
    }
    strings
}

#[test]
fn hostile_strings_stay_inert_in_every_format() {
    let r = Rendered::of("hostile-fleet.json");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(data("hostile-fleet.json")).expect("saved"))
            .expect("JSON");
    let expected = hostile_strings(&saved);

    let policy = rows(&parse("csv", r.file("csv-policy")));
    assert_eq!(
        policy.len(),
        3,
        "the header and one row per broken rule: {policy:?}"
    );
    for shape in ["csv", "csv-hosts", "csv-policy"] {
        let rows = rows(&parse("csv", r.file(shape)));
        for cell in rows.iter().flatten() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{shape}: {cell:?} starts a formula"
            );
        }
        let width = rows[0].len();
        assert!(
            rows.iter().all(|r| r.len() == width),
            "{shape}: one row per record"
        );
        if shape == "csv" {
            // Every string round-trips, behind a ' where it would start a formula.
            let cells: Vec<&String> = rows.iter().flatten().collect();
            for s in &expected {
                let shown = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    format!("'{s}")
                } else {
                    s.clone()
                };
                assert!(cells.contains(&&shown), "{shape}: {s:?} lost");
            }
        }
    }

    // lxml validated the XML against the schema: no element came from a host string.
    let junit = parse("junit", r.file("junit"));
    let names: Vec<&str> = junit["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "two hosts and the policy: {names:?}");
    assert!(
        names[0].starts_with("=inv<script>alert(1)</script>"),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| !n.contains(['\u{1b}', '\u{202e}'])),
        "{names:?}"
    );
    let policy = suite(&junit, "policy");
    assert_eq!(policy["failures"], 1, "the failing rule");

    let prom = parse("prom", r.file("openmetrics"));
    let hosts: Vec<String> = prom["families"]
        .as_array()
        .expect("families")
        .iter()
        .find(|f| f["name"] == "patchgap_audit_success")
        .and_then(|f| f["samples"].as_array())
        .expect("samples")
        .iter()
        .map(|s| s["labels"]["host"].as_str().expect("host").to_string())
        .collect();
    let saved_hosts: Vec<String> = saved["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| inert(h["host"].as_str().expect("host")))
        .collect();
    assert_eq!(hosts, saved_hosts, "labels read back as the host names");

    let nagios = parse("nagios", r.file("nagios"));
    assert_eq!(nagios["status"], "CRITICAL", "the policy fails");
    for line in nagios["details"].as_array().expect("details") {
        let line = line.as_str().expect("text");
        assert!(!line.contains(|c: char| c.is_control()), "{line:?}");
    }
}

#[test]
fn a_saved_probe_report_renders_as_a_fleet_of_one() {
    let r = Rendered::of("host-findings.json");
    assert_eq!(r.status, Some(1), "findings: exit 1, as its audit");
    let junit = parse("junit", r.file("junit"));
    assert_eq!(case(suite(&junit, "web1"), "services")["status"], "failure");
    let prom = parse("prom", r.file("openmetrics"));
    assert_eq!(
        metric(&prom, "patchgap_audit_success", &[("host", "web1")]),
        Some(1.0)
    );
}

#[test]
fn nagios_on_stdout_decides_the_exit_status() {
    let saved = data("sample-fleet.json");
    let saved = saved.to_str().expect("utf8 path");
    let run = |extra: &[&str]| {
        let mut args = vec!["report", saved, "--format", "nagios"];
        args.extend_from_slice(extra);
        patchgap(&args)
    };
    let warning = run(&[]);
    assert_eq!(
        warning.status.code(),
        Some(1),
        "WARNING, not 'hosts failed' (4)"
    );
    assert!(String::from_utf8_lossy(&warning.stdout).starts_with("PATCHGAP WARNING - "));
    assert_eq!(run(&["--critical", "unreachable=1"]).status.code(), Some(2));
    let off = "services=off,reboot=off,unreachable=off";
    assert_eq!(run(&["--warning", off]).status.code(), Some(0));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a.json");
    let file = file.to_str().expect("utf8");
    assert_eq!(
        run(&["-o", file]).status.code(),
        Some(4),
        "nagios not on stdout: the usual statuses"
    );
    assert_eq!(
        run(&["-o", file, "-o", "-"]).status.code(),
        Some(1),
        "-o - is stdout"
    );
}

#[test]
fn bad_saved_reports_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = std::fs::read_to_string(data("sample-fleet.json")).expect("saved");
    for (name, text, says) in [
        ("cut.json", &fleet[..fleet.len() / 2], "truncated"),
        ("text.json", "not json at all", "not JSON"),
        (
            "newer.json",
            r#"{"format_version": 2, "hosts": []}"#,
            "upgrade patchgap",
        ),
        ("other.json", r#"{"hosts": []}"#, "neither a fleet report"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let path = path.to_str().expect("utf8");
        let out = patchgap(&["report", path]);
        assert_eq!(out.status.code(), Some(3), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
        let plugin = patchgap(&["report", path, "--format", "nagios"]);
        assert_eq!(
            plugin.status.code(),
            Some(3),
            "{name}: UNKNOWN for a plugin"
        );
    }
}

#[test]
fn output_rules() {
    let saved = data("sample-fleet.json");
    let saved = saved.to_str().expect("utf8 path");
    let dir = tempfile::tempdir().expect("tempdir");
    let unknown = dir.path().join("report.pdf");
    let out = patchgap(&["report", saved, "-o", unknown.to_str().expect("utf8")]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown extension is a usage error"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".prom") && err.contains("FORMAT:FILE"),
        "{err}"
    );

    let written = dir.path().join("fleet.csv");
    let missing = dir.path().join("no/such/dir/fleet.xml");
    let out = patchgap(&[
        "report",
        saved,
        "-o",
        missing.to_str().expect("utf8"),
        "-o",
        written.to_str().expect("utf8"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "an unwritable output is an error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/dir/fleet.xml"));
    assert!(written.exists(), "the other output was written");
}

#[test]
fn a_local_audit_writes_every_format_at_once() {
    let files = Outputs::new();
    let mut args = vec!["audit".to_string()];
    args.extend(files.args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = patchgap(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    files.assert_private();
    let report: Value =
        serde_json::from_slice(&std::fs::read(files.file("json")).expect("json")).expect("JSON");
    let hostname = report["host"]["hostname"].as_str().expect("a probe report");
    let junit = parse("junit", files.file("junit"));
    assert_eq!(
        case(suite(&junit, hostname), "reachability")["status"],
        "passed"
    );
    let prom = parse("prom", files.file("openmetrics"));
    assert_eq!(
        metric(&prom, "patchgap_audit_success", &[("host", hostname)]),
        Some(1.0)
    );
    let hosts = rows(&parse("csv", files.file("csv-hosts")));
    assert!(has_row(
        &hosts,
        &[("host", hostname), ("address", "localhost")]
    ));
    parse("csv", files.file("csv"));
    let nagios = parse("nagios", files.file("nagios"));
    assert_eq!(nagios["perfdata"]["hosts"]["value"], 1.0);
}

/// The page's tables as tests/support/html_check.py (Python's html.parser) reads them.
fn html_tables(page: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/html_check.py");
    let out = Command::new("python3")
        .arg(script)
        .stdin(std::fs::File::open(page).expect("the page"))
        .output()
        .expect("run html_check.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("html_check.py JSON")
}

#[test]
fn a_diff_with_hostile_strings_parses_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (csv, html, xml, prom, nagios) = (
        file("a.csv"),
        file("b.html"),
        file("c.xml"),
        file("d.prom"),
        file("e.txt"),
    );
    let (old, new) = (data("sample-fleet.json"), data("hostile-fleet.json"));
    let out = patchgap(&[
        "diff",
        &old.display().to_string(),
        &new.display().to_string(),
        "-o",
        &csv,
        "-o",
        &html,
        "-o",
        &xml,
        "-o",
        &prom,
        "-o",
        &format!("nagios:{nagios}"),
    ]);
    assert!(out.stdout.is_empty(), "with -o only the files are written");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "hostile hosts are new");
    let saved: Value = serde_json::from_slice(&std::fs::read(&new).expect("saved")).expect("JSON");
    let hosts: Vec<String> = saved["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["host"].as_str().expect("host").to_string())
        .collect();
    let formula = |s: &str| s.starts_with(['=', '+', '-', '@', '\t', '\r']);

    let rows = rows(&parse("csv", Path::new(&csv)));
    assert_eq!(rows[0], ["host", "area", "item", "change", "failure"]);
    assert!(rows.iter().all(|r| r.len() == 5), "one row per record");
    for cell in rows.iter().flatten() {
        assert!(!formula(cell), "{cell:?} starts a formula");
    }
    // The services to restart and the packages: what the diff lists by name.
    let units: Vec<String> = saved["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .flat_map(|h| {
            let report = &h["result"]["report"];
            let services = report["actions"]["services"]
                .as_array()
                .into_iter()
                .flatten();
            let packages = report["packages"].as_array().into_iter().flatten();
            services
                .map(|s| &s["unit"])
                .chain(packages.map(|p| &p["name"]))
                .filter_map(|v| v.as_str().map(String::from))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        units.len() > 3,
        "the fixture has hostile units and packages"
    );
    let cells: Vec<&String> = rows.iter().flatten().collect();
    for s in hosts.iter().chain(&units) {
        let shown = if formula(s) {
            format!("'{s}")
        } else {
            s.clone()
        };
        assert!(cells.contains(&&shown), "csv: {s:?} lost");
    }

    // lxml validated the XML against tests/data/junit.xsd.
    let junit = parse("junit", Path::new(&xml));
    let diff = suite(&junit, "diff");
    assert!(diff["failures"].as_u64() > Some(0), "{diff}");

    let prom = parse("prom", Path::new(&prom));
    for host in &hosts {
        assert_eq!(
            metric(
                &prom,
                "patchgap_diff_pending",
                &[("host", &inert(host)), ("area", "reboot")]
            ),
            Some(0.0),
            "{host:?} reads back as its label"
        );
    }

    let status = parse("nagios", Path::new(&nagios));
    assert_eq!(
        status["status"], "CRITICAL",
        "something new, and the later report's policy fails"
    );
    for line in status["details"].as_array().expect("details") {
        let line = line.as_str().expect("text");
        assert!(!line.contains(|c: char| c.is_control()), "{line:?}");
    }

    let page = html_tables(Path::new(&html));
    assert_eq!(
        page["scripts"].as_array().map(Vec::len),
        Some(1),
        "only the page's own script"
    );
    let shown: Vec<&str> = page["tables"]["t-hosts"]
        .as_array()
        .expect("the hosts table")
        .iter()
        .filter_map(|row| row["cells"][0].as_str())
        .collect();
    for host in &hosts {
        assert!(
            shown.contains(&host.as_str()),
            "html: {host:?} in {shown:?}"
        );
    }
}

#[test]
fn nagios_on_stdout_decides_the_exit_status_of_diff() {
    let (old, new) = (data("sample-fleet.json"), data("hostile-fleet.json"));
    let (old, new) = (old.display().to_string(), new.display().to_string());
    let table = patchgap(&["diff", &old, &new]);
    assert_eq!(table.status.code(), Some(1), "something new");
    let plugin = patchgap(&["diff", &old, &new, "--format", "nagios"]);
    let text = String::from_utf8_lossy(&plugin.stdout);
    assert!(text.starts_with("PATCHGAP CRITICAL - "), "{text}");
    assert_eq!(
        plugin.status.code(),
        Some(2),
        "the plugin's CRITICAL: the later report's policy fails"
    );
    let same = patchgap(&["diff", &old, &old, "-o", "nagios:-"]);
    assert!(String::from_utf8_lossy(&same.stdout).starts_with("PATCHGAP OK - "));
    assert_eq!(same.status.code(), Some(0));
}
