//! Adding a host key to a known_hosts file safely: under an exclusive lock, re-reading the
//! file, and replacing it atomically.
//!
//! Several patchgap runs (or several hosts of one run) may record keys at once. Appending
//! without a lock lets two runs add the same host twice, and a crash mid-write can leave a
//! torn line that OpenSSH then skips. So the writer locks the file's directory (the file
//! itself is replaced, so a lock on it would not outlive the rename), reads what is there
//! now, writes old content plus the new line to a temporary file beside it, flushes it and
//! renames it over the file. A symlinked known_hosts is written through the link.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use russh::keys::PublicKey;

use super::{Hosts, Marker, parse};

/// Appends `key` for the lookup `name` to `file` unless the file, as it is now, already
/// records that key for the name. Returns how the name was written (hashed when the file
/// holds hashed names). Fails when the file now records another key for the name: another
/// run recorded it meanwhile, and replacing it is not this function's call.
pub(super) fn append_entry(file: &Path, name: &str, key: &PublicKey) -> io::Result<Hosts> {
    let context = |what: &str, path: &Path, err: io::Error| {
        io::Error::new(
            err.kind(),
            format!("cannot {what} {}: {err}", path.display()),
        )
    };
    let target = resolve_symlink(file);
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir).map_err(|e| context("create the directory", &dir, e))?;
    let lock = File::open(&dir).map_err(|e| context("open the directory", &dir, e))?;
    lock.lock()
        .map_err(|e| context("lock the directory", &dir, e))?;

    let current = match fs::read(&target) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(context("read", &target, err)),
    };
    let entries = parse(&current, &target, &mut Vec::new());
    let for_name: Vec<_> = entries
        .iter()
        .filter(|e| e.marker == Marker::None && e.hosts.matches(name))
        .collect();
    if let Some(same) = for_name.iter().find(|e| e.key.key_data() == key.key_data()) {
        return Ok(same.hosts.clone());
    }
    if let Some(other) = for_name.first() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "another {} key was recorded for {name} at line {} of {} meanwhile; not \
                 adding this one",
                other.key.algorithm(),
                other.line,
                target.display()
            ),
        ));
    }
    let hosts = if entries.iter().any(|e| e.hosts.is_hashed()) {
        Hosts::hash(name)?
    } else {
        Hosts::Patterns(vec![name.to_string()])
    };
    let key_text = key.to_openssh().map_err(io::Error::other)?;
    let mut data = current;
    if !data.is_empty() && !data.ends_with(b"\n") {
        data.push(b'\n');
    }
    data.extend_from_slice(format!("{} {key_text}\n", hosts.to_field()).as_bytes());
    replace(&target, &dir, &data).map_err(|e| context("write", &target, e))?;
    drop(lock);
    Ok(hosts)
}

/// Where a known_hosts path really is: the end of its symlinks, or the path itself.
fn resolve_symlink(file: &Path) -> PathBuf {
    fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

/// Replaces `target` with `data` atomically, keeping its permissions (0600 for a new file).
fn replace(target: &Path, dir: &Path, data: &[u8]) -> io::Result<()> {
    let mode = fs::metadata(target).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let mut temp = tempfile::Builder::new()
        .prefix(".known_hosts.")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    temp.write_all(data)?;
    temp.as_file().sync_all()?;
    temp.persist(target).map_err(|err| err.error)?;
    // The rename is durable once the directory entry is.
    File::open(dir)?.sync_all()
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
