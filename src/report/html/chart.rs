//! The page's two charts as geometry computed here, from the data, so the template only
//! writes `<rect>`s and `<text>`s with numbers (inline SVG: no script, no library, readable
//! with JS off and in a mail client). Labels are host data and are escaped by the template
//! like any other text.

/// Widest bar, in SVG units.
const BAR_SPACE: u32 = 360;
/// Room for the labels left of the bars.
const LABEL_SPACE: u32 = 200;
/// Height of one bar's row.
const ROW: u32 = 22;
/// Most bars drawn; the packages table lists them all.
const MAX_BARS: usize = 15;
/// Labels longer than this are cut in the drawing (the full name is in the bar's title).
const MAX_LABEL: usize = 28;

/// A horizontal bar chart: one bar per item, longest first.
#[derive(Debug, PartialEq, Eq)]
pub struct Bars {
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    /// Items left out of the drawing.
    pub more: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Bar {
    /// The whole label, for the tooltip and screen readers.
    pub label: String,
    /// The label as drawn, cut to [`MAX_LABEL`] characters.
    pub short: String,
    pub value: u64,
    pub y: u32,
    pub text_y: u32,
    pub length: u32,
    pub value_x: u32,
}

/// Bars for `(label, value)` items, biggest first (ties by label), at most [`MAX_BARS`].
pub fn bars(items: impl IntoIterator<Item = (String, u64)>) -> Bars {
    let mut items: Vec<(String, u64)> = items.into_iter().collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let more = items.len().saturating_sub(MAX_BARS);
    items.truncate(MAX_BARS);
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let bars: Vec<Bar> = items
        .into_iter()
        .zip(0u32..)
        .map(|((label, value), row)| {
            let length = scale(value, max, BAR_SPACE).max(1);
            Bar {
                short: shorten(&label),
                label,
                value,
                y: row * ROW,
                text_y: row * ROW + 15,
                length,
                value_x: LABEL_SPACE + length + 6,
            }
        })
        .collect();
    Bars {
        width: LABEL_SPACE + BAR_SPACE + 50,
        height: (bars.len() as u32).max(1) * ROW,
        bars,
        more,
    }
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        label.to_string()
    } else {
        let mut short: String = label.chars().take(MAX_LABEL - 1).collect();
        short.push('…');
        short
    }
}

/// `value / max` of `space`, rounded down.
fn scale(value: u64, max: u64, space: u32) -> u32 {
    u32::try_from(value.saturating_mul(u64::from(space)) / max).unwrap_or(space)
}

/// How long processes have run replaced code, in buckets.
#[derive(Debug, PartialEq, Eq)]
pub struct Histogram {
    pub width: u32,
    pub height: u32,
    /// The baseline's y.
    pub base: u32,
    pub columns: Vec<Column>,
    pub total: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Column {
    pub label: &'static str,
    pub count: u64,
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub center: u32,
    pub count_y: u32,
}

/// Upper bounds (exclusive, seconds) of the exposure buckets, and their labels.
const BUCKETS: [(i64, &str); 4] = [
    (86_400, "< 1 day"),
    (7 * 86_400, "1–7 days"),
    (30 * 86_400, "7–30 days"),
    (i64::MAX, "> 30 days"),
];
const COLUMN: u32 = 90;
const COLUMN_GAP: u32 = 20;
const COLUMN_SPACE: u32 = 140;
const TOP: u32 = 20;

/// The exposure histogram of processes whose stale time is `Some(seconds)` (from the
/// report's stale-since to its scan) or `None` (unknown: a column of its own).
pub fn exposure(ages: impl IntoIterator<Item = Option<i64>>) -> Histogram {
    let mut counts = [0u64; BUCKETS.len() + 1];
    for age in ages {
        let bucket = match age {
            Some(age) => BUCKETS
                .iter()
                .position(|(limit, _)| age < *limit)
                .unwrap_or(BUCKETS.len() - 1),
            None => BUCKETS.len(),
        };
        counts[bucket] += 1;
    }
    let labels = BUCKETS.iter().map(|b| b.1).chain(["unknown"]);
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let base = TOP + COLUMN_SPACE;
    let columns = labels
        .zip(counts)
        .zip(0u32..)
        .map(|((label, count), i)| {
            let height = scale(count, max, COLUMN_SPACE);
            let x = COLUMN_GAP + i * (COLUMN + COLUMN_GAP);
            Column {
                label,
                count,
                x,
                y: base - height,
                height,
                center: x + COLUMN / 2,
                count_y: base - height - 5,
            }
        })
        .collect::<Vec<_>>();
    Histogram {
        width: COLUMN_GAP + columns.len() as u32 * (COLUMN + COLUMN_GAP),
        height: base + 25,
        base,
        columns,
        total: counts.iter().sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_keep_the_biggest() {
        let items = (0..20u64).map(|i| (format!("pkg{i:02}"), i));
        let chart = bars(items);
        assert_eq!(chart.bars.len(), MAX_BARS);
        assert_eq!(chart.more, 5);
        assert_eq!(chart.bars[0].label, "pkg19");
        assert_eq!(chart.bars[0].length, BAR_SPACE);
        assert!(chart.bars.windows(2).all(|w| w[0].length >= w[1].length));
        let one = bars([("x".repeat(40), 3)]);
        assert_eq!(one.bars[0].short.chars().count(), MAX_LABEL);
        assert_eq!(one.bars[0].label.len(), 40);
    }

    #[test]
    fn exposure_buckets_by_age_with_unknown_apart() {
        let day = 86_400;
        let chart = exposure([
            Some(0),
            Some(day - 1),
            Some(day),
            Some(7 * day),
            Some(30 * day),
            Some(400 * day),
            None,
        ]);
        let counts: Vec<u64> = chart.columns.iter().map(|c| c.count).collect();
        assert_eq!(counts, [2, 1, 1, 2, 1]);
        assert_eq!(chart.total, 7);
        assert_eq!(chart.columns[0].height, COLUMN_SPACE);
        assert_eq!(chart.columns[2].height, COLUMN_SPACE / 2);
    }
}
