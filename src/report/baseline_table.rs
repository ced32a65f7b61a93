//! The checksum baseline section of `--format table` (`--baseline-write`, `--baseline`):
//! the fleet table lists no file-level integrity findings, so what the comparison found is
//! shown here, with the outdated packages and the hosts left out. Every host-supplied
//! string goes through [`cell`].

use std::fmt::Write;

use patchgap_probe::report::Problem;

use super::text::{cell, new_table};
use crate::baseline::{BaselineMode, BaselineOutcome};

/// Most findings listed; the JSON report has them all.
const MAX_ROWS: usize = 50;

/// `Baseline FILE: ...`, the findings' table and the notes, ending with a blank line.
pub fn render_baseline(outcome: &BaselineOutcome, width: Option<u16>) -> String {
    let mut out = String::new();
    let files: u64 = outcome.hosts.values().map(|h| h.files_compared).sum();
    let file = cell(&outcome.file);
    if outcome.mode == BaselineMode::Write {
        let _ = writeln!(
            out,
            "Baseline {file} written: {} hosts, {files} files",
            outcome.hosts.len()
        );
    } else {
        let findings: usize = outcome.hosts.values().map(|h| h.findings.len()).sum();
        let _ = writeln!(
            out,
            "Baseline {file}: {} hosts, {files} files compared, {findings} changed since the \
             baseline",
            outcome.hosts.len()
        );
        let rows: Vec<_> = outcome
            .hosts
            .iter()
            .flat_map(|(host, check)| check.findings.iter().map(move |f| (host, f)))
            .collect();
        if !rows.is_empty() {
            let mut table = new_table(&["Host", "File", "Package", "Problem"], width);
            for (host, f) in rows.iter().take(MAX_ROWS) {
                let problem = match &f.problem {
                    Problem::ChangedSinceBaseline { actual, .. } if actual.starts_with('(') => {
                        format!("changed since baseline {}", cell(actual))
                    }
                    Problem::Missing => "missing".to_string(),
                    _ => "changed since baseline".to_string(),
                };
                table.add_row(vec![cell(host), cell(&f.path), cell(&f.package), problem]);
            }
            let _ = writeln!(out, "{table}");
            if rows.len() > MAX_ROWS {
                let _ = writeln!(out, "... and {} more", rows.len() - MAX_ROWS);
            }
        }
        for (host, check) in &outcome.hosts {
            for o in &check.outdated {
                let _ = writeln!(out, "{}: {}", cell(host), cell(&o.to_string()));
            }
        }
    }
    for why in outcome.warnings.values() {
        let _ = writeln!(out, "warning: {}", cell(why));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use patchgap_probe::report::{IntegrityFinding, Severity};

    use super::*;
    use crate::baseline::{HostCheck, Outdated};

    #[test]
    fn lists_findings_outdated_packages_and_hosts_left_out_with_host_strings_sanitised() {
        let finding = IntegrityFinding {
            path: "/usr/bin/x\u{1b}[31m".into(),
            package: "nosums".into(),
            conffile: false,
            problem: Problem::ChangedSinceBaseline {
                expected: "a".repeat(64),
                actual: "(symbolic link)".into(),
            },
            severity: Severity::Normal,
        };
        let check = HostCheck {
            packages_compared: 1,
            files_compared: 3,
            findings: vec![finding],
            outdated: vec![Outdated {
                package: "tool".into(),
                baseline_version: "1".into(),
                version: Some("2".into()),
            }],
        };
        let outcome = BaselineOutcome {
            file: "base.json".into(),
            mode: BaselineMode::Verify,
            hosts: BTreeMap::from([("web1".to_string(), check)]),
            warnings: BTreeMap::from([("new1".to_string(), "host new1 is not in it".to_string())]),
        };
        let text = render_baseline(&outcome, None);
        assert!(
            text.contains("Baseline base.json: 1 hosts, 3 files compared, 1 changed"),
            "{text}"
        );
        assert!(
            text.contains("changed since baseline (symbolic link)"),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "terminal escapes pass through cell: {text}"
        );
        assert!(
            text.contains("web1: baseline outdated for tool (1 → 2)"),
            "{text}"
        );
        assert!(text.contains("warning: host new1 is not in it"), "{text}");
    }
}
