//! Exit statuses of `patchgap`, documented for pipelines in README.md, and the one place
//! that chooses them: commands return what they found ([`Verdict`]) or an error, and
//! [`status`] turns either into the status. Nothing else decides an exit code.

use crate::limit::LimitError;
use crate::policy::PolicyError;
use crate::report::{Level, NagiosStatus};

/// What a run ends with. The numbers are a stable interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing pending: no stale process, no reboot, no integrity finding.
    Clean = 0,
    /// Restarts, a reboot or integrity findings are pending.
    Findings = 1,
    /// The command line was wrong (clap's own status).
    Usage = 2,
    /// patchgap itself failed (unreadable inventory, unwritable report, ...).
    Error = 3,
    /// Some hosts could not be audited, or (restart) some host's campaign failed; the
    /// others' results are in the report.
    HostsFailed = 4,
    /// (restart) The campaign stopped early: the canary failed, a batch exceeded
    /// `--max-fail`, or no maintenance window was open with `--outside-window stop`.
    Stopped = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error in what the user asked for (a bad pattern or regex, conflicting options), as
/// opposed to a failure while doing it: it exits with [`Exit::Usage`]. Commands wrap
/// errors of argument values in it when the error type does not already say so.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// What a command found, counted over the hosts it looked at: all the exit status needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Hosts that could not be audited.
    pub hosts_failed: usize,
    /// Audited hosts waiting for a restart, a reboot or with integrity findings.
    pub hosts_with_findings: usize,
    /// A restart campaign stopped before its last batch.
    pub stopped: bool,
    /// `patchgap diff`: hosts where something new appeared since the earlier report.
    pub hosts_with_new: usize,
    /// With `--policy`: its overall level, which then decides on findings instead of
    /// `hosts_with_findings` (`fail` is [`Exit::Findings`], `warn` and `pass` are clean).
    /// `hosts_failed` then counts only the failed hosts the policy does not accept.
    pub policy: Option<Level>,
    /// Set when stdout got `--format nagios`: the status is then the plugin's.
    pub nagios: Option<NagiosStatus>,
}

/// An error of a run whose stdout is a Nagios plugin's output: UNKNOWN (3), whatever the
/// error, since the monitoring system reads the status as the check's result.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct PluginError(pub anyhow::Error);

/// The exit status of a finished command as a number: the plugin's when stdout got the
/// Nagios format (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), else [`status`]'s.
pub fn code(result: &anyhow::Result<Verdict>) -> u8 {
    match result {
        Ok(Verdict {
            nagios: Some(plugin),
            ..
        }) => match plugin {
            NagiosStatus::Ok => 0,
            NagiosStatus::Warning => 1,
            NagiosStatus::Critical => 2,
            NagiosStatus::Unknown => 3,
        },
        Err(e) if e.downcast_ref::<PluginError>().is_some() => 3,
        _ => status(result).code(),
    }
}

/// The status of a finished command: a stopped campaign wins over a failed host, a
/// failed host over findings, findings over clean; with a policy, its `fail` level is the findings; an error is a usage error or
/// patchgap's own.
pub fn status(result: &anyhow::Result<Verdict>) -> Exit {
    match result {
        Ok(verdict) if verdict.stopped => Exit::Stopped,
        Ok(verdict) if verdict.hosts_failed > 0 => Exit::HostsFailed,
        Ok(verdict) if verdict.hosts_with_new > 0 => Exit::Findings,
        Ok(Verdict {
            policy: Some(level),
            ..
        }) => match level {
            Level::Fail => Exit::Findings,
            Level::Warn | Level::Pass => Exit::Clean,
        },
        Ok(verdict) if verdict.hosts_with_findings > 0 => Exit::Findings,
        Ok(_) => Exit::Clean,
        Err(e) => for_error(e),
    }
}

/// The status for an error that ended the run: errors in the arguments' values (a bad
/// `--limit`, a bad `--ignore` regex, ...) are usage errors, everything else is ours.
pub fn for_error(e: &anyhow::Error) -> Exit {
    if e.downcast_ref::<UsageError>().is_some()
        || e.downcast_ref::<LimitError>().is_some()
        || e.downcast_ref::<PolicyError>().is_some()
    {
        Exit::Usage
    } else {
        Exit::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(hosts_failed: usize, hosts_with_findings: usize) -> anyhow::Result<Verdict> {
        Ok(Verdict {
            hosts_failed,
            hosts_with_findings,
            ..Verdict::default()
        })
    }

    fn judged(hosts_failed: usize, findings: usize, level: Level) -> anyhow::Result<Verdict> {
        Ok(Verdict {
            hosts_failed,
            hosts_with_findings: findings,
            policy: Some(level),
            ..Verdict::default()
        })
    }

    #[test]
    fn a_policy_decides_on_findings_but_not_on_failed_hosts_it_does_not_accept() {
        assert_eq!(status(&judged(0, 3, Level::Warn)), Exit::Clean);
        assert_eq!(status(&judged(0, 3, Level::Pass)), Exit::Clean);
        assert_eq!(status(&judged(0, 0, Level::Fail)), Exit::Findings);
        assert_eq!(status(&judged(2, 0, Level::Pass)), Exit::HostsFailed);
    }

    #[test]
    fn a_diff_with_something_new_has_findings_even_when_the_policy_passes() {
        let new = |policy| {
            Ok(Verdict {
                hosts_with_new: 1,
                policy,
                ..Verdict::default()
            })
        };
        assert_eq!(status(&new(None)), Exit::Findings);
        assert_eq!(status(&new(Some(Level::Pass))), Exit::Findings);
        assert_eq!(status(&Ok(Verdict::default())), Exit::Clean, "only fixed");
    }

    #[test]
    fn a_nagios_run_exits_with_the_plugin_status() {
        let plugin = |status| {
            Ok(Verdict {
                hosts_failed: 1,
                hosts_with_findings: 1,
                nagios: Some(status),
                ..Verdict::default()
            })
        };
        assert_eq!(code(&plugin(NagiosStatus::Ok)), 0);
        assert_eq!(code(&plugin(NagiosStatus::Warning)), 1);
        assert_eq!(code(&plugin(NagiosStatus::Critical)), 2);
        assert_eq!(code(&plugin(NagiosStatus::Unknown)), 3);
        let usage = anyhow::Error::new(UsageError("--warning: bad".into()));
        assert_eq!(code(&Err(usage)), 2, "not a plugin run: a usage error");
        let failed = anyhow::Error::new(PluginError(anyhow::anyhow!("unreadable")));
        assert_eq!(code(&Err(failed)), 3, "a plugin run that failed is UNKNOWN");
        assert_eq!(code(&verdict(1, 0)), 4, "without nagios: the usual table");
    }

    #[test]
    fn a_failed_host_wins_over_findings_and_findings_over_clean() {
        assert_eq!(status(&verdict(0, 0)), Exit::Clean);
        assert_eq!(status(&verdict(0, 3)), Exit::Findings);
        assert_eq!(status(&verdict(1, 3)), Exit::HostsFailed);
        assert_eq!(status(&verdict(2, 0)), Exit::HostsFailed);
        let stopped = Verdict {
            hosts_failed: 1,
            stopped: true,
            ..Verdict::default()
        };
        assert_eq!(
            status(&Ok(stopped)),
            Exit::Stopped,
            "a stopped campaign wins over its failed hosts"
        );
    }

    #[test]
    fn every_error_class_has_its_status() {
        let usage = anyhow::Error::new(UsageError("--ignore: bad".into()));
        assert_eq!(status(&Err(usage)), Exit::Usage);
        let limit = anyhow::Error::new(LimitError::NoMatch("nosuchhost".into()));
        assert_eq!(
            status(&Err(limit)),
            Exit::Usage,
            "a bad --limit is a usage error"
        );
        let policy = anyhow::Error::new(PolicyError::Syntax {
            path: "policy.yaml".into(),
            message: "line 1, column 1: unknown field".into(),
        });
        assert_eq!(status(&Err(policy)), Exit::Usage, "a bad --policy file");
        let io = anyhow::Error::new(std::io::Error::other("disk full"));
        assert_eq!(status(&Err(io)), Exit::Error);
        assert_eq!(
            [
                Exit::Clean,
                Exit::Findings,
                Exit::Usage,
                Exit::Error,
                Exit::HostsFailed,
                Exit::Stopped
            ]
            .map(Exit::code),
            [0, 1, 2, 3, 4, 5],
            "README documents these numbers"
        );
    }
}
