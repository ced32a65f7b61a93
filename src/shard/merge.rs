//! `patchgap merge`: the shard reports of one run back into the fleet report that a
//! single controller would have written: the same hosts in the same (inventory) order,
//! the same metadata, the run's times spanning all shards. A merge that cannot be exact
//! is refused with the reason, never patched up: a shard missing, a host in two shards,
//! shards of different runs or of another report format.

use std::collections::{BTreeSet, HashMap};

use crate::report::{FORMAT_VERSION, FleetReport};

/// Why shard reports cannot be merged. Each names the file(s) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: give the shard reports (patchgap merge SHARD.json...)")]
    Nothing,
    #[error(
        "{file}: fleet report format {found}, this patchgap merges format {FORMAT_VERSION}; \
         merge with the patchgap version that wrote it"
    )]
    Format { file: String, found: u32 },
    #[error(
        "{file}: probe schema {found}, but {first} has {expected}; every shard must be \
         audited by the same patchgap version"
    )]
    ProbeSchema {
        file: String,
        found: u32,
        first: String,
        expected: u32,
    },
    #[error("{file} is not a shard report (it was written without --shard)")]
    NotSharded { file: String },
    #[error(
        "{file} is shard {index}/{count}, but {first} is of {expected} shards: shards of \
         different splits cannot be merged"
    )]
    CountMismatch {
        file: String,
        index: u32,
        count: u32,
        first: String,
        expected: u32,
    },
    #[error("{file} and {other} are both shard {index}/{count}")]
    SameShard {
        file: String,
        other: String,
        index: u32,
        count: u32,
    },
    #[error("{file} is not of the same run as {first}: its {what} differs")]
    OtherRun {
        file: String,
        first: String,
        what: &'static str,
    },
    #[error("missing shard(s) {missing} of {count}: merge all shards of the run")]
    Missing { missing: String, count: u32 },
    #[error("{file}: host {host} is also in {other}: the shards overlap")]
    Overlap {
        file: String,
        other: String,
        host: String,
    },
    #[error("{file}: its host list does not match its shard record ({why})")]
    Inconsistent { file: String, why: String },
}

/// Merges shard reports, given with the file each came from (for the messages).
pub fn merge(shards: Vec<(String, FleetReport)>) -> Result<FleetReport, MergeError> {
    let Some((first_file, first)) = shards.first() else {
        return Err(MergeError::Nothing);
    };
    let (first_file, expected_schema) = (first_file.clone(), first.controller.probe_schema_version);
    let baseline = crate::baseline::merged(shards.iter().map(|(_, r)| r.baseline.as_ref()));
    let first_shard = first
        .controller
        .shard
        .clone()
        .ok_or_else(|| MergeError::NotSharded {
            file: first_file.clone(),
        })?;
    let mut controller = first.controller.clone();
    let mut by_index: HashMap<u32, String> = HashMap::new();
    let mut by_position: HashMap<usize, String> = HashMap::new();
    let mut by_host: HashMap<String, String> = HashMap::new();
    let mut placed = Vec::new();
    for (file, report) in shards {
        if report.format_version != FORMAT_VERSION {
            return Err(MergeError::Format {
                file,
                found: report.format_version,
            });
        }
        if report.controller.probe_schema_version != expected_schema {
            return Err(MergeError::ProbeSchema {
                file,
                found: report.controller.probe_schema_version,
                first: first_file,
                expected: expected_schema,
            });
        }
        let Some(shard) = report.controller.shard.clone() else {
            return Err(MergeError::NotSharded { file });
        };
        if shard.count != first_shard.count {
            return Err(MergeError::CountMismatch {
                file,
                index: shard.index,
                count: shard.count,
                first: first_file,
                expected: first_shard.count,
            });
        }
        same_run(
            &file,
            &first_file,
            &controller,
            &report,
            shard.selected,
            first_shard.selected,
        )?;
        if let Some(other) = by_index.insert(shard.index, file.clone()) {
            return Err(MergeError::SameShard {
                file,
                other,
                index: shard.index,
                count: shard.count,
            });
        }
        if shard.positions.len() != report.hosts.len() {
            return Err(MergeError::Inconsistent {
                file,
                why: format!(
                    "{} hosts, {} positions",
                    report.hosts.len(),
                    shard.positions.len()
                ),
            });
        }
        controller.started_at = controller.started_at.min(report.controller.started_at);
        controller.finished_at = controller.finished_at.max(report.controller.finished_at);
        for warning in &report.controller.warnings {
            if !controller.warnings.contains(warning) {
                controller.warnings.push(warning.clone());
            }
        }
        for (host, &position) in report.hosts.into_iter().zip(&shard.positions) {
            if position >= shard.selected {
                return Err(MergeError::Inconsistent {
                    file,
                    why: format!("position {position} of {} hosts", shard.selected),
                });
            }
            if let Some(other) = by_host.insert(host.host.clone(), file.clone()) {
                return Err(MergeError::Overlap {
                    file,
                    other,
                    host: host.host,
                });
            }
            if let Some(other) = by_position.insert(position, file.clone()) {
                return Err(MergeError::Overlap {
                    file,
                    other,
                    host: host.host,
                });
            }
            placed.push((position, host));
        }
    }
    let missing: BTreeSet<u32> = (1..=first_shard.count)
        .filter(|index| !by_index.contains_key(index))
        .collect();
    if !missing.is_empty() {
        let missing: Vec<String> = missing.iter().map(u32::to_string).collect();
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count: first_shard.count,
        });
    }
    if placed.len() != first_shard.selected {
        return Err(MergeError::Inconsistent {
            file: first_file,
            why: format!(
                "the shards hold {} hosts, the run selected {}",
                placed.len(),
                first_shard.selected
            ),
        });
    }
    placed.sort_unstable_by_key(|(position, _)| *position);
    controller.shard = None;
    let mut report = FleetReport::new(
        controller,
        placed.into_iter().map(|(_, host)| host).collect(),
    );
    // The hosts' parsed reports already carry their shard's baseline outcome.
    report.baseline = baseline;
    Ok(report)
}

/// Shards of one run share the inventories, the limit, the skipped hosts and the size of
/// the selection.
fn same_run(
    file: &str,
    first_file: &str,
    first: &crate::report::ControllerInfo,
    report: &FleetReport,
    selected: usize,
    first_selected: usize,
) -> Result<(), MergeError> {
    let other = &report.controller;
    let differs = if other.inventories != first.inventories {
        Some("inventory list (-i)")
    } else if other.limit != first.limit {
        Some("--limit")
    } else if other.skipped != first.skipped {
        Some("list of skipped hosts (patchgap_skip)")
    } else if selected != first_selected {
        Some("number of selected hosts")
    } else {
        None
    };
    match differs {
        Some(what) => Err(MergeError::OtherRun {
            file: file.to_string(),
            first: first_file.to_string(),
            what,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ControllerInfo, ShardInfo};
    use crate::shard::Shard;
    use crate::test_outcomes::audited;
    use crate::test_reports::clean;

    const HOSTS: [&str; 7] = ["web1", "web2", "db1", "db2", "cache", "h01", "h02"];

    fn unsharded() -> FleetReport {
        let mut controller = ControllerInfo::new(100, 200);
        controller.inventories = vec!["inv.yml".into()];
        FleetReport::new(
            controller,
            HOSTS.iter().map(|h| audited(h, clean(h), false)).collect(),
        )
    }

    /// What `patchgap audit --shard K/N` writes for the same run.
    fn shard(index: u32, count: u32) -> (String, FleetReport) {
        let whole = unsharded();
        let split = Shard { index, count };
        let (hosts, positions) = split.select(whole.hosts, |h| h.host.as_str());
        let mut controller = whole.controller;
        controller.started_at = 100 + i64::from(index);
        controller.finished_at = 150 + i64::from(index);
        controller.shard = Some(ShardInfo {
            index,
            count,
            selected: HOSTS.len(),
            positions,
        });
        (
            format!("shard-{index}.json"),
            FleetReport::new(controller, hosts),
        )
    }

    #[test]
    fn shards_merge_into_the_unsharded_report() {
        let merged = merge(vec![shard(3, 3), shard(1, 3), shard(2, 3)]).expect("merge");
        let mut expected = unsharded();
        expected.controller.started_at = 101;
        expected.controller.finished_at = 153;
        assert_eq!(merged, expected);
    }

    #[test]
    fn a_missing_shard_is_named() {
        let err = merge(vec![shard(1, 4), shard(3, 4)]).expect_err("incomplete");
        assert_eq!(
            err.to_string(),
            "missing shard(s) 2, 4 of 4: merge all shards of the run"
        );
    }

    #[test]
    fn overlaps_other_runs_and_formats_are_refused() {
        let err = merge(vec![shard(1, 2), shard(1, 2)]).expect_err("twice");
        assert!(matches!(err, MergeError::SameShard { .. }), "{err}");

        let (file, mut moved) = shard(2, 2);
        let (_, first) = shard(1, 2);
        let stolen = first.hosts[0].clone();
        moved.hosts.push(stolen);
        if let Some(info) = moved.controller.shard.as_mut() {
            info.positions.push(
                first
                    .controller
                    .shard
                    .as_ref()
                    .map_or(0, |s| s.positions[0]),
            );
        }
        let err = merge(vec![("shard-1.json".into(), first), (file, moved)]).expect_err("overlap");
        assert!(matches!(err, MergeError::Overlap { .. }), "{err}");
        assert!(err.to_string().contains("shard-1.json"), "{err}");

        let (file, mut other) = shard(2, 2);
        other.controller.limit = Some("web*".into());
        let err = merge(vec![shard(1, 2), (file, other)]).expect_err("other run");
        assert!(err.to_string().contains("--limit"), "{err}");

        let err = merge(vec![shard(1, 2), shard(2, 3)]).expect_err("other split");
        assert!(matches!(err, MergeError::CountMismatch { .. }), "{err}");

        let (file, mut newer) = shard(2, 2);
        newer.format_version = FORMAT_VERSION + 1;
        let err = merge(vec![shard(1, 2), (file, newer)]).expect_err("format");
        assert!(matches!(err, MergeError::Format { .. }), "{err}");

        let err = merge(vec![("whole.json".into(), unsharded())]).expect_err("not a shard");
        assert_eq!(
            err.to_string(),
            "whole.json is not a shard report (it was written without --shard)"
        );
        assert_eq!(merge(Vec::new()), Err(MergeError::Nothing));
    }
}
