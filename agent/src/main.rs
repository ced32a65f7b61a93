//! `patchgap-probe`: audit this host and print the JSON report on stdout.
//!
//! Arguments are parsed by hand: the probe is pushed to every host on every run, so it
//! carries no argument-parsing library. Exit status: 0 when a report was printed (whatever
//! it says), 2 for a usage error, 3 when the report could not be written.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use patchgap_probe::integrity::{HashScope, IntegrityOptions};
use patchgap_probe::{IgnoreRules, Options, Roots, collect};

const USAGE: &str = "\
usage: patchgap-probe [OPTIONS]

Audit this host read-only and print a JSON report (see docs/report-format.md).

options:
  --integrity             also verify installed packages' files against dpkg's MD5 sums
  --integrity-packages GLOB
                          limit --integrity to packages whose name matches GLOB
  --baseline-hashes without-md5sums|all
                          with --integrity, also report the SHA-256 of the files of
                          packages without md5sums (or of all packages), for a baseline
  --ignore REGEX          also ignore stale files whose path matches REGEX (repeatable)
  --no-default-ignores    do not apply the built-in ignore list
  --no-interpreters       do not check Python/Perl/Ruby/Node.js scripts and modules
  --proc DIR              procfs to scan (default /proc)
  --root DIR              filesystem root holding /var/lib/dpkg, /boot, ... (default /)
  --pretty                indent the JSON
  --version               print the probe and report schema versions
  --help                  print this help";

struct Args {
    opts: Options,
    pretty: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut roots = Roots::default();
    let mut extra = Vec::new();
    let mut defaults = true;
    let mut pretty = false;
    let mut integrity: Option<IntegrityOptions> = None;
    let mut skip_interpreters = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--ignore" => extra.push(value("--ignore")?),
            "--integrity" => {
                integrity.get_or_insert_with(IntegrityOptions::default);
            }
            "--integrity-packages" => {
                let pattern = value("--integrity-packages")?;
                integrity
                    .get_or_insert_with(IntegrityOptions::default)
                    .packages = Some(pattern);
            }
            "--baseline-hashes" => {
                let word = value("--baseline-hashes")?;
                let scope = HashScope::from_word(&word).ok_or(format!(
                    "--baseline-hashes takes without-md5sums or all, not {word:?}"
                ))?;
                integrity
                    .get_or_insert_with(IntegrityOptions::default)
                    .baseline_hashes = Some(scope);
            }
            "--no-default-ignores" => defaults = false,
            "--no-interpreters" => skip_interpreters = true,
            "--proc" => roots.proc = PathBuf::from(value("--proc")?),
            "--root" => roots.fs = PathBuf::from(value("--root")?),
            "--pretty" => pretty = true,
            "--version" => {
                println!(
                    "patchgap-probe {} (report schema {})",
                    patchgap_probe::report::PROBE_VERSION,
                    patchgap_probe::SCHEMA_VERSION
                );
                return Ok(None);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let ignore = IgnoreRules::new(defaults, &extra).map_err(|e| e.to_string())?;
    Ok(Some(Args {
        opts: Options {
            roots,
            ignore,
            integrity,
            skip_interpreters,
        },
        pretty,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patchgap-probe: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let report = collect(&args.opts);
    let json = if args.pretty {
        serde_json::to_vec_pretty(&report)
    } else {
        serde_json::to_vec(&report)
    };
    let written = json.map_err(std::io::Error::other).and_then(|mut j| {
        j.push(b'\n');
        let mut out = std::io::stdout().lock();
        out.write_all(&j)?;
        out.flush()
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patchgap-probe: failed to write the report: {e}");
            ExitCode::from(3)
        }
    }
}

/// musl's allocator hands freed pages back to the kernel at once, so the scan's many short
/// allocations cost an `mmap`/`munmap` pair each (and, with two threads, TLB shootdowns):
/// about a quarter of the probe's system time. dlmalloc keeps freed memory for reuse; the
/// probe exits a few milliseconds later anyway.
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;
