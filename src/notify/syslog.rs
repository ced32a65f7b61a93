//! `--notify syslog:[SOCKET]`: one RFC 5424 message to the local syslog daemon's datagram
//! socket (`/dev/log`: journald, rsyslog and syslog-ng all listen there).
//!
//! `<PRI>1 TIMESTAMP HOSTNAME patchgap PROCID MSGID [patchgap@32473 ...] MSG`, facility
//! `user`, severity `info` for a clean run, `warning` with findings, `err` with failed
//! hosts. MSGID is the command. The structured data carries the counts (32473 is the
//! enterprise number RFC 5612 reserves for examples: patchgap has none of its own). Host
//! names come from the hosts, so MSG is sanitised: control characters (newlines included)
//! become spaces, so no line can be injected, and the whole message is bounded by
//! [`MAX_MESSAGE`] bytes, below what every daemon accepts in one datagram.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use super::summary::Summary;

/// Longest message sent, in bytes (RFC 5424 requires receivers to accept 480, recommends
/// 2048; journald and rsyslog take far more).
pub const MAX_MESSAGE: usize = 2048;

/// Facility `user` (1).
const FACILITY: u8 = 1;

/// The RFC 5424 message for `summary`, from `hostname` at `timestamp` (RFC 3339).
pub fn format(summary: &Summary, hostname: &str, timestamp: &str, pid: u32) -> String {
    let severity = if summary.counts.hosts_failed > 0 {
        3
    } else if summary.is_clean() {
        6
    } else {
        4
    };
    let pri = FACILITY * 8 + severity;
    let counts = &summary.counts;
    let mut data = format!(
        "[patchgap@32473 command=\"{}\" hosts=\"{}\" findings=\"{}\" failed=\"{}\"",
        summary.command, counts.hosts, counts.hosts_with_findings, counts.hosts_failed
    );
    if let Some(policy) = summary.policy {
        data.push_str(&format!(" policy=\"{}\"", param_value(policy)));
    }
    data.push(']');
    let header = format!(
        "<{pri}>1 {} {} patchgap {pid} {} {data} ",
        header_field(timestamp, 64),
        header_field(hostname, 255),
        header_field(summary.command, 32),
    );
    let message = summary
        .lines()
        .iter()
        .map(|l| one_line(l))
        .collect::<Vec<_>>()
        .join("; ");
    let mut line = header;
    line.push_str(&message);
    truncate(&mut line, MAX_MESSAGE);
    line
}

/// Sends one message to the datagram socket at `socket`, waiting at most `timeout` for a
/// full receive queue.
pub fn send(socket: &Path, message: &str, timeout: Duration) -> std::io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    sender.set_write_timeout(Some(timeout))?;
    sender.send_to(message.as_bytes(), socket)?;
    Ok(())
}

/// This machine's name, as syslog daemons expect it (`-` when unknown).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// A header field: printable US-ASCII only (`?` for anything else), at most `max` bytes,
/// `-` when empty (RFC 5424, 6).
fn header_field(value: &str, max: usize) -> String {
    let field: String = value
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(max)
        .collect();
    if field.is_empty() { "-".into() } else { field }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped (RFC 5424, 6.3.3), on one line.
fn param_value(value: &str) -> String {
    let mut out = String::new();
    for c in one_line(value).chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Every control character (newlines, escapes, DEL, C1) as a space.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::summary::{Counts, FailedHost, HostFindings, PAYLOAD_VERSION};

    fn summary(host: &str) -> Summary {
        Summary {
            kind: "patchgap.notification",
            format_version: PAYLOAD_VERSION,
            command: "audit",
            title: "patchgap audit: 1 of 2 hosts need action, 1 failed".into(),
            finished_at: 0,
            counts: Counts {
                hosts: 2,
                hosts_with_findings: 1,
                hosts_failed: 1,
                services: 1,
                reboots: 0,
            },
            policy: Some("fail"),
            hosts_with_findings: vec![HostFindings {
                host: host.into(),
                services: vec!["nginx.service".into()],
                reboot: false,
                stale_processes: 1,
                integrity: 0,
            }],
            failed_hosts: vec![FailedHost {
                host: "db1".into(),
                failure: "unreachable".into(),
            }],
            stopped: None,
        }
    }

    #[test]
    fn a_hostile_host_name_cannot_add_a_line_or_grow_the_message() {
        let hostile = format!("web1\n<11>1 - evil - - - - forged\r{}", "x".repeat(5000));
        let line = format(&summary(&hostile), "ctl", "2026-01-01T00:00:00Z", 7);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(line.len() <= MAX_MESSAGE, "{}", line.len());
        assert!(line.starts_with("<11>1 2026-01-01T00:00:00Z ctl patchgap 7 audit "));
    }

    #[test]
    fn header_fields_are_printable_ascii_and_never_empty() {
        assert_eq!(header_field("my host", 255), "my?host");
        assert_eq!(header_field("", 255), "-");
        assert_eq!(header_field("héllo", 3), "h?l");
        assert_eq!(param_value("a\"b]c\\"), "a\\\"b\\]c\\\\");
        let mut cut = "é".repeat(3);
        truncate(&mut cut, 3);
        assert_eq!(cut, "é");
    }
}
