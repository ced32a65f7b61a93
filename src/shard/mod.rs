//! Splitting one audit over several controllers, on engines teams already run (a
//! Kubernetes Indexed Job, a CI matrix), and merging their reports back into the report
//! one controller would have written.
//!
//! A host's shard depends only on its name: the first 8 bytes of its SHA-256 pick a shard
//! by jump consistent hashing (Lamport and Veach, 2014). Adding or removing a host moves
//! no other host, and going from N to N+1 shards moves only about 1/(N+1) of them, so the
//! caches and known_hosts of each shard's runner stay useful. The split is part of the
//! interface: changing the hash or the algorithm would move every host, so neither ever
//! changes.

use sha2::{Digest, Sha256};

mod merge;

pub use merge::{MergeError, merge};

/// Which part of the selected hosts this run audits: shard `index` of `count`, numbered
/// from 1 as people and GitLab number them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A shard that cannot be used: the user's to fix (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard {0:?}: expected K/N with 1 <= K <= N (e.g. --shard 2/5), or `auto`")]
    Syntax(String),
    #[error(
        "--shard auto: no shard index in the environment; set JOB_COMPLETION_INDEX (a \
         Kubernetes Indexed Job does) with --shard-count, or CI_NODE_INDEX and CI_NODE_TOTAL \
         (a GitLab `parallel:` job does), or give --shard K/N"
    )]
    NoIndex,
    #[error(
        "--shard auto: the number of shards is unknown; pass --shard-count N (a Kubernetes \
         Indexed Job does not tell its pods how many completions it has)"
    )]
    NoCount,
    #[error("{name}={value:?} is not a shard index (a whole number is expected)")]
    BadVariable { name: &'static str, value: String },
    #[error("shard {index} is outside 1..={count}; check --shard-count and the job's index")]
    OutOfRange { index: u32, count: u32 },
}

impl Shard {
    /// The shard asked for: `--shard K/N`, or `--shard auto` / `--shard-count N` alone,
    /// which read the index the engine sets (`JOB_COMPLETION_INDEX`, from 0, in a
    /// Kubernetes Indexed Job; `CI_NODE_INDEX`, from 1, and `CI_NODE_TOTAL` in a GitLab
    /// `parallel:` job). `None`: the run is not sharded. `env` looks up a variable, so the
    /// caller decides where the environment comes from.
    pub fn from_args(
        spec: Option<&str>,
        count: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Shard>, ShardError> {
        let shard = match (spec, count) {
            (None, None) => return Ok(None),
            (Some(spec), _) if spec != "auto" => Self::parse(spec)?,
            _ => Self::from_env(count, env)?,
        };
        if shard.index == 0 || shard.index > shard.count {
            return Err(ShardError::OutOfRange {
                index: shard.index,
                count: shard.count,
            });
        }
        Ok(Some(shard))
    }

    /// `K/N`.
    fn parse(spec: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(spec.to_string());
        let (index, count) = spec.split_once('/').ok_or_else(syntax)?;
        let index: u32 = index.trim().parse().map_err(|_| syntax())?;
        let count: u32 = count.trim().parse().map_err(|_| syntax())?;
        if index == 0 || index > count {
            return Err(syntax());
        }
        Ok(Shard { index, count })
    }

    fn from_env(
        count: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Shard, ShardError> {
        let number = |name: &'static str| -> Result<Option<u32>, ShardError> {
            env(name)
                .map(|value| {
                    value
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| ShardError::BadVariable { name, value })
                })
                .transpose()
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = count.ok_or(ShardError::NoCount)?;
            return Ok(Shard {
                index: index.saturating_add(1),
                count,
            });
        }
        if let Some(index) = number("CI_NODE_INDEX")? {
            let count = match count {
                Some(count) => count,
                None => number("CI_NODE_TOTAL")?.ok_or(ShardError::NoCount)?,
            };
            return Ok(Shard { index, count });
        }
        Err(ShardError::NoIndex)
    }

    /// Whether the host named `name` belongs to this shard.
    pub fn contains(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }

    /// The items of this shard, in their order, with their positions in `items`.
    pub fn select<T>(&self, items: Vec<T>, name: impl Fn(&T) -> &str) -> (Vec<T>, Vec<usize>) {
        items
            .into_iter()
            .enumerate()
            .filter(|(_, item)| self.contains(name(item)))
            .map(|(position, item)| (item, position))
            .unzip()
    }
}

/// The shard (from 1) of the host named `name` among `count`.
pub fn shard_of(name: &str, count: u32) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    jump_consistent_hash(u64::from_be_bytes(key), count.max(1)) + 1
}

/// Jump consistent hash: a bucket in `0..buckets` for `key`, such that growing `buckets`
/// by one moves only the keys that go to the new bucket.
fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut bucket, mut next) = (-1i64, 0i64);
    while next < i64::from(buckets) {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        let scale = (1u64 << 31) as f64 / ((key >> 33) + 1) as f64;
        next = ((bucket + 1) as f64 * scale) as i64;
    }
    u32::try_from(bucket).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn explicit_shards_parse_and_bad_ones_are_refused() {
        assert_eq!(
            Shard::from_args(Some("2/5"), None, no_env),
            Ok(Some(Shard { index: 2, count: 5 }))
        );
        assert_eq!(Shard::from_args(None, None, no_env), Ok(None));
        for bad in ["0/3", "4/3", "2", "a/b", "1/0", "/3"] {
            assert!(
                matches!(
                    Shard::from_args(Some(bad), None, no_env),
                    Err(ShardError::Syntax(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_engines_variables_give_the_shard() {
        let k8s = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "0".to_string());
        assert_eq!(
            Shard::from_args(None, Some(3), k8s),
            Ok(Some(Shard { index: 1, count: 3 })),
            "Kubernetes counts from 0"
        );
        assert_eq!(
            Shard::from_args(Some("auto"), None, k8s),
            Err(ShardError::NoCount)
        );
        let gitlab = |name: &str| match name {
            "CI_NODE_INDEX" => Some("3".to_string()),
            "CI_NODE_TOTAL" => Some("4".to_string()),
            _ => None,
        };
        assert_eq!(
            Shard::from_args(Some("auto"), None, gitlab),
            Ok(Some(Shard { index: 3, count: 4 })),
            "GitLab counts from 1"
        );
        assert_eq!(
            Shard::from_args(Some("auto"), None, no_env),
            Err(ShardError::NoIndex)
        );
        let late = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "5".to_string());
        assert_eq!(
            Shard::from_args(None, Some(3), late),
            Err(ShardError::OutOfRange { index: 6, count: 3 })
        );
        let junk = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "x".to_string());
        assert!(matches!(
            Shard::from_args(None, Some(3), junk),
            Err(ShardError::BadVariable { .. })
        ));
    }

    /// The split is an interface: these hosts land where they always have.
    #[test]
    fn the_split_never_changes() {
        let names = ["web1", "web2", "db1", "db2", "cache", "h01", "h02", "h03"];
        let shards: Vec<u32> = names.iter().map(|name| shard_of(name, 3)).collect();
        assert_eq!(shards, known_split());
    }

    /// Computed with an independent implementation of the published algorithm (Python,
    /// from the paper's pseudo-code, over the same SHA-256 prefix) and kept: a change here
    /// moves hosts between the runners of every sharded deployment.
    fn known_split() -> Vec<u32> {
        vec![1, 2, 3, 1, 3, 2, 1, 1]
    }

    /// Shards get about as many hosts each (the same independent computation gives 1038,
    /// 1016 and 946 of 3000).
    #[test]
    fn shards_are_balanced() {
        let mut sizes = [0usize; 3];
        for i in 0..3000 {
            sizes[shard_of(&format!("host{i}"), 3) as usize - 1] += 1;
        }
        assert_eq!(sizes, [1038, 1016, 946]);
    }

    fn host_names() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::hash_set("[a-z0-9.-]{1,20}", 1..200)
            .prop_map(|names| names.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every host is in exactly one shard, and each shard keeps the inventory order.
        #[test]
        fn shards_partition_the_hosts(names in host_names(), count in 1u32..12) {
            let mut seen = vec![0usize; names.len()];
            for index in 1..=count {
                let shard = Shard { index, count };
                let (hosts, positions) = shard.select(names.clone(), |n| n.as_str());
                prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
                for (host, position) in hosts.iter().zip(&positions) {
                    prop_assert_eq!(host, &names[*position]);
                    seen[*position] += 1;
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
        }

        /// One more shard moves hosts only into the new shard.
        #[test]
        fn one_more_shard_moves_hosts_only_to_it(names in host_names(), count in 1u32..12) {
            for name in &names {
                let before = shard_of(name, count);
                let after = shard_of(name, count + 1);
                prop_assert!(after == before || after == count + 1);
            }
        }
    }
}
