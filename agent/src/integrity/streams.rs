//! Up to [`LANES`] open files streamed through the multi-message MD5 side by side.
//!
//! Each lane owns a fixed buffer; files of any size pass through it, so a hashing thread
//! holds `LANES * BUFFER` bytes however large the files are. A lane whose file ends is
//! finished on its own and freed for the next file while the others keep going.

use std::fs::File;
use std::io::{self, Read};

use super::md5lanes::{self, LANES, State};

/// Read size of one lane.
const BUFFER: usize = 128 * 1024;
/// Fed to idle lanes, whose results are discarded.
const IDLE: [u8; 64] = [0; 64];

/// A file being hashed.
struct Job {
    /// The check it answers.
    index: usize,
    file: File,
    dev: u64,
    ino: u64,
    eof: bool,
    /// Bytes read so far.
    total: u64,
}

struct Slot {
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    job: Option<Job>,
}

/// A finished file: its check, and its sum, device and inode or the read error.
pub(super) type Done = (usize, io::Result<([u8; 16], u64, u64)>);

pub(super) struct Streams {
    state: State<LANES>,
    slots: [Slot; LANES],
}

impl Streams {
    pub fn new() -> Self {
        Streams {
            state: md5lanes::init(),
            slots: std::array::from_fn(|_| Slot {
                buf: vec![0u8; BUFFER].into_boxed_slice(),
                pos: 0,
                len: 0,
                job: None,
            }),
        }
    }

    pub fn has_free(&self) -> bool {
        self.slots.iter().any(|s| s.job.is_none())
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.job.is_none())
    }

    /// Starts hashing an opened regular file in a free lane.
    pub fn start(&mut self, index: usize, file: File, dev: u64, ino: u64) {
        let Some(lane) = self.slots.iter().position(|s| s.job.is_none()) else {
            return;
        };
        md5lanes::reset_lane(&mut self.state, lane);
        let slot = &mut self.slots[lane];
        slot.pos = 0;
        slot.len = 0;
        slot.job = Some(Job {
            index,
            file,
            dev,
            ino,
            eof: false,
            total: 0,
        });
    }

    /// Moves every busy lane forward: refills buffers, finishes ended files into `done`
    /// (freeing their lanes) and, when no lane ended, hashes as many blocks as all busy
    /// lanes have ready.
    pub fn advance(&mut self, bytes: &mut u64, done: &mut Vec<Done>) {
        let before = done.len();
        for (lane, slot) in self.slots.iter_mut().enumerate() {
            let refilled = slot.refill();
            let Some(job) = slot.job.as_ref() else {
                continue;
            };
            if let Err(e) = refilled {
                done.push((job.index, Err(e)));
                slot.job = None;
                continue;
            }
            if job.eof && slot.len - slot.pos < 64 {
                *bytes += job.total;
                let sum =
                    md5lanes::finish(&self.state, lane, &slot.buf[slot.pos..slot.len], job.total);
                done.push((job.index, Ok((sum, job.dev, job.ino))));
                slot.job = None;
            }
        }
        if done.len() > before {
            return;
        }
        let blocks = self
            .slots
            .iter()
            .filter(|s| s.job.is_some())
            .map(|s| (s.len - s.pos) / 64)
            .min()
            .unwrap_or(0);
        for k in 0..blocks {
            let input: [&[u8; 64]; LANES] = std::array::from_fn(|l| {
                let s = &self.slots[l];
                let at = s.pos + 64 * k;
                match s.job {
                    Some(_) => s.buf[at..at + 64].try_into().unwrap_or(&IDLE),
                    None => &IDLE,
                }
            });
            md5lanes::compress(&mut self.state, input);
        }
        for s in self.slots.iter_mut().filter(|s| s.job.is_some()) {
            s.pos += 64 * blocks;
        }
    }
}

impl Slot {
    /// Tops the lane up to at least one full block unless its file has ended: what is left
    /// of the previous read moves to the front, then reads fill the rest.
    fn refill(&mut self) -> io::Result<()> {
        let Some(job) = self.job.as_mut() else {
            return Ok(());
        };
        if job.eof || self.len - self.pos >= 64 {
            return Ok(());
        }
        self.buf.copy_within(self.pos..self.len, 0);
        self.len -= self.pos;
        self.pos = 0;
        while self.len < 64 && !job.eof {
            match job.file.read(&mut self.buf[self.len..]) {
                Ok(0) => job.eof = true,
                Ok(n) => {
                    self.len += n;
                    job.total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
