//! Reading the two saved reports of `patchgap diff`: a fleet report (docs/fleet-report.md)
//! or a local probe report (docs/report-format.md), told apart by their version field. A
//! local report becomes a fleet of one ([`FleetReport::single_host`]), so the comparison
//! has one shape to handle. Every error names the file.

use std::path::Path;

use crate::deploy::probe_output::parse_probe_output;
use crate::report::{ControllerInfo, FORMAT_VERSION, FleetReport};

/// A saved report that cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not JSON: {message}; give a report written by `--format json`")]
    NotJson { path: String, message: String },
    #[error(
        "{path} is neither a fleet report (`format_version`) nor a probe report \
         (`schema_version`); give a report written by `--format json`"
    )]
    Unknown { path: String },
    #[error(
        "{path} is a fleet report of format {found}; this patchgap reads format \
         {FORMAT_VERSION}: compare it with the patchgap that wrote it"
    )]
    Version { path: String, found: u64 },
    #[error("{path} is not a valid report: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "{local} is the local report of host `{host}`, which {other} does not contain: \
         compare reports of the same hosts"
    )]
    NoCommonHost {
        local: String,
        host: String,
        other: String,
    },
}

/// A saved report, read.
#[derive(Debug)]
pub struct Saved {
    pub report: FleetReport,
    /// True for a local probe report seen as a fleet of one.
    pub local: bool,
}

/// Reads a saved report of either kind.
pub fn load(path: &Path) -> Result<Saved, InputError> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| InputError::Read {
        path: name.clone(),
        source,
    })?;
    parse(&name, &text)
}

/// Parses a saved report; `name` names it in errors.
pub fn parse(name: &str, text: &[u8]) -> Result<Saved, InputError> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| InputError::NotJson {
            path: name.to_string(),
            message: e.to_string(),
        })?;
    let invalid = |message: String| InputError::Invalid {
        path: name.to_string(),
        message,
    };
    if let Some(version) = value.get("format_version") {
        match version.as_u64() {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(InputError::Version {
                    path: name.to_string(),
                    found,
                });
            }
            None => return Err(invalid("`format_version` is not a whole number".into())),
        }
        let report: FleetReport =
            serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        return Ok(Saved {
            report,
            local: false,
        });
    }
    if value.get("schema_version").is_some() {
        let probe = parse_probe_output(text).map_err(|e| invalid(e.to_string()))?;
        let report = probe.report().clone();
        let at = report.host.scanned_at;
        let report = FleetReport::single_host(report, ControllerInfo::new(at, at))
            .map_err(|e| invalid(e.to_string()))?;
        return Ok(Saved {
            report,
            local: true,
        });
    }
    Err(InputError::Unknown {
        path: name.to_string(),
    })
}

/// A local report compared with anything must share its host with it: comparing two
/// different machines is a mistake, not a diff.
pub fn check_pair(old: (&str, &Saved), new: (&str, &Saved)) -> Result<(), InputError> {
    for ((local_name, local), (other_name, other)) in [(old, new), (new, old)] {
        if !local.local {
            continue;
        }
        let Some(host) = local.report.hosts.first() else {
            continue;
        };
        if !other.report.hosts.iter().any(|h| h.host == host.host) {
            return Err(InputError::NoCommonHost {
                local: local_name.to_string(),
                host: host.host.clone(),
                other: other_name.to_string(),
            });
        }
    }
    Ok(())
}
