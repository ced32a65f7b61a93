//! The probe's stdout, treated as untrusted input: a compromised or broken host can print
//! anything. It is size-capped, must be UTF-8 JSON of a known schema version, and must
//! deserialize into a [`Report`] before anything else looks at it.
//!
//! The accepted text is kept byte for byte beside the parsed report, so the fleet report
//! carries each host's report unchanged, including fields a newer probe added that this
//! controller does not know.

use std::fmt;

use patchgap_probe::{Report, SCHEMA_VERSION};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Largest probe output accepted, in bytes. A report of a busy host with thousands of
/// stale processes is a few MiB; 64 MiB leaves room for `--integrity` listings while
/// bounding what one host can make the controller hold. Transports should stop reading
/// after `MAX_PROBE_OUTPUT + 1` bytes and pass what they have, so the cap is reported.
pub const MAX_PROBE_OUTPUT: usize = 64 * 1024 * 1024;

/// Why a probe's output was refused. Messages fit after "probe output invalid: ".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidOutput {
    #[error("the probe printed nothing")]
    Empty,
    #[error("output is larger than the {limit}-byte cap (at least {size} bytes)")]
    TooLarge { size: usize, limit: usize },
    #[error("output is not UTF-8 (bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("output is truncated: the JSON ends early (line {line}, column {column})")]
    Truncated { line: usize, column: usize },
    #[error("output is not JSON: {message} (line {line}, column {column})")]
    NotJson {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("output is JSON but not a report object")]
    NotAnObject,
    #[error("output has no `schema_version`: not a patchgap report")]
    NoSchemaVersion,
    #[error("`schema_version` is not a whole number: {0}")]
    BadSchemaVersion(String),
    #[error(
        "report schema {found} is newer than this patchgap reads ({supported}); upgrade patchgap"
    )]
    NewerSchema { found: u64, supported: u32 },
    #[error(
        "report schema {found} is older than this patchgap reads ({supported}); the probe on the host is stale"
    )]
    OlderSchema { found: u64, supported: u32 },
    #[error("report does not match schema {SCHEMA_VERSION}: {0}")]
    Schema(String),
}

/// A validated probe report: parsed, plus the exact JSON text the probe printed.
#[derive(Clone)]
pub struct ProbeReport {
    report: Report,
    raw: Box<RawValue>,
}

impl ProbeReport {
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The parsed report, for the controller to merge in what it derived from it (the
    /// comparison with a checksum baseline, `crate::baseline::apply`). The JSON stays as
    /// the probe printed it: derived data must also be recorded in a controller-side
    /// field of the fleet report.
    pub fn report_mut(&mut self) -> &mut Report {
        &mut self.report
    }

    /// The JSON as the probe printed it (surrounding whitespace removed).
    pub fn raw_json(&self) -> &str {
        self.raw.get()
    }

    /// Wraps a report made in this process (the local audit), so it can be written like a
    /// remote host's.
    pub fn from_report(report: Report) -> Result<Self, serde_json::Error> {
        let raw = serde_json::value::to_raw_value(&report)?;
        Ok(ProbeReport { report, raw })
    }
}

impl fmt::Debug for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeReport")
            .field("report", &self.report)
            .field("raw_bytes", &self.raw.get().len())
            .finish()
    }
}

/// Equal when the JSON documents are equal, whatever their formatting or key order.
impl PartialEq for ProbeReport {
    fn eq(&self, other: &Self) -> bool {
        if self.raw.get() == other.raw.get() {
            return true;
        }
        let value = |raw: &RawValue| serde_json::from_str::<serde_json::Value>(raw.get()).ok();
        value(&self.raw).is_some_and(|v| Some(v) == value(&other.raw))
    }
}

impl Serialize for ProbeReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// Reading a saved fleet report validates each host's report again. The report sits inside
/// an internally tagged enum, which serde buffers, so the raw text is not available here:
/// the document is read as a value and written back, keeping every field but not the
/// original formatting or key order.
impl<'de> Deserialize<'de> for ProbeReport {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = serde_json::to_string(&value).map_err(serde::de::Error::custom)?;
        parse_probe_output(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// Validates what a probe printed on stdout and parses it.
pub fn parse_probe_output(stdout: &[u8]) -> Result<ProbeReport, InvalidOutput> {
    if stdout.len() > MAX_PROBE_OUTPUT {
        return Err(InvalidOutput::TooLarge {
            size: stdout.len(),
            limit: MAX_PROBE_OUTPUT,
        });
    }
    let text = std::str::from_utf8(stdout).map_err(|e| InvalidOutput::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    if text.trim().is_empty() {
        return Err(InvalidOutput::Empty);
    }
    let raw: Box<RawValue> = serde_json::from_str(text).map_err(|e| syntax_error(e, text))?;
    check_schema(raw.get())?;
    let report: Report =
        serde_json::from_str(raw.get()).map_err(|e| InvalidOutput::Schema(e.to_string()))?;
    Ok(ProbeReport { report, raw })
}

fn syntax_error(e: serde_json::Error, text: &str) -> InvalidOutput {
    let (line, column) = (e.line(), e.column());
    if e.is_eof() || number_cut_short(text, &e) {
        InvalidOutput::Truncated { line, column }
    } else {
        InvalidOutput::NotJson {
            message: e.to_string(),
            line,
            column,
        }
    }
}

/// serde_json calls a number that the output stops in the middle of (`-`, `1e`, `2.`)
/// invalid rather than unfinished. It was cut short when the error is at the very end and
/// one more digit leaves the JSON merely unfinished.
fn number_cut_short(text: &str, e: &serde_json::Error) -> bool {
    let last_line = text.rsplit('\n').next().unwrap_or(text);
    let at_end = e.line() == text.matches('\n').count() + 1 && e.column() == last_line.len();
    at_end && {
        let mut more = String::with_capacity(text.len() + 1);
        more.push_str(text);
        more.push('0');
        serde_json::from_str::<serde::de::IgnoredAny>(&more).is_err_and(|e| e.is_eof())
    }
}

/// Checks the version before the shape, so a newer probe gets "upgrade patchgap" rather
/// than a confusing missing-field error.
fn check_schema(json: &str) -> Result<(), InvalidOutput> {
    #[derive(Deserialize)]
    struct Versioned {
        schema_version: Option<serde_json::Value>,
    }
    let versioned: Versioned =
        serde_json::from_str(json).map_err(|_| InvalidOutput::NotAnObject)?;
    let value = versioned
        .schema_version
        .ok_or(InvalidOutput::NoSchemaVersion)?;
    let found = value.as_u64().ok_or_else(|| {
        let mut shown = value.to_string();
        // The value is the host's text: cut it where a character starts.
        shown.truncate(shown.floor_char_boundary(40));
        InvalidOutput::BadSchemaVersion(shown)
    })?;
    let supported = SCHEMA_VERSION;
    match found.cmp(&u64::from(supported)) {
        std::cmp::Ordering::Greater => Err(InvalidOutput::NewerSchema { found, supported }),
        std::cmp::Ordering::Less => Err(InvalidOutput::OlderSchema { found, supported }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::{report_json, with_findings};

    fn error_for(bytes: &[u8]) -> InvalidOutput {
        parse_probe_output(bytes).expect_err("hostile input must be refused")
    }

    #[test]
    fn a_valid_report_is_kept_byte_for_byte() {
        let json = report_json(&with_findings("web1"));
        let pretty = format!("\n  {json}\n\n");
        let parsed = parse_probe_output(pretty.as_bytes()).expect("valid");
        assert_eq!(parsed.raw_json(), json);
        assert_eq!(parsed.report().host.hostname, "web1");
        assert_eq!(serde_json::to_string(&parsed).expect("serialize"), json);
    }

    #[test]
    fn fields_of_a_newer_probe_survive() {
        let json = report_json(&with_findings("web1"));
        let extended = json.replacen('{', r#"{"future_field":{"x":[1,2]},"#, 1);
        let parsed = parse_probe_output(extended.as_bytes()).expect("unknown fields are fine");
        assert!(parsed.raw_json().contains("future_field"));
        let back: ProbeReport = serde_json::from_str(&serde_json::to_string(&parsed).expect("ser"))
            .expect("round trip");
        assert_eq!(back, parsed);
    }

    #[test]
    fn truncated_output() {
        let json = report_json(&with_findings("web1"));
        let cut = &json.as_bytes()[..json.len() / 2];
        assert!(matches!(error_for(cut), InvalidOutput::Truncated { .. }));
        assert!(matches!(error_for(b"{"), InvalidOutput::Truncated { .. }));
    }

    #[test]
    fn not_json_not_utf8_empty() {
        assert_eq!(error_for(b""), InvalidOutput::Empty);
        assert_eq!(error_for(b"  \n"), InvalidOutput::Empty);
        assert!(matches!(
            error_for(b"sudo: a password is required"),
            InvalidOutput::NotJson { line: 1, .. }
        ));
        assert_eq!(
            error_for(b"{\"a\":\"\xff\"}"),
            InvalidOutput::NotUtf8 { offset: 6 }
        );
        let json = report_json(&with_findings("web1"));
        let trailing = format!("{json}\nextra");
        assert!(matches!(
            error_for(trailing.as_bytes()),
            InvalidOutput::NotJson { line: 2, .. }
        ));
        assert_eq!(error_for(b"[1,2]"), InvalidOutput::NotAnObject);
        assert_eq!(error_for(b"\"text\""), InvalidOutput::NotAnObject);
    }

    #[test]
    fn schema_versions() {
        assert_eq!(error_for(b"{}"), InvalidOutput::NoSchemaVersion);
        assert!(matches!(
            error_for(br#"{"schema_version":"1"}"#),
            InvalidOutput::BadSchemaVersion(_)
        ));
        assert!(matches!(
            error_for(br#"{"schema_version":-1}"#),
            InvalidOutput::BadSchemaVersion(_)
        ));
        let newer = error_for(br#"{"schema_version":999}"#);
        assert!(newer.to_string().ends_with("upgrade patchgap"), "{newer}");
        assert!(matches!(
            error_for(br#"{"schema_version":0}"#),
            InvalidOutput::OlderSchema { .. }
        ));
        let wrong = error_for(br#"{"schema_version":1,"probe_version":7}"#);
        assert!(matches!(wrong, InvalidOutput::Schema(_)), "{wrong}");
    }

    #[test]
    fn hostile_shapes() {
        // Deep nesting must be refused, not overflow the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        error_for(deep.as_bytes());
        let deep_object = format!(
            "{{\"schema_version\":1,\"x\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        error_for(deep_object.as_bytes());
        let big = vec![b' '; MAX_PROBE_OUTPUT + 1];
        assert!(matches!(error_for(&big), InvalidOutput::TooLarge { .. }));
        let json = report_json(&with_findings("web1"));
        let duplicated = json.replacen('{', r#"{"schema_version":1,"#, 1);
        assert!(matches!(
            error_for(duplicated.as_bytes()),
            InvalidOutput::Schema(_) | InvalidOutput::NotAnObject
        ));
    }
}
