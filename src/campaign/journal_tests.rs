//! The journal on a real file: records come back in order, the lock keeps a second
//! campaign out, a torn last line is cut off and said, and nothing is ever overwritten.

use super::*;
use crate::campaign::outcome::HostStatus;
use crate::campaign::plan::{CampaignKind, HostPlan};

fn plan() -> CampaignPlan {
    CampaignPlan {
        kind: CampaignKind::Restart,
        hosts: vec![HostPlan {
            host: "h01".into(),
            restart: vec!["pgtestd.service".into()],
            reexec: false,
            manual: Vec::new(),
            reboot: None,
        }],
        unplanned: Vec::new(),
        batches: vec![vec!["h01".into()]],
        canary: 0,
    }
}

fn finished(host: &str) -> Step {
    Step::HostFinished {
        outcome: HostCampaign {
            host: host.into(),
            status: HostStatus::Done,
            message: None,
            units: Vec::new(),
            reexec: None,
            manual: Vec::new(),
            batch: Some(0),
            reboot: None,
        },
    }
}

#[test]
fn steps_come_back_on_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.jsonl");
    {
        let journal = Journal::create(&path, &plan()).expect("create");
        journal
            .record(Step::Restarting {
                host: "h01".into(),
                units: vec!["pgtestd.service".into()],
                invocations: vec!["abc".into()],
            })
            .expect("record");
        journal.record(finished("h01")).expect("record");
    }
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.lines().count(), 3, "one line per step:\n{text}");
    let (_journal, replay) = Journal::resume(&path).expect("resume");
    assert_eq!(replay.plan, plan());
    assert!(!replay.torn_line);
    assert_eq!(
        replay
            .restarting
            .get(&("h01".to_string(), "pgtestd.service".to_string())),
        Some(&"abc".to_string())
    );
    assert!(replay.finished.contains_key("h01"));
}

#[test]
fn a_second_campaign_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.jsonl");
    let _running = Journal::create(&path, &plan()).expect("create");
    let err = Journal::resume(&path).expect_err("locked");
    assert!(matches!(err, JournalError::Locked(_)), "{err}");
    let err = Journal::create(&path, &plan()).expect_err("exists");
    assert!(matches!(err, JournalError::Exists(_)), "{err}");
    assert!(err.to_string().contains("--resume"), "{err}");
}

#[test]
fn a_torn_last_line_is_cut_off_and_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.jsonl");
    drop(Journal::create(&path, &plan()).expect("create"));
    let mut file = OpenOptions::new().append(true).open(&path).expect("open");
    file.write_all(br#"{"at_ms":1,"step":{"step":"host_fin"#)
        .expect("write");
    drop(file);
    let (journal, replay) = Journal::resume(&path).expect("a torn line is tolerated");
    assert!(replay.torn_line);
    journal.record(finished("h01")).expect("record");
    drop(journal);
    let (_journal, replay) = Journal::resume(&path).expect("resume again");
    assert!(!replay.torn_line, "the torn line was cut off");
    assert!(
        replay.finished.contains_key("h01"),
        "the new record is whole"
    );
}

#[test]
fn a_whole_record_without_its_newline_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.jsonl");
    drop(Journal::create(&path, &plan()).expect("create"));
    let mut text = std::fs::read_to_string(&path).expect("read");
    let record = Record {
        at_ms: 1,
        step: finished("h01"),
    };
    text.push_str(&serde_json::to_string(&record).expect("json"));
    std::fs::write(&path, text).expect("write");
    let (journal, replay) = Journal::resume(&path).expect("resume");
    assert!(replay.finished.contains_key("h01"));
    journal.record(Step::Finished).expect("record");
    drop(journal);
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn a_bad_line_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.jsonl");
    drop(Journal::create(&path, &plan()).expect("create"));
    let mut file = OpenOptions::new().append(true).open(&path).expect("open");
    file.write_all(b"garbage\n{}\n").expect("write");
    drop(file);
    let err = Journal::resume(&path).expect_err("corrupt");
    assert!(err.to_string().contains("line 2"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").expect("write");
    assert!(matches!(
        Journal::resume(&empty).expect_err("no plan"),
        JournalError::NoPlan(_)
    ));
}
