//! `/proc/cpuinfo` (see `proc(5)`): one `key : value` paragraph per logical processor.

/// The microcode-relevant fields of one logical processor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cpu {
    pub processor: u32,
    /// `vendor_id`: `GenuineIntel`, `AuthenticAMD`, ...; empty on architectures without.
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    /// `microcode`, e.g. `0x2b000603`.
    pub microcode: Option<u32>,
    /// The `hypervisor` flag: a virtual CPU whose microcode the hypervisor owns.
    pub hypervisor: bool,
}

fn number(value: &str) -> Option<u32> {
    let v = value.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Parses the whole file. Paragraphs without `processor` are skipped.
pub fn parse_cpuinfo(text: &str) -> Vec<Cpu> {
    let mut out = Vec::new();
    let mut cur: Option<Cpu> = None;
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            out.extend(cur.take());
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key.trim() == "processor" {
            out.extend(cur.take());
            cur = Some(Cpu {
                processor: number(value).unwrap_or(0),
                ..Cpu::default()
            });
            continue;
        }
        let Some(cpu) = cur.as_mut() else { continue };
        match key.trim() {
            "vendor_id" => cpu.vendor = value.to_string(),
            "cpu family" => cpu.family = number(value).unwrap_or(0),
            "model" => cpu.model = number(value).unwrap_or(0),
            "stepping" => cpu.stepping = number(value).unwrap_or(0),
            "microcode" => cpu.microcode = number(value),
            "flags" => cpu.hypervisor = value.split_whitespace().any(|f| f == "hypervisor"),
            _ => {}
        }
    }
    out
}

/// CPUID leaf 1 EAX, rebuilt from the display family/model/stepping: Intel and AMD both
/// use it to name microcode (`intel-ucode/FF-MM-SS`, AMD's equivalence table).
pub fn cpuid_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let (base_family, ext_family) = if family >= 0xf {
        (0xf, family - 0xf)
    } else {
        (family, 0)
    };
    (ext_family << 20) | ((model >> 4) << 16) | (base_family << 8) | ((model & 0xf) << 4) | stepping
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_processors() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Intel(R) Xeon(R)\nstepping\t: 8\nmicrocode\t: 0x2b000603\nflags\t\t: fpu vme hypervisor\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nstepping\t: 1\nmicrocode\t: 0xa0011d1\nflags\t\t: fpu\n";
        let cpus = parse_cpuinfo(text);
        assert_eq!(cpus.len(), 2);
        assert_eq!(
            cpus[0],
            Cpu {
                processor: 0,
                vendor: "GenuineIntel".into(),
                family: 6,
                model: 143,
                stepping: 8,
                microcode: Some(0x2b00_0603),
                hypervisor: true,
            }
        );
        assert_eq!(cpus[1].microcode, Some(0x0a00_11d1));
        assert!(!cpus[1].hypervisor);
    }

    #[test]
    fn arm_cpuinfo_has_no_vendor() {
        let cpus = parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n");
        assert_eq!(cpus.len(), 1);
        assert!(cpus[0].vendor.is_empty());
        assert_eq!(cpus[0].microcode, None);
    }

    #[test]
    fn signatures() {
        assert_eq!(cpuid_signature(6, 0x8f, 8), 0x000806f8);
        assert_eq!(cpuid_signature(6, 167, 1), 0x000a0671);
        assert_eq!(cpuid_signature(0x19, 0x01, 1), 0x00a00f11);
        assert_eq!(cpuid_signature(0x17, 0x31, 0), 0x00830f10);
    }
}
