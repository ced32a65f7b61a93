//! `patchgap merge SHARD.json...`: the reports of a sharded audit back into one fleet
//! report, exactly the one an unsharded run would have written (apart from times). Wiring
//! only: the files are read as `patchgap report` reads them, `shard::merge` decides, and
//! the outputs are written as an audit's are.

use anyhow::Context as _;

use super::outputs::plan;
use super::report::{Saved, load};
use crate::cli::MergeArgs;
use crate::exit::Verdict;
use crate::policy;
use crate::report::{Audited, verdict};
use crate::shard::merge;

/// Runs `patchgap merge`: the merged report's verdict decides the status, as the
/// unsharded audit's would have.
pub fn run(args: &MergeArgs) -> anyhow::Result<Verdict> {
    let plan = plan(&args.output, false)?;
    let result = (|| {
        let mut shards = Vec::new();
        for path in &args.shards {
            let name = path.display().to_string();
            match load(path)? {
                Saved::Fleet(report) => shards.push((name, *report)),
                Saved::Host(_) => anyhow::bail!(
                    "{name} is one host's probe report, not a shard report (write shard \
                     reports with `patchgap audit -i INVENTORY --shard K/N -o FILE.json`)"
                ),
            }
        }
        let mut report = merge(shards).context("cannot merge the shard reports")?;
        let mut found = verdict(&report.hosts);
        // Judged whole: a fleet-wide rule (a share of unreachable hosts) needs every shard.
        if let Some(policy) = policy::load(&args.policy)? {
            found = policy.apply(&mut report, found);
        }
        plan.deliver(Audited::Fleet(&report), found)
    })();
    plan.finish(result)
}
