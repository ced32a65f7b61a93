//! The policy section of `--format table`: one row per rule with its level and what broke
//! it. Every host-supplied string (hosts, subjects, details quote unit names and paths)
//! goes through [`cell`].

use std::fmt::Write;

use super::policy_outcome::{PolicyOutcome, RuleOutcome};
use super::text::{cell, new_table};

/// Most violations listed per rule; the JSON report has them all.
const MAX_VIOLATIONS: usize = 10;

/// `Policy FILE: LEVEL` and the rules' table, ending with a blank line.
pub fn render_policy(outcome: &PolicyOutcome, width: Option<u16>) -> String {
    let mut table = new_table(&["Rule", "Result", "Violations"], width);
    for rule in &outcome.rules {
        table.add_row(vec![
            format!("{}\n{}", cell(&rule.id), cell(&rule.description)),
            rule.level.as_str().to_string(),
            violations(rule),
        ]);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Policy {}: {}\n{table}\n",
        cell(&outcome.source),
        outcome.level.as_str()
    );
    out
}

fn violations(rule: &RuleOutcome) -> String {
    let mut lines: Vec<String> = rule
        .violations
        .iter()
        .take(MAX_VIOLATIONS)
        .map(|v| match &v.host {
            Some(host) => format!("{}: {}: {}", cell(host), cell(&v.subject), cell(&v.detail)),
            None => format!("{}: {}", cell(&v.subject), cell(&v.detail)),
        })
        .collect();
    if rule.violations.len() > MAX_VIOLATIONS {
        let more = rule.violations.len() - MAX_VIOLATIONS;
        lines.push(format!("... {more} more (see --format json)"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Level, Violation};

    /// What a compromised host can put in a unit name, a path or a hostname.
    const HOSTILE: &str = "<script>alert(1)</script>=cmd|' /C calc'!A0\x1b[31m red \x1b]8;;http://x\x07ünïcødé\u{202e}txt.exe\r\t\"'";

    #[test]
    fn host_strings_reach_the_terminal_sanitised() {
        let outcome = PolicyOutcome {
            source: "policy.yaml".into(),
            level: Level::Fail,
            rules: vec![RuleOutcome {
                id: "services".into(),
                description: "no service may run replaced code".into(),
                level: Level::Fail,
                violations: (0..12)
                    .map(|i| Violation {
                        host: Some(format!("{HOSTILE}{i}")),
                        subject: HOSTILE.into(),
                        detail: format!("runs replaced code ({HOSTILE})"),
                    })
                    .collect(),
            }],
        };
        let text = render_policy(&outcome, None);
        for bad in ['\x1b', '\x07', '\r', '\u{202e}'] {
            assert!(!text.contains(bad), "{bad:?} leaked:\n{text}");
        }
        assert!(text.contains("ünïcødé"), "printable text is kept");
        assert!(text.contains("... 2 more (see --format json)"), "{text}");
        assert!(text.starts_with("Policy policy.yaml: fail\n"), "{text}");
    }
}
