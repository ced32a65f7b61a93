//! Parser for `/var/lib/dpkg/diversions`, see `dpkg-divert(1)`.
//!
//! The file is a sequence of three-line records: the original path, the path the
//! original package's file was moved to, and the diverting package (`:` for a local
//! diversion made by an admin).

use std::collections::HashMap;

/// One diversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    /// The path other packages ship, now owned by `by` (or by the admin).
    pub from: String,
    /// Where the original package's file lives instead.
    pub to: String,
    /// The diverting package, `None` for a local diversion.
    pub by: Option<String>,
}

/// All diversions of a database, indexed both ways.
#[derive(Debug, Clone, Default)]
pub struct Diversions {
    by_from: HashMap<String, Diversion>,
    by_to: HashMap<String, Diversion>,
}

impl Diversions {
    /// Parses the file; a trailing incomplete record is ignored.
    pub fn parse(text: &str) -> Self {
        let mut d = Diversions::default();
        let lines: Vec<&str> = text.lines().collect();
        for rec in lines.chunks_exact(3) {
            let by = match rec[2].trim() {
                ":" | "" => None,
                p => Some(p.to_string()),
            };
            let div = Diversion {
                from: rec[0].to_string(),
                to: rec[1].to_string(),
                by,
            };
            d.by_to.insert(div.to.clone(), div.clone());
            d.by_from.insert(div.from.clone(), div);
        }
        d
    }

    /// The diversion whose original path is `path`: the file there belongs to the diverter.
    pub fn diverted_from(&self, path: &str) -> Option<&Diversion> {
        self.by_from.get(path)
    }

    /// The diversion that moved a file to `path`: the file there belongs to the package
    /// that ships the original path.
    pub fn diverted_to(&self, path: &str) -> Option<&Diversion> {
        self.by_to.get(path)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diversion> {
        self.by_from.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_from.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_package_and_local_diversions() {
        let d = Diversions::parse(
            "/usr/bin/ls\n/usr/bin/ls.distrib\nmy-ls\n/etc/issue\n/etc/issue.orig\n:\n/trunc\n",
        );
        let ls = d.diverted_from("/usr/bin/ls").expect("ls diverted");
        assert_eq!(ls.by.as_deref(), Some("my-ls"));
        assert_eq!(
            d.diverted_to("/usr/bin/ls.distrib")
                .map(|x| x.from.as_str()),
            Some("/usr/bin/ls")
        );
        assert_eq!(
            d.diverted_from("/etc/issue").and_then(|x| x.by.clone()),
            None
        );
        assert!(d.diverted_from("/trunc").is_none());
    }
}
