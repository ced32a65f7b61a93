//! Kernel version strings and release ordering.
//!
//! The same shape appears in `/proc/version`, in the kernel's `linux_banner` and (without
//! the `Linux version ` prefix) in the x86 bzImage header:
//! `RELEASE (builder@host) (compiler) #1 SMP ... (date)`. The compiler part nests
//! parentheses (`(gcc-12 (Debian 12.2.0-14) 12.2.0, ...)`), so groups are skipped by
//! depth rather than by searching for `#`.

use std::cmp::Ordering;
use std::str::FromStr;

const PREFIX: &str = "Linux version ";

/// Splits a version string into the release and the build part (`uname -v`).
/// Returns `None` when there is no release at all.
pub fn parse_version_string(text: &str) -> Option<(String, Option<String>)> {
    let line = text.lines().next()?.trim();
    let line = line.strip_prefix(PREFIX).unwrap_or(line).trim_start();
    let (release, mut rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    if release.is_empty() {
        return None;
    }
    loop {
        rest = rest.trim_start();
        if !rest.starts_with('(') {
            break;
        }
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        match end {
            Some(e) => rest = &rest[e..],
            // Unbalanced: keep what is there rather than guess.
            None => break,
        }
    }
    let build = rest.trim();
    Some((
        release.to_string(),
        (!build.is_empty()).then(|| build.to_string()),
    ))
}

/// Orders two releases with Debian's version rules (`6.1.0-27-amd64` after
/// `6.1.0-9-amd64`), which is also how GRUB's `version_sort` and Debian's
/// `linux-version sort` order them. Strings that are no Debian version compare as text.
pub fn compare_releases(a: &str, b: &str) -> Ordering {
    match (
        debversion::Version::from_str(a),
        debversion::Version::from_str(b),
    ) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The short name of a build for one-line messages: the Debian package version in it
/// (`Debian 6.1.115-1` gives `6.1.115-1`), otherwise the whole build string.
pub fn short_build(build: &str) -> &str {
    build
        .split_once("Debian ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_version_with_nested_compiler_parentheses() {
        let v = "Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)\n";
        let (r, b) = parse_version_string(v).expect("parsed");
        assert_eq!(r, "6.1.0-27-amd64");
        assert_eq!(
            b.as_deref(),
            Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)")
        );
        assert_eq!(short_build(&b.expect("build")), "6.1.115-1");
    }

    #[test]
    fn bzimage_header_string_has_no_prefix() {
        let v = "6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)";
        let (r, b) = parse_version_string(v).expect("parsed");
        assert_eq!(r, "6.1.0-27-amd64");
        assert_eq!(short_build(b.as_deref().expect("build")), "6.1.115-1");
    }

    #[test]
    fn bare_and_unbalanced_strings() {
        assert_eq!(
            parse_version_string("6.18.44-fc-v669"),
            Some(("6.18.44-fc-v669".to_string(), None))
        );
        let (r, b) = parse_version_string("6.2 (oops #1").expect("parsed");
        assert_eq!((r.as_str(), b.as_deref()), ("6.2", Some("(oops #1")));
        assert_eq!(parse_version_string(""), None);
        assert_eq!(short_build("#1 SMP @0"), "#1 SMP @0");
    }

    #[test]
    fn releases_order_numerically() {
        assert_eq!(
            compare_releases("6.1.0-27-amd64", "6.1.0-9-amd64"),
            Ordering::Greater
        );
        assert_eq!(
            compare_releases("6.12.9-amd64", "6.1.0-27-amd64"),
            Ordering::Greater
        );
        assert_eq!(
            compare_releases("6.18.44-fc", "6.1.0-27-amd64"),
            Ordering::Greater
        );
        assert_eq!(
            compare_releases("5.10.0-30-amd64", "5.10.0-30-amd64"),
            Ordering::Equal
        );
    }
}
