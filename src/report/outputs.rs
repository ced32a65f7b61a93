//! Where a run's report goes: `-o [FORMAT:]FILE` (repeatable) and `--format`, turned into a
//! list of outputs, all rendered from the one report.
//!
//! The rule (README "Outputs"):
//! - without `-o`, stdout gets `--format`;
//! - with `-o`, only the outputs named are written: `-o -` is stdout in `--format`,
//!   `-o FORMAT:-` stdout in FORMAT, at most one of them;
//! - a file's format is its `FORMAT:` prefix if it has one (a known format name before the
//!   first `:`), else its extension ([`EXTENSIONS`]); anything else is a usage error that
//!   names the known ones.
//!
//! Every file is replaced atomically, mode 0600 ([`super::atomic`]). One output that cannot
//! be written does not stop the others: [`write_outputs`] writes them all, then reports
//! every failure by name.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum as _;
use patchgap_probe::Report;

use super::brief::Brief;
use super::csv::Csv;
use super::diff_csv::diff_csv;
use super::diff_html::diff_html;
use super::diff_junit::diff_junit;
use super::diff_metrics::diff_metrics;
use super::diff_nagios::diff_nagios;
use super::diff_table::{diff_json, render_diff};
use super::document::FleetReport;
use super::html::Html;
use super::json::Json;
use super::junit::Junit;
use super::nagios::{Nagios, Thresholds};
use super::openmetrics::OpenMetrics;
use super::render::Render;
use super::sink::Sink;
use super::table::{Table, stdout_width};
use crate::cli::Format;
use crate::diff::DiffReport;
use patchgap_probe::report::RiskLevel;

/// File extensions and the format each implies.
pub const EXTENSIONS: &[(&str, Format)] = &[
    ("json", Format::Json),
    ("csv", Format::Csv),
    ("html", Format::Html),
    ("htm", Format::Html),
    ("xml", Format::Junit),
    ("prom", Format::Openmetrics),
    ("txt", Format::Table),
];

/// Where one output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Stdout => "stdout".into(),
            Target::File(path) => path.display().to_string(),
        }
    }
}

/// One output of a run: a format and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub target: Target,
}

/// Why the outputs asked for cannot be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutputSpecError {
    #[error(
        "-o {spec}: cannot tell the format from the extension; use one of {known} or \
         write FORMAT:FILE (formats: {formats})"
    )]
    UnknownExtension {
        spec: String,
        known: String,
        formats: String,
    },
    #[error("-o {0}: the file name is empty")]
    EmptyPath(String),
    #[error("stdout is named by more than one -o; give `-` (or FORMAT:-) once")]
    StdoutTwice,
}

fn format_name(format: Format) -> String {
    format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// One `-o` value: `-`, `FORMAT:FILE`, `FORMAT:-` or `FILE`.
pub fn parse_output(spec: &Path, default: Format) -> Result<Output, OutputSpecError> {
    let bytes = spec.as_os_str().as_bytes();
    let shown = || spec.display().to_string();
    let prefixed = bytes.iter().position(|b| *b == b':').and_then(|colon| {
        let name = std::str::from_utf8(&bytes[..colon]).ok()?;
        let format = Format::from_str(name, false).ok()?;
        Some((format, OsStr::from_bytes(&bytes[colon + 1..])))
    });
    let (format, path) = match prefixed {
        Some((format, path)) => (Some(format), path),
        None => (None, spec.as_os_str()),
    };
    if path.is_empty() {
        return Err(OutputSpecError::EmptyPath(shown()));
    }
    if path == "-" {
        return Ok(Output {
            format: format.unwrap_or(default),
            target: Target::Stdout,
        });
    }
    let path = PathBuf::from(path);
    let format = match format {
        Some(format) => format,
        None => path
            .extension()
            .and_then(|e| {
                EXTENSIONS
                    .iter()
                    .find(|(ext, _)| e.eq_ignore_ascii_case(ext))
            })
            .map(|(_, format)| *format)
            .ok_or_else(|| OutputSpecError::UnknownExtension {
                spec: shown(),
                known: EXTENSIONS
                    .iter()
                    .map(|(ext, f)| format!(".{ext} ({})", format_name(*f)))
                    .collect::<Vec<_>>()
                    .join(", "),
                formats: Format::value_variants()
                    .iter()
                    .map(|f| format_name(*f))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
    };
    Ok(Output {
        format,
        target: Target::File(path),
    })
}

/// Every output of a run, by the rule of this module's doc.
pub fn plan_outputs(format: Format, specs: &[PathBuf]) -> Result<Vec<Output>, OutputSpecError> {
    if specs.is_empty() {
        return Ok(vec![Output {
            format,
            target: Target::Stdout,
        }]);
    }
    let outputs = specs
        .iter()
        .map(|s| parse_output(s, format))
        .collect::<Result<Vec<_>, _>>()?;
    if outputs
        .iter()
        .filter(|o| o.target == Target::Stdout)
        .count()
        > 1
    {
        return Err(OutputSpecError::StdoutTwice);
    }
    Ok(outputs)
}

/// The format stdout gets, if any: it decides whether the exit status is a plugin's.
pub fn stdout_format(outputs: &[Output]) -> Option<Format> {
    outputs
        .iter()
        .find(|o| o.target == Target::Stdout)
        .map(|o| o.format)
}

/// What was audited: one host's probe report (a local audit, or a saved one) or a fleet;
/// or what changed between two audits (`patchgap diff`).
#[derive(Debug, Clone, Copy)]
pub enum Audited<'a> {
    Host(&'a Report),
    Fleet(&'a FleetReport),
    Diff(&'a DiffReport),
}

/// Choices of the command line that renderers need.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// `--show-ignored` for the tables.
    pub show_ignored: bool,
    /// `--warning`/`--critical` for Nagios.
    pub thresholds: Thresholds,
    /// `--min-risk` for the tables.
    pub min_risk: Option<RiskLevel>,
}

/// The renderer of `format` for `target`. Tables wrap to the terminal on stdout; a single
/// host's also in a file (as they always have).
fn renderer(
    format: Format,
    target: &Target,
    host: bool,
    options: &RenderOptions,
) -> Box<dyn Render> {
    match format {
        Format::Table => Box::new(Table {
            width: if host || *target == Target::Stdout {
                stdout_width()
            } else {
                None
            },
            show_ignored: options.show_ignored,
            min_risk: options.min_risk,
        }),
        Format::Json => Box::new(Json),
        Format::Csv => Box::new(Csv::Findings),
        Format::CsvHosts => Box::new(Csv::Hosts),
        Format::CsvPolicy => Box::new(Csv::Policy),
        Format::Html => Box::new(Html),
        Format::Junit => Box::new(Junit),
        Format::Nagios => Box::new(Nagios {
            thresholds: options.thresholds,
        }),
        Format::Openmetrics => Box::new(OpenMetrics),
        Format::Brief => Box::new(Brief),
    }
}

/// Writes a comparison in `format`: the diff's own renderer of each format (`csv-hosts`
/// is the diff's CSV too: it has one shape). The table wraps to the terminal on stdout.
fn write_diff(
    format: Format,
    target: &Target,
    diff: &DiffReport,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        // A comparison has no brief form of its own: its table is already the summary.
        Format::Table | Format::Brief => {
            let width = if *target == Target::Stdout {
                stdout_width()
            } else {
                None
            };
            out.write_all(render_diff(diff, width).as_bytes())
        }
        Format::Json => diff_json(diff, out),
        Format::Csv | Format::CsvHosts | Format::CsvPolicy => diff_csv(diff, out),
        Format::Html => diff_html(diff, out),
        Format::Junit => diff_junit(diff, out),
        Format::Nagios => diff_nagios(diff, out),
        Format::Openmetrics => diff_metrics(diff, out),
    }
}

/// Some outputs could not be written; the others were.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} outputs not written: {}", failed.len(), failed.join("; "))]
pub struct OutputsFailed {
    pub total: usize,
    /// Each failed output's error, naming it.
    pub failed: Vec<String>,
}

/// Renders `audited` into every output, each on its own: a failing one is reported after
/// all the others were written.
pub fn write_outputs(
    outputs: &[Output],
    audited: Audited<'_>,
    options: &RenderOptions,
) -> Result<(), OutputsFailed> {
    let mut failed = Vec::new();
    for output in outputs {
        let host = matches!(audited, Audited::Host(_));
        let render = || renderer(output.format, &output.target, host, options);
        let sink = match &output.target {
            Target::Stdout => Sink::Stdout,
            Target::File(path) => Sink::File(path),
        };
        let written = sink.write(|out| match audited {
            Audited::Host(report) => render().host(report, out),
            Audited::Fleet(report) => render().fleet(report, out),
            Audited::Diff(diff) => write_diff(output.format, &output.target, diff, out),
        });
        if let Err(e) = written {
            failed.push(format!(
                "{} ({}): {e:#}",
                output.target.name(),
                format_name(output.format)
            ));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(OutputsFailed {
            total: outputs.len(),
            failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<Output, OutputSpecError> {
        parse_output(Path::new(spec), Format::Table)
    }

    fn file(format: Format, path: &str) -> Output {
        Output {
            format,
            target: Target::File(path.into()),
        }
    }

    #[test]
    fn the_format_follows_the_prefix_then_the_extension() {
        assert_eq!(
            parse("out/fleet.json"),
            Ok(file(Format::Json, "out/fleet.json"))
        );
        assert_eq!(parse("a.CSV"), Ok(file(Format::Csv, "a.CSV")));
        assert_eq!(parse("r.xml"), Ok(file(Format::Junit, "r.xml")));
        assert_eq!(parse("page.html"), Ok(file(Format::Html, "page.html")));
        assert_eq!(
            parse("node.prom"),
            Ok(file(Format::Openmetrics, "node.prom"))
        );
        assert_eq!(parse("t.txt"), Ok(file(Format::Table, "t.txt")));
        assert_eq!(
            parse("csv-hosts:h.csv"),
            Ok(file(Format::CsvHosts, "h.csv"))
        );
        assert_eq!(parse("nagios:status"), Ok(file(Format::Nagios, "status")));
        assert_eq!(
            parse("json:a:b.weird"),
            Ok(file(Format::Json, "a:b.weird")),
            "only the first colon splits"
        );
        assert_eq!(
            parse("./x:y.json"),
            Ok(file(Format::Json, "./x:y.json")),
            "not a format name: the whole value is the path"
        );
    }

    #[test]
    fn stdout_is_dash() {
        let stdout = |format| Output {
            format,
            target: Target::Stdout,
        };
        assert_eq!(parse("-"), Ok(stdout(Format::Table)));
        assert_eq!(parse("nagios:-"), Ok(stdout(Format::Nagios)));
        assert_eq!(
            plan_outputs(Format::Json, &[]),
            Ok(vec![stdout(Format::Json)])
        );
        let two = plan_outputs(Format::Json, &["-".into(), "csv:-".into()]);
        assert_eq!(two, Err(OutputSpecError::StdoutTwice));
        let with_file = plan_outputs(Format::Json, &["a.csv".into()]).expect("valid");
        assert_eq!(
            stdout_format(&with_file),
            None,
            "-o alone: nothing on stdout"
        );
    }

    #[test]
    fn an_unknown_extension_names_the_known_ones() {
        let err = parse("report.pdf").expect_err("unknown").to_string();
        for known in [
            ".json",
            ".csv",
            ".xml",
            ".prom",
            ".txt",
            "FORMAT:FILE",
            "csv-hosts",
        ] {
            assert!(err.contains(known), "{known} in {err}");
        }
        assert!(parse("noext").is_err());
        assert_eq!(
            parse("json:"),
            Err(OutputSpecError::EmptyPath("json:".into()))
        );
    }

    #[test]
    fn a_failing_output_does_not_stop_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("fleet.csv");
        let bad = dir.path().join("missing/fleet.json");
        let later = dir.path().join("fleet.prom");
        let outputs = plan_outputs(Format::Table, &[good.clone(), bad.clone(), later.clone()])
            .expect("valid");
        let report = crate::test_reports::with_findings("web1");
        let err = write_outputs(&outputs, Audited::Host(&report), &RenderOptions::default())
            .expect_err("one output fails");
        assert_eq!(err.failed.len(), 1);
        assert!(err.to_string().contains("missing/fleet.json"), "{err}");
        assert!(err.to_string().starts_with("1 of 3 outputs"), "{err}");
        for written in [good, later] {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(&written).expect("written despite the failure");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{written:?}");
        }
    }
}
