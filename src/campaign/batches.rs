//! How a campaign splits its hosts into batches, and when it stops between them: Ansible's
//! `serial` (a number, a percentage or a list whose last value repeats), a canary batch in
//! front, and `max_fail_percentage` (or a count) checked per batch. The rules are
//! Ansible's own, so a play's numbers mean the same here:
//!
//! - a percentage is of all the hosts the serial applies to, rounded down, and never less
//!   than one host (`pct_to_int`);
//! - a value of `0` takes every remaining host;
//! - the last value of the list repeats; the last batch takes what is left;
//! - a batch stops the campaign when its failures *exceed* the limit (equal is not enough),
//!   unreachable and timed-out hosts counting as failed.

use std::fmt;
use std::str::FromStr;

/// One value of `--serial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// This many hosts; 0 means every remaining host.
    Count(usize),
    /// This percentage of the hosts, rounded down, at least 1.
    Percent(u32),
}

impl Size {
    /// The number of hosts for `total` hosts (Ansible's `pct_to_int`).
    fn hosts(self, total: usize) -> usize {
        match self {
            Size::Count(n) => n,
            Size::Percent(p) => (usize::try_from(p)
                .unwrap_or(usize::MAX)
                .saturating_mul(total)
                / 100)
                .max(1),
        }
    }
}

/// `--serial`: batch sizes, the last one repeating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serial(pub Vec<Size>);

impl Default for Serial {
    /// No `--serial`: one batch with every host (Ansible's default).
    fn default() -> Self {
        Serial(vec![Size::Count(0)])
    }
}

/// A `--serial`, `--canary` or `--max-fail` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {expected}")]
pub struct BadNumber {
    pub value: String,
    pub expected: &'static str,
}

fn size(word: &str, expected: &'static str) -> Result<Size, BadNumber> {
    let bad = || BadNumber {
        value: word.to_string(),
        expected,
    };
    let word = word.trim();
    match word.strip_suffix('%') {
        Some(percent) => percent.parse().map(Size::Percent).map_err(|_| bad()),
        None => word.parse().map(Size::Count).map_err(|_| bad()),
    }
}

const SERIAL: &str = "a batch size: a number, a percentage (`25%`) or a comma-separated list of \
                      them (`1,10%,25%`)";

impl FromStr for Serial {
    type Err = BadNumber;

    fn from_str(text: &str) -> Result<Self, BadNumber> {
        let sizes = text
            .split(',')
            .map(|word| size(word, SERIAL))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| BadNumber {
                value: text.to_string(),
                expected: SERIAL,
            })?;
        Ok(Serial(sizes))
    }
}

impl Serial {
    /// Splits `hosts` into batches, in order: every host exactly once.
    pub fn batches<T: Clone>(&self, hosts: &[T]) -> Vec<Vec<T>> {
        let total = hosts.len();
        let mut rest = hosts;
        let mut batches = Vec::new();
        let mut sizes = self.0.iter().copied();
        let mut current = sizes.next().unwrap_or(Size::Count(0));
        while !rest.is_empty() {
            let n = match current.hosts(total) {
                0 => rest.len(),
                n => n.min(rest.len()),
            };
            let (batch, after) = rest.split_at(n);
            batches.push(batch.to_vec());
            rest = after;
            if let Some(next) = sizes.next() {
                current = next;
            }
        }
        batches
    }
}

/// `--max-fail`: how many failed hosts a batch may have before the campaign stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxFail(pub Size);

impl Default for MaxFail {
    /// A restart that fails is worth stopping for: the first failed host stops the campaign
    /// after its batch.
    fn default() -> Self {
        MaxFail(Size::Count(0))
    }
}

impl FromStr for MaxFail {
    type Err = BadNumber;

    fn from_str(text: &str) -> Result<Self, BadNumber> {
        size(
            text,
            "a count of hosts or a percentage of the batch (`0`, `2`, `25%`)",
        )
        .map(MaxFail)
    }
}

impl MaxFail {
    /// Whether `failed` hosts out of a batch of `batch` stop the campaign: more than
    /// allowed, or the whole batch (Ansible stops a play when every host of a batch failed).
    pub fn stops(self, failed: usize, batch: usize) -> bool {
        if failed == 0 {
            return false;
        }
        if failed >= batch {
            return true;
        }
        match self.0 {
            Size::Count(n) => failed > n,
            // failed / batch > p / 100, in integers.
            Size::Percent(p) => failed.saturating_mul(100) > batch.saturating_mul(p as usize),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Count(n) => write!(f, "{n}"),
            Size::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The batches of a campaign: `canary` hosts first in a batch of their own (any failure
/// there stops the campaign), then the rest by `serial`.
pub fn split<T: Clone>(hosts: &[T], canary: usize, serial: &Serial) -> Vec<Vec<T>> {
    let canary = canary.min(hosts.len());
    let (first, rest) = hosts.split_at(canary);
    let mut batches = Vec::new();
    if !first.is_empty() {
        batches.push(first.to_vec());
    }
    batches.extend(serial.batches(rest));
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sizes(serial: &str, hosts: usize) -> Vec<usize> {
        let hosts: Vec<usize> = (0..hosts).collect();
        serial
            .parse::<Serial>()
            .expect("serial")
            .batches(&hosts)
            .iter()
            .map(Vec::len)
            .collect()
    }

    #[test]
    fn serial_follows_ansible() {
        assert_eq!(sizes("1", 3), [1, 1, 1]);
        assert_eq!(sizes("4", 10), [4, 4, 2]);
        // 30% of 10 is 3, of the whole play each time.
        assert_eq!(sizes("30%", 10), [3, 3, 3, 1]);
        // 10% of 5 rounds down to 0, and a batch is never less than one host.
        assert_eq!(sizes("10%", 5), [1, 1, 1, 1, 1]);
        // The list's last value repeats.
        assert_eq!(sizes("1,10%,25%", 20), [1, 2, 5, 5, 5, 2]);
        assert_eq!(sizes("1, 5, 20%", 12), [1, 5, 2, 2, 2]);
        // 0 takes everything left; so does no --serial.
        assert_eq!(sizes("1,0", 7), [1, 6]);
        assert_eq!(Serial::default().batches(&[1, 2, 3]), [vec![1, 2, 3]]);
        assert_eq!(sizes("150%", 4), [4]);
        assert_eq!(sizes("2", 0), Vec::<usize>::new());
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let err = "1,x%".parse::<Serial>().expect_err("bad");
        assert_eq!(
            err.to_string(),
            format!("`1,x%` is not {SERIAL}"),
            "the whole value is named"
        );
        assert!("-1".parse::<Serial>().is_err());
        assert!("".parse::<Serial>().is_err());
        assert!("2.5%".parse::<MaxFail>().is_err());
    }

    #[test]
    fn max_fail_stops_only_above_the_limit() {
        let count = |n| MaxFail(Size::Count(n));
        assert!(!count(0).stops(0, 4));
        assert!(count(0).stops(1, 4));
        assert!(!count(1).stops(1, 4), "equal is not enough");
        assert!(count(1).stops(2, 4));
        let pct = |p| MaxFail(Size::Percent(p));
        assert!(!pct(25).stops(1, 4), "25% of 4 is 1: equal");
        assert!(pct(25).stops(2, 4));
        assert!(pct(20).stops(1, 4));
        // A whole batch failing always stops, whatever the limit (Ansible).
        assert!(count(5).stops(3, 3));
        assert!(pct(100).stops(2, 2));
    }

    #[test]
    fn the_canary_goes_first_alone() {
        let hosts: Vec<u32> = (0..7).collect();
        let serial: Serial = "2".parse().expect("serial");
        assert_eq!(
            split(&hosts, 1, &serial),
            [vec![0], vec![1, 2], vec![3, 4], vec![5, 6]]
        );
        assert_eq!(split(&hosts, 0, &serial).len(), 4);
        assert_eq!(split(&hosts[..1], 3, &serial), [vec![0]]);
    }

    fn size_strategy() -> impl Strategy<Value = Size> {
        prop_oneof![
            (0usize..8).prop_map(Size::Count),
            (0u32..=120).prop_map(Size::Percent)
        ]
    }

    /// Ansible's `_get_serialized_batches`, transcribed: the reference the batches follow.
    fn ansible(sizes: &[Size], total: usize) -> Vec<usize> {
        let mut left = total;
        let mut out = Vec::new();
        let mut item = 0;
        while left > 0 {
            let serial = match sizes[item] {
                Size::Count(n) => n,
                Size::Percent(p) => match (p as usize * total) / 100 {
                    0 => 1,
                    n => n,
                },
            };
            if serial == 0 {
                out.push(left);
                break;
            }
            let n = serial.min(left);
            out.push(n);
            left -= n;
            item = (item + 1).min(sizes.len() - 1);
        }
        out
    }

    proptest! {
        #![proptest_config(crate::inventory::proptests::config())]

        #[test]
        fn every_host_once_in_order_with_ansible_sizes(
            sizes in prop::collection::vec(size_strategy(), 1..5),
            total in 0usize..60,
            canary in 0usize..4,
        ) {
            let hosts: Vec<usize> = (0..total).collect();
            let serial = Serial(sizes.clone());
            let batches = split(&hosts, canary, &serial);
            let flat: Vec<usize> = batches.iter().flatten().copied().collect();
            prop_assert_eq!(&flat, &hosts, "every host exactly once, order kept");
            prop_assert!(batches.iter().all(|b| !b.is_empty()));
            let rest = &batches[usize::from(canary.min(total) > 0)..];
            let got: Vec<usize> = rest.iter().map(Vec::len).collect();
            prop_assert_eq!(got, ansible(&sizes, total - canary.min(total)));
        }
    }
}
