//! Files under a filesystem root that someone else controls.
//!
//! A container's files are reached through `/proc/PID/root`, and any local user can make
//! one (`unshare -Ur` and a chroot). Resolved the usual way, a link there is followed from
//! the probe's own root (`status -> /etc/hostname` reads the host's file), and a FIFO or
//! `/dev/zero` planted where a file is expected stalls the probe or fills its memory. So
//! every path is resolved by the kernel inside the root (`openat2` with
//! `RESOLVE_IN_ROOT`: `..` and absolute links stop at the root, magic links are refused),
//! a link as the last component is refused, opening never waits (`O_NONBLOCK`), only
//! regular files are read, and each read has a cap.

use std::io::{self, Read};
use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::FileBuf;

/// Why a file under a root was not read.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "this kernel has no openat2 (Linux 5.6 or later has it), so files under another \
         process's root are not read: their links could lead outside it"
    )]
    NoOpenat2,
    #[error("is a symbolic link (or a loop of them): the probe does not follow the last link here")]
    Symlink,
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("is over {cap} bytes ({size} read or announced): larger than such a file can be")]
    TooLarge { size: u64, cap: u64 },
}

impl From<Refused> for io::Error {
    fn from(r: Refused) -> Self {
        let kind = match r {
            Refused::NoOpenat2 => io::ErrorKind::Unsupported,
            Refused::Symlink | Refused::NotRegular(_) => io::ErrorKind::InvalidInput,
            Refused::TooLarge { .. } => io::ErrorKind::FileTooLarge,
        };
        io::Error::new(kind, r)
    }
}

/// Attempts at an `openat2` that a concurrent rename made the kernel give up on (`EAGAIN`).
const RETRIES: usize = 4;

/// An open filesystem root that paths are resolved inside of.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    /// Whether someone else may control the files: then nothing is read without
    /// `openat2`. The host's own root (or a test fixture) may fall back to `openat`.
    confined: bool,
}

impl Root {
    /// Opens the directory at `path` (relative to `dir`, or absolute) as a root. The
    /// path itself is trusted: `/proc/PID/root` is such a link, and must be followed.
    pub fn open(dir: impl AsFd, path: impl rustix::path::Arg, confined: bool) -> io::Result<Self> {
        let fd = rustix::fs::openat(
            dir,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd, confined })
    }

    /// `(st_dev, st_ino)` of the root directory.
    pub fn id(&self) -> io::Result<(u64, u64)> {
        let st = rustix::fs::fstat(&self.fd)?;
        Ok((st.st_dev, st.st_ino))
    }

    /// Opens `path` (absolute or not, it is taken inside the root).
    fn open_in(&self, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        // `openat2` rejects flags that mean nothing with `O_PATH`.
        let flags = if flags.contains(OFlags::PATH) {
            flags | OFlags::CLOEXEC
        } else {
            flags | OFlags::CLOEXEC | OFlags::NOCTTY
        };
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let mut tries = 0;
        let opened = loop {
            match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
                Err(Errno::AGAIN | Errno::INTR) if tries < RETRIES => tries += 1,
                // Resolved from the root directory as `openat` does it: absolute links
                // lead to the probe's own root, which is this one or one as trusted.
                Err(Errno::NOSYS) if !self.confined => {
                    break rustix::fs::openat(&self.fd, rel, flags, Mode::empty());
                }
                Err(Errno::NOSYS) => return Err(Refused::NoOpenat2.into()),
                other => break other,
            }
        };
        match opened {
            Err(Errno::LOOP) if flags.contains(OFlags::NOFOLLOW) => Err(Refused::Symlink.into()),
            other => Ok(other?),
        }
    }

    /// A directory inside the root, as a root of its own for the names in it.
    pub fn dir(&self, path: &Path) -> io::Result<Root> {
        let fd = self.open_in(path, OFlags::PATH | OFlags::DIRECTORY)?;
        Ok(Root {
            fd,
            confined: self.confined,
        })
    }

    /// `stat` of `path` inside the root; `follow` resolves a final link (inside the
    /// root too), otherwise the link itself is described.
    pub fn stat(&self, path: &Path, follow: bool) -> io::Result<Stat> {
        let flags = if follow {
            OFlags::PATH
        } else {
            OFlags::PATH | OFlags::NOFOLLOW
        };
        // `O_PATH | O_NOFOLLOW` opens a final link itself rather than failing.
        let fd = self.open_in(path, flags)?;
        Ok(rustix::fs::fstat(&fd)?)
    }

    /// Opens the regular file at `path` for reading, refusing a final link, anything
    /// but a regular file and a file announced over `cap` bytes.
    pub fn open_file(&self, path: &Path, cap: u64) -> io::Result<OwnedFd> {
        Ok(self.open_sized(path, cap)?.0)
    }

    /// [`Root::open_file`], with the size the file announces.
    fn open_sized(&self, path: &Path, cap: u64) -> io::Result<(OwnedFd, u64)> {
        self.open_checked(
            path,
            cap,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        )
    }

    /// Opens `path` with `flags`, refusing anything but a regular file and a file
    /// announced over `cap` bytes.
    fn open_checked(&self, path: &Path, cap: u64, flags: OFlags) -> io::Result<(OwnedFd, u64)> {
        let fd = self.open_in(path, flags)?;
        let st = rustix::fs::fstat(&fd)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind != FileType::RegularFile {
            return Err(Refused::NotRegular(describe(kind)).into());
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        if size > cap {
            return Err(Refused::TooLarge { size, cap }.into());
        }
        Ok((fd, size))
    }

    /// The whole regular file at `path`, at most `cap` bytes: read into a buffer of the
    /// announced size, as `std::fs::read` does, and stopped past the cap if it grows.
    pub fn read(&self, path: &Path, cap: u64) -> io::Result<Vec<u8>> {
        read_capped(self.open_sized(path, cap)?, cap)
    }

    /// [`Root::read`], following a link as the last component too. Links still resolve
    /// inside the root (documentation files link to a sibling package's, for example).
    pub fn read_following(&self, path: &Path, cap: u64) -> io::Result<Vec<u8>> {
        read_capped(
            self.open_checked(path, cap, OFlags::RDONLY | OFlags::NONBLOCK)?,
            cap,
        )
    }

    /// Streams the regular file at `path` to `f` in whole lines (see
    /// [`FileBuf::lines_fd`]), at most `cap` bytes.
    pub fn lines(
        &self,
        path: &Path,
        cap: u64,
        buf: &mut FileBuf,
        f: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let fd = self.open_file(path, cap)?;
        buf.lines_fd(&fd, cap, f)
    }
}

/// The whole of an open file of announced `size`, at most `cap` bytes: read into a
/// buffer of the announced size, as `std::fs::read` does, and stopped past the cap if it
/// grows.
fn read_capped((fd, size): (OwnedFd, u64), cap: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    std::fs::File::from(fd)
        .take(cap.saturating_add(1))
        .read_to_end(&mut data)?;
    let len = data.len() as u64;
    if len > cap {
        return Err(Refused::TooLarge { size: len, cap }.into());
    }
    Ok(data)
}

/// A file type in words, for the reason a file was refused.
fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::CWD;
    use std::os::unix::fs::symlink;

    fn root_with(dir: &Path) -> Root {
        Root::open(CWD, dir, true).expect("open root")
    }

    fn refusal(e: &io::Error) -> String {
        e.get_ref().map(ToString::to_string).unwrap_or_default()
    }

    #[test]
    fn links_resolve_inside_the_root() {
        let outer = tempfile::tempdir().expect("tempdir");
        let inner = outer.path().join("root");
        std::fs::create_dir_all(inner.join("etc")).expect("mkdir");
        std::fs::write(outer.path().join("secret"), "outside").expect("write");
        std::fs::write(inner.join("secret"), "inside").expect("write");
        std::fs::write(inner.join("etc/hostname"), "container").expect("write");
        // Absolute and `..` links, in the middle of a path: both stay in the root.
        symlink("/", inner.join("abs")).expect("link");
        symlink("../../..", inner.join("up")).expect("link");
        let root = root_with(&inner);
        for path in ["/abs/secret", "up/secret", "/../secret", "/abs/up/secret"] {
            let got = root.read(Path::new(path), 100).expect(path);
            assert_eq!(got, b"inside", "{path}");
        }
        // A last component that is a link is refused, even one that stays inside.
        symlink("/etc/hostname", inner.join("status")).expect("link");
        let e = root
            .read(Path::new("/status"), 100)
            .expect_err("link followed");
        assert!(refusal(&e).contains("symbolic link"), "{e}");
        assert!(root.stat(Path::new("/status"), false).is_ok());
        let st = root.stat(Path::new("/status"), true).expect("stat");
        let host = std::fs::metadata(inner.join("etc/hostname")).expect("meta");
        assert_eq!(st.st_ino, std::os::unix::fs::MetadataExt::ino(&host));
    }

    #[test]
    fn only_regular_files_under_their_cap_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
            .expect("mkfifo");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("big"), vec![b'x'; 1000]).expect("write");
        let root = root_with(dir.path());
        let mut buf = FileBuf::default();
        // No writer ever opens the FIFO: without O_NONBLOCK the open would wait forever.
        let e = root.read(Path::new("fifo"), 100).expect_err("fifo");
        assert!(refusal(&e).contains("FIFO"), "{e}");
        let e = root.read(Path::new("sub"), 100).expect_err("dir");
        assert!(refusal(&e).contains("directory"), "{e}");
        let e = root.read(Path::new("big"), 999).expect_err("cap");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(root.read(Path::new("big"), 1000).expect("read").len(), 1000);
        let mut lines = 0;
        let e = root
            .dir(Path::new("/"))
            .expect("dir")
            .lines(Path::new("big"), 10, &mut buf, |_| lines += 1)
            .expect_err("cap");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn a_growing_file_stops_at_the_cap() {
        // /dev/zero announces no size: the read itself must stop.
        let zero = Root::open(CWD, "/dev", true).expect("dev");
        let fd = zero
            .open_in(Path::new("zero"), OFlags::RDONLY)
            .expect("open /dev/zero");
        let mut buf = FileBuf::default();
        let e = buf.read_fd(&fd, 200_000).expect_err("endless");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        let e = buf.lines_fd(&fd, 200_000, |_| {}).expect_err("endless");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
    }
}
