//! The rows of what went wrong or broke a rule: failed hosts with what usually fixes
//! them, the probes' warnings, and the `--policy` verdict.

use crate::outcome::{Failure, HostResult};
use crate::report::aggregate::{FleetSummary, failure_label};
use crate::report::document::FleetReport;
use crate::report::policy_outcome::{Level, PolicyOutcome};

use super::address;

#[derive(Debug)]
pub struct FailedRow {
    pub host: String,
    pub address: super::Address,
    pub failure: &'static str,
    pub message: String,
    pub stderr_tail: Option<String>,
    pub fix: &'static str,
}

#[derive(Debug)]
pub struct WarningRow {
    pub host: String,
    pub warning: String,
}

/// The `--policy` verdict: a banner and its rules.
#[derive(Debug)]
pub struct PolicyView {
    pub source: String,
    pub level: &'static str,
    pub rules: Vec<RuleRow>,
    pub violations: Vec<ViolationRow>,
}

#[derive(Debug)]
pub struct RuleRow {
    pub id: String,
    pub description: String,
    pub level: &'static str,
    pub violations: usize,
}

#[derive(Debug)]
pub struct ViolationRow {
    pub rule: String,
    pub host: String,
    pub subject: String,
    pub detail: String,
}

pub fn failed_rows(report: &FleetReport, summary: &FleetSummary) -> Vec<FailedRow> {
    let mut outcomes = report
        .hosts
        .iter()
        .filter(|h| matches!(h.result, HostResult::Failed { .. }));
    summary
        .failed
        .iter()
        .map(|f| FailedRow {
            host: f.host.clone(),
            address: outcomes
                .next()
                .map(|o| address(&o.address, o.port))
                .unwrap_or_default(),
            failure: failure_label(f.failure),
            message: f.message.clone(),
            stderr_tail: f.stderr_tail.clone(),
            fix: fix(f.failure),
        })
        .collect()
}

/// What usually fixes a failure; the message says what this host's problem was.
fn fix(failure: Failure) -> &'static str {
    match failure {
        Failure::Unreachable => {
            "Check the address and port (ansible_host, ansible_port) and that the network lets SSH through."
        }
        Failure::Timeout => {
            "Check that the host answers; for slow hosts raise --connect-timeout, --host-timeout or patchgap_host_timeout."
        }
        Failure::AuthFailed => {
            "Check the user and key (ansible_user, ansible_private_key_file, --private-key, ssh-agent)."
        }
        Failure::HostKeyUnknown => {
            "Verify the key out of band, then add it to known_hosts or run with --accept-new-host-keys."
        }
        Failure::HostKeyChanged => {
            "Someone may be intercepting the connection: verify the new key out of band before replacing the old one (ssh-keygen -R HOST)."
        }
        Failure::SudoRefused => {
            "Give the user passwordless sudo for the probe, or pass --ask-become-pass."
        }
        Failure::UnsupportedArch => {
            "No probe is built for this architecture: audit the host locally with a patchgap built for it."
        }
        Failure::DeployFailed => {
            "Free space in the probe's cache directory, or point patchgap_cache_dir to one that allows exec."
        }
        Failure::ProbeFailed => {
            "Read the probe's stderr below; run the same patchgap version locally on the host to see more."
        }
        Failure::ProbeOutputInvalid => {
            "The probe and the controller may disagree on the report's version: use the same patchgap release for both."
        }
    }
}

pub fn policy_view(policy: &PolicyOutcome) -> PolicyView {
    PolicyView {
        source: policy.source.clone(),
        level: level(policy.level),
        rules: policy
            .rules
            .iter()
            .map(|r| RuleRow {
                id: r.id.clone(),
                description: r.description.clone(),
                level: level(r.level),
                violations: r.violations.len(),
            })
            .collect(),
        violations: policy
            .rules
            .iter()
            .flat_map(|r| {
                r.violations.iter().map(|v| ViolationRow {
                    rule: r.id.clone(),
                    host: v.host.clone().unwrap_or_else(|| "(fleet)".to_string()),
                    subject: v.subject.clone(),
                    detail: v.detail.clone(),
                })
            })
            .collect(),
    }
}

fn level(level: Level) -> &'static str {
    level.as_str()
}
