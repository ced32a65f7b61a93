//! Gathers the `microcode` part of the report: one entry per CPU model and revision.

use std::fs;
use std::path::Path;

use super::amd::parse_amd_container;
use super::cpuinfo::{Cpu, cpuid_signature, parse_cpuinfo};
use super::intel::parse_intel_file;
use crate::kernel::detect_container;
use crate::report::{CpuMicrocode, MicrocodeReport, MicrocodeStatus};
use crate::roots::Roots;

/// Microcode files are a few hundred KiB; anything far larger is not one.
const MAX_FILE: u64 = 16 << 20;

/// Reads `/proc/cpuinfo` and the firmware files.
pub fn collect(roots: &Roots) -> MicrocodeReport {
    let skipped = |reason: String, cpus| MicrocodeReport {
        status: MicrocodeStatus::Skipped,
        reason,
        cpus,
    };
    if let Some(c) = detect_container(roots) {
        return skipped(
            format!(
                "inside a container ({}): the host loads microcode",
                c.evidence
            ),
            Vec::new(),
        );
    }
    let text = match fs::read_to_string(roots.proc_path("cpuinfo")) {
        Ok(t) => t,
        Err(e) => {
            return MicrocodeReport {
                status: MicrocodeStatus::Unknown,
                reason: format!("failed to read /proc/cpuinfo: {e}"),
                cpus: Vec::new(),
            };
        }
    };
    let cpus = parse_cpuinfo(&text);
    let mut models = group(&cpus);
    if cpus.iter().any(|c| c.hypervisor) {
        for m in &mut models {
            m.status = MicrocodeStatus::Skipped;
        }
        return skipped(
            "virtual machine (hypervisor CPU flag): the hypervisor's host loads microcode".into(),
            models,
        );
    }
    if models.is_empty() {
        return skipped(
            "no x86 CPU in /proc/cpuinfo: no microcode to compare".into(),
            models,
        );
    }
    for m in &mut models {
        judge(roots, m, &cpus);
    }
    summarize(models)
}

fn group(cpus: &[Cpu]) -> Vec<CpuMicrocode> {
    let mut out: Vec<CpuMicrocode> = Vec::new();
    for c in cpus.iter().filter(|c| !c.vendor.is_empty()) {
        let signature = cpuid_signature(c.family, c.model, c.stepping);
        match out
            .iter_mut()
            .find(|m| m.vendor == c.vendor && m.signature == signature && m.running == c.microcode)
        {
            Some(m) => m.processors += 1,
            None => out.push(CpuMicrocode {
                vendor: c.vendor.clone(),
                family: c.family,
                model: c.model,
                stepping: c.stepping,
                signature,
                processors: 1,
                running: c.microcode,
                available: None,
                file: None,
                status: MicrocodeStatus::Unknown,
            }),
        }
    }
    out
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_FILE)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

fn judge(roots: &Roots, m: &mut CpuMicrocode, cpus: &[Cpu]) {
    let found = match m.vendor.as_str() {
        "GenuineIntel" => intel_available(roots, m, cpus),
        "AuthenticAMD" => amd_available(roots, m.signature),
        _ => {
            m.status = MicrocodeStatus::Unknown;
            return;
        }
    };
    if let Some((rev, file)) = found {
        m.available = Some(rev);
        m.file = Some(file);
    }
    m.status = match (m.running, m.available) {
        (None, _) => MicrocodeStatus::Unknown,
        (Some(run), Some(avail)) if avail > run => MicrocodeStatus::UpdatePending,
        _ => MicrocodeStatus::Current,
    };
}

fn intel_available(roots: &Roots, m: &CpuMicrocode, cpus: &[Cpu]) -> Option<(u32, String)> {
    let file = format!(
        "/lib/firmware/intel-ucode/{:02x}-{:02x}-{:02x}",
        m.family, m.model, m.stepping
    );
    let bytes = read_bounded(&roots.fs_path(&file))?;
    // The platform id is only in an MSR; the kernel shows it as a mask in sysfs.
    let cpu = cpus
        .iter()
        .find(|c| cpuid_signature(c.family, c.model, c.stepping) == m.signature)
        .map_or(0, |c| c.processor);
    let flags_path = format!("/sys/devices/system/cpu/cpu{cpu}/microcode/processor_flags");
    let platform = fs::read_to_string(roots.fs_path(&flags_path))
        .ok()
        .and_then(|t| u32::from_str_radix(t.trim().trim_start_matches("0x"), 16).ok());
    let rev = parse_intel_file(&bytes)
        .iter()
        .filter(|u| u.applies_to(m.signature, platform))
        .map(|u| u.revision)
        .max()?;
    Some((rev, file))
}

fn amd_available(roots: &Roots, signature: u32) -> Option<(u32, String)> {
    let dir = fs::read_dir(roots.fs_path("/lib/firmware/amd-ucode")).ok()?;
    let mut best: Option<(u32, String)> = None;
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("microcode_amd") && name.ends_with(".bin")) {
            continue;
        }
        let Some(rev) = read_bounded(&entry.path())
            .and_then(|b| parse_amd_container(&b))
            .and_then(|c| c.newest_for(signature))
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| rev > *b) {
            best = Some((rev, format!("/lib/firmware/amd-ucode/{name}")));
        }
    }
    best
}

fn summarize(cpus: Vec<CpuMicrocode>) -> MicrocodeReport {
    let name = |m: &CpuMicrocode| {
        format!(
            "{} {:02x}-{:02x}-{:02x}",
            m.vendor, m.family, m.model, m.stepping
        )
    };
    let hex = |r: Option<u32>| r.map_or_else(|| "unknown".to_string(), |r| format!("{r:#x}"));
    let (status, reason) = if let Some(m) = cpus
        .iter()
        .find(|m| m.status == MicrocodeStatus::UpdatePending)
    {
        (
            MicrocodeStatus::UpdatePending,
            format!(
                "microcode {} installed for {}, running {}",
                hex(m.available),
                name(m),
                hex(m.running)
            ),
        )
    } else if let Some(m) = cpus.iter().find(|m| m.status == MicrocodeStatus::Unknown) {
        let why = if m.running.is_none() {
            "no running revision in /proc/cpuinfo"
        } else {
            "no microcode format known for this vendor"
        };
        (MicrocodeStatus::Unknown, format!("{}: {why}", name(m)))
    } else {
        let detail = cpus
            .iter()
            .map(|m| match m.available {
                Some(_) => format!("{} runs {}", name(m), hex(m.running)),
                None => format!(
                    "{} runs {} (no microcode file installed for it)",
                    name(m),
                    hex(m.running)
                ),
            })
            .collect::<Vec<_>>()
            .join("; ");
        (MicrocodeStatus::Current, detail)
    };
    MicrocodeReport {
        status,
        reason,
        cpus,
    }
}
