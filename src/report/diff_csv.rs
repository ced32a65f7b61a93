//! `patchgap diff` as CSV: one row per host x area x item x change, through the fleet
//! CSV's writer ([`super::csv`]: RFC 4180, CRLF, formula cells neutralised). Every host has
//! a first row of area `host` whose change is its state (`audited`, `added`, `gone`,
//! `became_unreachable`, ...), so no host is ever missing; then one row for the reboot
//! when it changed or is pending, then one per item fixed, new or still pending. Columns:
//! docs/formats.md.

use std::io::{self, Write};

use crate::diff::DiffReport;

use super::csv::{row, writer};

const HEADER: [&str; 5] = ["host", "area", "item", "change", "failure"];

/// Writes the comparison as CSV.
pub fn diff_csv(diff: &DiffReport, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = writer(out);
    row(&mut writer, HEADER)?;
    for host in &diff.hosts {
        let failure = host.failure.as_deref().unwrap_or_default();
        for entry in host.entries() {
            let failure = if entry.area == "host" { failure } else { "" };
            row(
                &mut writer,
                [
                    host.host.as_str(),
                    entry.area,
                    entry.item,
                    entry.change,
                    failure,
                ],
            )?;
        }
    }
    writer.flush()
}
