//! Merged /usr: on current Debian `/lib`, `/bin` and `/sbin` are symlinks into `/usr`, so
//! the kernel shows `/usr/lib/...` for a file that dpkg lists as `/lib/...` (and newer
//! packages list `/usr/...` for what old tools would call `/lib/...`). Looking a path up
//! under both spellings is what checkrestart's `dpkg-query --search` fails to do.

/// Top-level directories that merged /usr links into `/usr`.
const MERGED: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// The other spelling of `path` under merged /usr, if it has one.
pub fn other_spelling(path: &str) -> Option<String> {
    if let Some(rest) = path.strip_prefix("/usr/") {
        let top = rest.split('/').next()?;
        if MERGED.contains(&top) && rest.len() > top.len() {
            return Some(format!("/{rest}"));
        }
        return None;
    }
    let rest = path.strip_prefix('/')?;
    let top = rest.split('/').next()?;
    if MERGED.contains(&top) && rest.len() > top.len() {
        return Some(format!("/usr/{rest}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions() {
        assert_eq!(
            other_spelling("/usr/lib/x86_64-linux-gnu/libc.so.6").as_deref(),
            Some("/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(
            other_spelling("/bin/bash").as_deref(),
            Some("/usr/bin/bash")
        );
        assert_eq!(other_spelling("/usr/share/doc/x"), None);
        assert_eq!(other_spelling("/libexec/x"), None);
        assert_eq!(other_spelling("/usr/lib"), None);
        assert_eq!(other_spelling("relative/lib"), None);
    }
}
