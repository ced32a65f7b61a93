//! The static probes built by `build.rs` and carried inside the controller, one per host
//! architecture, each with the SHA-256 the host checks before running it.

/// One embedded probe binary.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedProbe {
    /// The host's `uname -m` spelling (after [`normalize_arch`]).
    pub arch: &'static str,
    /// Lowercase hex SHA-256 of `bytes`; also names the file on the host.
    pub sha256: &'static str,
    pub bytes: &'static [u8],
}

static PROBES: &[EmbeddedProbe] = include!(concat!(env!("OUT_DIR"), "/embedded_probes.rs"));

/// Every probe this controller carries.
pub fn embedded_probes() -> &'static [EmbeddedProbe] {
    PROBES
}

/// The probe binary for a host whose `uname -m` is `arch`.
pub fn embedded_probe(arch: &str) -> Option<&'static [u8]> {
    find(arch).map(|probe| probe.bytes)
}

/// The SHA-256 (lowercase hex) of the probe for `arch`.
pub fn embedded_probe_sha256(arch: &str) -> Option<&'static str> {
    find(arch).map(|probe| probe.sha256)
}

fn find(arch: &str) -> Option<&'static EmbeddedProbe> {
    let arch = normalize_arch(arch);
    PROBES.iter().find(|probe| probe.arch == arch)
}

/// Maps the other spellings of an architecture (BSD and Debian names) onto `uname -m`'s.
pub fn normalize_arch(arch: &str) -> &str {
    match arch {
        "amd64" | "x86-64" => "x86_64",
        "arm64" | "aarch64_be" => "aarch64",
        other => other,
    }
}

/// What to tell the user about an architecture no probe was built for.
pub fn unsupported_arch_message(arch: &str) -> String {
    let built: Vec<&str> = PROBES.iter().map(|probe| probe.arch).collect();
    let built = if built.is_empty() {
        "none".to_string()
    } else {
        built.join(", ")
    };
    match arch {
        "x86_64" | "aarch64" => format!(
            "this controller was built without the {arch} probe (embedded: {built}); \
             run `rustup target add {arch}-unknown-linux-musl` and rebuild patchgap"
        ),
        _ => format!(
            "no probe exists for architecture {arch} (embedded: {built}); patchgap supports \
             x86_64 and aarch64 hosts"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_probe_matches_its_hash() {
        use sha2::{Digest, Sha256};
        for probe in embedded_probes() {
            assert_eq!(hex::encode(Sha256::digest(probe.bytes)), probe.sha256);
            assert_eq!(embedded_probe(probe.arch), Some(probe.bytes));
        }
    }

    #[test]
    fn debian_names_map_onto_uname_names() {
        assert_eq!(normalize_arch("amd64"), "x86_64");
        assert_eq!(normalize_arch("arm64"), "aarch64");
        assert_eq!(normalize_arch("riscv64"), "riscv64");
        assert!(embedded_probe("riscv64").is_none());
        assert!(unsupported_arch_message("riscv64").contains("riscv64"));
    }
}
