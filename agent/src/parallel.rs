//! Spreading many small, independent reads over a few threads.
//!
//! The probe's cost is mostly system calls: one set per process under `/proc` and one per
//! dpkg file list, each cheap but hundreds of them. Fleet runs wait for the slowest host,
//! so the probe uses the host's idle cores for the short time it runs, with a small cap
//! so that a many-core server is not swamped by a read-only audit.

use std::num::NonZero;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// At most this many threads: beyond it the kernel's locks on `/proc` and the dentry
/// cache, not the cores, limit the speed.
const MAX_THREADS: usize = 4;

/// What a worker says after an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Every worker stops before its next item: the answer is complete.
    Stop,
}

/// Threads to use: the cores this process may run on, capped. Asked once per process:
/// the answer reads the CPU affinity and cgroup quota files.
pub fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, NonZero::get)
            .min(MAX_THREADS)
    })
}

/// Runs `work` on every item (with its index) on up to `threads` threads, each with its
/// own state from `init`, and returns the states for the caller to merge. Items are handed
/// out `batch` at a time from a shared counter, so a slow item does not hold up a whole
/// share. Fewer than two batches of work run on the calling thread, as does everything
/// when no thread can be started.
pub fn run<T, S, I, W>(items: &[T], threads: usize, batch: usize, init: I, work: W) -> Vec<S>
where
    T: Sync,
    S: Send,
    I: Fn() -> S + Sync,
    W: Fn(&mut S, usize, &T) -> Flow + Sync,
{
    let batch = batch.max(1);
    let threads = threads.clamp(1, items.len().div_ceil(batch).max(1));
    let queue = Queue {
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        batch,
    };
    if threads == 1 {
        let mut state = init();
        queue.drain(items, &mut state, &work);
        return vec![state];
    }
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads - 1);
        for _ in 1..threads {
            let spawned = std::thread::Builder::new()
                .name("patchgap-probe".into())
                .spawn_scoped(scope, || {
                    let mut state = init();
                    queue.drain(items, &mut state, &work);
                    state
                });
            // Out of threads (a tight `ulimit -u`): the threads already started and
            // this one share the work.
            match spawned {
                Ok(h) => handles.push(h),
                Err(_) => break,
            }
        }
        let mut mine = init();
        queue.drain(items, &mut mine, &work);
        let mut states = vec![mine];
        for h in handles {
            match h.join() {
                Ok(s) => states.push(s),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        states
    })
}

struct Queue {
    next: AtomicUsize,
    stop: AtomicBool,
    batch: usize,
}

impl Queue {
    fn drain<T, S>(&self, items: &[T], state: &mut S, work: &impl Fn(&mut S, usize, &T) -> Flow) {
        loop {
            let start = self.next.fetch_add(self.batch, Ordering::Relaxed);
            if start >= items.len() {
                return;
            }
            let end = (start + self.batch).min(items.len());
            for (i, item) in items[start..end].iter().enumerate() {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                if work(state, start + i, item) == Flow::Stop {
                    self.stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_seen_once() {
        let items: Vec<usize> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            for batch in [1, 7, 2000] {
                let states = run(&items, threads, batch, Vec::new, |seen, i, item| {
                    assert_eq!(i, *item);
                    seen.push(*item);
                    Flow::Continue
                });
                assert!(states.len() <= threads.max(1));
                let mut all: Vec<usize> = states.into_iter().flatten().collect();
                all.sort_unstable();
                assert_eq!(all, items, "threads {threads}, batch {batch}");
            }
        }
    }

    #[test]
    fn stop_ends_every_worker() {
        let items: Vec<usize> = (0..10_000).collect();
        let one = run(
            &items,
            1,
            4,
            || 0usize,
            |n, _, item| {
                *n += 1;
                if *item == 10 {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            },
        );
        assert_eq!(one, vec![11]);
        // Slow items, so that running on after the stop would show.
        let states = run(
            &items,
            4,
            1,
            || 0usize,
            |n, _, item| {
                *n += 1;
                std::thread::sleep(std::time::Duration::from_micros(50));
                if *item == 10 {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            },
        );
        let done: usize = states.iter().sum();
        assert!(
            done < 1000,
            "{done} of 10000 items processed despite the stop"
        );
    }

    #[test]
    fn empty_input_runs_nothing() {
        let states = run(
            &[] as &[u8],
            4,
            8,
            || 0u32,
            |n, _, _| {
                *n += 1;
                Flow::Continue
            },
        );
        assert_eq!(states, vec![0]);
    }
}
