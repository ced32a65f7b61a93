//! The static `patchgap-probe` that fleet tests push to hosts, built once per test binary.
//!
//! Built with the `probe` profile for x86_64 musl, like a release, into its own target
//! directory (`target/fleet-probe`) so that it never waits on the lock of the `cargo test`
//! that runs us. Include it with `#[path = "support/probe.rs"] mod probe;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use patchgap_probe::Report;

use super::fleet::Fleet;

const TARGET: &str = "x86_64-unknown-linux-musl";

/// Where the probe is installed on the hosts.
pub const REMOTE: &str = "/usr/local/bin/patchgap-probe";

/// Path of the static probe, building it on first use.
pub fn binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = root.join("target/fleet-probe");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        let status = Command::new(cargo)
            .current_dir(root)
            .args([
                "build",
                "--quiet",
                "-p",
                "patchgap-probe",
                "--profile",
                "probe",
            ])
            .args(["--target", TARGET, "--target-dir"])
            .arg(&target_dir)
            .status()
            .expect("run cargo to build the static probe");
        assert!(
            status.success(),
            "building the static probe failed: {status}"
        );
        target_dir.join(TARGET).join("probe/patchgap-probe")
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
