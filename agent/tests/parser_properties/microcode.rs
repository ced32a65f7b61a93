//! Microcode: AMD containers, Intel update files, `/proc/cpuinfo`, and the `os-release`
//! name that the host part reads beside them.

use patchgap_probe::host::pretty_name;
use patchgap_probe::microcode::{
    cpuid_signature, parse_amd_container, parse_cpuinfo, parse_intel_file,
};
use proptest::prelude::*;

use super::{apply, apply_bytes, byte_edits, cases, edits, line_count, texty};

const AMD_MAGIC: u32 = 0x0041_4d44;

/// An AMD container as `amd.c` reads it: magic, equivalence table, patch sections.
fn amd_container(equiv: &[(u32, u16)], patches: &[(u32, u16)]) -> Vec<u8> {
    let mut b = AMD_MAGIC.to_le_bytes().to_vec();
    b.extend(0u32.to_le_bytes());
    b.extend((((equiv.len() + 1) * 16) as u32).to_le_bytes());
    for (cpu, id) in equiv.iter().chain(std::iter::once(&(0, 0))) {
        let mut e = [0u8; 16];
        e[..4].copy_from_slice(&cpu.to_le_bytes());
        e[12..14].copy_from_slice(&id.to_le_bytes());
        b.extend(e);
    }
    for (patch_id, id) in patches {
        let mut p = [0u8; 64];
        p[4..8].copy_from_slice(&patch_id.to_le_bytes());
        p[24..26].copy_from_slice(&id.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(64u32.to_le_bytes());
        b.extend(p);
    }
    b
}

/// An Intel update: 48-byte header, 64 bytes of data, an optional extended table.
fn intel_update(rev: u32, sig: u32, pf: u32, ext: &[(u32, u32)]) -> Vec<u8> {
    let ext_len = if ext.is_empty() {
        0
    } else {
        20 + ext.len() * 12
    };
    let total = 48 + 64 + ext_len;
    let mut b = vec![0u8; total];
    let mut put = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(0, 1);
    put(4, rev);
    put(12, sig);
    put(24, pf);
    put(28, 64);
    put(32, total as u32);
    if !ext.is_empty() {
        put(112, ext.len() as u32);
        for (i, (s, p)) in ext.iter().enumerate() {
            put(112 + 20 + i * 12, *s);
            put(112 + 20 + i * 12 + 4, *p);
        }
    }
    b
}

fn cpuinfo_paragraph() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "[0-9]{1,12}",
        "0x[0-9a-fA-F]{1,10}",
        Just("GenuineIntel".to_string()),
        Just("fpu vme hypervisor".to_string()),
        texty(),
    ];
    let key = prop::sample::select(
        &[
            "vendor_id",
            "cpu family",
            "model",
            "model name",
            "stepping",
            "microcode",
            "flags",
            "BogoMIPS",
        ][..],
    );
    (
        "[0-9]{1,12}",
        prop::collection::vec((key, "[ \t]{0,2}", value), 0..8),
    )
        .prop_map(|(n, fields)| {
            let mut text = format!("processor\t: {n}\n");
            for (k, pad, v) in fields {
                text.push_str(&format!("{k}{pad}: {v}\n"));
            }
            text
        })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn amd_arbitrary_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..2048), magic in any::<bool>()) {
        if magic && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&AMD_MAGIC.to_le_bytes());
        }
        if let Some(c) = parse_amd_container(&bytes) {
            prop_assert!(c.equivalence.len() <= bytes.len() / 16);
            prop_assert!(c.patches.len() <= bytes.len() / 8);
        }
    }

    #[test]
    fn amd_containers_parse_back_and_survive_mutation(
        equiv in prop::collection::vec((1..=u32::MAX, any::<u16>()), 0..6),
        patches in prop::collection::vec((any::<u32>(), any::<u16>()), 0..6),
        copies in 1usize..3,
        e in byte_edits(),
    ) {
        let one = amd_container(&equiv, &patches);
        let bytes = one.repeat(copies);
        let c = parse_amd_container(&bytes).expect("a container");
        for (sig, id) in &equiv {
            // The first entry for a signature decides, as in the kernel.
            let id = equiv.iter().find(|(s, _)| s == sig).map_or(*id, |(_, i)| *i);
            let newest = patches.iter().filter(|(_, e)| *e == id).map(|(p, _)| *p).max();
            prop_assert_eq!(c.newest_for(*sig), newest);
        }
        let cut = apply_bytes(&bytes, &e);
        if let Some(c) = parse_amd_container(&cut) {
            prop_assert!(c.equivalence.len() <= cut.len() / 16);
            prop_assert!(c.patches.len() <= cut.len() / 8);
        }
    }

    #[test]
    fn intel_arbitrary_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..2048), header in any::<bool>()) {
        if header && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&1u32.to_le_bytes());
        }
        let updates = parse_intel_file(&bytes);
        prop_assert!(updates.len() <= bytes.len() / 48);
        let signatures: usize = updates.iter().map(|u| u.signatures.len()).sum();
        prop_assert!(signatures <= updates.len() + bytes.len() / 12);
    }

    #[test]
    fn intel_files_parse_back_and_survive_mutation(
        updates in prop::collection::vec(
            (any::<u32>(), any::<u32>(), any::<u32>(),
             prop::collection::vec((any::<u32>(), any::<u32>()), 0..4)),
            1..4,
        ),
        e in byte_edits(),
    ) {
        let bytes: Vec<u8> = updates
            .iter()
            .flat_map(|(rev, sig, pf, ext)| intel_update(*rev, *sig, *pf, ext))
            .collect();
        let parsed = parse_intel_file(&bytes);
        prop_assert_eq!(parsed.len(), updates.len());
        for (u, (rev, sig, pf, ext)) in parsed.iter().zip(&updates) {
            prop_assert_eq!(u.revision, *rev);
            prop_assert_eq!(u.signatures.len(), 1 + ext.len());
            prop_assert!(u.applies_to(*sig, Some(*pf)) || *pf == 0);
        }
        let cut = apply_bytes(&bytes, &e);
        let parsed = parse_intel_file(&cut);
        prop_assert!(parsed.len() <= cut.len() / 48);
        let signatures: usize = parsed.iter().map(|u| u.signatures.len()).sum();
        prop_assert!(signatures <= parsed.len() + cut.len() / 12);
    }

    #[test]
    fn cpuinfo_bounded(paras in prop::collection::vec(cpuinfo_paragraph(), 0..5), e in edits(), other in texty()) {
        let text = paras.join("\n");
        let clean = parse_cpuinfo(&text);
        let processors = text.lines().filter(|l| l.starts_with("processor")).count();
        prop_assert!(clean.len() <= processors);
        for text in [apply(&text, &e), other] {
            let cpus = parse_cpuinfo(&text);
            prop_assert!(cpus.len() <= line_count(&text));
            for c in &cpus {
                prop_assert!(c.vendor.len() <= text.len());
                let _ = cpuid_signature(c.family, c.model, c.stepping);
            }
        }
    }

    #[test]
    fn cpuid_signature_any_numbers(family in any::<u32>(), model in any::<u32>(), stepping in any::<u32>()) {
        let _ = cpuid_signature(family, model, stepping);
    }

    #[test]
    fn os_release_name(
        lines in prop::collection::vec(prop_oneof![
            "PRETTY_NAME=\"?[a-zA-Z0-9 /().]{0,30}\"?",
            "[A-Z_]{1,10}=[^\n]{0,20}",
            texty(),
        ], 0..6),
        e in edits(),
    ) {
        let text = apply(&lines.join("\n"), &e);
        if let Some(name) = pretty_name(&text) {
            prop_assert!(name.len() <= text.len());
        }
    }
}
