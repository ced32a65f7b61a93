//! Reading many small files, links and directories with few system calls and no
//! allocations.
//!
//! A scan opens a handful of files per process under `/proc` and, when a stale file
//! belongs to no package, every dpkg file list. Through `std::fs` each of those costs a
//! full path walk from `/`, an extra `fcntl` (musl sets close-on-exec separately), size
//! probes (`fstat`, `lseek`) and fresh heap buffers, and directories are read 2 KiB at a
//! time. Here files are opened relative to an open directory (`openat`), read into buffers
//! that live as long as the scan, and directories are read into one large buffer.

use std::borrow::Cow;
use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RawDir, Stat};
use rustix::io::Errno;
use rustix::path::Arg;

mod inroot;

pub use inroot::{Refused, Root};

/// Initial buffer size: larger than almost every `/proc/PID/maps` and dpkg file list.
const INITIAL: usize = 64 * 1024;

/// Longest path the kernel returns from `readlink` (`PATH_MAX`), plus one byte to tell a
/// full-length answer from a truncated one.
const LINK_MAX: usize = 4096 + 1;

/// Directory entries read per `getdents64` call.
const DIR_BUF: usize = 32 * 1024;

/// Opens a directory for the `*_at` calls below. `dir` is `rustix::fs::CWD` for a path
/// relative to the working directory or absolute.
pub fn open_dir(dir: impl AsFd, path: impl Arg) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens a file for reading. `NONBLOCK` keeps a FIFO planted where a file was expected
/// from stalling the scan; it changes nothing for regular and `/proc` files.
pub fn open_file(dir: impl AsFd, path: impl Arg) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )?)
}

/// `stat` of `path` relative to `dir`, following symbolic links.
pub fn stat_at(dir: impl AsFd, path: impl Arg) -> io::Result<Stat> {
    Ok(rustix::fs::statat(dir, path, AtFlags::empty())?)
}

/// `fstat` of an open file or directory.
pub fn stat_fd(fd: impl AsFd) -> io::Result<Stat> {
    Ok(rustix::fs::fstat(fd)?)
}

/// Reads one chunk into `buf`, retrying when a signal interrupts the call.
fn read_some(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => {}
            r => return Ok(r?),
        }
    }
}

/// A buffer that stays allocated and initialised between reads: only growth costs a
/// zero-fill, never a read.
#[derive(Debug, Default)]
pub struct FileBuf {
    data: Vec<u8>,
    len: usize,
}

impl FileBuf {
    fn grow(&mut self) {
        let size = (self.data.len() * 2).max(INITIAL);
        self.data.resize(size, 0);
    }

    /// The whole file at `path` (relative to `dir`).
    pub fn read_at(&mut self, dir: impl AsFd, path: impl Arg) -> io::Result<&[u8]> {
        let fd = open_file(dir, path)?;
        self.read_fd(&fd, u64::MAX)
    }

    /// The whole of the open file `fd`, failing once it passes `cap` bytes: a file can
    /// grow between the size check and the read.
    pub fn read_fd(&mut self, fd: &OwnedFd, cap: u64) -> io::Result<&[u8]> {
        self.len = 0;
        loop {
            if self.len == self.data.len() {
                self.grow();
            }
            match read_some(fd, &mut self.data[self.len..])? {
                0 => return Ok(&self.data[..self.len]),
                n => {
                    self.len += n;
                    if self.len as u64 > cap {
                        return Err(too_large(self.len as u64, cap));
                    }
                }
            }
        }
    }

    /// The whole file at `path` as text; invalid UTF-8 is replaced, as the kernel may
    /// print any bytes in a path.
    pub fn text_at(&mut self, dir: impl AsFd, path: impl Arg) -> io::Result<Cow<'_, str>> {
        Ok(String::from_utf8_lossy(self.read_at(dir, path)?))
    }

    /// Streams the open file `fd` to `f` in chunks that each hold whole lines (the last
    /// chunk may lack its final newline), failing once more than `cap` bytes were read
    /// (the chunks before that were already handed to `f`). Memory stays at the buffer's
    /// size however large the file: one dpkg file list can be several megabytes.
    pub fn lines_fd(&mut self, fd: &OwnedFd, cap: u64, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        // Bytes of an unfinished line carried over from the previous read.
        let mut carry = 0;
        let mut total: u64 = 0;
        loop {
            if carry == self.data.len() {
                self.grow();
            }
            let n = read_some(fd, &mut self.data[carry..])?;
            total += n as u64;
            if total > cap {
                self.len = 0;
                return Err(too_large(total, cap));
            }
            if n == 0 {
                if carry > 0 {
                    f(&self.data[..carry]);
                }
                self.len = 0;
                return Ok(());
            }
            let filled = carry + n;
            match memchr::memrchr(b'\n', &self.data[carry..filled]) {
                Some(i) => {
                    let end = carry + i + 1;
                    f(&self.data[..end]);
                    self.data.copy_within(end..filled, 0);
                    carry = filled - end;
                }
                None => carry = filled,
            }
        }
    }
}

/// The error for a file over its cap.
fn too_large(size: u64, cap: u64) -> io::Error {
    Refused::TooLarge { size, cap }.into()
}

/// A reused buffer for symbolic link targets.
#[derive(Debug)]
pub struct LinkBuf {
    data: Box<[u8; LINK_MAX]>,
}

impl Default for LinkBuf {
    fn default() -> Self {
        LinkBuf {
            data: Box::new([0; LINK_MAX]),
        }
    }
}

impl LinkBuf {
    /// The target of the link at `path` (relative to `dir`), lossily as text.
    pub fn read_at(&mut self, dir: impl AsFd, path: impl Arg) -> io::Result<Cow<'_, str>> {
        let len = rustix::fs::readlinkat_raw(dir, path, &mut self.data[..])?;
        if len == LINK_MAX {
            // Longer than any path the kernel hands out: not a link this scan can use.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "symbolic link target longer than PATH_MAX",
            ));
        }
        Ok(String::from_utf8_lossy(&self.data[..len]))
    }
}

/// A reused buffer for directory entries.
pub struct DirBuf {
    data: Vec<MaybeUninit<u8>>,
}

impl Default for DirBuf {
    fn default() -> Self {
        DirBuf {
            data: vec![MaybeUninit::uninit(); DIR_BUF],
        }
    }
}

impl std::fmt::Debug for DirBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirBuf").finish_non_exhaustive()
    }
}

impl DirBuf {
    /// Calls `f` with the name of every entry of the open directory `dir` except `.` and
    /// `..`. The directory must be freshly opened: it is read from its current position.
    pub fn for_each(&mut self, dir: impl AsFd, mut f: impl FnMut(&CStr)) -> io::Result<()> {
        let mut raw = RawDir::new(dir, &mut self.data[..]);
        while let Some(entry) = raw.next() {
            let entry = entry?;
            let name = entry.file_name();
            if name != c"." && name != c".." {
                f(name);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::CWD;

    fn sample(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn reads_small_large_and_empty_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buf = FileBuf::default();
        for size in [INITIAL * 3 + 7, 0, 10, INITIAL] {
            let p = dir.path().join(format!("f{size}"));
            let data = sample(size);
            std::fs::write(&p, &data).expect("write");
            assert_eq!(buf.read_at(CWD, &p).expect("read"), &data[..]);
            let d = open_dir(CWD, dir.path()).expect("open dir");
            assert_eq!(
                buf.read_at(&d, format!("f{size}").as_str())
                    .expect("read at"),
                &data[..]
            );
        }
        assert!(buf.read_at(CWD, dir.path().join("missing")).is_err());
    }

    #[test]
    fn streams_whole_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Lines of growing length, one longer than the buffer, and no final newline.
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&"x".repeat(i % 97));
            text.push_str(&format!("/{i}\n"));
        }
        text.push_str(&"y".repeat(INITIAL * 2 + 3));
        text.push('\n');
        text.push_str("last line");
        let p = dir.path().join("list");
        std::fs::write(&p, &text).expect("write");
        let mut buf = FileBuf::default();
        let mut seen = Vec::new();
        let fd = open_file(CWD, &p).expect("open");
        buf.lines_fd(&fd, u64::MAX, |chunk| {
            let ends_whole = chunk.ends_with(b"\n") || chunk.ends_with(b"last line");
            assert!(ends_whole, "chunk ends mid-line");
            seen.extend_from_slice(chunk);
        })
        .expect("stream");
        assert_eq!(seen, text.as_bytes());
        let mut none = 0;
        std::fs::write(&p, "").expect("write");
        let fd = open_file(CWD, &p).expect("open");
        buf.lines_fd(&fd, u64::MAX, |_| none += 1)
            .expect("stream empty");
        assert_eq!(none, 0);
    }

    #[test]
    fn links_and_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/some/where (deleted)", dir.path().join("l")).expect("link");
        std::fs::write(dir.path().join("f"), "x").expect("write");
        let d = open_dir(CWD, dir.path()).expect("open dir");
        let mut link = LinkBuf::default();
        assert_eq!(
            link.read_at(&d, "l").expect("readlink"),
            "/some/where (deleted)"
        );
        assert!(link.read_at(&d, "f").is_err());
        let mut names = Vec::new();
        DirBuf::default()
            .for_each(&d, |n| names.push(n.to_string_lossy().into_owned()))
            .expect("list");
        names.sort();
        assert_eq!(names, ["f", "l"]);
        assert!(stat_at(&d, "l").is_err(), "dangling link followed");
        assert_eq!(
            stat_fd(&d).expect("fstat").st_ino,
            std::fs::metadata(dir.path())
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .expect("meta")
        );
    }
}
