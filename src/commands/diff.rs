//! `patchgap diff OLD.json NEW.json`: reads both saved reports, compares them, judges the
//! later one by `--policy` if given, renders, and returns what the exit status needs: the
//! hosts where something new appeared (exit 1), or the policy's verdict on top.

use super::outputs::plan_diff;
use crate::cli::DiffArgs;
use crate::diff::{compare, input};
use crate::exit::Verdict;
use crate::policy;
use crate::report::Audited;

/// Runs `patchgap diff`.
pub fn run(args: &DiffArgs) -> anyhow::Result<Verdict> {
    let plan = plan_diff(args.format, &args.outputs)?;
    let found = compare_and_write(args, &plan);
    plan.finish(found)
}

fn compare_and_write(args: &DiffArgs, plan: &super::outputs::Plan) -> anyhow::Result<Verdict> {
    let policy = policy::load(&args.policy)?;
    let old_name = args.old.display().to_string();
    let new_name = args.new.display().to_string();
    let old = input::load(&args.old)?;
    let mut new = input::load(&args.new)?;
    input::check_pair((&old_name, &old), (&new_name, &new))?;
    let found = Verdict::default();
    let mut found = match &policy {
        Some(policy) => policy.apply(&mut new.report, found),
        None => found,
    };
    let mut diff = compare(&old.report, &old_name, &new.report, &new_name);
    diff.policy = new.report.policy.take();
    found.hosts_with_new = diff.hosts_with_new();
    plan.deliver(Audited::Diff(&diff), found)
}
