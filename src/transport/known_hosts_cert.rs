//! When a host certificate proves a host's identity, as OpenSSH decides it (sshd(8),
//! "SSH_KNOWN_HOSTS FILE FORMAT"; PROTOCOL.certkeys): signed by a CA that an
//! `@cert-authority` line for the host names, of host type, valid now, issued for the host
//! name (or for any host when it lists no principals), and without critical options, which
//! no host certificate may carry. `ssh-key` checks the signature and the validity period;
//! the rest, which it leaves to the caller, is here.

use russh::keys::ssh_key::certificate::CertType;
use russh::keys::{Certificate, HashAlg};

use super::Entry;

/// Why `certificate` does not prove `host`'s identity, or `None` when it does.
pub(super) fn problem(
    host: &str,
    certificate: &Certificate,
    authorities: &[&Entry],
    now: u64,
) -> Option<String> {
    let ca = certificate.signature_key().fingerprint(HashAlg::Sha256);
    if authorities.is_empty() {
        return Some(format!(
            "no @cert-authority line covers this host (the certificate is signed by CA {ca})"
        ));
    }
    if !authorities
        .iter()
        .any(|e| e.key.key_data() == certificate.signature_key())
    {
        return Some(format!(
            "its certificate is signed by CA {ca}, which no @cert-authority line for this \
             host trusts"
        ));
    }
    if certificate.cert_type() != CertType::Host {
        return Some("it presented a user certificate, not a host certificate".into());
    }
    if !(certificate.valid_after() <= now && now < certificate.valid_before()) {
        return Some(format!(
            "its certificate is not valid now (valid from {} to {}, unix time)",
            certificate.valid_after(),
            certificate.valid_before()
        ));
    }
    if certificate.validate_at(now, [&ca]).is_err() {
        return Some(format!(
            "its certificate's signature by CA {ca} does not verify"
        ));
    }
    let principals = certificate.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p.eq_ignore_ascii_case(host)) {
        return Some(format!(
            "its certificate is not issued for {host} (principals: {})",
            principals.join(", ")
        ));
    }
    if !certificate.critical_options().is_empty() {
        return Some(
            "its certificate carries critical options, which a host certificate \
                     must not"
                .into(),
        );
    }
    None
}
