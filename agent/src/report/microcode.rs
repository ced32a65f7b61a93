//! The `microcode` part of the report: running against available CPU microcode, one entry
//! per CPU model and revision. Also described in `docs/report-kernel.md`.

use serde::{Deserialize, Serialize};

/// Running against available microcode. Documented in `docs/report-kernel.md`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MicrocodeReport {
    /// The verdict over all CPUs: `update_pending` when any CPU waits for newer microcode,
    /// else `unknown` when any could not be judged, else `current`; `skipped` when none was
    /// judged.
    pub status: MicrocodeStatus,
    /// Why, for a person (the reason for skipping, or the first pending update).
    pub reason: String,
    /// One entry per distinct CPU model, stepping and running revision.
    pub cpus: Vec<CpuMicrocode>,
}

/// How the running microcode compares with the installed files.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MicrocodeStatus {
    /// Running the newest available revision, or no file for this CPU is installed.
    Current,
    /// A newer revision is installed and loads on the next boot.
    UpdatePending,
    /// Not enough could be read to tell (no `/proc/cpuinfo`, no running revision, or a
    /// vendor whose microcode format is unknown).
    #[default]
    Unknown,
    /// Not judged: a virtual machine, a container, or a CPU without x86 microcode.
    Skipped,
}

/// One CPU model as `/proc/cpuinfo` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CpuMicrocode {
    /// `vendor_id` (`GenuineIntel`, `AuthenticAMD`).
    pub vendor: String,
    /// CPU family from `/proc/cpuinfo`.
    pub family: u32,
    /// CPU model from `/proc/cpuinfo`.
    pub model: u32,
    /// CPU stepping from `/proc/cpuinfo`.
    pub stepping: u32,
    /// CPUID signature (leaf 1 EAX), the key of the vendors' files.
    pub signature: u32,
    /// Logical processors of this model and revision.
    pub processors: u32,
    /// Running revision (`microcode` of `/proc/cpuinfo`).
    pub running: Option<u32>,
    /// Newest revision in the installed files for this CPU.
    pub available: Option<u32>,
    /// The file that holds [`CpuMicrocode::available`].
    pub file: Option<String>,
    /// This model's verdict: running against [`CpuMicrocode::available`].
    pub status: MicrocodeStatus,
}
