//! `patchgap merge SHARD.json...`: the reports of a sharded audit back into one fleet
//! report, exactly the one an unsharded run would have written (apart from times). Wiring
//! only: the files are read and checked here, `shard::merge` decides, the report renders.

use std::path::Path;

use anyhow::Context as _;

use crate::cli::{Format, MergeArgs};
use crate::exit::Verdict;
use crate::report::{FleetReport, Json, Render, Sink, Table, stdout_width, verdict};
use crate::shard::merge;

/// Runs `patchgap merge`: the merged report's verdict decides the status, as the
/// unsharded audit's would have.
pub fn run(args: &MergeArgs) -> anyhow::Result<Verdict> {
    let shards = args
        .shards
        .iter()
        .map(|path| Ok((path.display().to_string(), read_fleet_report(path)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let report = merge(shards)?;
    let render: Box<dyn Render> = match args.format {
        Format::Json => Box::new(Json),
        Format::Table => Box::new(Table {
            width: if args.output.is_some() {
                None
            } else {
                stdout_width()
            },
            show_ignored: false,
        }),
    };
    Sink::new(args.output.as_deref()).write(|out| render.fleet(&report, out))?;
    Ok(verdict(&report.hosts))
}

/// A fleet report written by `patchgap audit --format json`.
fn read_fleet_report(path: &Path) -> anyhow::Result<FleetReport> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a fleet report (write shard reports with `patchgap audit -i INVENTORY \
             --shard K/N --format json -o FILE`)",
            path.display()
        )
    })
}
