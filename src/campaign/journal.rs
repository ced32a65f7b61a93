//! The campaign's state file: one JSON object per line, each step appended, flushed and
//! fsynced before the next step starts, so that after a Ctrl-C, a SIGKILL or a reboot
//! `--resume STATE` knows every restart that may have happened. The file is held under
//! an exclusive `flock` for the whole campaign: two campaigns on one state file cannot
//! run at once.
//!
//! A restart is recorded *before* it is asked for, with each unit's `InvocationID` at
//! that moment: on resume, a unit whose `InvocationID` has changed since was restarted
//! (maybe by the killed run, maybe by hand) and is never restarted again.
//!
//! A process killed in the middle of a write leaves a torn last line: it is tolerated,
//! reported, and cut off before anything is appended.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

use super::outcome::{HostCampaign, Stop};
use super::plan::CampaignPlan;

/// Version of the journal's records; a journal of another version is refused.
pub const JOURNAL_FORMAT: u32 = 1;

/// One step of a campaign.
#[allow(
    clippy::large_enum_variant,
    reason = "one record per step, written once: boxing a host's result would buy nothing"
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The first record: the plan being carried out.
    Campaign {
        format: u32,
        plan: CampaignPlan,
    },
    BatchStarted {
        batch: usize,
    },
    /// About to restart `units` on `host`; `invocations` are their `InvocationID`s now.
    Restarting {
        host: String,
        units: Vec<String>,
        invocations: Vec<String>,
    },
    /// `systemctl restart` returned (`ok`: with status 0).
    Restarted {
        host: String,
        units: Vec<String>,
        ok: bool,
    },
    /// About to reboot `host`, whose boot id is `boot_id` now: on resume, a host whose
    /// boot id changed since is verified, never rebooted again.
    Rebooting {
        host: String,
        boot_id: String,
    },
    HostFinished {
        outcome: HostCampaign,
    },
    BatchFinished {
        batch: usize,
        failed: usize,
    },
    Stopped {
        stop: Stop,
    },
    Finished,
}

/// A line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unix time in milliseconds when the step was recorded.
    pub at_ms: i64,
    pub step: Step,
}

/// What the journal cannot do; each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "state file {0} already exists: continue that campaign with --resume {0}, or choose another --state file"
    )]
    Exists(PathBuf),
    #[error(
        "another campaign is running on state file {0} (it holds the lock); wait for it to end"
    )]
    Locked(PathBuf),
    #[error("cannot use state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state file {path} line {line} is not a campaign record ({why}); it is not a patchgap journal or it was edited"
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("state file {0} does not start with a campaign plan; it is not a patchgap journal")]
    NoPlan(PathBuf),
}

/// An open, locked journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

/// What a journal says about a campaign that ran before.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub plan: CampaignPlan,
    /// Hosts that finished, with their result.
    pub finished: HashMap<String, HostCampaign>,
    /// `(host, unit)` whose restart was recorded as about to happen, with the unit's
    /// `InvocationID` before it.
    pub restarting: HashMap<(String, String), String>,
    /// Hosts whose reboot was recorded as about to happen, with their boot id before it.
    pub rebooting: HashMap<String, String>,
    /// A torn last line was cut off (the controller was killed while writing it).
    pub torn_line: bool,
}

fn lock(path: &Path, file: &File) -> Result<(), JournalError> {
    flock(file, FlockOperation::NonBlockingLockExclusive).map_err(|err| {
        if err == rustix::io::Errno::WOULDBLOCK {
            JournalError::Locked(path.to_path_buf())
        } else {
            JournalError::Io {
                path: path.to_path_buf(),
                source: err.into(),
            }
        }
    })
}

impl Journal {
    /// Starts a new journal at `path` with `plan` as its first record. An existing file
    /// is never overwritten.
    pub fn create(path: &Path, plan: &CampaignPlan) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => JournalError::Exists(path.to_path_buf()),
                _ => JournalError::Io {
                    path: path.to_path_buf(),
                    source,
                },
            })?;
        lock(path, &file)?;
        let journal = Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        };
        journal.record(Step::Campaign {
            format: JOURNAL_FORMAT,
            plan: plan.clone(),
        })?;
        Ok(journal)
    }

    /// Opens the journal of an interrupted campaign, locks it and reads it back; a torn
    /// last line is cut off so that new records start on a line of their own.
    pub fn resume(path: &Path) -> Result<(Self, Replay), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        lock(path, &file)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let (replay, keep) = replay(path, &text)?;
        if keep < text.len() {
            file.set_len(keep as u64).map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        // A whole record whose newline was not written: end its line before appending.
        if keep > 0 && !text[..keep].ends_with('\n') {
            file.write_all(b"\n").map_err(io)?;
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        };
        Ok((journal, replay))
    }

    /// Appends `step`, flushed and synced to disk before returning.
    pub fn record(&self, step: Step) -> Result<(), JournalError> {
        let record = Record {
            at_ms: jiff::Timestamp::now().as_millisecond(),
            step,
        };
        let mut line = serde_json::to_vec(&record).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data())
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads `text` back; returns the replay and the length of its complete lines.
fn replay(path: &Path, text: &str) -> Result<(Replay, usize), JournalError> {
    let mut plan = None;
    let mut finished = HashMap::new();
    let mut restarting = HashMap::new();
    let mut rebooting = HashMap::new();
    let mut torn_line = false;
    let mut keep = 0;
    let mut rest = text;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let (line, complete) = match rest.find('\n') {
            Some(end) => (&rest[..end], true),
            None => (rest, false),
        };
        rest = &rest[(line.len() + usize::from(complete)).min(rest.len())..];
        let record = match serde_json::from_str::<Record>(line) {
            Ok(record) => record,
            // The last line, not ended: a write cut short by a kill.
            Err(_) if !complete => {
                torn_line = true;
                break;
            }
            Err(err) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: number,
                    why: err.to_string(),
                });
            }
        };
        keep += line.len() + usize::from(complete);
        match record.step {
            Step::Campaign { format, plan: p } if number == 1 => {
                if format != JOURNAL_FORMAT {
                    return Err(JournalError::Corrupt {
                        path: path.to_path_buf(),
                        line: number,
                        why: format!(
                            "journal format {format}, this patchgap reads {JOURNAL_FORMAT}"
                        ),
                    });
                }
                plan = Some(p);
            }
            Step::Restarting {
                host,
                units,
                invocations,
            } => {
                for (unit, id) in units.into_iter().zip(invocations) {
                    restarting.insert((host.clone(), unit), id);
                }
            }
            Step::Rebooting { host, boot_id } => {
                rebooting.insert(host, boot_id);
            }
            Step::HostFinished { outcome } => {
                finished.insert(outcome.host.clone(), outcome);
            }
            _ => {}
        }
    }
    let plan = plan.ok_or_else(|| JournalError::NoPlan(path.to_path_buf()))?;
    Ok((
        Replay {
            plan,
            finished,
            restarting,
            rebooting,
            torn_line,
        },
        keep,
    ))
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
