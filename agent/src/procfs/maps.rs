//! Parser for `/proc/PID/maps`, see `proc_pid_maps(5)`.
//!
//! Format: `address perms offset dev inode pathname`. The pathname is padded with spaces,
//! may itself contain spaces, and ends in ` (deleted)` when the mapped name was unlinked or
//! renamed over (the kernel adds it even if another hard link keeps the inode alive).

/// One file-backed mapping, borrowed from the maps text: a process maps dozens of files
/// and the scan reads every process, so nothing is copied until a mapping turns out stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping<'a> {
    /// Address range as printed (`start-end`): the name of its `/proc/PID/map_files` link.
    pub range: &'a str,
    pub executable: bool,
    /// Device of the mapped inode, as the kernel prints it (major, minor).
    pub dev: (u32, u32),
    pub inode: u64,
    /// Path without the ` (deleted)` mark.
    pub path: &'a str,
    pub deleted: bool,
}

/// The kernel's mark for an unlinked mapped or opened file.
pub const DELETED_SUFFIX: &str = " (deleted)";

/// Splits the ` (deleted)` mark off a path the kernel printed.
pub fn strip_deleted(path: &str) -> (&str, bool) {
    match path.strip_suffix(DELETED_SUFFIX) {
        Some(p) => (p, true),
        None => (path, false),
    }
}

/// Parses one line; `None` for anonymous mappings, pseudo-paths (`[heap]`) and lines that
/// do not have the expected shape (truncated reads, future kernels).
pub fn parse_line(line: &str) -> Option<Mapping<'_>> {
    let mut rest = line;
    let mut fields = [""; 5];
    for f in &mut fields {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        *f = &rest[..end];
        rest = &rest[end..];
    }
    let [range, perms, _offset, dev, inode] = fields;
    let path = rest.trim_start_matches(' ');
    if !path.starts_with('/') {
        return None;
    }
    let inode: u64 = inode.parse().ok()?;
    if inode == 0 {
        return None;
    }
    let (major, minor) = dev.split_once(':')?;
    let dev = (
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    let (path, deleted) = strip_deleted(path);
    Some(Mapping {
        range,
        executable: perms.as_bytes().get(2) == Some(&b'x'),
        dev,
        inode,
        path,
        deleted,
    })
}

/// Executable file-backed mappings of a whole maps file, one entry per distinct file.
pub fn executable_files(text: &str) -> Vec<Mapping<'_>> {
    let mut out: Vec<Mapping<'_>> = Vec::new();
    for m in text.lines().filter_map(parse_line) {
        if m.executable && !out.iter().any(|o| o.inode == m.inode && o.path == m.path) {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deleted_and_spaces() {
        let text = "\
55d0c8a00000-55d0c8a21000 r--p 00000000 fd:01 393349                     /usr/sbin/nginx
55d0c8a21000-55d0c8b00000 r-xp 00021000 fd:01 393349                     /usr/sbin/nginx
7f0e1a000000-7f0e1a1a0000 r-xp 00028000 fd:01 1311 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)
7f0e1a200000-7f0e1a201000 r-xp 00000000 00:2a 77     /opt/my app/lib (x).so
7f0e1a300000-7f0e1a301000 rw-p 00000000 00:00 0 
7ffd1a000000-7ffd1a021000 rw-p 00000000 00:00 0                          [stack]
7f0e1a400000-7f0e1a401000 r-xp 00000000 00:01 2049 /memfd:jit (deleted)
7f0e1a5
";
        let files = executable_files(text);
        assert_eq!(files.len(), 4);
        assert_eq!(files[0].path, "/usr/sbin/nginx");
        assert_eq!(files[0].dev, (0xfd, 1));
        assert!(!files[0].deleted);
        assert_eq!(files[1].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
        assert!(files[1].deleted);
        assert_eq!(files[2].path, "/opt/my app/lib (x).so");
        assert_eq!(files[2].dev, (0, 0x2a));
        assert_eq!(files[3].path, "/memfd:jit");
    }

    #[test]
    fn odd_lines_are_skipped() {
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line("zz r-xp 0 zz:zz 1 /x"), None);
        assert_eq!(parse_line("a r-xp 0 fd:01 notanumber /x"), None);
        assert_eq!(parse_line("a r-xp 0 fd:01 12"), None);
    }

    #[test]
    fn deleted_mark_only_at_end() {
        assert_eq!(strip_deleted("/a (deleted)/b"), ("/a (deleted)/b", false));
        assert_eq!(strip_deleted("/a/b (deleted)"), ("/a/b", true));
    }
}
