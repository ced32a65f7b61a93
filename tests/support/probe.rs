//! The static `patchgap-probe` that fleet tests push to hosts: the x86_64 probe the
//! controller embeds (built by `build.rs`), so the tests run exactly what `patchgap audit
//! -i` would upload. Include it with `#[path = "support/probe.rs"] mod probe;`.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use patchgap_probe::Report;

use super::fleet::Fleet;

/// Where the probe is installed on the hosts.
pub const REMOTE: &str = "/usr/local/bin/patchgap-probe";

/// Path of the embedded static probe, written out on first use.
pub fn binary() -> &'static Path {
    static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let bytes = patchgap::deploy::embedded_probe("x86_64").expect(
            "the controller embeds no x86_64 probe: build without PATCHGAP_SKIP_PROBES and \
             with the x86_64-unknown-linux-musl target installed (rustup toolchain install)",
        );
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("patchgap-probe-{}", std::process::id()));
        std::fs::write(&path, bytes).expect("write the probe");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    })
}

/// Push the probe to a host (once per host is enough; pushing again replaces it).
pub fn install(fleet: &Fleet, host: &str) {
    fleet.push(host, binary(), REMOTE);
}

/// Run the probe as root on a host and parse its report.
pub fn run(fleet: &Fleet, host: &str) -> Report {
    run_with(fleet, host, "")
}

/// Run the probe as root on a host with extra arguments (shell words) and parse its
/// report.
pub fn run_with(fleet: &Fleet, host: &str, args: &str) -> Report {
    let out = fleet.ssh(host, &format!("{REMOTE} {args}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "probe on {host} printed no report ({e}; exit {}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
