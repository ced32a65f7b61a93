//! Whole-file reads into a reused buffer with nothing but `open`, `read` and `close`.
//!
//! `std::fs::read` and `read_to_end` first ask the file for its size (`fstat` plus
//! `lseek`), which `/proc` files cannot answer anyway, and allocate a fresh buffer each
//! time. The scan reads a few files per process and every dpkg file list: with hundreds of
//! processes those extra system calls and allocations were a measurable part of a run.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Initial size: larger than almost every `/proc/PID/maps` and dpkg file list.
const INITIAL: usize = 64 * 1024;

/// A buffer that stays allocated and initialised between reads: only growth costs a
/// zero-fill, never a read.
#[derive(Debug, Default)]
pub struct FileBuf {
    data: Vec<u8>,
    len: usize,
}

impl FileBuf {
    /// The whole file at `path`.
    pub fn read(&mut self, path: &Path) -> io::Result<&[u8]> {
        if self.data.is_empty() {
            self.data.resize(INITIAL, 0);
        }
        self.len = 0;
        let mut file = File::open(path)?;
        loop {
            if self.len == self.data.len() {
                let grown = self.data.len() * 2;
                self.data.resize(grown, 0);
            }
            match file.read(&mut self.data[self.len..]) {
                Ok(0) => return Ok(&self.data[..self.len]),
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The whole file at `path` as text; invalid UTF-8 is replaced, as the kernel may
    /// print any bytes in a path.
    pub fn text(&mut self, path: &Path) -> io::Result<Cow<'_, str>> {
        Ok(String::from_utf8_lossy(self.read(path)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_large_and_empty_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buf = FileBuf::default();
        for size in [INITIAL * 3 + 7, 0, 10, INITIAL] {
            let p = dir.path().join(format!("f{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&p, &data).expect("write");
            assert_eq!(buf.read(&p).expect("read"), &data[..]);
        }
        assert!(buf.read(&dir.path().join("missing")).is_err());
    }
}
