//! Runs the integrity check of this host, for `bench/integrity.sh`, until the probe binary
//! has its own `--integrity` switch.
//!
//! Usage: `integrity_bench [--threads N] [--packages GLOB] [--findings]`. Prints the summary
//! as JSON; with `--findings`, one line per finding in `dpkg --verify`'s layout instead.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use anyhow::Context;
use patchgap_probe::Roots;
use patchgap_probe::integrity::{IntegrityOptions, Problem, verify};

fn main() -> anyhow::Result<()> {
    let mut opts = IntegrityOptions::default();
    let mut findings = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                let n = args.next().context("--threads needs a number")?;
                opts.threads = Some(n.parse().context("--threads needs a number")?);
            }
            "--packages" => opts.packages = Some(args.next().context("--packages needs a glob")?),
            "--findings" => findings = true,
            other => anyhow::bail!("unknown argument {other}; see the usage in the source"),
        }
    }
    let report = verify(&Roots::default(), &opts, &BTreeMap::new())?;
    if findings {
        for f in &report.findings {
            let mark = match f.problem {
                Problem::Missing => "missing  ",
                Problem::Unreadable { .. } => "unreadable",
                Problem::Changed { .. } | Problem::ModifiedInUse { .. } => "??5??????",
            };
            let c = if f.conffile { 'c' } else { ' ' };
            println!("{mark} {c} {}", f.path);
        }
    } else {
        println!("{}", serde_json::to_string_pretty(&report.summary)?);
    }
    Ok(())
}
