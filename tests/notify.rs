//! `patchgap audit --notify ...` on this machine (no inventory), against real servers the
//! tests start: an HTTPS/HTTP server for webhooks, aiosmtpd with STARTTLS and AUTH for
//! mail, a unix datagram socket for syslog. Each test checks what arrived, and that a
//! notification that fails never changes the exit status.

#[path = "support/notify.rs"]
mod notify;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use notify::{Server, certs};
use patchgap_probe::Report;
use serde_json::Value;

fn patchgap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_patchgap"))
}

fn run(args: &[&str]) -> Output {
    patchgap().args(args).output().expect("run patchgap")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit status the local report on stdout (`--format json`) calls for, as
/// tests/local_audit.rs checks it without notifications.
fn expected_status(out: &Output) -> Option<i32> {
    let report: Report = serde_json::from_slice(&out.stdout).expect("probe report on stdout");
    Some(i32::from(report.action_needed()))
}

/// A policy that the local host always passes: the exit status is then 0, whatever this
/// machine runs, and the output is a fleet report with a `controller` section.
fn passing_policy(dir: &Path) -> String {
    let path = dir.join("policy.yaml");
    std::fs::write(
        &path,
        "version: 1\nrules:\n  - kind: failed_hosts\n    max: 0\n    level: fail\n",
    )
    .expect("write policy");
    path.display().to_string()
}

/// An HTTPS server with a certificate of a test CA (not trusted by the system).
fn https_server(dir: &Path) -> (Server, notify::Certs) {
    let certs = certs(dir);
    let (cert, key) = (
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
    );
    let server = Server::start("http", &dir.join("http"), &["--tls", &cert, &key]);
    (server, certs)
}

#[test]
fn a_webhook_over_https_gets_the_versioned_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, certs) = https_server(dir.path());
    let url = format!("https://127.0.0.1:{}/hooks/T1", server.port);
    let ca = certs.ca.display().to_string();
    let out = run(&[
        "audit",
        "--format",
        "json",
        "--notify",
        &url,
        "--notify-ca",
        &ca,
    ]);
    assert_eq!(out.status.code(), expected_status(&out), "{}", stderr(&out));
    assert!(!stderr(&out).contains("notification"), "{}", stderr(&out));

    let requests = server.records("request");
    assert_eq!(requests.len(), 1, "one POST: {requests:?}");
    let request = &requests[0];
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/hooks/T1");
    assert_eq!(request["headers"]["content-type"], "application/json");
    let agent = request["headers"]["user-agent"]
        .as_str()
        .expect("user agent");
    assert!(agent.starts_with("patchgap/"), "{agent}");

    let report: Report = serde_json::from_slice(&out.stdout).expect("report");
    let body: Value = serde_json::from_str(request["body"].as_str().expect("body")).expect("JSON");
    assert_eq!(body["kind"], "patchgap.notification");
    assert_eq!(body["format_version"], 1);
    assert_eq!(body["command"], "audit");
    assert_eq!(body["counts"]["hosts"], 1);
    assert_eq!(body["counts"]["hosts_failed"], 0);
    let with = usize::from(report.action_needed());
    assert_eq!(body["counts"]["hosts_with_findings"], with);
    let listed = body["hosts_with_findings"].as_array().expect("hosts");
    assert_eq!(listed.len(), with);
    if with == 1 {
        assert_eq!(listed[0]["host"], report.host.hostname.as_str());
        assert_eq!(listed[0]["reboot"], report.reboot.needed);
    }
    assert_eq!(body["failed_hosts"], serde_json::json!([]));
    assert_eq!(body["policy"], Value::Null);
    let title = body["title"].as_str().expect("title");
    assert!(title.starts_with("patchgap audit: "), "{title}");
    assert!(!body.to_string().contains("http"), "link-free: {body}");
}

#[test]
fn an_untrusted_certificate_is_a_warning_and_nothing_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _certs) = https_server(dir.path());
    let url = format!("https://127.0.0.1:{}/hooks/T1", server.port);
    let out = run(&["audit", "--format", "json", "--notify", &url]);
    assert_eq!(out.status.code(), expected_status(&out), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: notification to https://127.0.0.1 failed"),
        "{err}"
    );
    assert!(
        !err.contains("/hooks/T1"),
        "the path (a token) is not shown: {err}"
    );
    assert_eq!(server.records("request").len(), 0);
}

#[test]
fn a_slack_webhook_gets_only_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start("http", dir.path(), &[]);
    let url = format!("slack+http://127.0.0.1:{}/services/X", server.port);
    let out = run(&["audit", "--format", "json", "--notify", &url]);
    assert_eq!(out.status.code(), expected_status(&out), "{}", stderr(&out));
    let requests = server.records("request");
    assert_eq!(requests.len(), 1, "{}", stderr(&out));
    assert_eq!(requests[0]["path"], "/services/X");
    let body: Value =
        serde_json::from_str(requests[0]["body"].as_str().expect("body")).expect("JSON");
    let object = body.as_object().expect("object");
    assert_eq!(object.keys().collect::<Vec<_>>(), ["text"]);
    let text = body["text"].as_str().expect("text");
    assert!(text.starts_with("patchgap audit: "), "{text}");
}

#[test]
fn failing_webhooks_never_change_the_exit_status_and_are_in_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = passing_policy(dir.path());
    let broken = Server::start("http", &dir.path().join("500"), &["--status", "500"]);
    // Accepts the connection and never answers: only --notify-timeout ends the wait.
    let silent = Server::start("http", &dir.path().join("hang"), &["--hang"]);
    let out = run(&[
        "audit",
        "--format",
        "json",
        "--policy",
        &policy,
        "--notify",
        &format!("http://127.0.0.1:{}/a", broken.port),
        "--notify",
        &format!("http://127.0.0.1:{}/b", silent.port),
        "--notify-timeout",
        "1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the policy passes: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("the server answered HTTP 500"), "{err}");
    assert!(err.contains("no answer within 1 s"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("fleet report");
    let warnings = report["controller"]["warnings"].to_string();
    assert!(warnings.contains("HTTP 500"), "{warnings}");
    assert!(warnings.contains("no answer within 1 s"), "{warnings}");
    assert_eq!(broken.records("request").len(), 1, "it was asked");
}

/// One local audit that mails through a fresh SMTP server (STARTTLS required, AUTH as
/// `ops` with `s3cret pass`): `extra(dir)` is appended to the URL, `password` is put in
/// PATCHGAP_SMTP_PASSWORD. Its output, and the messages that arrived.
fn audit_mailing(
    extra: impl FnOnce(&Path) -> String,
    password: Option<&str>,
) -> (Output, Vec<Value>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = certs(dir.path());
    let (cert, key) = (
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
    );
    let server = Server::start(
        "smtp",
        &dir.path().join("smtp"),
        &[&cert, &key, "ops", "s3cret pass"],
    );
    let url = format!(
        "smtp://ops@127.0.0.1:{}?from=patchgap@example.org&to=admin@example.org{}",
        server.port,
        extra(dir.path())
    );
    let mut command = patchgap();
    command
        .args(["audit", "--format", "json", "--notify", &url])
        .arg("--notify-ca")
        .arg(&certs.ca)
        .env_remove("PATCHGAP_SMTP_PASSWORD");
    if let Some(password) = password {
        command.env("PATCHGAP_SMTP_PASSWORD", password);
    }
    let out = command.output().expect("run");
    assert_eq!(out.status.code(), expected_status(&out), "{}", stderr(&out));
    let messages = server.records("message");
    (out, messages)
}

/// The parts of a recorded message, by content type.
fn part<'a>(message: &'a Value, content_type: &str) -> &'a Value {
    message["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["content_type"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {message}"))
}

#[test]
fn mail_arrives_over_starttls_with_auth_and_the_report_attached() {
    let (out, messages) = audit_mailing(|_| String::new(), Some("s3cret pass"));
    assert_eq!(messages.len(), 1, "{}", stderr(&out));
    let message = &messages[0];
    assert_eq!(message["tls"], true, "STARTTLS before the mail");
    assert_eq!(message["authenticated"], true);
    assert_eq!(message["mail_from"], "patchgap@example.org");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["admin@example.org"])
    );
    let subject = message["headers"]["subject"].as_str().expect("subject");
    assert!(subject.starts_with("patchgap audit: "), "{subject}");
    assert_eq!(message["parts"][0]["content_type"], "multipart/mixed");
    let text = part(message, "text/plain")["content"]
        .as_str()
        .expect("text");
    assert!(text.starts_with(subject), "{text}");
    let html = part(message, "text/html");
    assert_eq!(html["disposition"], "attachment");
    assert_eq!(html["filename"], "patchgap-report.html");
    let page = html["content"].as_str().expect("html");
    assert!(page.contains("<html") && page.contains("</html>"), "{page}");
}

#[test]
fn inline_html_is_the_mails_alternative() {
    let from_file = |dir: &Path| {
        let password = dir.join("password");
        std::fs::write(&password, "s3cret pass\n").expect("write password");
        format!("&html=inline&password_file={}", password.display())
    };
    let (out, messages) = audit_mailing(from_file, None);
    assert_eq!(messages.len(), 1, "{}", stderr(&out));
    assert_eq!(
        messages[0]["parts"][0]["content_type"],
        "multipart/alternative"
    );
    let html = part(&messages[0], "text/html");
    assert_eq!(html["disposition"], Value::Null, "not an attachment");
    assert!(html["content"].as_str().expect("html").contains("</html>"));
}

#[test]
fn a_wrong_smtp_password_is_a_warning_and_no_mail() {
    let (out, messages) = audit_mailing(|_| String::new(), Some("wrong"));
    let err = stderr(&out);
    assert!(
        err.contains("warning: notification to smtp://127.0.0.1"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "the password is never shown: {err}");
    assert_eq!(messages.len(), 0);
}

#[test]
fn syslog_gets_one_rfc5424_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("log.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the syslog socket");
    // A safety net only: the datagram is sent before patchgap exits.
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let target = format!("syslog:{}", socket_path.display());
    let out = run(&["audit", "--format", "json", "--notify", &target]);
    assert_eq!(out.status.code(), expected_status(&out), "{}", stderr(&out));
    let mut buf = vec![0; 65536];
    let n = socket.recv(&mut buf).expect("one datagram");
    let line = std::str::from_utf8(&buf[..n]).expect("UTF-8");
    assert!(!line.contains('\n'), "{line:?}");

    // <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
    let (pri, rest) = line
        .strip_prefix('<')
        .and_then(|l| l.split_once('>'))
        .expect("<PRI>");
    let pri: u8 = pri.parse().expect("PRI is a number");
    let mut fields = rest.splitn(7, ' ');
    let mut next = || fields.next().expect("a field");
    assert_eq!(next(), "1", "version");
    let timestamp = next();
    timestamp
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("RFC 3339 timestamp {timestamp}: {e}"));
    let fraction = timestamp
        .split_once('.')
        .map_or("", |(_, f)| f.trim_end_matches('Z'));
    assert!(
        fraction.len() <= 6 && timestamp.ends_with('Z'),
        "TIME-SECFRAC has at most 6 digits (RFC 5424, 6.2.3): {timestamp}"
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(next(), hostname.trim());
    assert_eq!(next(), "patchgap");
    next().parse::<u32>().expect("PROCID is the pid");
    assert_eq!(next(), "audit", "MSGID");
    let rest = next();
    let (data, message) = rest.split_once("] ").expect("structured data, then MSG");
    assert!(
        data.starts_with("[patchgap@32473 command=\"audit\" hosts=\"1\""),
        "{data}"
    );
    assert!(message.starts_with("patchgap audit: "), "{message}");
    let report: Report = serde_json::from_slice(&out.stdout).expect("report");
    let expected_severity = if report.action_needed() { 4 } else { 6 };
    assert_eq!(
        pri,
        8 + expected_severity,
        "facility user, severity by the findings"
    );
}

/// Ignore rules that match every path outside `keep`: the runs below see only the stale
/// process they start there, whatever else runs on this machine meanwhile.
fn ignore_all_but(keep: &Path) -> Vec<String> {
    let keep = keep.display().to_string();
    let mut rules = Vec::new();
    for (i, c) in keep.char_indices() {
        rules.push("--ignore".to_string());
        rules.push(format!(
            "^{}[^{}]",
            regex_escape(&keep[..i]),
            regex_escape(&c.to_string())
        ));
    }
    rules
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' {
                c.to_string()
            } else {
                format!("\\x{{{:x}}}", c as u32)
            }
        })
        .collect()
}

#[test]
fn only_on_change_notifies_the_first_run_then_only_what_is_new() {
    let dir = tempfile::Builder::new()
        .prefix("notify-change")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir outside /tmp, which the default ignore rules skip");
    let server = Server::start("http", &dir.path().join("http"), &[]);
    let state = dir.path().join("state/notify-state.json");
    let stale_dir = dir.path().join("bin");
    std::fs::create_dir_all(&stale_dir).expect("mkdir");
    let ignore = ignore_all_but(&stale_dir);
    let audit = || {
        let out = patchgap()
            .args(["audit", "--format", "json", "--notify-on", "change"])
            .arg("--notify")
            .arg(format!("http://127.0.0.1:{}/hook", server.port))
            .arg("--notify-state")
            .arg(&state)
            .args(&ignore)
            .output()
            .expect("run");
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
        out
    };
    audit();
    assert_eq!(server.records("request").len(), 1, "the first run notifies");
    assert!(state.exists(), "and records the state");
    audit();
    assert_eq!(
        server.records("request").len(),
        1,
        "nothing new: nothing sent"
    );

    // A new finding: a process whose executable was deleted under it.
    let exe = stale_dir.join("patchgap-notify-sleeper");
    std::fs::copy("/bin/sleep", &exe).expect("copy sleep");
    let mut sleeper = Command::new(&exe).arg("600").spawn().expect("start");
    std::fs::remove_file(&exe).expect("delete the running executable");
    let out = audit();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let report: Report = serde_json::from_slice(&out.stdout).expect("report");
    assert!(
        report.processes.iter().any(|p| p
            .exe
            .as_deref()
            .is_some_and(|e| e.contains("patchgap-notify-sleeper"))),
        "the sleeper is a finding: {:?}",
        report.processes
    );
    let requests = server.records("request");
    assert_eq!(requests.len(), 2, "the new finding is notified");
    let body: Value =
        serde_json::from_str(requests[1]["body"].as_str().expect("body")).expect("JSON");
    assert_eq!(body["counts"]["hosts_with_findings"], 1);
}

#[test]
fn a_bad_notify_value_is_a_usage_error_before_any_work() {
    for (args, hint) in [
        (
            vec!["audit", "--notify", "ftp://example.org/x"],
            "unknown scheme `ftp`",
        ),
        (
            vec![
                "audit",
                "--notify",
                "smtp://u:pw@mail.example?from=a@b.c&to=d@e.f",
            ],
            "password_env",
        ),
        (
            vec![
                "restart",
                "--plan",
                "--notify",
                "smtp://mail.example?to=d@e.f",
            ],
            "?from=",
        ),
        (
            vec![
                "audit",
                "--notify",
                "syslog:",
                "--notify-ca",
                "/nonexistent/ca.pem",
            ],
            "--notify-ca /nonexistent/ca.pem",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(hint), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing audited");
    }
}
