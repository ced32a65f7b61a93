//! Atomic file writes: a report file is either the old one or the whole new one, even if
//! patchgap fails, is killed, or the machine loses power mid-write. The data goes to a
//! temporary file in the target's directory (so the rename stays on one filesystem), is
//! flushed to disk, renamed over the target, and the directory entry is flushed too.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AtomicWriteError {
    #[error("cannot create a temporary file in {}: {source}", dir.display())]
    Create {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot replace {}: {source}", path.display())]
    Rename {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes what `fill` produces to `path`, atomically. On any error the target is left as
/// it was and the temporary file is removed.
///
/// The new file is readable by its owner only (0600): a fleet report maps which hosts run
/// vulnerable code. A symlink at `path` is replaced, not followed.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), AtomicWriteError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let write_error = |source| AtomicWriteError::Write {
        path: path.to_path_buf(),
        source,
    };
    let temp = tempfile::Builder::new()
        .prefix(".patchgap-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|source| AtomicWriteError::Create {
            dir: dir.to_path_buf(),
            source,
        })?;
    let mut out = BufWriter::new(temp);
    fill(&mut out).map_err(write_error)?;
    let temp = out.into_inner().map_err(|e| write_error(e.into_error()))?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path).map_err(|e| AtomicWriteError::Rename {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // The rename is durable only once the directory is flushed; failing to open the
    // directory (unusual permissions) leaves the file written, so it is not an error.
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().map_err(write_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("readable dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_the_whole_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        write_atomic(&path, |out| out.write_all(b"{\"hosts\":[]}\n")).expect("written");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"hosts\":[]}\n"
        );
        assert_eq!(entries(dir.path()), ["report.json"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old report").expect("seed");
        let err = write_atomic(&path, |out| {
            out.write_all(&[b'x'; 100_000])?;
            Err(std::io::Error::other("serializer failed halfway"))
        })
        .expect_err("the fill failed");
        assert!(
            err.to_string().contains("serializer failed halfway"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old report");
        assert_eq!(entries(dir.path()), ["report.json"]);
    }

    #[test]
    fn a_failed_first_write_creates_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.json");
        write_atomic(&path, |_| Err(std::io::Error::other("no"))).expect_err("failed");
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing/report.json");
        let err = write_atomic(&path, |out| out.write_all(b"x")).expect_err("no dir");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn the_report_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        write_atomic(&path, |out| out.write_all(b"x")).expect("written");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
