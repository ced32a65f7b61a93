//! Which files to hash against which sums: the `md5sums` of every installed package plus
//! its live conffiles, with diversions applied as dpkg applies them.
//!
//! A package's file that another package diverted is checked where dpkg moved it (the
//! diverted-to path); the diverting package's own file keeps the original path; a local
//! diversion (made by an admin) moves every package's file. Merged /usr needs nothing
//! here: a path listed as `/lib/x` is opened through the `/lib -> usr/lib` symlink.

use std::collections::HashMap;
use std::io;

use super::filter::{PathFilter, fnmatch};
use super::types::IntegrityError;
use crate::dpkg::{Database, Diversions, DpkgError, PackageStatus};

/// A recorded sum: 16 bytes, or dpkg's placeholder text (`newconffile`) that no content
/// can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sum {
    Md5([u8; 16]),
    Placeholder(Box<str>),
}

/// One file to hash.
#[derive(Debug, Clone)]
pub(super) struct Check {
    /// Absolute path to open (after diversion), as bytes: file names need not be UTF-8.
    pub path: Box<[u8]>,
    /// `None` for a directory or symlink entry of the file list: it only has to exist.
    pub sum: Option<Sum>,
    /// Index into [`Plan::packages`].
    pub package: u32,
    pub conffile: bool,
    /// A dpkg path filter excludes the listed path, so its absence is expected.
    pub excluded: bool,
}

/// Everything to check on one host.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Info names of the packages checked.
    pub packages: Vec<String>,
    /// Name, architecture and version of each of [`Plan::packages`], for a baseline.
    pub versions: Vec<(String, String, String)>,
    pub checks: Vec<Check>,
    pub without_md5sums: Vec<String>,
    /// md5sums files that exist but could not be read.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Plans the check of every installed package whose name matches `pattern` (all when
    /// `None`).
    pub fn build(
        db: &Database,
        filter: &PathFilter,
        pattern: Option<&str>,
    ) -> Result<Plan, IntegrityError> {
        let diversions = db.diversions()?;
        let mut plan = Plan::default();
        for pkg in db.status()? {
            let info_name = pkg.info_name();
            let wanted = pattern.is_none_or(|p| fnmatch(p, &pkg.name) || fnmatch(p, &info_name));
            if !pkg.has_files() || !wanted {
                continue;
            }
            let index = u32::try_from(plan.packages.len()).unwrap_or(u32::MAX);
            let md5sums = match db.read_info(&info_name, "md5sums") {
                Ok(bytes) => Some(bytes),
                Err(DpkgError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    plan.without_md5sums.push(info_name.clone());
                    None
                }
                Err(err) => {
                    plan.warnings.push(err.to_string());
                    None
                }
            };
            let list = match db.read_info(&info_name, "list") {
                Ok(bytes) => bytes,
                Err(err) => {
                    plan.warnings
                        .push(format!("{err}: only its md5sums were checked"));
                    Vec::new()
                }
            };
            let place = Placer {
                diversions: &diversions,
                filter,
                pkg,
                index,
            };
            place.package(
                &list,
                md5sums.as_deref().unwrap_or_default(),
                &mut plan.checks,
            );
            plan.versions.push((
                pkg.name.clone(),
                pkg.arch.clone(),
                pkg.version.clone().unwrap_or_default(),
            ));
            plan.packages.push(info_name);
        }
        plan.without_md5sums.sort();
        Ok(plan)
    }
}

/// Turns a listed path of one package into the check of the file dpkg put on disk.
struct Placer<'a> {
    diversions: &'a Diversions,
    filter: &'a PathFilter,
    pkg: &'a PackageStatus,
    index: u32,
}

impl Placer<'_> {
    /// Plans the checks of one package as dpkg does: every entry of its file list (files,
    /// directories and symlinks) must exist, and those with a recorded sum (md5sums first,
    /// then the `Conffiles:` field) must match it. Sums for paths the list lacks are
    /// checked too, after the list.
    fn package(&self, list: &[u8], md5sums: &[u8], out: &mut Vec<Check>) {
        let parsed: Vec<(Sum, Vec<u8>)> = md5sums
            .split(|b| *b == b'\n')
            .filter_map(parse_md5sums_line)
            .collect();
        let mut sums: HashMap<&[u8], &Sum> =
            parsed.iter().map(|(s, p)| (p.as_slice(), s)).collect();
        let conffile_sums: Vec<(&[u8], Sum)> = self
            .pkg
            .conffiles
            .iter()
            .filter(|c| !c.obsolete && !c.remove_on_upgrade)
            .map(|c| (c.path.as_bytes(), parse_sum(c.md5.as_bytes())))
            .collect();
        let mut conffiles: HashMap<&[u8], &Sum> =
            conffile_sums.iter().map(|(p, s)| (*p, s)).collect();
        for entry in list.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let conffile = conffiles.remove(entry);
            let sum = sums.remove(entry).or(conffile).cloned();
            out.push(self.check(entry, sum, conffile.is_some()));
        }
        let mut rest: Vec<(&[u8], &Sum, bool)> = sums
            .into_iter()
            .map(|(p, s)| (p, s, false))
            .chain(conffiles.into_iter().map(|(p, s)| (p, s, true)))
            .collect();
        rest.sort_unstable_by_key(|(p, _, _)| *p);
        for (path, sum, conffile) in rest {
            out.push(self.check(path, Some(sum.clone()), conffile));
        }
    }

    fn check(&self, listed: &[u8], sum: Option<Sum>, conffile: bool) -> Check {
        let text = String::from_utf8_lossy(listed);
        let diverted = self
            .diversions
            .diverted_from(&text)
            .filter(|d| d.by.as_deref() != Some(self.pkg.name.as_str()));
        let path: Box<[u8]> = match diverted {
            Some(d) => d.to.as_bytes().into(),
            None => listed.into(),
        };
        Check {
            path,
            sum,
            package: self.index,
            conffile,
            excluded: !self.filter.is_empty() && self.filter.excludes(&text),
        }
    }
}

/// Parses `HEX  path` (md5sum's text mode; `HEX *path` for binary mode) into the sum and
/// the absolute path.
fn parse_md5sums_line(line: &[u8]) -> Option<(Sum, Vec<u8>)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let space = line.iter().position(|b| *b == b' ')?;
    let (hex, rest) = line.split_at(space);
    let rest = &rest[1..];
    let rest = rest
        .strip_prefix(b" ")
        .or_else(|| rest.strip_prefix(b"*"))
        .unwrap_or(rest);
    let rel = rest.strip_prefix(b"./").unwrap_or(rest);
    let rel = rel.strip_prefix(b"/").unwrap_or(rel);
    if rel.is_empty() {
        return None;
    }
    let mut path = Vec::with_capacity(rel.len() + 1);
    path.push(b'/');
    path.extend_from_slice(rel);
    Some((parse_sum(hex), path))
}

fn parse_sum(hex: &[u8]) -> Sum {
    let mut out = [0u8; 16];
    let valid = hex.len() == 32
        && hex.chunks_exact(2).zip(out.iter_mut()).all(|(pair, byte)| {
            match (hex_digit(pair[0]), hex_digit(pair[1])) {
                (Some(hi), Some(lo)) => {
                    *byte = hi << 4 | lo;
                    true
                }
                _ => false,
            }
        });
    if valid {
        Sum::Md5(out)
    } else {
        Sum::Placeholder(String::from_utf8_lossy(hex).into())
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex, as dpkg writes sums.
pub(super) fn to_hex(sum: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(sum.len() * 2);
    for b in sum {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

impl Sum {
    pub fn text(&self) -> String {
        match self {
            Sum::Md5(b) => to_hex(b),
            Sum::Placeholder(t) => t.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sums_lines() {
        let (sum, path) =
            parse_md5sums_line(b"d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/a b/x")
                .expect("line");
        assert_eq!(sum.text(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(path, b"/usr/share/doc/a b/x");
        let (_, path) =
            parse_md5sums_line(b"D41D8CD98F00B204E9800998ECF8427E *./bin/x\r").expect("line");
        assert_eq!(path, b"/bin/x");
        assert!(parse_md5sums_line(b"").is_none());
        assert!(parse_md5sums_line(b"nospace").is_none());
        assert_eq!(
            parse_sum(b"newconffile"),
            Sum::Placeholder("newconffile".into())
        );
    }
}
