//! What every terminal table shares: the one sanitiser wrapper for host-supplied text in a
//! cell, the one comfy-table builder, and short durations for people.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};

use super::sanitize::for_terminal;

/// Host-supplied text made safe for the terminal (see [`for_terminal`]); tabs become
/// spaces so column widths stay right.
pub fn cell(text: &str) -> String {
    for_terminal(text).replace('\t', " ")
}

/// The width of stdout when it is a terminal; `None` for pipes and files, whose tables are
/// as wide as their content.
pub fn stdout_width() -> Option<u16> {
    Table::new().width()
}

/// A table in the house style. With a `width` (a terminal's), it wraps to it; without,
/// it is as wide as its content.
pub fn new_table(header: &[&str], width: Option<u16>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_header(header.to_vec());
    if let Some(width) = width {
        table.set_content_arrangement(ContentArrangement::Dynamic);
        table.set_width(width);
    }
    table
}

/// Right-aligns the given columns (counts).
pub fn right_align(table: &mut Table, columns: &[usize]) {
    for index in columns {
        if let Some(column) = table.column_mut(*index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// A short duration for people: `45s`, `12m`, `3h 05m`, `4d 2h`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m");
        assert_eq!(duration(3600 + 5 * 60), "1h 05m");
        assert_eq!(duration(2 * 86400 + 3 * 3600), "2d 3h");
    }

    #[test]
    fn cells_are_sanitised_and_lose_their_tabs() {
        assert_eq!(cell("a\tb\u{1b}[2Jc\nd"), "a b?c\nd");
    }
}
