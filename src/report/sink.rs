//! Where rendered output goes: stdout, or a file replaced atomically (see
//! [`super::atomic`]) so that a reader never sees half a report.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;

use super::atomic::write_atomic;

/// The destination of a report: the `-o` file, or stdout.
#[derive(Debug, Clone, Copy)]
pub enum Sink<'a> {
    Stdout,
    File(&'a Path),
}

impl<'a> Sink<'a> {
    /// The `-o` file if given, else stdout.
    pub fn new(path: Option<&'a Path>) -> Self {
        path.map_or(Sink::Stdout, Sink::File)
    }

    /// Writes what `render` produces. A file gets all of it or keeps its old content;
    /// stdout gets it in one piece once rendering is done, so a renderer failing halfway
    /// prints nothing.
    pub fn write(
        self,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> anyhow::Result<()> {
        match self {
            Sink::File(path) => Ok(write_atomic(path, render)?),
            Sink::Stdout => {
                let mut data = Vec::new();
                render(&mut data).context("failed to render the report")?;
                let mut out = io::stdout().lock();
                out.write_all(&data)
                    .and_then(|()| out.flush())
                    .context("failed to write to stdout")
            }
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
        Sink::new(Some(&target))
            .write(|out| out.write_all(b"new report"))
            .expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new report");
        let missing = dir.path().join("no/such/dir/report.json");
        let err = Sink::new(Some(&missing))
            .write(|out| out.write_all(b"x"))
            .expect_err("must fail");
        assert!(format!("{err:#}").contains("no/such/dir"), "{err:#}");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temp file left"
        );
    }
}
