//! Host key checking against OpenSSH known_hosts files (sshd(8), "SSH_KNOWN_HOSTS FILE
//! FORMAT"): plain and hashed (`|1|salt|hash`) names, `[host]:port`, comma lists, `*`/`?`
//! wildcards, `!` negation, the `@revoked` marker and `@cert-authority` host certificates.
//!
//! russh's own helper only matches exact and hashed names, hence this module. It also
//! decides which host key algorithms to offer a host ([`KnownHosts::host_key_algorithms`]):
//! russh prefers ed25519, so a host recorded only by its ecdsa key would otherwise present a
//! key patchgap cannot check, and the user would be tempted to record a second, unverified
//! key. A host known in any way (a recorded key of any type, or an `@cert-authority` line)
//! is never treated as new.
//!
//! A line that is not UTF-8 is skipped with a warning instead of failing the run; the
//! warnings are kept for the caller to report ([`KnownHosts::warnings`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::Preferred;
use russh::keys::{Algorithm, Certificate, HashAlg, PublicKey, parse_public_key_base64};
use sha1::Sha1;

use super::pattern::pattern_list_match;

#[path = "known_hosts_cert.rs"]
mod cert;
#[path = "known_hosts_write.rs"]
mod write;

/// The known_hosts entries of a run, shared by every host; keys accepted during the run are
/// added to them so that a second host behind the same name is not recorded twice.
#[derive(Debug)]
pub struct KnownHosts {
    entries: Mutex<Vec<Entry>>,
    /// Where `--accept-new-host-keys` appends (the user's file or `--known-hosts`).
    write_to: Option<PathBuf>,
    /// Lines skipped while reading, for the run's report.
    warnings: Vec<String>,
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

/// What the recorded keys say about a host's key or certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    Trusted,
    /// Nothing at all is recorded for the host: the only case `--accept-new-host-keys`
    /// may record.
    Unknown,
    /// The host is recorded only under other key types. Never recorded over: a man in the
    /// middle would present exactly such a key.
    OtherTypes {
        /// The recorded key types, in file order.
        recorded: Vec<String>,
    },
    /// An `@cert-authority` line covers the host, yet it presented a plain key that no
    /// line trusts.
    CertificateExpected,
    /// The host presented a certificate that does not establish its identity.
    CertificateInvalid {
        reason: String,
    },
    /// A different key of the same type is recorded.
    Changed {
        file: PathBuf,
        line: usize,
    },
    /// The key (or the certificate's CA) is marked `@revoked`.
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

/// The host key algorithms to offer one host, most preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyAlgorithms {
    /// Plain key algorithms: the recorded types first, then russh's defaults.
    pub keys: Vec<Algorithm>,
    /// Algorithms whose `*-cert-v01@openssh.com` variant is offered (ahead of the plain
    /// ones); empty unless an `@cert-authority` line covers the host.
    pub certificates: Vec<Algorithm>,
}

/// Warnings kept per file for lines that are not UTF-8; the rest are counted in one line,
/// so a binary file cannot flood the report.
const MAX_WARNINGS_PER_FILE: usize = 5;

impl KnownHosts {
    /// Reads `files` (missing ones are skipped, as OpenSSH does).
    pub fn load(files: &[PathBuf], write_to: Option<PathBuf>) -> io::Result<Self> {
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for file in files {
            match std::fs::read(file) {
                Ok(bytes) => entries.extend(parse(&bytes, file, &mut warnings)),
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
            warnings,
        })
    }

    /// Entries from text, for tests and for files read elsewhere.
    pub fn from_text(text: &str, origin: &Path, write_to: Option<PathBuf>) -> Self {
        Self::from_bytes(text.as_bytes(), origin, write_to)
    }

    /// Entries from the raw bytes of a file; lines that are not UTF-8 are skipped with a
    /// warning.
    pub fn from_bytes(bytes: &[u8], origin: &Path, write_to: Option<PathBuf>) -> Self {
        let mut warnings = Vec::new();
        let entries = parse(bytes, origin, &mut warnings);
        Self {
            entries: Mutex::new(entries),
            write_to,
            warnings,
        }
    }

    /// What was skipped while reading the files, for the run's report.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How many entries were read (for tests that bound memory).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The algorithms to offer `host`: the types recorded for it first (an ssh-rsa key as
    /// rsa-sha2-512, rsa-sha2-256, then ssh-rsa), so that the server presents a key that can
    /// be checked, then the rest of russh's defaults, so that a server without any recorded
    /// type still completes the exchange and is refused with a clear message. Certificate
    /// algorithms are added when an `@cert-authority` line covers the host.
    pub fn host_key_algorithms(&self, host: &str, port: u16) -> HostKeyAlgorithms {
        let name = lookup_name(host, port);
        let entries = self.lock();
        let mut keys: Vec<Algorithm> = Vec::new();
        let mut push = |algorithm: Algorithm| {
            if !keys.contains(&algorithm) {
                keys.push(algorithm);
            }
        };
        for entry in entries.iter().filter(|e| e.is_key_for(&name)) {
            match entry.key.algorithm() {
                Algorithm::Rsa { .. } => {
                    for hash in [Some(HashAlg::Sha512), Some(HashAlg::Sha256), None] {
                        push(Algorithm::Rsa { hash });
                    }
                }
                other => push(other),
            }
        }
        for algorithm in Preferred::DEFAULT.key.iter() {
            push(algorithm.clone());
        }
        let certificates = if entries.iter().any(|e| e.is_authority_for(&name)) {
            keys.clone()
        } else {
            Vec::new()
        };
        HostKeyAlgorithms { keys, certificates }
    }

    /// Judges a plain host key presented by `host`.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> HostKeyCheck {
        let name = lookup_name(host, port);
        let entries = self.lock();
        if let Some(revoked) = revocation(&entries, key.key_data()) {
            return revoked;
        }
        let matching: Vec<&Entry> = entries.iter().filter(|e| e.is_key_for(&name)).collect();
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
        if !matching.is_empty() {
            let mut recorded: Vec<String> = Vec::new();
            for entry in &matching {
                let kind = entry.key.algorithm().to_string();
                if !recorded.contains(&kind) {
                    recorded.push(kind);
                }
            }
            return HostKeyCheck::OtherTypes { recorded };
        }
        if entries.iter().any(|e| e.is_authority_for(&name)) {
            return HostKeyCheck::CertificateExpected;
        }
        HostKeyCheck::Unknown
    }

    /// Judges a host certificate presented by `host` at unix time `now`, as OpenSSH does: a
    /// host certificate, signed by a CA of an `@cert-authority` line that covers the host,
    /// valid now, issued for the host name (or for any host when it lists no principals),
    /// with no critical options. A certificate that fails is still accepted when its key is
    /// recorded as a plain key for the host (OpenSSH falls back the same way).
    pub fn check_certificate(
        &self,
        host: &str,
        port: u16,
        certificate: &Certificate,
        now: u64,
    ) -> HostKeyCheck {
        let reason = {
            let name = lookup_name(host, port);
            let entries = self.lock();
            for key in [certificate.public_key(), certificate.signature_key()] {
                if let Some(revoked) = revocation(&entries, key) {
                    return revoked;
                }
            }
            let authorities: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.is_authority_for(&name))
                .collect();
            match cert::problem(host, certificate, &authorities, now) {
                None => return HostKeyCheck::Trusted,
                Some(reason) => reason,
            }
        };
        let plain = PublicKey::new(certificate.public_key().clone(), "");
        match self.check(host, port, &plain) {
            HostKeyCheck::Trusted => HostKeyCheck::Trusted,
            _ => HostKeyCheck::CertificateInvalid { reason },
        }
    }

    /// Records `key` for `host` in the user's known_hosts (`--accept-new-host-keys`). Only
    /// ever called for an [`HostKeyCheck::Unknown`] host.
    ///
    /// The file is rewritten atomically (a temporary file renamed over it, so a reader never
    /// sees half a line) under an exclusive lock on its directory, so concurrent patchgap
    /// runs neither lose nor duplicate entries: the file is read again under the lock, and a
    /// key another run recorded meanwhile is not written twice. When the file already holds
    /// hashed names the new one is hashed too, as `HashKnownHosts` would.
    pub fn record(&self, host: &str, port: u16, key: &PublicKey) -> io::Result<PathBuf> {
        let file = self.write_to.clone().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no known_hosts file to record new host keys in (HOME is not set); \
                 pass --known-hosts FILE",
            )
        })?;
        let name = lookup_name(host, port);
        let mut entries = self.lock();
        if entries
            .iter()
            .any(|e| e.is_key_for(&name) && e.key.key_data() == key.key_data())
        {
            return Ok(file);
        }
        let written = write::append_entry(&file, &name, key)?;
        entries.push(Entry {
            file: file.clone(),
            line: 0,
            marker: Marker::None,
            hosts: written,
            key: key.clone(),
        });
        Ok(file)
    }
}

/// The `@revoked` line that names `key`, as a refusal.
fn revocation(
    entries: &[Entry],
    key: &russh::keys::ssh_key::public::KeyData,
) -> Option<HostKeyCheck> {
    entries
        .iter()
        .find(|e| e.marker == Marker::Revoked && e.key.key_data() == key)
        .map(|e| HostKeyCheck::Revoked {
            file: e.file.clone(),
            line: e.line,
        })
}

/// The name OpenSSH looks a host up by: `host`, or `[host]:port` off port 22.
pub(super) fn lookup_name(host: &str, port: u16) -> String {
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

impl Entry {
    fn is_key_for(&self, name: &str) -> bool {
        self.marker == Marker::None && self.hosts.matches(name)
    }

    fn is_authority_for(&self, name: &str) -> bool {
        self.marker == Marker::CertAuthority && self.hosts.matches(name)
    }
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

    fn is_hashed(&self) -> bool {
        matches!(self, Hosts::Hashed { .. })
    }

    /// `name` hashed with a fresh random salt, as `ssh-keygen -H` writes it.
    fn hash(name: &str) -> io::Result<Self> {
        let mut salt = vec![0u8; 20];
        getrandom::fill(&mut salt).map_err(|err| {
            io::Error::other(format!(
                "cannot get random bytes to hash a host name: {err}"
            ))
        })?;
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt)
            .map_err(|err| io::Error::other(format!("cannot hash a host name: {err}")))?;
        mac.update(name.as_bytes());
        let hash = mac.finalize().into_bytes().to_vec();
        Ok(Hosts::Hashed { salt, hash })
    }

    /// The host field as written in a known_hosts line.
    fn to_field(&self) -> String {
        match self {
            Hosts::Hashed { salt, hash } => {
                format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(hash))
            }
            Hosts::Patterns(patterns) => patterns.join(","),
        }
    }
}

/// Parses known_hosts bytes; malformed lines are skipped as OpenSSH skips them, lines that
/// are not UTF-8 with a warning (at most [`MAX_WARNINGS_PER_FILE`], then a count).
/// Never more entries than lines.
fn parse(bytes: &[u8], origin: &Path, warnings: &mut Vec<String>) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut bad = 0usize;
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(raw) {
            Ok(line) => entries.extend(parse_line(line, origin, index + 1)),
            Err(_) => {
                bad += 1;
                if bad <= MAX_WARNINGS_PER_FILE {
                    warnings.push(format!(
                        "known_hosts {} line {}: not valid UTF-8, line skipped",
                        origin.display(),
                        index + 1
                    ));
                }
            }
        }
    }
    if bad > MAX_WARNINGS_PER_FILE {
        warnings.push(format!(
            "known_hosts {}: {} more lines that are not valid UTF-8 skipped",
            origin.display(),
            bad - MAX_WARNINGS_PER_FILE
        ));
    }
    entries
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
