//! The plan and campaign documents, rendered: snapshots of the tables, and the JSON read
//! back field by field.

use super::*;
use crate::campaign::{
    CampaignKind, CampaignPlan, HostCampaign, HostInput, HostStatus, Serial, UnitFilter,
    UnitOutcome, Unplanned,
};
use crate::test_reports::{stale_services, with_findings};

fn plan() -> CampaignPlan {
    let web1 = with_findings("web1");
    let web2 = stale_services("web2", &[("pgtestd.service", false)]);
    let inputs = [
        HostInput {
            host: "web1",
            never: &[],
            report: &web1,
        },
        HostInput {
            host: "web2",
            never: &[],
            report: &web2,
        },
    ];
    let unplanned = vec![Unplanned {
        host: "db1".into(),
        failure: "unreachable".into(),
        message: "connection refused".into(),
    }];
    let serial: Serial = "1".parse().expect("serial");
    CampaignPlan::new(&inputs, unplanned, &UnitFilter::default(), &serial, 1)
}

fn unit(unit: &str, status: UnitStatus) -> UnitOutcome {
    UnitOutcome {
        unit: unit.into(),
        status,
    }
}

fn outcome() -> CampaignOutcome {
    let plan = plan();
    CampaignOutcome {
        hosts: vec![
            HostCampaign {
                host: "web1".into(),
                status: HostStatus::Failed,
                message: None,
                units: vec![
                    unit("ssh.service", UnitStatus::Verified),
                    unit(
                        "nginx.service",
                        UnitStatus::RestartFailed {
                            message: "systemctl restart exited with status 1".into(),
                            journal: vec!["nginx: bind() failed\u{1b}[2J".into()],
                        },
                    ),
                ],
                reexec: None,
                manual: plan.hosts[0].manual.clone(),
                batch: Some(0),
                reboot: None,
            },
            HostCampaign {
                host: "web2".into(),
                status: HostStatus::NotReached,
                message: None,
                units: vec![unit(
                    "pgtestd.service",
                    UnitStatus::Skipped {
                        reason: Skip::NotReached,
                    },
                )],
                reexec: None,
                manual: Vec::new(),
                batch: None,
                reboot: None,
            },
        ],
        stopped: Some(Stop::Canary {
            batch: 0,
            failed: 1,
        }),
    }
}

#[test]
fn the_plan_table() {
    insta::assert_snapshot!(plan_table(&plan(), None));
}

#[test]
fn the_campaign_table() {
    insta::assert_snapshot!(campaign_table(&outcome(), CampaignKind::Restart, None));
}

#[test]
fn the_json_documents_carry_every_unit_and_reason() {
    let mut out = Vec::new();
    campaign_json(
        &outcome(),
        CampaignKind::Restart,
        Some("/tmp/state.jsonl"),
        &mut out,
    )
    .expect("json");
    let value: serde_json::Value = serde_json::from_slice(&out).expect("parse");
    assert_eq!(value["kind"], "restart_campaign");
    assert_eq!(value["state_file"], "/tmp/state.jsonl");
    let web1 = &value["campaign"]["hosts"][0];
    assert_eq!(web1["units"][1]["status"]["kind"], "restart_failed");
    assert_eq!(
        web1["units"][1]["status"]["journal"][0], "nginx: bind() failed\u{1b}[2J",
        "JSON keeps host text as it is; serde escapes it"
    );
    assert_eq!(web1["manual"][0]["why"]["kind"], "restart_refused");
    assert_eq!(value["campaign"]["stopped"]["reason"], "canary");
    let mut out = Vec::new();
    plan_json(&plan(), &mut out).expect("json");
    let value: serde_json::Value = serde_json::from_slice(&out).expect("parse");
    assert_eq!(
        value["plan"]["batches"],
        serde_json::json!([["web1"], ["web2"]])
    );
    assert_eq!(value["plan"]["unplanned"][0]["host"], "db1");
}
