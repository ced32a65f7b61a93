//! The commands a campaign sends to a host's shell, and the unit names in them. A unit name
//! comes from the host's own report, which is untrusted: it must be a valid systemd unit
//! name (`systemd.unit(5)`: ASCII letters, digits, `:-_.\@`, at most 255 bytes, a known
//! type suffix) AND it is single-quoted, and `--` ends systemctl's options before it.
//!
//! `systemctl show` is parsed from its `KEY=value` lines; the properties asked for are
//! the ones that prove a restart: `InvocationID` changes on every start.

use crate::deploy::shell_quote;

/// Unit types a report may name for a restart.
const SUFFIXES: &[&str] = &[
    ".service", ".socket", ".target", ".timer", ".path", ".scope",
];

/// Whether `name` is a valid systemd unit name that is safe to pass to systemctl.
pub fn valid_unit(name: &str) -> bool {
    name.len() <= 255
        && !name.starts_with(['-', '.'])
        && SUFFIXES
            .iter()
            .any(|s| name.len() > s.len() && name.ends_with(s))
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b))
}

fn quoted(units: &[String]) -> String {
    debug_assert!(units.iter().all(|u| valid_unit(u)));
    units
        .iter()
        .map(|u| shell_quote(u))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The properties read before and after a restart.
pub const SHOW_PROPERTIES: &str =
    "ActiveState,SubState,InvocationID,ExecMainStartTimestampMonotonic";

/// `systemctl show` of `units`, one block per unit, in order (blank line between blocks).
pub fn show(units: &[String]) -> String {
    format!("systemctl show -p {SHOW_PROPERTIES} -- {}", quoted(units))
}

/// `systemctl restart` of `units` (one job each, started together).
pub fn restart(units: &[String]) -> String {
    format!("systemctl restart -- {}", quoted(units))
}

/// The unit's last journal lines, for a failed restart.
pub fn journal_tail(unit: &str) -> String {
    format!(
        "journalctl -u {} -n 20 --no-pager -o short-iso",
        shell_quote(unit)
    )
}

/// Re-executes PID 1.
pub const DAEMON_REEXEC: &str = "systemctl daemon-reexec";

/// Fetches `url` from the host with curl, else wget; exit 127 when it has neither.
pub fn fetch(url: &str) -> String {
    let url = shell_quote(url);
    format!(
        "if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null --max-time 10 -- {url}; \
         elif command -v wget >/dev/null 2>&1; then wget -q -O /dev/null -T 10 -- {url}; \
         else echo 'neither curl nor wget is installed on the host' >&2; exit 127; fi"
    )
}

/// Connects from the host to its own `port` on 127.0.0.1, with bash's `/dev/tcp`.
pub fn tcp_connect(port: u16) -> String {
    format!(
        "command -v bash >/dev/null 2>&1 || {{ echo 'bash is needed on the host for --health-tcp' >&2; exit 127; }}; \
         timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'"
    )
}

/// One unit's state from `systemctl show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState {
    pub active_state: String,
    pub sub_state: String,
    pub invocation_id: String,
    pub main_start_monotonic: u64,
}

impl UnitState {
    /// Running, or done and still active (`Type=oneshot` with `RemainAfterExit`).
    pub fn is_active(&self) -> bool {
        self.active_state == "active"
    }

    /// Failed for good: the wait can stop.
    pub fn has_failed(&self) -> bool {
        self.active_state == "failed"
    }
}

/// Parses `systemctl show` of several units: blocks separated by blank lines, in the order
/// asked. Unknown keys are ignored; a missing block is a default (empty) state.
pub fn parse_show(text: &str, units: usize) -> Vec<UnitState> {
    let mut states = Vec::new();
    let mut current = UnitState::default();
    let mut any = false;
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim_end();
        if line.is_empty() {
            if any {
                states.push(std::mem::take(&mut current));
                any = false;
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        any = true;
        match key {
            "ActiveState" => current.active_state = value.to_string(),
            "SubState" => current.sub_state = value.to_string(),
            "InvocationID" => current.invocation_id = value.to_string(),
            "ExecMainStartTimestampMonotonic" => {
                current.main_start_monotonic = value.parse().unwrap_or(0)
            }
            _ => {}
        }
    }
    states.resize(units.max(states.len()), UnitState::default());
    states.truncate(units);
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_are_checked() {
        for ok in [
            "nginx.service",
            "postgresql@15-main.service",
            "systemd-fsck@dev-disk-by\\x2duuid.service",
            "a:b_c.socket",
        ] {
            assert!(valid_unit(ok), "{ok}");
        }
        for bad in [
            "",
            ".service",
            "-x.service",
            "nginx",
            "a b.service",
            "x;reboot.service",
            "$(reboot).service",
            "x'y.service",
            "x\n.service",
            "ünï.service",
            &format!("{}.service", "a".repeat(250)),
        ] {
            assert!(!valid_unit(bad), "{bad:?}");
        }
    }

    #[test]
    fn commands_quote_every_unit() {
        let units = vec!["nginx.service".to_string(), "a@b.service".to_string()];
        assert_eq!(
            restart(&units),
            "systemctl restart -- 'nginx.service' 'a@b.service'"
        );
        assert_eq!(
            show(&units[..1]),
            "systemctl show -p ActiveState,SubState,InvocationID,ExecMainStartTimestampMonotonic -- 'nginx.service'"
        );
        assert_eq!(
            journal_tail("x.service"),
            "journalctl -u 'x.service' -n 20 --no-pager -o short-iso"
        );
        assert!(fetch("http://h/'x").contains(r"'http://h/'\''x'"));
    }

    #[test]
    fn show_output_is_parsed_per_unit() {
        let text = "ActiveState=active\nSubState=running\nInvocationID=abc\n\
                    ExecMainStartTimestampMonotonic=123\n\nActiveState=failed\nSubState=failed\n\
                    InvocationID=\nExecMainStartTimestampMonotonic=0\n";
        let states = parse_show(text, 2);
        assert_eq!(states[0].invocation_id, "abc");
        assert_eq!(states[0].main_start_monotonic, 123);
        assert!(states[0].is_active());
        assert!(states[1].has_failed());
        assert_eq!(parse_show("", 1), [UnitState::default()]);
        assert_eq!(parse_show(text, 1).len(), 1);
    }
}
