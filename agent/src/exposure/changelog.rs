//! Debian changelogs (`/usr/share/doc/PKG/changelog.Debian.gz`): the entries between the
//! version a process runs and the one installed, and what they say about security.
//!
//! Syntax (deb-changelog(5)): each entry opens with
//! `package (version) suite [suite...]; urgency=LEVEL[, key=value...]`, then indented
//! change lines, then a ` -- maintainer  date` trailer. Newest entries come first, so a
//! read stops at the first entry not newer than the running version: a changelog of
//! thousands of entries costs a few of them.
//!
//! Input is hostile until proven otherwise: the file is read whole under a cap, and its
//! decompressed text is capped too (a gzip bomb stops at the cap). A truncated or corrupt
//! stream keeps the entries decoded before the damage, and says so.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::sync::OnceLock;

use debversion::Version;
use regex::Regex;

/// Largest compressed changelog read: the biggest in Debian are a few hundred KB.
pub const COMPRESSED_MAX: u64 = 8 << 20;
/// Largest decompressed text read; the newest entries come first, so a cut here loses
/// only old history.
pub const TEXT_MAX: u64 = 8 << 20;

/// One changelog entry, reduced to what ranks an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The version as written.
    pub version: String,
    /// The suites it was uploaded to (`bookworm-security`, `unstable`).
    pub suites: Vec<String>,
    /// `urgency=` value, lowercased (`low` when absent).
    pub urgency: String,
    /// CVE identifiers named in the entry, in order of appearance.
    pub cves: Vec<String>,
    /// The entry's text says it fixes a security issue.
    pub mentions_security: bool,
}

impl Entry {
    /// Suites whose name marks a security upload (`bookworm-security`, `stable-security`,
    /// the old `wheezy/updates` style is not a suite name in changelogs).
    pub fn security_suites(&self) -> impl Iterator<Item = &str> {
        self.suites
            .iter()
            .map(String::as_str)
            .filter(|s| s.ends_with("-security"))
    }
}

/// The entries of one changelog that a read kept, and how the read ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Entries newest first.
    pub entries: Vec<Entry>,
    /// Why the text ended early (corrupt or truncated compression, the size cap), if it did.
    pub damaged: Option<String>,
}

fn header_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // dpkg's own pattern (Dpkg::Changelog::Entry::Debian), case-insensitive, in ASCII
    // classes: Unicode ones make the pattern slow to build, and names are ASCII.
    RE.get_or_init(|| {
        Regex::new(r"^([0-9A-Za-z_][-+0-9A-Za-z.]*) \(([^() \t]+)\)((?:[ \t]+[-+0-9A-Za-z./]+)+)[ \t]*;(.*)$")
            .expect("static pattern")
    })
}

fn cve_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(?-u:\b)CVE-([0-9]{4})-([0-9]{4,7})(?-u:\b)").expect("static pattern")
    })
}

fn security_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i-u:\bsecurity:|\bsecurity (?:fix|issue|update|problem|vulnerabilit)|vulnerabilit(?:y|ies)|\[security\]|fix(?:es)? (?:a |the )?security)")
            .expect("static pattern")
    })
}

/// Rank of an urgency: unknown values sort with `low`.
pub fn urgency_rank(u: &str) -> u8 {
    match u {
        "medium" => 1,
        "high" => 2,
        "emergency" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// Parses changelog text from `input` line by line, stopping before the first entry
/// whose version is not newer than `stop_at` (when given and parseable), and after at
/// most [`TEXT_MAX`] bytes. `input` errors (a corrupt gzip stream) end the parse and are
/// recorded in [`Parsed::damaged`].
pub fn parse(input: impl Read, stop_at: Option<&str>) -> Parsed {
    let stop: Option<Version> = stop_at.and_then(|v| v.parse().ok());
    let mut reader = BufReader::new(input.take(TEXT_MAX + 1));
    let mut out = Parsed::default();
    let mut line = Vec::new();
    let mut read: u64 = 0;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(n) => read += n as u64,
            Err(e) => {
                out.damaged = Some(format!("changelog text ends early: {e}"));
                break;
            }
        }
        if read > TEXT_MAX {
            out.damaged = Some(format!(
                "changelog text is over {TEXT_MAX} bytes: older entries not read"
            ));
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        // Headers start in the first column; change lines are indented.
        let header = match text.as_bytes().first() {
            Some(c) if c.is_ascii_alphanumeric() => header(text),
            _ => None,
        };
        if let Some(entry) = header {
            let older = stop
                .as_ref()
                .is_some_and(|s| entry.version.parse::<Version>().is_ok_and(|v| v <= *s));
            if older {
                return out;
            }
            out.entries.push(entry);
        } else if let Some(entry) = out.entries.last_mut() {
            if text.starts_with(" -- ") {
                continue;
            }
            // The patterns run only on lines that can match: most lines name neither.
            let may_match = ["cve-", "securit", "vulnerab"]
                .iter()
                .any(|n| contains_ascii_ci(text, n));
            if !may_match {
                continue;
            }
            for c in cve_re().captures_iter(text) {
                let id = format!("CVE-{}-{}", &c[1], &c[2]);
                if !entry.cves.contains(&id) {
                    entry.cves.push(id);
                }
            }
            if security_re().is_match(text) {
                entry.mentions_security = true;
            }
        }
    }
    out
}

/// Whether `hay` contains `needle` (lowercase ASCII), ignoring ASCII case.
fn contains_ascii_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// An entry header line, parsed.
fn header(line: &str) -> Option<Entry> {
    let c = header_re().captures(line)?;
    let suites = c[3].split_whitespace().map(str::to_string).collect();
    let urgency = c[4]
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("urgency"))
        .map(|(_, v)| {
            // `urgency=high (security)` and similar comments are allowed.
            v.split_whitespace()
                .next()
                .unwrap_or("low")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "low".to_string());
    Some(Entry {
        version: c[2].to_string(),
        suites,
        urgency,
        cves: Vec::new(),
        mentions_security: false,
    })
}

/// Parses a changelog file's bytes: gzip when it starts with the gzip magic (every
/// member of a multi-member stream), plain text otherwise.
pub fn parse_file(bytes: &[u8], stop_at: Option<&str>) -> Parsed {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        parse(flate2::read::MultiGzDecoder::new(bytes), stop_at)
    } else {
        parse(bytes, stop_at)
    }
}

/// What the entries newer than the running version say, together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub entries: u32,
    pub cves: BTreeSet<String>,
    pub urgency: Option<String>,
    pub security_suites: BTreeSet<String>,
    pub mentions_security: bool,
}

impl Summary {
    /// Adds the entries not newer than `installed` (a changelog of a newer source
    /// version may sit next to an older binary) and newer than `running`.
    pub fn add(&mut self, entries: &[Entry], running: Option<&str>, installed: Option<&str>) {
        let parse = |v: Option<&str>| v.and_then(|v| v.parse::<Version>().ok());
        let (running, installed) = (parse(running), parse(installed));
        for e in entries {
            let Ok(v) = e.version.parse::<Version>() else {
                continue;
            };
            if installed.as_ref().is_some_and(|i| v > *i)
                || running.as_ref().is_some_and(|r| v <= *r)
            {
                continue;
            }
            self.entries += 1;
            self.cves.extend(e.cves.iter().cloned());
            self.security_suites
                .extend(e.security_suites().map(str::to_string));
            self.mentions_security |= e.mentions_security;
            let higher = self
                .urgency
                .as_deref()
                .is_none_or(|u| urgency_rank(&e.urgency) > urgency_rank(u));
            if higher {
                self.urgency = Some(e.urgency.clone());
            }
        }
    }

    /// True when any entry names a CVE, a security suite or a security fix.
    pub fn is_security(&self) -> bool {
        !self.cves.is_empty() || !self.security_suites.is_empty() || self.mentions_security
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Entries as Debian writes them: a security upload naming several CVEs on one line
    /// (four- and five-digit ids), a stable point release, an epoch, an unstable upload.
    const OPENSSL: &str = "\
openssl (1:3.0.15-1~deb12u1) bookworm-security; urgency=medium

  * Import 3.0.15
    - CVE-2024-5535 (Low), CVE-2024-4741 (Low), CVE-2024-6119, cve-2024-13176.
  * Fix CVE-2024-4603 again (CVE-2024-4603).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sat, 07 Sep 2024 19:43:41 +0200

openssl (1:3.0.14-1~deb12u2) bookworm; urgency=high, binary-only=no

  * Update the package description. Closes: #1065142

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sun, 23 Jun 2024 12:00:00 +0200

openssl (1:3.0.14-1~deb12u1) bookworm; urgency=medium

  * Import 3.0.14 (CVE-2024-2511)

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sun, 16 Jun 2024 12:00:00 +0200

openssl (3.0.11-1) unstable; urgency=low

  * Fixes a security issue in the X.509 parser.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Tue, 19 Sep 2023 22:00:00 +0200
";

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).expect("gzip");
        e.finish().expect("gzip")
    }

    fn summary(text: &str, running: Option<&str>, installed: Option<&str>) -> Summary {
        let mut s = Summary::default();
        s.add(&parse(text.as_bytes(), running).entries, running, installed);
        s
    }

    #[test]
    fn entries_carry_suites_urgency_and_every_cve() {
        let p = parse(OPENSSL.as_bytes(), None);
        assert_eq!(p.damaged, None);
        let versions: Vec<&str> = p.entries.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(
            versions,
            [
                "1:3.0.15-1~deb12u1",
                "1:3.0.14-1~deb12u2",
                "1:3.0.14-1~deb12u1",
                "3.0.11-1"
            ]
        );
        let top = &p.entries[0];
        assert_eq!(top.suites, ["bookworm-security"]);
        assert_eq!(top.urgency, "medium");
        assert_eq!(
            top.cves,
            [
                "CVE-2024-5535",
                "CVE-2024-4741",
                "CVE-2024-6119",
                "CVE-2024-13176",
                "CVE-2024-4603"
            ]
        );
        assert_eq!(p.entries[1].urgency, "high");
        assert!(p.entries[1].cves.is_empty());
        assert!(p.entries[3].mentions_security);
        assert!(!p.entries[1].mentions_security);
    }

    #[test]
    fn only_entries_newer_than_the_running_version_count() {
        // The epoch makes 1:3.0.14 newer than 3.0.11 although it is written shorter.
        let s = summary(
            OPENSSL,
            Some("1:3.0.14-1~deb12u1"),
            Some("1:3.0.15-1~deb12u1"),
        );
        assert_eq!(s.entries, 2);
        assert_eq!(s.cves.len(), 5);
        assert!(!s.cves.contains("CVE-2024-2511"));
        assert_eq!(s.urgency.as_deref(), Some("high"));
        assert!(s.security_suites.contains("bookworm-security"));
        assert!(s.is_security());
        // A point release alone is not a security update.
        let s = summary(
            OPENSSL,
            Some("1:3.0.14-1~deb12u1"),
            Some("1:3.0.14-1~deb12u2"),
        );
        assert_eq!(s.entries, 1);
        assert!(!s.is_security(), "{s:?}");
        // Same version reinstalled: nothing is missing.
        let s = summary(
            OPENSSL,
            Some("1:3.0.15-1~deb12u1"),
            Some("1:3.0.15-1~deb12u1"),
        );
        assert_eq!(s.entries, 0);
    }

    #[test]
    fn the_read_stops_at_the_running_version() {
        let p = parse(OPENSSL.as_bytes(), Some("1:3.0.14-1~deb12u2"));
        assert_eq!(p.entries.len(), 1);
    }

    #[test]
    fn binnmu_entries_parse_and_rank_above_their_source_version() {
        let binnmu = "\
libpgtest1 (1.0-2+b1) bookworm; urgency=low, binary-only=yes

  * Binary-only non-maintainer upload for amd64; no source changes.
  * Rebuild against libc6 2.36-9+deb12u4

 -- amd64 Build Daemon (x86-ubc-02) <buildd_amd64-x86-ubc-02@buildd.debian.org>  Fri, 01 Mar 2024 10:00:00 +0000
";
        let p = parse(binnmu.as_bytes(), None);
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].version, "1.0-2+b1");
        assert_eq!(p.entries[0].urgency, "low");
        assert!(!p.entries[0].mentions_security);
        let source = "\
pgtest (1.0-2) bookworm-security; urgency=high

  * Fix CVE-2024-0001.

 -- Maint <m@example.org>  Thu, 29 Feb 2024 10:00:00 +0000
";
        // Running 1.0-1, installed the binNMU of 1.0-2: the source entry is missing too.
        let mut s = Summary::default();
        s.add(&p.entries, Some("1.0-1"), Some("1.0-2+b1"));
        s.add(
            &parse(source.as_bytes(), None).entries,
            Some("1.0-1"),
            Some("1.0-2+b1"),
        );
        assert_eq!(s.entries, 2);
        assert!(s.cves.contains("CVE-2024-0001"));
        assert_eq!(s.urgency.as_deref(), Some("high"));
    }

    #[test]
    fn gzip_is_read_and_a_truncated_stream_keeps_what_came_before() {
        let whole = gz(OPENSSL.as_bytes());
        let p = parse_file(&whole, None);
        assert_eq!((p.entries.len(), p.damaged), (4, None));
        // Cut inside the deflate stream: the first entries decoded, the damage named.
        let cut = &whole[..whole.len() / 2];
        let p = parse_file(cut, None);
        assert!(p.damaged.is_some(), "{p:?}");
        assert!(!p.entries.is_empty());
        assert_eq!(p.entries[0].version, "1:3.0.15-1~deb12u1");
        // Garbage after the magic: no entries, damage named, no panic.
        let p = parse_file(
            &[0x1f, 0x8b, 8, 0, 0xff, 0xff, 0xff, 0xff, 0, 3, 1, 2, 3],
            None,
        );
        assert!(p.entries.is_empty());
        assert!(p.damaged.is_some());
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_text_cap() {
        // 16 MiB of one byte compress to about 16 KiB: the decoder stops after TEXT_MAX.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![b'a'; 1 << 20];
        e.write_all(OPENSSL.as_bytes()).expect("gzip");
        for _ in 0..16 {
            e.write_all(&chunk).expect("gzip");
        }
        let bomb = e.finish().expect("gzip");
        assert!(bomb.len() < 1 << 20);
        let p = parse_file(&bomb, None);
        assert_eq!(p.entries.len(), 4);
        let damaged = p.damaged.expect("cap hit");
        assert!(damaged.contains("over"), "{damaged}");
    }

    #[test]
    fn native_changelogs_and_odd_headers() {
        let text = "\
dpkg (1.21.22) bookworm; urgency=medium

  [ Guillem Jover ]
  * Security: Fix directory traversal. Fixes CVE-2022-1664.

 -- Guillem Jover <guillem@debian.org>  Wed, 25 May 2022 01:02:03 +0200

not a header (1.0) line without urgency
";
        let p = parse(text.as_bytes(), None);
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].cves, ["CVE-2022-1664"]);
        // CVE-like strings that are not ids are ignored.
        let p = parse(
            "x (1) unstable; urgency=low\n  * CVE-24-1, CVE-2024-12, XCVE-2024-1234\n".as_bytes(),
            None,
        );
        assert!(p.entries[0].cves.is_empty(), "{:?}", p.entries[0].cves);
    }
}
