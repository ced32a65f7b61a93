//! Builds the static probe for every host architecture patchgap audits and embeds it in
//! the controller, so that a plain `cargo build --release` yields a controller that can
//! audit a fleet with no extra step.
//!
//! The probe is built by a nested `cargo build` into its own target directory: sharing the
//! outer one would deadlock on cargo's build-directory lock. The nested build runs from the
//! workspace root so `.cargo/config.toml` applies (static musl, rust-lld for aarch64), and
//! without the outer build's compiler wrappers and flags (clippy-driver, coverage flags).
//!
//! A probe that cannot be built is not fatal: the controller is still useful for the
//! architectures it has, and reports the others per host with the fix. Setting
//! `PATCHGAP_SKIP_PROBES=1` skips the nested builds entirely (quick development builds).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Rust target triple and the `uname -m` name of each architecture the probe is built for.
const PROBE_TARGETS: &[(&str, &str)] = &[
    ("x86_64-unknown-linux-musl", "x86_64"),
    ("aarch64-unknown-linux-musl", "aarch64"),
];

/// Environment of the outer build that must not reach the nested one.
const LEAKING_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
];

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    for watched in [
        "agent/src",
        "agent/Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=PATCHGAP_SKIP_PROBES");

    let skip = env::var_os("PATCHGAP_SKIP_PROBES").is_some_and(|v| v != "0");
    let probe_dir = probe_target_dir(&root, &out_dir);
    let mut table = String::from("&[\n");
    for &(triple, arch) in PROBE_TARGETS {
        let built = if skip {
            Err("the build skipped it (PATCHGAP_SKIP_PROBES is set)".to_string())
        } else {
            build_probe(&root, &probe_dir, triple)
        };
        match built {
            Ok(binary) => {
                let copy = out_dir.join(format!("patchgap-probe-{arch}"));
                let bytes = fs::read(&binary).unwrap_or_default();
                let sha = hex::encode(Sha256::digest(&bytes));
                if let Err(err) = fs::write(&copy, &bytes) {
                    println!("cargo:warning=could not copy the {arch} probe: {err}");
                    continue;
                }
                let _ = writeln!(
                    table,
                    "    EmbeddedProbe {{ arch: {arch:?}, sha256: {sha:?}, \
                     bytes: include_bytes!({copy:?}) }},",
                    copy = copy.display().to_string(),
                );
            }
            Err(why) => {
                if !skip {
                    println!(
                        "cargo:warning=no {arch} probe embedded: {why}; hosts of that \
                         architecture will be reported as unsupported"
                    );
                }
                let _ = writeln!(table, "    // {arch}: {}", why.replace('\n', " "));
            }
        }
    }
    table.push(']');
    let generated = out_dir.join("embedded_probes.rs");
    if let Err(err) = fs::write(&generated, table) {
        println!(
            "cargo:warning=could not write {}: {err}",
            generated.display()
        );
    }
}

/// `target/probe-build`, next to the outer build's profile directories. OUT_DIR is
/// `target/<profile>/build/<pkg>-<hash>/out`; a debug, release and clippy build all share
/// the probe build this way.
fn probe_target_dir(root: &Path, out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(4)
        .map(|target| target.join("probe-build"))
        .unwrap_or_else(|| root.join("target").join("probe-build"))
}

/// Builds the probe for `triple`; returns the binary's path or why it could not.
fn build_probe(root: &Path, probe_dir: &Path, triple: &str) -> Result<PathBuf, String> {
    ensure_target_installed(triple)?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "-p",
            "patchgap-probe",
            "--profile",
            "probe",
        ])
        .args(["--target", triple, "--target-dir"])
        .arg(probe_dir);
    for var in LEAKING_ENV {
        command.env_remove(var);
    }
    let output = command
        .output()
        .map_err(|err| format!("could not run cargo: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`cargo build -p patchgap-probe --profile probe --target {triple}` failed: {}",
            tail.join(" | ")
        ));
    }
    let binary = probe_dir.join(triple).join("probe").join("patchgap-probe");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("the build did not produce {}", binary.display()))
    }
}

/// Adds the target's standard library with rustup when it is missing (the targets are
/// declared in rust-toolchain.toml, which `rustup target add` honours).
fn ensure_target_installed(triple: &str) -> Result<(), String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|err| format!("could not run rustc: {err}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
    {
        return Ok(());
    }
    println!(
        "cargo:warning=the Rust standard library for {triple} is missing; running `rustup target add {triple}`"
    );
    let status = Command::new("rustup")
        .args(["target", "add", triple])
        .status()
        .map_err(|err| format!("could not run `rustup target add {triple}`: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the {triple} standard library is missing and `rustup target add {triple}` failed"
        ))
    }
}
