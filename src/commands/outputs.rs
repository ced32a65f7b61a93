//! The outputs of `audit` and `report` alike: planned from `--format` and `-o` before any
//! work (a bad `-o` is a usage error, found before a host is contacted), written from the
//! one report at the end, and the Nagios status added to what the command found when stdout
//! gets that format.

use crate::cli::{Format, OutputArgs};
use crate::exit::{PluginError, UsageError, Verdict};
use crate::report::{
    Audited, Output, RenderOptions, Thresholds, diff_nagios_status, host_as_fleet, nagios_status,
    plan_outputs, stdout_format, write_outputs,
};

/// Where a run's report goes, and how it is rendered.
#[derive(Debug)]
pub struct Plan {
    outputs: Vec<Output>,
    options: RenderOptions,
}

/// The outputs `args` ask for; an impossible one is the user's to fix.
pub fn plan(args: &OutputArgs, show_ignored: bool) -> anyhow::Result<Plan> {
    let outputs =
        plan_outputs(args.format, &args.outputs).map_err(|e| UsageError(e.to_string()))?;
    Ok(Plan {
        outputs,
        options: RenderOptions {
            show_ignored,
            thresholds: Thresholds::new(args.warning.as_ref(), args.critical.as_ref()),
            min_risk: args.min_risk.map(Into::into),
        },
    })
}

/// The outputs of `patchgap diff`: `--format` and `-o` by the same rules, rendered with
/// the default options (the diff has no thresholds: its plugin status is its own).
pub fn plan_diff(format: Format, specs: &[std::path::PathBuf]) -> anyhow::Result<Plan> {
    let outputs = plan_outputs(format, specs).map_err(|e| UsageError(e.to_string()))?;
    Ok(Plan {
        outputs,
        options: RenderOptions::default(),
    })
}

impl Plan {
    fn nagios_on_stdout(&self) -> bool {
        stdout_format(&self.outputs) == Some(Format::Nagios)
    }

    /// Writes every output, then returns `found`, with the plugin status when stdout is
    /// Nagios. Outputs that fail are reported together, after the others were written.
    pub fn deliver(&self, audited: Audited<'_>, found: Verdict) -> anyhow::Result<Verdict> {
        write_outputs(&self.outputs, audited, &self.options)?;
        let mut found = found;
        if self.nagios_on_stdout() {
            let status = match audited {
                Audited::Fleet(report) => nagios_status(report, &self.options.thresholds),
                Audited::Host(report) => {
                    nagios_status(&host_as_fleet(report)?, &self.options.thresholds)
                }
                Audited::Diff(diff) => diff_nagios_status(diff),
            };
            found.nagios = Some(status);
        }
        Ok(found)
    }

    /// The command's result as the exit status needs it: with Nagios on stdout, any error
    /// is the plugin's UNKNOWN.
    pub fn finish(&self, result: anyhow::Result<Verdict>) -> anyhow::Result<Verdict> {
        match result {
            Err(e) if self.nagios_on_stdout() => Err(PluginError(e).into()),
            other => other,
        }
    }
}
