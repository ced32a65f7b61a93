//! Where rendered output goes: stdout, or a file replaced atomically (see
//! [`crate::atomic`]) so that a reader never sees half a report.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::atomic::write_atomic;

/// Sends output to the `-o` file or to stdout.
pub fn emit(path: Option<&Path>, data: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => Ok(write_atomic(p, |w| w.write_all(data))?),
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
        emit(Some(&target), b"new report").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new report");
        let missing = dir.path().join("no/such/dir/report.json");
        let err = emit(Some(&missing), b"x").expect_err("must fail");
        assert!(format!("{err:#}").contains("no/such/dir"), "{err:#}");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temp file left"
        );
    }
}
