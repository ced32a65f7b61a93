//! Host outcomes for tests, as the fleet records them, around the probe reports of
//! [`crate::test_reports`] (which integration tests include on their own, so it stays free
//! of the controller's types).

use patchgap_probe::Report;

use crate::deploy::probe_output::parse_probe_output;
use crate::outcome::{Failure, HostOutcome, HostResult};
use crate::report::{ControllerInfo, FleetReport};
use crate::test_reports::report_json;

/// A host audited with `report`, as the fleet records it.
pub fn audited(host: &str, report: Report, partial: bool) -> HostOutcome {
    let probe = parse_probe_output(report_json(&report).as_bytes()).expect("valid report");
    HostOutcome {
        host: host.into(),
        address: host.into(),
        port: 22,
        user: "root".into(),
        elapsed_ms: 200,
        result: HostResult::Audited {
            partial,
            report: Box::new(probe),
        },
    }
}

/// A host that could not be audited.
pub fn failed(host: &str, failure: Failure, message: &str) -> HostOutcome {
    HostOutcome {
        host: host.into(),
        address: host.into(),
        port: 22,
        user: "root".into(),
        elapsed_ms: 10_000,
        result: HostResult::Failed {
            failure,
            message: message.into(),
            stderr_tail: None,
        },
    }
}

/// `report` as the audited host `host` of a fleet, the way a local audit becomes a fleet
/// of one.
pub fn audited_host(host: &str, report: Report) -> HostOutcome {
    let mut fleet = FleetReport::single_host(report, ControllerInfo::new(0, 0)).expect("report");
    let mut outcome = fleet.hosts.remove(0);
    outcome.host = host.into();
    outcome
}

/// A host that could not be audited: its connection was refused.
pub fn failed_host(host: &str, failure: Failure) -> HostOutcome {
    failed(host, failure, "connection refused")
}
