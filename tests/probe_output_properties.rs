//! Property tests for the validator of a probe's stdout (`parse_probe_output`), the one
//! parser in the controller of input a host controls.
//!
//! Inputs: arbitrary bytes; valid reports with arbitrary strings and numbers, which must
//! be accepted and read back unchanged; the same reports truncated, with text inserted or
//! removed, with invalid UTF-8, huge numbers or deep nesting put in; and output over the
//! size cap, which must be refused by the cap before anything reads its content.
//!
//! Longer run: `PROPTEST_CASES=20000 PATCHGAP_SKIP_PROBES=1 cargo test --test
//! probe_output_properties` (the variable applies to every property). A failure's seed is
//! saved beside this file in `probe_output_properties.proptest-regressions`; commit it.

use patchgap::deploy::probe_output::{
    InvalidOutput, MAX_PROBE_OUTPUT, ProbeReport, parse_probe_output,
};
use patchgap_probe::report::{
    Actions, AddressClass, Exposure, Finding, FindingKind, HostInfo, ListeningSocket, NowAtPath,
    Owner, PackageExposure, ProcessExposure, Protocol, Risk, RiskLevel, ScanStats, Security,
    ServiceAction, ServiceRisk, Severity, StaleProcess, VersionOrigin,
};
use patchgap_probe::{Report, SCHEMA_VERSION};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` cases unless `PROPTEST_CASES` asks for another number; failures saved beside
/// this file (proptest's default place needs a `lib.rs` above the test).
fn cases(cases: u32) -> Config {
    let mut config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

fn owner() -> impl Strategy<Value = Owner> {
    prop_oneof![
        any::<String>().prop_map(|unit| Owner::Service { unit }),
        Just(Owner::SystemManager),
        (any::<u32>(), any::<Option<String>>())
            .prop_map(|(uid, unit)| Owner::UserManager { uid, unit }),
        (any::<String>(), any::<Option<u32>>()).prop_map(|(id, uid)| Owner::Session { id, uid }),
        any::<Option<String>>().prop_map(|cgroup| Owner::Other { cgroup }),
    ]
}

fn process() -> impl Strategy<Value = StaleProcess> {
    (
        (any::<u32>(), any::<u32>(), any::<u32>()),
        any::<String>(),
        any::<Option<String>>(),
        (any::<Option<i64>>(), any::<Option<i64>>()),
        owner(),
        prop::collection::vec((any::<String>(), any::<Option<String>>()), 0..3),
    )
        .prop_map(
            |((pid, ppid, uid), comm, exe, (started_at, stale_since), owner, findings)| {
                StaleProcess {
                    pid,
                    ppid,
                    uid,
                    comm,
                    exe,
                    started_at,
                    owner,
                    stale_since,
                    findings: findings
                        .into_iter()
                        .map(|(path, package)| Finding {
                            kind: FindingKind::ExeDeleted,
                            path,
                            package,
                            now_at_path: NowAtPath::Nothing,
                            severity: Severity::High,
                        })
                        .collect(),
                }
            },
        )
}

fn risk() -> impl Strategy<Value = Risk> {
    (
        prop::sample::select(RiskLevel::ALL.to_vec()),
        prop::collection::vec(any::<String>(), 0..3),
    )
        .prop_map(|(level, reasons)| Risk { level, reasons })
}

/// The exposure part, with arbitrary names, versions, CVEs, reasons and addresses.
fn exposure() -> impl Strategy<Value = Exposure> {
    let package = (
        (any::<String>(), any::<String>(), any::<Option<String>>()),
        prop::sample::select(vec![
            Security::Security,
            Security::NotSecurity,
            Security::Unknown,
        ]),
        prop::collection::vec(any::<String>(), 0..3),
        any::<Option<String>>(),
        any::<u32>(),
    )
        .prop_map(
            |((context, name, running), security, texts, urgency, entries)| PackageExposure {
                context,
                name,
                installed_version: running.clone(),
                running_version: running,
                running_version_from: VersionOrigin::Unknown,
                security,
                security_reasons: texts.clone(),
                cves: texts.clone(),
                urgency,
                entries,
                changelogs: texts,
            },
        );
    let socket = (any::<String>(), any::<u16>()).prop_map(|(address, port)| ListeningSocket {
        protocol: Protocol::Udp,
        address,
        port,
        class: AddressClass::Any,
    });
    let process = (
        any::<u32>(),
        prop::collection::vec(socket, 0..2),
        any::<Option<String>>(),
        risk(),
    )
        .prop_map(|(pid, sockets, sockets_unknown, risk)| ProcessExposure {
            pid,
            sockets,
            sockets_unknown,
            risk,
        });
    let service = (
        any::<String>(),
        risk(),
        prop::collection::vec(any::<String>(), 0..2),
    )
        .prop_map(|(unit, risk, cves)| ServiceRisk { unit, risk, cves });
    (
        prop::collection::vec(package, 0..2),
        prop::collection::vec(process, 0..2),
        prop::collection::vec(service, 0..2),
    )
        .prop_map(|(packages, processes, services)| Exposure {
            packages,
            processes,
            services,
        })
}

/// A report as a probe could print it, with arbitrary names, paths and numbers.
fn report() -> impl Strategy<Value = Report> {
    (
        any::<String>(),
        (
            any::<String>(),
            any::<Option<String>>(),
            any::<i64>(),
            any::<u32>(),
        ),
        prop::collection::vec(process(), 0..4),
        prop::collection::vec((any::<String>(), any::<Vec<u32>>()), 0..3),
        (
            prop::collection::vec(any::<String>(), 0..3),
            prop::option::of(exposure()),
        ),
    )
        .prop_map(
            |(
                probe_version,
                (hostname, os, scanned_at, euid),
                processes,
                services,
                (warnings, exposure),
            )| {
                Report {
                    schema_version: SCHEMA_VERSION,
                    probe_version,
                    host: HostInfo {
                        hostname,
                        os,
                        scanned_at,
                        euid,
                        arch: "x86_64".into(),
                        ..HostInfo::default()
                    },
                    scan: ScanStats::default(),
                    processes,
                    packages: Vec::new(),
                    actions: Actions {
                        services: services
                            .into_iter()
                            .map(|(unit, pids)| ServiceAction {
                                unit,
                                pids,
                                packages: Vec::new(),
                                restart_refused: false,
                            })
                            .collect(),
                        ..Actions::default()
                    },
                    ignored: Vec::new(),
                    kernel: Default::default(),
                    microcode: Default::default(),
                    reboot: Default::default(),
                    integrity: None,
                    warnings,
                    exposure,
                }
            },
        )
}

fn json(report: &Report) -> String {
    serde_json::to_string(report).expect("a report serializes")
}

/// The whitespace JSON allows around a document.
fn json_space() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,8}"
}

/// What must hold whatever the input: no panic, and an accepted document is the input
/// itself (less surrounding whitespace), never more.
fn check(input: &[u8]) -> Result<ProbeReport, InvalidOutput> {
    let result = parse_probe_output(input);
    if let Ok(parsed) = &result {
        let text = std::str::from_utf8(input).expect("accepted output is UTF-8");
        let trimmed = text.trim_matches([' ', '\t', '\r', '\n']);
        assert_eq!(parsed.raw_json(), trimmed);
        assert_eq!(parsed.report().schema_version, SCHEMA_VERSION);
    }
    result
}

/// Values that numbers in a report go wrong with.
const NUMBERS: &[&str] = &[
    "-1",
    "1e400",
    "-1e400",
    "1.5",
    "18446744073709551616",
    "99999999999999999999999999999999999999",
    "0.0000000000000000000000001",
    "null",
    "\"1\"",
    "[]",
    "{}",
];

/// Numeric fields of a report, at the top and inside processes.
const FIELDS: &[&str] = &["schema_version", "pid", "euid", "scanned_at", "uid"];

/// How nesting starts: arrays, or objects.
const OPENERS: &[&str] = &["[", "{\"a\":"];

/// Text to put into a report's JSON: syntax, escapes, invalid surrogates, control bytes.
const INSERTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u",
    "\\ud800",
    "\\udfff\\ud800",
    "\0",
    "\u{1}",
    "\n",
    "null",
    "true",
    "1e999",
    "\"schema_version\":1,",
    "\"pid\":-1,",
    "\u{feff}",
];

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = check(&bytes);
    }

    #[test]
    fn arbitrary_json_values_deserialize_safely(value in arbitrary_json()) {
        let text = value.to_string();
        let _ = check(text.as_bytes());
        let _ = serde_json::from_str::<ProbeReport>(&text);
    }

    #[test]
    fn valid_reports_are_kept_unchanged(r in report(), before in json_space(), after in json_space()) {
        let text = json(&r);
        let padded = format!("{before}{text}{after}");
        let parsed = check(padded.as_bytes()).expect("a valid report is accepted");
        prop_assert_eq!(parsed.report(), &r);
        prop_assert_eq!(parsed.raw_json(), text.as_str());
        // A saved fleet report is validated again when it is read back.
        let back: ProbeReport = serde_json::from_str(&text).expect("a saved report reads back");
        prop_assert_eq!(back.report(), &r);
    }

    #[test]
    fn truncated_reports_are_refused(r in report(), at in any::<Index>()) {
        let text = json(&r);
        let cut = &text.as_bytes()[..at.index(text.len())];
        let err = check(cut).expect_err("a cut report is refused");
        prop_assert!(
            matches!(err, InvalidOutput::Truncated { .. } | InvalidOutput::NotUtf8 { .. }
                | InvalidOutput::Empty),
            "{:?}", err
        );
    }

    #[test]
    fn invalid_utf8_is_found_where_it_is(r in report(), at in any::<Index>(), bad in 0x80u8..=0xff) {
        let text = json(&r);
        let boundaries: Vec<usize> =
            (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
        let at = boundaries[at.index(boundaries.len())];
        let mut bytes = text.into_bytes();
        // A lone continuation or lead byte followed by ASCII or the end is never UTF-8.
        bytes.splice(at..at, [bad, b'"']);
        prop_assert_eq!(check(&bytes).expect_err("not UTF-8"), InvalidOutput::NotUtf8 { offset: at });
    }

    #[test]
    fn edited_reports_never_panic(
        r in report(),
        edits in prop::collection::vec(
            (any::<Index>(), prop_oneof![
                prop::sample::select(INSERTS).prop_map(str::to_string),
                any::<String>(),
            ], 0..8usize),
            1..4,
        ),
    ) {
        let mut text = json(&r);
        for (at, insert, remove) in &edits {
            let boundaries: Vec<usize> =
                (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
            let start = boundaries[at.index(boundaries.len())];
            let end = boundaries
                .iter()
                .copied()
                .filter(|b| *b >= start)
                .nth(*remove)
                .unwrap_or(start);
            text.replace_range(start..end, insert);
        }
        let _ = check(text.as_bytes());
    }

    #[test]
    fn odd_numbers_are_refused_or_read_back(
        r in report(),
        field in prop::sample::select(FIELDS),
        number in prop::sample::select(NUMBERS),
    ) {
        let text = json(&r);
        let key = format!("\"{field}\":");
        prop_assume!(text.contains(&key));
        let edited = replace_value(&text, &key, number);
        let result = check(edited.as_bytes());
        if field == "schema_version" {
            prop_assert!(result.is_err(), "only a whole number in range is a schema version");
        }
    }

    #[test]
    fn deep_nesting_is_refused(
        // The parser refuses past 128 levels; deeper input only costs more time.
        depth in prop_oneof![1usize..300, 1usize..20_000],
        open in prop::sample::select(OPENERS),
        inside_report in any::<bool>(),
    ) {
        let close = if open == "[" { "]" } else { "}" };
        let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let text = if inside_report {
            format!("{{\"schema_version\":{SCHEMA_VERSION},\"x\":{nested}}}")
        } else {
            nested
        };
        prop_assert!(check(text.as_bytes()).is_err());
    }
}

proptest! {
    // Each case builds an input over the 64 MiB cap.
    #![proptest_config(cases(8))]

    #[test]
    fn oversize_output_is_refused_by_the_cap_alone(
        r in report(),
        extra in 1usize..4096,
        invalid_first in any::<bool>(),
    ) {
        // A valid report padded past the cap, or bytes that are not even UTF-8: either way
        // the size decides, so nothing of the content was read.
        let text = json(&r);
        let head = if invalid_first { &[0xff][..] } else { text.as_bytes() };
        let mut bytes = vec![b' '; MAX_PROBE_OUTPUT + extra];
        bytes[..head.len()].copy_from_slice(head);
        let err = parse_probe_output(&bytes).expect_err("over the cap");
        prop_assert_eq!(
            err,
            InvalidOutput::TooLarge { size: bytes.len(), limit: MAX_PROBE_OUTPUT }
        );
        // At the cap the same output is read: its first fault is found. A byte after the
        // report makes the parse stop there instead of crossing 64 MiB of padding.
        bytes.truncate(MAX_PROBE_OUTPUT);
        if invalid_first {
            let err = parse_probe_output(&bytes).expect_err("not UTF-8");
            prop_assert_eq!(err, InvalidOutput::NotUtf8 { offset: 0 });
        } else {
            // (The last byte too, so that trimming stops at once in this debug build.)
            bytes[text.len()] = b'x';
            bytes[MAX_PROBE_OUTPUT - 1] = b'x';
            let err = parse_probe_output(&bytes).expect_err("trailing text");
            prop_assert!(matches!(err, InvalidOutput::NotJson { line: 1, .. }), "{:?}", err);
        }
    }
}

/// `text` with the value after the first `key` replaced by `number`.
fn replace_value(text: &str, key: &str, number: &str) -> String {
    let start = text.find(key).map_or(0, |i| i + key.len());
    let end = text[start..]
        .find([',', '}', ']'])
        .map_or(text.len(), |i| start + i);
    format!("{}{}{}", &text[..start], number, &text[end..])
}

/// Arbitrary JSON documents, a few levels deep.
fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        Just(Value::from(SCHEMA_VERSION)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("schema_version".to_string()),
                        Just("host".to_string()),
                        Just("processes".to_string()),
                        any::<String>(),
                    ],
                    inner,
                ),
                0..6,
            )
            .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A schema version that is text is shown in the error, cut to 40 bytes: the cut fell
/// inside a multi-byte character and panicked, so a host could crash the controller.
#[test]
fn schema_version_text_is_cut_at_a_character() {
    let out = format!(r#"{{"schema_version":"{}"}}"#, "é".repeat(30));
    let err = parse_probe_output(out.as_bytes()).expect_err("not a number");
    let InvalidOutput::BadSchemaVersion(shown) = err else {
        panic!("unexpected error: {err:?}");
    };
    assert!(shown.len() <= 40 && shown.starts_with("\"é"), "{shown}");
}

/// Output cut inside a number (`-`, `1e`) was called "not JSON: invalid number" rather
/// than truncated, as serde_json reports it so.
#[test]
fn output_cut_inside_a_number_is_truncated() {
    for cut in [r#"{"schema_version":-"#, r#"{"a":1e"#, "{\"a\":\n2."] {
        let err = parse_probe_output(cut.as_bytes()).expect_err("cut");
        assert!(
            matches!(err, InvalidOutput::Truncated { .. }),
            "{cut}: {err:?}"
        );
    }
    for invalid in [r#"{"a":-x}"#, r#"{"a":- "#, "[1,2]3"] {
        let err = parse_probe_output(invalid.as_bytes()).expect_err("invalid");
        assert!(
            matches!(err, InvalidOutput::NotJson { .. }),
            "{invalid}: {err:?}"
        );
    }
}
