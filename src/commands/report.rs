//! `patchgap report SAVED.json`: renders a report saved with `--format json` in any format,
//! touching no host. Two kinds of file are read, told apart by their version field: a
//! fleet report (`format_version`, docs/fleet-report.md) or one host's probe report
//! (`schema_version`, docs/report-format.md, validated like a probe's output). The exit
//! status follows the same policy as the audit that wrote it. A file that cannot be read
//! as either is patchgap's error (exit 3), named with the fix.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::outputs::plan;
use crate::cli::ReportArgs;
use crate::deploy::probe_output::{InvalidOutput, parse_probe_output};
use crate::exit::Verdict;
use crate::policy;
use crate::report::{Audited, FORMAT_VERSION, FleetReport, host_as_fleet, host_verdict, verdict};

/// Why a saved report cannot be rendered. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SavedReportError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is truncated: the JSON ends early (line {line}, column {column}); save the report again",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("{} is not JSON: {message}", path.display())]
    NotJson { path: PathBuf, message: String },
    #[error(
        "{} is neither a fleet report (no `format_version`) nor a probe report (no \
         `schema_version`); give a file written by `patchgap audit --format json`",
        path.display()
    )]
    Unknown { path: PathBuf },
    #[error(
        "{}: fleet report format {found} is newer than this patchgap reads ({FORMAT_VERSION}); \
         upgrade patchgap",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: String },
    #[error("{}: not a fleet report of format {FORMAT_VERSION}: {message}", path.display())]
    FleetShape { path: PathBuf, message: String },
    #[error("{}: not a valid probe report: {source}", path.display())]
    Probe {
        path: PathBuf,
        source: InvalidOutput,
    },
}

/// A saved report, as read.
#[derive(Debug)]
pub enum Saved {
    Fleet(Box<FleetReport>),
    Host(Box<patchgap_probe::Report>),
}

/// Reads and validates a saved report.
pub fn load(path: &Path) -> Result<Saved, SavedReportError> {
    let bytes = std::fs::read(path).map_err(|source| SavedReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    #[derive(Deserialize)]
    struct Versions {
        format_version: Option<serde_json::Value>,
        schema_version: Option<serde_json::Value>,
    }
    let syntax = |e: serde_json::Error| {
        if e.is_eof() {
            SavedReportError::Truncated {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
            }
        } else {
            SavedReportError::NotJson {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        }
    };
    // Syntax first, over the whole file, so a cut or garbled file says so.
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(syntax)?;
    let versions: Versions =
        serde_json::from_slice(&bytes).map_err(|_| SavedReportError::Unknown {
            path: path.to_path_buf(),
        })?;
    match (versions.format_version, versions.schema_version) {
        (Some(found), _) => {
            if found.as_u64() != Some(u64::from(FORMAT_VERSION)) {
                if found
                    .as_u64()
                    .is_some_and(|v| v > u64::from(FORMAT_VERSION))
                {
                    return Err(SavedReportError::NewerFormat {
                        path: path.to_path_buf(),
                        found: found.to_string(),
                    });
                }
                return Err(SavedReportError::FleetShape {
                    path: path.to_path_buf(),
                    message: format!("`format_version` is {found}"),
                });
            }
            serde_json::from_slice(&bytes)
                .map(|r| Saved::Fleet(Box::new(r)))
                .map_err(|e| SavedReportError::FleetShape {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })
        }
        (None, Some(_)) => parse_probe_output(&bytes)
            .map(|p| Saved::Host(Box::new(p.report().clone())))
            .map_err(|source| SavedReportError::Probe {
                path: path.to_path_buf(),
                source,
            }),
        (None, None) => Err(SavedReportError::Unknown {
            path: path.to_path_buf(),
        }),
    }
}

/// Runs `patchgap report`. With `--policy`, the report is judged first (a probe report as
/// a fleet of one) and every output shows the verdict.
pub fn run(args: &ReportArgs) -> anyhow::Result<Verdict> {
    let plan = plan(&args.output, args.show_ignored)?;
    let result = (|| {
        let policy = policy::load(&args.policy)?;
        let saved = load(&args.file)?;
        let Some(policy) = policy else {
            return match &saved {
                Saved::Fleet(report) => {
                    plan.deliver(Audited::Fleet(report), verdict(&report.hosts))
                }
                Saved::Host(report) => plan.deliver(Audited::Host(report), host_verdict(report)),
            };
        };
        let (mut fleet, found) = match saved {
            Saved::Fleet(report) => {
                let found = verdict(&report.hosts);
                (*report, found)
            }
            Saved::Host(report) => (host_as_fleet(&report)?, host_verdict(&report)),
        };
        let found = policy.apply(&mut fleet, found);
        plan.deliver(Audited::Fleet(&fleet), found)
    })();
    plan.finish(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::{report_json, with_findings};

    fn load_text(text: &str) -> Result<Saved, SavedReportError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("saved.json");
        std::fs::write(&path, text).expect("write");
        load(&path)
    }

    fn error(text: &str) -> String {
        let err = load_text(text).expect_err("refused").to_string();
        assert!(err.contains("saved.json"), "names the file: {err}");
        err
    }

    #[test]
    fn both_kinds_are_told_apart() {
        let probe = report_json(&with_findings("web1"));
        assert!(matches!(load_text(&probe), Ok(Saved::Host(r)) if r.host.hostname == "web1"));
        let fleet = FleetReport::new(crate::report::ControllerInfo::new(1, 2), vec![]);
        let text = serde_json::to_string(&fleet).expect("json");
        assert!(matches!(load_text(&text), Ok(Saved::Fleet(f)) if *f == fleet));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let probe = report_json(&with_findings("web1"));
        assert!(error(&probe[..probe.len() / 2]).contains("truncated"));
        assert!(error("hello").contains("not JSON"));
        assert!(error("[1]").contains("neither a fleet report"));
        assert!(error(r#"{"hosts":[]}"#).contains("neither a fleet report"));
        assert!(error(r#"{"format_version":99}"#).contains("upgrade patchgap"));
        assert!(error(r#"{"format_version":1,"hosts":3}"#).contains("not a fleet report"));
        assert!(error(r#"{"schema_version":999}"#).contains("upgrade patchgap"));
        assert!(error(r#"{"schema_version":1}"#).contains("not a valid probe report"));
        let missing = load(Path::new("/nonexistent/saved.json")).expect_err("missing");
        assert!(missing.to_string().contains("/nonexistent/saved.json"));
    }
}
