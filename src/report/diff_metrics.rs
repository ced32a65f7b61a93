//! `patchgap diff` as OpenMetrics gauges for node_exporter's textfile collector, written
//! with the fleet metrics' own family writer and label escaping ([`super::openmetrics`]):
//! `patchgap_diff_new`, `patchgap_diff_fixed` and `patchgap_diff_pending`, one sample per
//! host and area (`service`, `process`, `package`, `integrity`, `reboot`), the count of
//! things in that column; and `patchgap_diff_hosts_with_new`, the figure `diff` exits 1
//! on. A host gone or failing now has zeros: nothing is known of it to compare.

use std::io::{self, Write};

use crate::diff::{Column, DiffReport};

use super::openmetrics::Family;

/// The areas of the per-host samples, as [`crate::diff::HostDiff::count`] names them.
const AREAS: [&str; 5] = ["service", "process", "package", "integrity", "reboot"];

/// Writes the comparison's gauges.
pub fn diff_metrics(diff: &DiffReport, out: &mut dyn Write) -> io::Result<()> {
    let mut text = String::new();
    for (column, help) in [
        (
            Column::New,
            "Things in the later report only, by host and area.",
        ),
        (
            Column::Fixed,
            "Things in the earlier report only, by host and area.",
        ),
        (Column::Pending, "Things in both reports, by host and area."),
    ] {
        let name = format!("patchgap_diff_{}", column.word());
        let mut family = Family::new(&mut text, &name, help);
        for host in &diff.hosts {
            for area in AREAS {
                family.sample(
                    &name,
                    &[("host", &host.host), ("area", area)],
                    host.count(area, column),
                );
            }
        }
    }
    let name = "patchgap_diff_hosts_with_new";
    Family::new(
        &mut text,
        name,
        "Hosts where something new appeared (diff exits 1 when this is not 0).",
    )
    .sample(name, &[], diff.hosts_with_new());
    out.write_all(text.as_bytes())
}
