//! Intel microcode files (`/lib/firmware/intel-ucode/FF-MM-SS`), as documented in the
//! Intel SDM vol. 3, "Microcode Update Facilities": 48-byte headers with the revision at
//! offset 4, the processor signature at 12 and the platform flags at 24, the data size at
//! 28 and the total size at 32, optionally followed by an extended signature table. A file
//! may hold several updates back to back.

/// One update of a file: every signature/platform pair it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelUpdate {
    pub revision: u32,
    /// `(signature, processor flags)` of the header and of the extended table.
    pub signatures: Vec<(u32, u32)>,
}

const HEADER: usize = 48;
const EXT_HEADER: usize = 20;
const EXT_ENTRY: usize = 12;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses every update of a file; stops at the first header that does not make sense
/// (a truncated file keeps the updates before it).
pub fn parse_intel_file(bytes: &[u8]) -> Vec<IntelUpdate> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(u) = bytes.get(at..).filter(|u| u.len() >= HEADER) {
        let (Some(1), Some(revision), Some(sig), Some(pf), Some(data), Some(total)) = (
            le32(u, 0),
            le32(u, 4),
            le32(u, 12),
            le32(u, 24),
            le32(u, 28),
            le32(u, 32),
        ) else {
            break;
        };
        // Sizes of 0 mean the original 2000-byte data, 2048 in total.
        let data = if data == 0 { 2000 } else { data as usize };
        let total = if total == 0 { 2048 } else { total as usize };
        if total < HEADER + data || total > u.len() {
            break;
        }
        let mut signatures = vec![(sig, pf)];
        let ext = &u[HEADER + data..total];
        if ext.len() >= EXT_HEADER {
            let count = le32(ext, 0).unwrap_or(0) as usize;
            for i in 0..count {
                let e = EXT_HEADER + i * EXT_ENTRY;
                match (le32(ext, e), le32(ext, e + 4)) {
                    (Some(s), Some(p)) => signatures.push((s, p)),
                    _ => break,
                }
            }
        }
        out.push(IntelUpdate {
            revision,
            signatures,
        });
        at += total;
    }
    out
}

impl IntelUpdate {
    /// Whether the update is for this CPU. Without the CPU's platform flags (sysfs
    /// `processor_flags`, not always present) any platform is accepted.
    pub fn applies_to(&self, signature: u32, platform: Option<u32>) -> bool {
        self.signatures
            .iter()
            .any(|(s, pf)| *s == signature && platform.is_none_or(|p| p & pf != 0))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An update with `data_len` bytes of payload and an optional extended table.
    pub(crate) fn update(rev: u32, sig: u32, pf: u32, ext: &[(u32, u32)]) -> Vec<u8> {
        let data_len = 64usize;
        let ext_len = if ext.is_empty() {
            0
        } else {
            EXT_HEADER + ext.len() * EXT_ENTRY
        };
        let total = HEADER + data_len + ext_len;
        let mut b = vec![0u8; total];
        let mut put = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(0, 1);
        put(4, rev);
        put(8, 0x2024_0101);
        put(12, sig);
        put(24, pf);
        put(28, data_len as u32);
        put(32, total as u32);
        if !ext.is_empty() {
            let base = HEADER + data_len;
            put(base, ext.len() as u32);
            for (i, (s, p)) in ext.iter().enumerate() {
                put(base + EXT_HEADER + i * EXT_ENTRY, *s);
                put(base + EXT_HEADER + i * EXT_ENTRY + 4, *p);
            }
        }
        b
    }

    #[test]
    fn concatenated_updates_and_extended_signatures() {
        let mut file = update(0x2b00_0603, 0x806f8, 0x87, &[]);
        file.extend(update(0x2b00_0620, 0x806f8, 0x10, &[(0x806f7, 0x87)]));
        let ups = parse_intel_file(&file);
        assert_eq!(ups.len(), 2);
        assert_eq!(ups[1].signatures, vec![(0x806f8, 0x10), (0x806f7, 0x87)]);
        assert!(ups[0].applies_to(0x806f8, Some(0x80)));
        assert!(!ups[1].applies_to(0x806f8, Some(0x80)));
        assert!(ups[1].applies_to(0x806f8, None));
        assert!(ups[1].applies_to(0x806f7, Some(0x01)));
    }

    #[test]
    fn truncated_or_foreign_data_stops_parsing() {
        let file = update(5, 0x906ea, 0x2, &[]);
        assert_eq!(parse_intel_file(&file[..file.len() - 1]), vec![]);
        assert_eq!(
            parse_intel_file(b"not microcode at all, not at all......................"),
            vec![]
        );
        let mut two = file.clone();
        two.extend_from_slice(&[0u8; 10]);
        assert_eq!(parse_intel_file(&two).len(), 1);
    }
}
