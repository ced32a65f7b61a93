//! The HTML report as a person gets it: pages written by the library's renderer and by
//! `patchgap audit --format html -o FILE`, read by parsers that owe nothing to the template
//! engine (Python's html.parser, tests/support/html_check.py) and loaded from disk in
//! headless Chromium, whose DOM after the page's script ran is checked: the sections, the
//! hostile strings as text, sorting and filtering (driven through the URL fragment the
//! script reads), and that the page attempted no request (its CSP violation counter).
//!
//! Chromium (Debian's `chromium`) and python3 are required: missing, the tests fail. A
//! screenshot of the fleet page is left in `target/report-html/fleet.png` for CI to keep.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use patchgap::deploy::probe_output::ProbeReport;
use patchgap::outcome::{Failure, HostOutcome, HostResult};
use patchgap::report::{
    ControllerInfo, FleetReport, Html, Level, PolicyOutcome, Render, RuleOutcome, Violation,
};
use patchgap_probe::Report;
use patchgap_probe::report::{
    IntegrityFinding, IntegrityReport, Problem, ReasonKind, RebootReason, ServiceAction, Severity,
};
use serde_json::Value;

/// The controller's fixture reports (`clean`, ...), shared with its unit tests.
#[allow(dead_code)]
#[path = "../src/test_reports.rs"]
mod test_reports;

/// 2026-11-28 12:00 UTC.
const SCANNED_AT: i64 = 1_795_867_200;

/// A host string with markup, quotes both kinds, formula starts, line breaks, CR, tab,
/// terminal escapes (SGR, OSC 8 hyperlink), non-ASCII and a right-to-left override.
fn hostile(what: &str) -> String {
    format!(
        "{what}<script>alert(1)</script>=cmd|' /C calc'!A0 +1 -1 @x \"dq\" 'sq' \
         <img src=x onerror=alert(2)>\"onmouseover=\"alert(3)\nnext\rcr\ttab\
         \u{1b}[31mred\u{1b}]8;;http://evil.invalid\u{7}link\u{1b}]8;;\u{7} ünïcødé \u{202e}fdp.exe"
    )
}

/// Every hostile string the hostile fleet puts on the page, each to be found as text.
fn hostile_fields() -> Vec<String> {
    [
        "host",
        "address",
        "unit",
        "comm",
        "package",
        "version",
        "reason",
        "path",
        "problem",
        "message",
        "stderr",
        "warning",
        "rule",
        "subject",
        "detail",
        "policy",
        "inventory",
    ]
    .iter()
    .map(|w| hostile(w))
    .collect()
}

/// A package name that is markup and quotes without control characters, so it can be
/// compared as an attribute value too (html.parser drops control-character references
/// in attributes, browsers do not).
const MARKUP_PACKAGE: &str = "pkg\"'><script>alert(4)</script>";

/// A host with `services` stale services, each on `package`, stale for `days` days.
fn report_with(hostname: &str, comm: &str, package: &str, services: &[&str], days: i64) -> Report {
    let mut report = test_reports::clean(hostname);
    report.host.scanned_at = SCANNED_AT;
    for (i, unit) in services.iter().enumerate() {
        let pid = 100 + i as u32;
        let mut process = test_reports::process(pid, comm, unit, "/usr/lib/libssl.so.3", package);
        process.stale_since = Some(SCANNED_AT - days * 86_400);
        report.processes.push(process);
        let service = test_reports::service(unit, vec![pid], &[package], false);
        report.actions.services.push(service);
    }
    if !services.is_empty() {
        let processes = u32::try_from(services.len()).expect("a few services");
        report
            .packages
            .push(test_reports::package(package, processes));
    }
    report
}

fn audited(host: &str, report: Report) -> HostOutcome {
    HostOutcome {
        host: host.into(),
        address: format!("{host}.example.net"),
        port: 22,
        user: "root".into(),
        elapsed_ms: 100,
        result: HostResult::Audited {
            partial: false,
            report: Box::new(ProbeReport::from_report(report).expect("report")),
        },
    }
}

fn failed(host: &str, message: &str, stderr: Option<String>) -> HostOutcome {
    HostOutcome {
        host: host.into(),
        address: "192.0.2.7".into(),
        port: 22,
        user: "root".into(),
        elapsed_ms: 100,
        result: HostResult::Failed {
            failure: Failure::ProbeFailed,
            message: message.into(),
            stderr_tail: stderr,
        },
    }
}

/// Four hosts with 2, 0, 5 and 1 stale services (in that inventory order) and a failure.
fn normal_fleet() -> FleetReport {
    let hosts = vec![
        audited(
            "web1",
            report_with(
                "web1",
                "nginx",
                "libssl3",
                &["nginx.service", "php-fpm.service"],
                2,
            ),
        ),
        audited("mon1", test_reports::clean("mon1")),
        audited(
            "app1",
            report_with(
                "app1",
                "java",
                "openjdk-17-jre-headless",
                &[
                    "a.service",
                    "b.service",
                    "c.service",
                    "d.service",
                    "e.service",
                ],
                10,
            ),
        ),
        audited(
            "db1",
            report_with(
                "db1",
                "postgres",
                "libc6",
                &["postgresql@15-main.service"],
                45,
            ),
        ),
        failed("old1", "the probe exited with status 2", None),
    ];
    FleetReport::new(ControllerInfo::new(SCANNED_AT - 30, SCANNED_AT), hosts)
}

/// Every string a host or an inventory supplies, hostile, and a policy outcome.
fn hostile_fleet() -> FleetReport {
    let mut report = report_with(
        &hostile("host"),
        &hostile("comm"),
        &hostile("package"),
        &[&hostile("unit")],
        3,
    );
    report.packages[0].version = Some(hostile("version"));
    let markup = report_with("x", "nginx", MARKUP_PACKAGE, &["nginx.service"], 1);
    report
        .processes
        .extend(markup.processes.into_iter().map(|mut p| {
            p.pid = 900;
            p
        }));
    report.packages.extend(markup.packages);
    report.actions.services.push(ServiceAction {
        unit: "nginx.service".into(),
        pids: vec![900],
        packages: vec![MARKUP_PACKAGE.into()],
        restart_refused: false,
    });
    report.reboot.needed = true;
    report.reboot.reasons.push(RebootReason {
        kind: ReasonKind::Packages,
        message: hostile("reason"),
        packages: vec![],
    });
    report.integrity = Some(IntegrityReport {
        findings: vec![IntegrityFinding {
            path: hostile("path"),
            package: hostile("package"),
            conffile: false,
            problem: Problem::Unreadable {
                error: hostile("problem"),
            },
            severity: Severity::Low,
        }],
        ..IntegrityReport::default()
    });
    report.warnings.push(hostile("warning"));
    let hostname = report.host.hostname.clone();
    let mut host = audited(&hostname, report);
    host.address = hostile("address");
    let mut fleet = FleetReport::new(
        ControllerInfo::new(SCANNED_AT - 30, SCANNED_AT),
        vec![
            host,
            failed(
                &hostile("host"),
                &hostile("message"),
                Some(hostile("stderr")),
            ),
        ],
    );
    fleet.controller.inventories = vec![hostile("inventory")];
    fleet.policy = Some(PolicyOutcome {
        source: hostile("policy"),
        level: Level::Warn,
        rules: vec![RuleOutcome {
            id: hostile("rule"),
            description: "services restart within a week".into(),
            level: Level::Warn,
            violations: vec![Violation {
                host: Some(hostname),
                subject: hostile("subject"),
                detail: hostile("detail"),
            }],
        }],
    });
    fleet
}

/// Where pages and screenshots go: `target/report-html/` (beside the test binary's
/// `debug/`), kept for CI to collect.
fn out_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target dir above debug/deps")
        .to_path_buf();
    let dir = target.join("report-html");
    std::fs::create_dir_all(&dir).expect("create target/report-html");
    dir
}

fn write_page(report: &FleetReport, name: &str) -> (PathBuf, String) {
    let mut page = Vec::new();
    Html.fleet(report, &mut page).expect("render");
    let path = out_dir().join(name);
    std::fs::write(&path, &page).expect("write page");
    (path, String::from_utf8(page).expect("utf-8"))
}

/// The page as html.parser sees it (see tests/support/html_check.py).
fn parse(html: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/html_check.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is required (apt-get install python3)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(html.as_bytes())
        .expect("feed the page");
    let out = child.wait_with_output().expect("html_check.py");
    assert!(out.status.success(), "html_check.py failed");
    serde_json::from_slice(&out.stdout).expect("html_check.py JSON")
}

/// One Chromium at a time: each is a few hundred MB and the machine has two cores.
static BROWSER: Mutex<()> = Mutex::new(());

/// Runs headless Chromium on `url` with `extra` arguments, offline and with a fresh
/// profile; returns its stdout.
fn chromium(url: &str, extra: &[&str]) -> String {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect(
            "chromium is required (apt-get install chromium): the HTML tests cannot run without it",
        );
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DOM after the page's script ran, parsed.
fn rendered(path: &Path, fragment: &str) -> Value {
    let url = format!("file://{}{fragment}", path.display());
    let dom = chromium(&url, &["--dump-dom"]);
    assert!(dom.contains("<html"), "no DOM dumped for {url}: {dom}");
    parse(&dom)
}

fn attrs<'a>(page: &'a Value, tag: &str) -> Vec<&'a Value> {
    page["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .filter(|e| e[0] == tag)
        .map(|e| &e[1])
        .collect()
}

/// Each run of text between tags, with the tag of the element it is in.
fn texts(page: &Value) -> Vec<(String, String)> {
    page["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| {
            let text = |i: usize| t[i].as_str().expect("text").to_string();
            (text(0), text(1))
        })
        .collect()
}

/// Column `col` of table `id`'s visible body rows.
fn column(page: &Value, id: &str, col: usize) -> Vec<String> {
    page["tables"][id]
        .as_array()
        .unwrap_or_else(|| panic!("no table {id}"))
        .iter()
        .filter(|row| row["hidden"] != true)
        .map(|row| row["cells"][col].as_str().expect("cell").to_string())
        .collect()
}

/// No element or attribute but ours: one script and one style (without attributes), no
/// `on*` attribute, the CSP first in `<head>`, each hostile string whole in some text.
fn assert_nothing_leaks(page: &Value) {
    let scripts = page["scripts"].as_array().expect("scripts");
    assert_eq!(scripts.len(), 1, "one script, ours: {scripts:?}");
    assert_eq!(scripts[0]["attrs"], serde_json::json!({}));
    assert!(
        !scripts[0]["text"]
            .as_str()
            .expect("script")
            .contains("alert(")
    );
    assert_eq!(page["styles"].as_array().expect("styles").len(), 1);
    for element in page["elements"].as_array().expect("elements") {
        let tag = element[0].as_str().expect("tag");
        assert!(
            !["img", "iframe", "object", "embed", "link", "base", "form"].contains(&tag),
            "{element}"
        );
        for name in element[1].as_object().expect("attrs").keys() {
            assert!(
                !name.starts_with("on"),
                "event handler attribute: {element}"
            );
        }
    }
    let metas = attrs(page, "meta");
    let csp = metas
        .iter()
        .find(|m| m["http-equiv"] == "Content-Security-Policy")
        .expect("a CSP meta tag");
    assert!(
        csp["content"]
            .as_str()
            .expect("csp")
            .starts_with("default-src 'none'; "),
        "{csp}"
    );
    let texts = texts(page);
    let fields = hostile_fields();
    for field in &fields {
        assert!(
            texts.iter().any(|(_, t)| t == field),
            "not found whole as text: {field:?}"
        );
    }
    // Each host string is a whole run of text in an element of its own (a cell, a list
    // item, a <bdi>, an SVG label), so its bidi overrides reorder nothing of ours; a chart
    // label may be cut short, a package name is shown without its `:arch`.
    for (parent, text) in texts.iter().filter(|(_, t)| t.contains("alert(")) {
        // Packages across the fleet are named without their `:arch` qualifier.
        let whole = fields
            .iter()
            .any(|f| f == text || f.split(':').next() == Some(text))
            || text == MARKUP_PACKAGE;
        let cut = parent == "text"
            && text.strip_suffix('…').is_some_and(|s| {
                fields
                    .iter()
                    .chain([&MARKUP_PACKAGE.to_string()])
                    .any(|f| f.starts_with(s))
            });
        assert!(whole || cut, "host text mixed with other text: {text:?}");
        assert!(
            ["td", "li", "bdi", "title", "text"].contains(&parent.as_str()),
            "host text in <{parent}>: {text:?}"
        );
    }
    let labels: Vec<&Value> = attrs(page, "g")
        .into_iter()
        .filter_map(|g| g.get("aria-label"))
        .collect();
    assert!(
        labels
            .iter()
            .any(|l| *l == &Value::from(format!("{MARKUP_PACKAGE}: 1"))),
        "the package's bar label, as an attribute value: {labels:?}"
    );
}

#[test]
fn hostile_strings_are_text_for_an_independent_parser() {
    let (_, html) = write_page(&hostile_fleet(), "hostile.html");
    assert!(!html.contains("<script>alert"), "raw markup in the page");
    assert!(
        !html.contains('\u{1b}') && !html.contains('\r'),
        "raw control characters"
    );
    assert_nothing_leaks(&parse(&html));
}

#[test]
fn hostile_strings_are_text_in_chromium() {
    let (path, _) = write_page(&hostile_fleet(), "hostile.html");
    let dom = rendered(&path, "");
    let body = attrs(&dom, "body");
    assert_eq!(body[0]["data-ready"], "1", "the page's script ran");
    assert_nothing_leaks(&dom);
    assert_eq!(
        attrs(&dom, "html")[0].get("data-csp-violations"),
        None,
        "no request attempted"
    );
}

#[test]
fn the_fleet_page_shows_every_section_in_chromium() {
    let mut report = normal_fleet();
    report.policy = Some(PolicyOutcome {
        source: "policy.yaml".into(),
        level: Level::Fail,
        rules: vec![],
    });
    let (path, _) = write_page(&report, "fleet.html");
    let dom = rendered(&path, "");
    let body = &attrs(&dom, "body")[0];
    assert_eq!(body["data-ready"], "1", "the page's script ran");
    assert_eq!(
        body["data-style"], "applied",
        "the CSP let our style sheet apply"
    );
    assert_eq!(
        attrs(&dom, "html")[0].get("data-csp-violations"),
        None,
        "no request attempted"
    );
    let sections: Vec<&str> = attrs(&dom, "section")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(
        sections,
        [
            "policy",
            "summary",
            "charts",
            "hosts",
            "services",
            "packages",
            "reboot",
            "integrity",
            "failed"
        ]
    );
    assert_eq!(attrs(&dom, "svg").len(), 2, "two charts");
    let filters = attrs(&dom, "input");
    assert!(
        !filters.is_empty() && filters.iter().all(|i| i.get("hidden").is_none()),
        "the script shows the filters"
    );
    let tables: Vec<&str> = attrs(&dom, "table")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    let filtered: Vec<&str> = filters
        .iter()
        .filter_map(|i| i["data-table"].as_str())
        .collect();
    assert_eq!(tables, filtered, "a filter box per table");
    assert_eq!(
        column(&dom, "t-hosts", 0),
        ["web1", "mon1", "app1", "db1", "old1"]
    );
    chromium(
        &format!("file://{}", path.display()),
        &[
            &format!("--screenshot={}", out_dir().join("fleet.png").display()),
            "--window-size=1280,2000",
        ],
    );
    let png = std::fs::read(out_dir().join("fleet.png")).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
}

#[test]
fn sorting_and_filtering_follow_the_fragment() {
    let (path, _) = write_page(&normal_fleet(), "fleet-sort.html");
    // Stale processes (column 3), most first; the failed host (none) last.
    let dom = rendered(&path, "#sort=t-hosts:3:desc");
    assert_eq!(
        column(&dom, "t-hosts", 0),
        ["app1", "web1", "db1", "mon1", "old1"]
    );
    let heads = attrs(&dom, "th");
    assert!(heads.iter().any(|th| th["aria-sort"] == "descending"));
    // Text columns sort as text.
    let dom = rendered(&path, "#sort=t-hosts:0:asc");
    assert_eq!(
        column(&dom, "t-hosts", 0),
        ["app1", "db1", "mon1", "old1", "web1"]
    );
    // Filter the services to those of one package, then sort them by how long they ran.
    let dom = rendered(&path, "#filter=t-services:php&sort=t-services:5:desc");
    assert_eq!(column(&dom, "t-services", 1), ["php-fpm.service"]);
    let dom = rendered(&path, "#filter=t-services:service&sort=t-services:5:desc");
    let hosts = column(&dom, "t-services", 0);
    assert_eq!(
        hosts.first().map(String::as_str),
        Some("db1"),
        "45 days first: {hosts:?}"
    );
    assert_eq!(
        hosts.last().map(String::as_str),
        Some("web1"),
        "2 days last: {hosts:?}"
    );
}

#[test]
fn a_blocked_request_is_counted() {
    // The detector the other tests rely on for "no request attempted": a page that does
    // try one (an image, on a name that never resolves) shows a violation.
    let (_, html) = write_page(&normal_fleet(), "fleet-request.html");
    let probe = html.replace(
        "</body>",
        "<img src=\"https://patchgap.invalid/x.png\"></body>",
    );
    let path = out_dir().join("fleet-request.html");
    std::fs::write(&path, probe).expect("write page");
    let dom = rendered(&path, "");
    assert_eq!(attrs(&dom, "html")[0]["data-csp-violations"], "1");
}

#[test]
fn audit_writes_an_html_page() {
    let page = out_dir().join("local.html");
    let out = Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(["audit", "--format", "html", "-o"])
        .arg(&page)
        .output()
        .expect("run patchgap");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the page goes to the file");
    let dom = rendered(&page, "");
    assert_eq!(attrs(&dom, "body")[0]["data-ready"], "1");
    assert_eq!(column(&dom, "t-hosts", 1), ["localhost"]);
    assert_eq!(attrs(&dom, "html")[0].get("data-csp-violations"), None);
}
