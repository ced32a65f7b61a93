//! AMD microcode containers (`/lib/firmware/amd-ucode/microcode_amd*.bin`), the format the
//! kernel's `arch/x86/kernel/cpu/microcode/amd.c` loads: the magic `DMA\0`, an equivalence
//! table (section type 0) mapping CPUID signatures to an equivalence id, then patch
//! sections (type 1) whose header holds `patch_id` at offset 4 and the equivalence id
//! (`processor_rev_id`) at offset 24.

/// One patch of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdPatch {
    pub patch_id: u32,
    pub equiv_id: u16,
}

/// A parsed container: the equivalence table and the patches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AmdContainer {
    /// `(cpuid signature, equivalence id)`.
    pub equivalence: Vec<(u32, u16)>,
    pub patches: Vec<AmdPatch>,
}

const MAGIC: u32 = 0x0041_4d44;
const EQUIV_ENTRY: usize = 16;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Parses one or more containers laid back to back (as some distributions concatenate
/// them). Returns `None` when the data does not start with the magic.
pub fn parse_amd_container(bytes: &[u8]) -> Option<AmdContainer> {
    let mut out = AmdContainer::default();
    let mut at = 0;
    if le32(bytes, 0)? != MAGIC {
        return None;
    }
    while le32(bytes, at) == Some(MAGIC) {
        at += 4;
        let (Some(0), Some(size)) = (le32(bytes, at), le32(bytes, at + 4)) else {
            break;
        };
        at += 8;
        let table = bytes.get(at..at + size as usize)?;
        for entry in table.chunks_exact(EQUIV_ENTRY) {
            let (Some(cpu), Some(id)) = (le32(entry, 0), le16(entry, 12)) else {
                break;
            };
            if cpu == 0 {
                break;
            }
            out.equivalence.push((cpu, id));
        }
        at += size as usize;
        while let (Some(1), Some(size)) = (le32(bytes, at), le32(bytes, at + 4)) {
            at += 8;
            let Some(patch) = bytes.get(at..at + size as usize) else {
                return Some(out);
            };
            if let (Some(patch_id), Some(equiv_id)) = (le32(patch, 4), le16(patch, 24)) {
                out.patches.push(AmdPatch { patch_id, equiv_id });
            }
            at += size as usize;
        }
    }
    Some(out)
}

impl AmdContainer {
    /// The newest patch for a CPUID signature.
    pub fn newest_for(&self, signature: u32) -> Option<u32> {
        let (_, equiv) = self.equivalence.iter().find(|(s, _)| *s == signature)?;
        self.patches
            .iter()
            .filter(|p| p.equiv_id == *equiv)
            .map(|p| p.patch_id)
            .max()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A container with an equivalence table and patches `(patch_id, equiv_id)`.
    pub(crate) fn container(equiv: &[(u32, u16)], patches: &[(u32, u16)]) -> Vec<u8> {
        let mut b = MAGIC.to_le_bytes().to_vec();
        b.extend(0u32.to_le_bytes());
        b.extend((((equiv.len() + 1) * EQUIV_ENTRY) as u32).to_le_bytes());
        for (cpu, id) in equiv.iter().chain(std::iter::once(&(0, 0))) {
            let mut e = [0u8; EQUIV_ENTRY];
            e[..4].copy_from_slice(&cpu.to_le_bytes());
            e[12..14].copy_from_slice(&id.to_le_bytes());
            b.extend(e);
        }
        for (patch_id, id) in patches {
            let mut p = [0u8; 64];
            p[4..8].copy_from_slice(&patch_id.to_le_bytes());
            p[24..26].copy_from_slice(&id.to_le_bytes());
            b.extend(1u32.to_le_bytes());
            b.extend((p.len() as u32).to_le_bytes());
            b.extend(p);
        }
        b
    }

    #[test]
    fn maps_cpuid_through_equivalence_table() {
        let c = parse_amd_container(&container(
            &[(0x00a00f11, 0xa011), (0x00830f10, 0x8310)],
            &[
                (0x0a0011d1, 0xa011),
                (0x0a0011d5, 0xa011),
                (0x0830107a, 0x8310),
            ],
        ))
        .expect("container");
        assert_eq!(c.newest_for(0x00a00f11), Some(0x0a0011d5));
        assert_eq!(c.newest_for(0x00830f10), Some(0x0830107a));
        assert_eq!(c.newest_for(0x00a20f10), None);
    }

    #[test]
    fn rejects_foreign_and_survives_truncation() {
        assert_eq!(parse_amd_container(b"\x7fELF...."), None);
        let full = container(&[(0x00a00f11, 0xa011)], &[(7, 0xa011), (9, 0xa011)]);
        let cut = parse_amd_container(&full[..full.len() - 10]).expect("container");
        assert_eq!(cut.newest_for(0x00a00f11), Some(7));
    }
}
