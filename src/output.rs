//! Where rendered output goes: stdout, or a file that is replaced atomically so that a
//! reader never sees half a report.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

/// Writes `data` to `path` through a temporary file in the same directory, synced and
/// renamed over the target.
pub fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("failed to create a temporary file in {}", dir.display()))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("failed to write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("failed to replace {}", path.display()))?;
    Ok(())
}

/// Sends output to the `-o` file or to stdout.
pub fn emit(path: Option<&Path>, data: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => write_atomic(p, data),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(data)
                .and_then(|()| out.flush())
                .context("failed to write to stdout")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_or_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("report.json");
        std::fs::write(&target, b"old").expect("seed");
        write_atomic(&target, b"new report").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new report");
        let missing = dir.path().join("no/such/dir/report.json");
        let err = write_atomic(&missing, b"x").expect_err("must fail");
        assert!(format!("{err:#}").contains("no/such/dir"), "{err:#}");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temp file left"
        );
    }
}
