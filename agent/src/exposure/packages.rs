//! For each package behind findings: the version its stale processes run, and what the
//! changelog entries since then say (CVEs, urgency, security uploads).
//!
//! Only packages behind findings are looked at, each changelog file is read once per run
//! (a doc directory shared by several packages through a link is one file), and files are
//! read inside the package's own root (the host's, or a container's `/proc/PID/root`)
//! without leaving it, never from a FIFO, always under a cap (see [`crate::rawfs::Root`]).

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use rustix::fs::CWD;

use super::changelog::{self, COMPRESSED_MAX, Parsed, Summary};
use crate::dpkg::{LoggedChange, parse_dpkg_log};
use crate::integrity::PathFilter;
use crate::rawfs::Root;
use crate::report::{PackageChange, PackageExposure, Security, VersionOrigin};

/// Where the documentation of packages lives.
const DOC: &str = "/usr/share/doc";

/// Rotated dpkg logs, newest first, as logrotate leaves them on Debian (monthly, 12 kept).
const ROTATED_LOGS: usize = 12;
/// Largest dpkg log read, compressed or not, and largest decompressed text.
const LOG_MAX: u64 = 64 << 20;

/// One filesystem root packages live in, and what was read from it.
struct Context {
    root: Result<Root, String>,
    /// True for the host, whose dpkg settings can be read (and trusted).
    fs_root: Option<PathBuf>,
    /// Bare names of the packages whose replaced version the current log lacks.
    unlogged: Vec<String>,
    /// Latest logged change per bare package name, from the rotated logs (read on demand).
    rotated: Option<HashMap<String, LoggedChange>>,
}

/// Reads changelogs for one run; each file at most once per version range.
pub struct Changelogs {
    contexts: HashMap<String, Context>,
    /// (context, device, inode, stop version) -> what the read found.
    cache: HashMap<(String, u64, u64, Option<String>), Parsed>,
    /// Number of changelog files read, for tests and the cost measurement.
    pub files_read: u32,
}

impl Changelogs {
    /// `host_fs` is the host's filesystem root; `containers` maps the report's context
    /// labels (`container:RUNTIME:ID`) to their roots (`/proc/PID/root`); `packages` are
    /// the packages that will be described.
    pub fn new(
        host_fs: &Path,
        containers: &HashMap<String, PathBuf>,
        packages: &[PackageChange],
    ) -> Self {
        let mut contexts = HashMap::new();
        contexts.insert("host".to_string(), Context::open(host_fs, false));
        for (label, root) in containers {
            contexts.insert(label.clone(), Context::open(root, true));
        }
        for p in packages.iter().filter(|p| p.previous_version.is_none()) {
            if let Some(ctx) = contexts.get_mut(&p.context) {
                ctx.unlogged.push(bare_name(&p.name).to_string());
            }
        }
        Changelogs {
            contexts,
            cache: HashMap::new(),
            files_read: 0,
        }
    }

    /// What the running code of `pkg` lacks. `source` is the package's source package
    /// name when it differs (binNMUs and multi-binary packages read its changelog when
    /// they ship none of their own).
    pub fn describe(&mut self, pkg: &PackageChange, source: Option<&str>) -> PackageExposure {
        let (running, from) = self.running_version(pkg);
        let installed = pkg.version.as_deref();
        let mut out = PackageExposure {
            context: pkg.context.clone(),
            name: pkg.name.clone(),
            installed_version: pkg.version.clone(),
            running_version: running.clone(),
            running_version_from: from,
            security: Security::Unknown,
            security_reasons: Vec::new(),
            cves: Vec::new(),
            urgency: None,
            entries: 0,
            changelogs: Vec::new(),
        };
        let Some(ctx) = self.contexts.get(&pkg.context) else {
            out.security_reasons
                .push(format!("no root known for {}", pkg.context));
            return out;
        };
        let root = match &ctx.root {
            Ok(r) => r,
            Err(e) => {
                out.security_reasons.push(e.clone());
                return out;
            }
        };
        let bare = bare_name(&pkg.name);
        let files = candidates(bare, pkg.name.split(':').nth(1), installed, source);
        let mut summary = Summary::default();
        let mut problems = Vec::new();
        let mut found_any = false;
        // Once a changelog of the package's own directory is read, the source's is not.
        let mut own_found = false;
        // A binNMU's own changelog holds only the rebuild: the source's entries are needed.
        let mut source_found = false;
        for (path, kind) in files {
            if (kind == Kind::Fallback || kind == Kind::Source) && own_found {
                continue;
            }
            let stat = match root.stat(&path, true) {
                Ok(st) => st,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    problems.push(format!("{} not read: {e}", path.display()));
                    continue;
                }
            };
            let stop = running.clone().filter(|_| from != VersionOrigin::Unknown);
            let key = (pkg.context.clone(), stat.st_dev, stat.st_ino, stop.clone());
            let parsed = match self.cache.get(&key) {
                Some(p) => p.clone(),
                None => {
                    let parsed = match root.read_following(&path, COMPRESSED_MAX) {
                        Ok(bytes) => {
                            self.files_read += 1;
                            changelog::parse_file(&bytes, stop.as_deref())
                        }
                        Err(e) => {
                            problems.push(format!("{} not read: {e}", path.display()));
                            continue;
                        }
                    };
                    self.cache.insert(key, parsed.clone());
                    parsed
                }
            };
            found_any = true;
            own_found |= matches!(kind, Kind::Own | Kind::Fallback);
            source_found |= kind != Kind::BinNmu;
            out.changelogs.push(path.display().to_string());
            if let Some(d) = &parsed.damaged {
                problems.push(format!("{}: {d}", path.display()));
            }
            match &running {
                Some(r) if from != VersionOrigin::Unknown => {
                    summary.add(&parsed.entries, Some(r), installed);
                }
                // The replaced version is unknown: only the installed version's own entry
                // is certainly missing from the running code.
                _ => {
                    let newest = first_not_newer(&parsed.entries, installed);
                    summary.add(newest, None, installed);
                }
            }
        }
        if found_any && !source_found {
            problems.push(format!(
                "only the binNMU changelog of {bare} was found: the source package's \
                 changes are unknown"
            ));
        }
        if !found_any && problems.is_empty() {
            problems.push(absent_reason(ctx, bare));
        }
        out.entries = summary.entries;
        out.cves = summary.cves.iter().cloned().collect();
        out.urgency = summary.urgency.clone();
        let (security, reasons) = classify(&summary, found_any, problems);
        out.security = security;
        out.security_reasons = reasons;
        out
    }

    /// The version the stale processes run: the one the last logged upgrade replaced.
    fn running_version(&mut self, pkg: &PackageChange) -> (Option<String>, VersionOrigin) {
        if let Some(v) = &pkg.previous_version {
            return (Some(v.clone()), VersionOrigin::DpkgLog);
        }
        let Some(ctx) = self.contexts.get_mut(&pkg.context) else {
            return (None, VersionOrigin::Unknown);
        };
        let bare = bare_name(&pkg.name);
        let logged = ctx.rotated_logs().get(bare);
        match logged {
            Some(l) if pkg.version.as_deref().is_none_or(|v| v == l.version) => {
                match &l.previous_version {
                    Some(p) => (Some(p.clone()), VersionOrigin::RotatedDpkgLog),
                    None => (None, VersionOrigin::Unknown),
                }
            }
            _ => (None, VersionOrigin::Unknown),
        }
    }
}

impl Context {
    fn open(fs_root: &Path, confined: bool) -> Self {
        Context {
            root: Root::open(CWD, fs_root, confined)
                .map_err(|e| format!("cannot open the root {}: {e}", fs_root.display())),
            fs_root: (!confined).then(|| fs_root.to_path_buf()),
            unlogged: Vec::new(),
            rotated: None,
        }
    }

    /// The latest change of every package in the rotated dpkg logs, read once, newest log
    /// last so that its lines win.
    fn rotated_logs(&mut self) -> &HashMap<String, LoggedChange> {
        let root = self.root.as_ref().ok();
        let names: Vec<&str> = self.unlogged.iter().map(String::as_str).collect();
        self.rotated.get_or_insert_with(|| {
            let mut latest = HashMap::new();
            let Some(root) = root else { return latest };
            for n in (1..=ROTATED_LOGS).rev() {
                let plain = PathBuf::from(format!("/var/log/dpkg.log.{n}"));
                let gz = PathBuf::from(format!("/var/log/dpkg.log.{n}.gz"));
                let text = match root.read(&plain, LOG_MAX) {
                    Ok(b) => b,
                    Err(_) => match root.read(&gz, LOG_MAX) {
                        Ok(b) => gunzip_capped(&b, LOG_MAX),
                        Err(_) => continue,
                    },
                };
                latest.extend(parse_dpkg_log(&String::from_utf8_lossy(&text), &names));
            }
            latest
        })
    }
}

/// The decompressed text of `bytes`, at most `cap` bytes; a damaged stream gives what
/// came before the damage.
fn gunzip_capped(bytes: &[u8], cap: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(bytes)
        .take(cap)
        .read_to_end(&mut out);
    out
}

/// What a candidate changelog file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The binNMU's own entries (`changelog.Debian.ARCH.gz`).
    BinNmu,
    /// `changelog.Debian.gz` of the package's doc directory.
    Own,
    /// `changelog.gz`: the Debian changelog of a native package, read only without the
    /// above.
    Fallback,
    /// The source package's `changelog.Debian.gz`, read only without any of the above.
    Source,
}

/// The changelog files that may describe `bare`, in reading order.
fn candidates(
    bare: &str,
    arch: Option<&str>,
    installed: Option<&str>,
    source: Option<&str>,
) -> Vec<(PathBuf, Kind)> {
    let dir = Path::new(DOC).join(bare);
    let mut out = Vec::new();
    if installed.is_some_and(|v| v.contains("+b")) {
        let arch = arch.unwrap_or(std::env::consts::ARCH);
        let arch = if arch == "x86_64" { "amd64" } else { arch };
        out.push((
            dir.join(format!("changelog.Debian.{arch}.gz")),
            Kind::BinNmu,
        ));
    }
    out.push((dir.join("changelog.Debian.gz"), Kind::Own));
    out.push((dir.join("changelog.gz"), Kind::Fallback));
    if let Some(src) = source.filter(|s| *s != bare && is_package_name(s)) {
        out.push((
            Path::new(DOC).join(src).join("changelog.Debian.gz"),
            Kind::Source,
        ));
    }
    out
}

/// `libssl3` of `libssl3:amd64`.
fn bare_name(info_name: &str) -> &str {
    info_name.split(':').next().unwrap_or(info_name)
}

/// A valid Debian package name: nothing that could climb out of the doc directory.
fn is_package_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c))
        && !name.starts_with('.')
}

/// The entries up to and including the first one not newer than `installed`.
fn first_not_newer<'e>(
    entries: &'e [changelog::Entry],
    installed: Option<&str>,
) -> &'e [changelog::Entry] {
    let Some(inst) = installed.and_then(|v| v.parse::<debversion::Version>().ok()) else {
        return entries.get(..1).unwrap_or(&[]);
    };
    let at = entries.iter().position(|e| {
        e.version
            .parse::<debversion::Version>()
            .is_ok_and(|v| v <= inst)
    });
    match at {
        Some(i) => &entries[i..=i],
        None => &[],
    }
}

/// Why no changelog was found for `bare`: dpkg's path-exclude rules when they explain
/// it (slim images), else that there is none.
fn absent_reason(ctx: &Context, bare: &str) -> String {
    let file = format!("{DOC}/{bare}/changelog.Debian.gz");
    let excluded = ctx
        .fs_root
        .as_deref()
        .map(PathFilter::load)
        .is_some_and(|f| f.excludes(&file));
    if excluded {
        format!(
            "no changelog: dpkg's path-exclude settings (/etc/dpkg/dpkg.cfg.d) keep {file} \
             off this host, so whether the update fixed a security issue is unknown"
        )
    } else {
        format!(
            "no changelog: {DOC}/{bare} has none, so whether the update fixed a security \
             issue is unknown"
        )
    }
}

/// The security verdict and its reasons in words.
fn classify(summary: &Summary, found_any: bool, problems: Vec<String>) -> (Security, Vec<String>) {
    let mut reasons = Vec::new();
    for suite in &summary.security_suites {
        reasons.push(format!("uploaded to {suite}"));
    }
    if !summary.cves.is_empty() {
        let cves: BTreeSet<&String> = summary.cves.iter().collect();
        let list: Vec<&str> = cves.iter().map(|c| c.as_str()).collect();
        reasons.push(format!("fixes {}", list.join(", ")));
    }
    if summary.mentions_security {
        reasons.push("an entry says it fixes a security issue".to_string());
    }
    if summary.is_security() {
        reasons.extend(problems);
        return (Security::Security, reasons);
    }
    if !found_any || !problems.is_empty() {
        return (Security::Unknown, problems);
    }
    reasons.push(format!(
        "{} changelog {} since the running version name no CVE and no security fix",
        summary.entries,
        if summary.entries == 1 {
            "entry"
        } else {
            "entries"
        }
    ));
    (Security::NotSecurity, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;
    use std::os::unix::fs::symlink;

    use crate::roots::under;

    const SECURITY: &str = "\
pgtest (1.0-2) bookworm-security; urgency=high

  * Fix CVE-2024-1234 and CVE-2024-12345 in the parser.

 -- Maint <m@example.org>  Thu, 29 Feb 2024 10:00:00 +0000

pgtest (1.0-1) bookworm; urgency=medium

  * Initial release. Fixes CVE-2020-0001.

 -- Maint <m@example.org>  Mon, 01 Jan 2024 10:00:00 +0000
";

    const PLAIN: &str = "\
pgtest-tool (1.0-2) bookworm; urgency=medium

  * Reword the help text.

 -- Maint <m@example.org>  Thu, 29 Feb 2024 10:00:00 +0000
";

    fn gz(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    }

    fn put(root: &Path, abs: &str, bytes: &[u8]) {
        let p = under(root, Path::new(abs));
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, bytes).expect("write");
    }

    fn change(name: &str, version: &str, previous: Option<&str>) -> PackageChange {
        PackageChange {
            context: "host".into(),
            name: name.into(),
            version: Some(version.into()),
            changed_at: None,
            previous_version: previous.map(str::to_string),
            processes: 1,
        }
    }

    fn reader(root: &Path, packages: &[PackageChange]) -> Changelogs {
        Changelogs::new(root, &HashMap::new(), packages)
    }

    #[test]
    fn a_security_upload_names_its_cves_and_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(
            dir.path(),
            "/usr/share/doc/libpgtest1/changelog.Debian.gz",
            &gz(SECURITY),
        );
        let pkgs = [change("libpgtest1:amd64", "1.0-2", Some("1.0-1"))];
        let e = reader(dir.path(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.security, Security::Security);
        assert_eq!(e.cves, ["CVE-2024-1234", "CVE-2024-12345"]);
        assert_eq!(e.urgency.as_deref(), Some("high"));
        assert_eq!(e.entries, 1);
        assert_eq!(e.running_version_from, VersionOrigin::DpkgLog);
        assert!(
            e.security_reasons
                .contains(&"uploaded to bookworm-security".to_string()),
            "{:?}",
            e.security_reasons
        );
    }

    #[test]
    fn a_linked_doc_dir_is_followed_inside_the_root_and_read_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(
            dir.path(),
            "/usr/share/doc/pgtest/changelog.Debian.gz",
            &gz(SECURITY),
        );
        // Multi-binary packages link their doc directory to a sibling's; an absolute
        // link resolves inside the root, not on the machine running the test.
        symlink("pgtest", dir.path().join("usr/share/doc/libpgtest1")).expect("link");
        symlink(
            "/usr/share/doc/pgtest",
            dir.path().join("usr/share/doc/pgtestd"),
        )
        .expect("link");
        let pkgs = [
            change("libpgtest1", "1.0-2", Some("1.0-1")),
            change("pgtestd", "1.0-2", Some("1.0-1")),
        ];
        let mut r = reader(dir.path(), &pkgs);
        for p in &pkgs {
            let e = r.describe(p, None);
            assert_eq!(e.cves.len(), 2, "{e:?}");
        }
        assert_eq!(r.files_read, 1);
    }

    #[test]
    fn a_binnmu_reads_its_own_entries_then_the_source_changelog() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binnmu = "libpgtest1 (1.0-2+b1) bookworm; urgency=low, binary-only=yes\n\n  \
                      * Binary-only non-maintainer upload for amd64; no source changes.\n";
        put(
            dir.path(),
            "/usr/share/doc/libpgtest1/changelog.Debian.amd64.gz",
            &gz(binnmu),
        );
        put(
            dir.path(),
            "/usr/share/doc/pgtest/changelog.Debian.gz",
            &gz(SECURITY),
        );
        let pkgs = [change("libpgtest1:amd64", "1.0-2+b1", Some("1.0-1"))];
        let e = reader(dir.path(), &pkgs).describe(&pkgs[0], Some("pgtest"));
        assert_eq!(e.entries, 2, "{e:?}");
        assert_eq!(e.security, Security::Security);
        assert_eq!(e.changelogs.len(), 2);
    }

    #[test]
    fn no_changelog_is_unknown_with_the_reason_never_not_security() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(dir.path(), "/usr/share/doc/libpgtest1/copyright", b"c");
        let pkgs = [change("libpgtest1", "1.0-2", Some("1.0-1"))];
        let e = reader(dir.path(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.security, Security::Unknown);
        assert!(e.security_reasons[0].contains("has none"), "{e:?}");
        // A slim image: dpkg was told not to unpack the documentation.
        put(
            dir.path(),
            "/etc/dpkg/dpkg.cfg.d/excludes",
            b"path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n",
        );
        let e = reader(dir.path(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.security, Security::Unknown);
        assert!(e.security_reasons[0].contains("path-exclude"), "{e:?}");
    }

    #[test]
    fn a_non_security_upgrade_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(
            dir.path(),
            "/usr/share/doc/pgtest-tool/changelog.Debian.gz",
            &gz(PLAIN),
        );
        let pkgs = [change("pgtest-tool", "1.0-2", Some("1.0-1"))];
        let e = reader(dir.path(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.security, Security::NotSecurity, "{e:?}");
        assert!(e.cves.is_empty());
    }

    #[test]
    fn hostile_files_are_refused_without_blocking_or_leaving_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let doc = dir.path().join("usr/share/doc/libpgtest1");
        fs::create_dir_all(&doc).expect("mkdir");
        // No writer ever opens it: a blocking open would hang the test.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            doc.join("changelog.Debian.gz"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let pkgs = [change("libpgtest1", "1.0-2", Some("1.0-1"))];
        let e = Changelogs::new(dir.path(), &HashMap::new(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.security, Security::Unknown);
        assert!(e.security_reasons[0].contains("FIFO"), "{e:?}");
        // A garbage gzip: unknown, with the damage named.
        fs::remove_file(doc.join("changelog.Debian.gz")).expect("rm");
        fs::write(doc.join("changelog.Debian.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3]).expect("w");
        let e = Changelogs::new(dir.path(), &HashMap::new(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.security, Security::Unknown, "{e:?}");
        // A source name that would climb out of the doc directory is not used.
        assert_eq!(candidates("x", None, Some("1"), Some("../../etc")).len(), 2);
    }

    #[test]
    fn the_running_version_comes_from_rotated_logs() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(
            dir.path(),
            "/usr/share/doc/libpgtest1/changelog.Debian.gz",
            &gz(SECURITY),
        );
        put(
            dir.path(),
            "/var/log/dpkg.log.2.gz",
            &gz("2024-03-01 10:00:00 upgrade libpgtest1:amd64 0.9-1 1.0-1\n"),
        );
        put(
            dir.path(),
            "/var/log/dpkg.log.1",
            b"2024-03-02 10:00:00 upgrade libpgtest1:amd64 1.0-1 1.0-2\n",
        );
        let pkgs = [change("libpgtest1:amd64", "1.0-2", None)];
        let e = reader(dir.path(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.running_version.as_deref(), Some("1.0-1"));
        assert_eq!(e.running_version_from, VersionOrigin::RotatedDpkgLog);
        assert_eq!(e.entries, 1);
        // Without any log, only the installed version's entry is counted.
        fs::remove_file(dir.path().join("var/log/dpkg.log.1")).expect("rm");
        fs::remove_file(dir.path().join("var/log/dpkg.log.2.gz")).expect("rm");
        let e = reader(dir.path(), &pkgs).describe(&pkgs[0], None);
        assert_eq!(e.running_version_from, VersionOrigin::Unknown);
        assert_eq!(e.entries, 1);
        assert!(!e.cves.contains(&"CVE-2020-0001".to_string()));
    }
}
