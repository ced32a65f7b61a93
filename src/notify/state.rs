//! `--notify-on change`: notify only when something new appeared since the last audit.
//! The state file is the last audit's fleet report (JSON, mode 0600, replaced atomically);
//! "new" is exactly what `patchgap diff` calls new ([`crate::diff`]): a service, process,
//! package or integrity finding that was not there, a reboot newly needed, a host that
//! fails now and did not. No state file (the first run) means everything is new.
//!
//! Default path: `/var/lib/patchgap/notify-state.json` for root, else
//! `$XDG_STATE_HOME/patchgap/notify-state.json` (`~/.local/state/...`). Audits of different
//! inventories should each have their own (`--notify-state FILE`).

use std::path::{Path, PathBuf};

use crate::diff::{compare, input};
use crate::report::FleetReport;
use crate::report::atomic::write_atomic;

/// The default state file, as the module doc says.
pub fn default_path() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/patchgap/notify-state.json");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("patchgap/notify-state.json")
}

/// What the state file says about `report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No state yet: the first run.
    First,
    /// Hosts where something new appeared.
    New(usize),
    /// Nothing new.
    Nothing,
    /// The state file could not be read (the message says why): notified, to be safe.
    Unreadable(String),
}

impl Change {
    /// Whether `--notify-on change` sends.
    pub fn notifies(&self) -> bool {
        !matches!(self, Change::Nothing)
    }
}

/// Compares `report` with the last audit's, recorded in `state`.
pub fn compare_with(state: &Path, report: &FleetReport) -> Change {
    if !state.exists() {
        return Change::First;
    }
    match input::load(state) {
        Ok(saved) => {
            let diff = compare(&saved.report, "state", report, "now");
            match diff.hosts_with_new() {
                0 => Change::Nothing,
                n => Change::New(n),
            }
        }
        Err(e) => Change::Unreadable(e.to_string()),
    }
}

/// Records `report` as the last audit, creating the state's directory if needed.
pub fn record(state: &Path, report: &FleetReport) -> Result<(), String> {
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_atomic(state, |out| {
        serde_json::to_writer(&mut *out, report)?;
        out.write_all(b"\n")
    })
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::host_as_fleet;
    use crate::test_reports::{clean, with_findings, with_one_service};

    fn fleet(report: &patchgap_probe::Report) -> FleetReport {
        host_as_fleet(report).expect("fleet of one")
    }

    #[test]
    fn the_first_run_notifies_then_only_what_is_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("deep/er/state.json");
        let one = fleet(&with_one_service("web1"));
        assert_eq!(compare_with(&state, &one), Change::First);
        record(&state, &one).expect("record, creating the directories");
        assert_eq!(
            compare_with(&state, &one),
            Change::Nothing,
            "the same audit"
        );
        let fixed = fleet(&clean("web1"));
        assert_eq!(compare_with(&state, &fixed), Change::Nothing, "only fixed");
        let more = fleet(&with_findings("web1"));
        assert_eq!(compare_with(&state, &more), Change::New(1));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state)
            .expect("state")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the state maps what is vulnerable");
    }

    #[test]
    fn an_unreadable_state_notifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state.json");
        std::fs::write(&state, "{ not json").expect("write");
        let change = compare_with(&state, &fleet(&clean("web1")));
        assert!(matches!(change, Change::Unreadable(_)), "{change:?}");
        assert!(change.notifies());
    }
}
