//! Host key checking against OpenSSH known_hosts files (sshd(8), "SSH_KNOWN_HOSTS FILE
//! FORMAT"): plain and hashed (`|1|salt|hash`) names, `[host]:port`, comma lists, `*`/`?`
//! wildcards, `!` negation, and the `@revoked` marker. `@cert-authority` lines are read but
//! host certificates are not supported; a host they would cover is reported as unknown with
//! a message saying so.
//!
//! russh's own helper only matches exact and hashed names, hence this module.

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey, parse_public_key_base64};
use sha1::Sha1;

use super::pattern::pattern_list_match;

/// The known_hosts entries of a run, shared by every host; keys accepted during the run are
/// added to them so that a second host behind the same name is not recorded twice.
#[derive(Debug)]
pub struct KnownHosts {
    entries: Mutex<Vec<Entry>>,
    /// Where `--accept-new-host-keys` appends (the user's file or `--known-hosts`).
    write_to: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Entry {
    file: PathBuf,
    line: usize,
    marker: Marker,
    hosts: Hosts,
    key: PublicKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone)]
enum Hosts {
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    Patterns(Vec<String>),
}

/// What the recorded keys say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    Trusted,
    /// No recorded key of this type for the host.
    Unknown {
        /// Key types recorded for the host under other algorithms.
        other_types: Vec<String>,
        /// An `@cert-authority` line covers the host (host certificates are not supported).
        cert_authority: bool,
    },
    /// A different key of the same type is recorded.
    Changed {
        file: PathBuf,
        line: usize,
    },
    /// The key is marked `@revoked`.
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

impl KnownHosts {
    /// Reads `files` (missing ones are skipped, as OpenSSH does).
    pub fn load(files: &[PathBuf], write_to: Option<PathBuf>) -> io::Result<Self> {
        let mut entries = Vec::new();
        for file in files {
            match std::fs::read_to_string(file) {
                Ok(text) => entries.extend(parse(&text, file)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("cannot read known_hosts file {}: {err}", file.display()),
                    ));
                }
            }
        }
        Ok(Self {
            entries: Mutex::new(entries),
            write_to,
        })
    }

    /// Entries from text, for tests and for files read elsewhere.
    pub fn from_text(text: &str, origin: &Path, write_to: Option<PathBuf>) -> Self {
        Self {
            entries: Mutex::new(parse(text, origin)),
            write_to,
        }
    }

    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> HostKeyCheck {
        let name = lookup_name(host, port);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(revoked) = entries
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.key.key_data() == key.key_data())
        {
            return HostKeyCheck::Revoked {
                file: revoked.file.clone(),
                line: revoked.line,
            };
        }
        let matching: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.marker == Marker::None && e.hosts.matches(&name))
            .collect();
        if matching.iter().any(|e| e.key.key_data() == key.key_data()) {
            return HostKeyCheck::Trusted;
        }
        if let Some(changed) = matching
            .iter()
            .find(|e| e.key.algorithm() == key.algorithm())
        {
            return HostKeyCheck::Changed {
                file: changed.file.clone(),
                line: changed.line,
            };
        }
        let mut other_types: Vec<String> = matching
            .iter()
            .map(|e| e.key.algorithm().to_string())
            .collect();
        other_types.dedup();
        HostKeyCheck::Unknown {
            other_types,
            cert_authority: entries
                .iter()
                .any(|e| e.marker == Marker::CertAuthority && e.hosts.matches(&name)),
        }
    }

    /// Appends `key` for `host` to the user's known_hosts (`--accept-new-host-keys`).
    /// Only ever called for an unknown host, never to replace a changed key.
    pub fn record(&self, host: &str, port: u16, key: &PublicKey) -> io::Result<PathBuf> {
        let file = self.write_to.clone().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no known_hosts file to record new host keys in (HOME is not set); \
                 pass --known-hosts FILE",
            )
        })?;
        let name = lookup_name(host, port);
        let line = format!("{name} {}\n", key.to_openssh().map_err(io::Error::other)?);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let mut out = OpenOptions::new().create(true).append(true).open(&file)?;
        out.write_all(line.as_bytes())?;
        entries.push(Entry {
            file: file.clone(),
            line: 0,
            marker: Marker::None,
            hosts: Hosts::Patterns(vec![name]),
            key: key.clone(),
        });
        Ok(file)
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The name OpenSSH looks a host up by: `host`, or `[host]:port` off port 22.
fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:...` as OpenSSH prints it, for messages.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl Hosts {
    fn matches(&self, name: &str) -> bool {
        match self {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Hosts::Patterns(patterns) => {
                pattern_list_match(patterns.iter().map(String::as_str), name)
            }
        }
    }
}

/// Parses known_hosts text; malformed lines are skipped as OpenSSH skips them.
fn parse(text: &str, origin: &Path) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| parse_line(line, origin, index + 1))
        .collect()
}

fn parse_line(line: &str, origin: &Path, number: usize) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut hosts = fields.next()?;
    let marker = match hosts {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        other if other.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        hosts = fields.next()?;
    }
    let _key_type = fields.next()?;
    let key = parse_public_key_base64(fields.next()?).ok()?;
    let hosts = match hosts.strip_prefix("|1|") {
        Some(hashed) => {
            let (salt, hash) = hashed.split_once('|')?;
            Hosts::Hashed {
                salt: BASE64.decode(salt.as_bytes()).ok()?,
                hash: BASE64.decode(hash.as_bytes()).ok()?,
            }
        }
        None => Hosts::Patterns(hosts.split(',').map(str::to_string).collect()),
    };
    Some(Entry {
        file: origin.to_path_buf(),
        line: number,
        marker,
        hosts,
        key,
    })
}

#[cfg(test)]
#[path = "known_hosts_tests.rs"]
mod tests;
