//! known_hosts matching on fixture lines (keys generated with ssh-keygen, hashed lines with
//! `ssh-keygen -H`).

use super::*;
use proptest::prelude::*;
use russh::keys::EcdsaCurve;
use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::private::{Ed25519Keypair, PrivateKey};

const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIMs9h707URed0baBz4Za1Dt6favu5CYuUnY3vy5QLjKz";
const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAICxF9SX16owFMExgBywq7eFJu/zYrY9jGkKJokBR6tHN";
const KEY_C: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPnB3eswK1OlPtoX4rrnZs3eeaUiXC9ZSglkE6cswfClraodUkZcvA9AiCJstpMgoFHMSIdJihC4+eM77o4Rr4I=";

fn key(base64: &str) -> PublicKey {
    parse_public_key_base64(base64).expect("fixture key")
}

fn known(text: &str) -> KnownHosts {
    KnownHosts::from_text(text, Path::new("/fixture/known_hosts"), None)
}

fn unknown() -> HostKeyCheck {
    HostKeyCheck::Unknown
}

#[test]
fn plain_names_and_comma_lists_match() {
    let hosts = known(&format!("# comment\n\nweb1,10.0.0.1 ssh-ed25519 {KEY_A}\n"));
    assert_eq!(hosts.check("web1", 22, &key(KEY_A)), HostKeyCheck::Trusted);
    assert_eq!(
        hosts.check("10.0.0.1", 22, &key(KEY_A)),
        HostKeyCheck::Trusted
    );
    assert_eq!(hosts.check("WEB1", 22, &key(KEY_A)), HostKeyCheck::Trusted);
    assert_eq!(hosts.check("web2", 22, &key(KEY_A)), unknown());
    assert_eq!(
        hosts.check("web1", 2222, &key(KEY_A)),
        unknown(),
        "port matters"
    );
}

#[test]
fn hashed_names_match_with_and_without_port() {
    let hosts = known(&format!(
        "|1|zePO+ir8//tg4w587vJEibemsGk=|gDbpyKZw1CIfM/5XhdlcdJHXDkw= ssh-ed25519 {KEY_A}\n\
         |1|9xVKhomAPPTAvi6rjADWCbaabeI=|qip3xblUVb1zKA+ulHpmdrXpTD8= ssh-ed25519 {KEY_B}\n"
    ));
    assert_eq!(
        hosts.check("hashed.example", 22, &key(KEY_A)),
        HostKeyCheck::Trusted
    );
    assert_eq!(
        hosts.check("hashed.example", 2222, &key(KEY_B)),
        HostKeyCheck::Trusted
    );
    assert_eq!(hosts.check("other.example", 22, &key(KEY_A)), unknown());
    assert!(matches!(
        hosts.check("hashed.example", 22, &key(KEY_B)),
        HostKeyCheck::Changed { line: 1, .. }
    ));
}

#[test]
fn bracketed_ports_and_wildcards_match() {
    let hosts = known(&format!(
        "[10.0.0.*]:2222,![10.0.0.9]:2222 ssh-ed25519 {KEY_A}\n\
         [127.0.0.1]:2301 ssh-ed25519 {KEY_B}\n\
         db? ssh-ed25519 {KEY_B}\n"
    ));
    assert_eq!(
        hosts.check("10.0.0.7", 2222, &key(KEY_A)),
        HostKeyCheck::Trusted
    );
    assert_eq!(
        hosts.check("10.0.0.9", 2222, &key(KEY_A)),
        unknown(),
        "negated"
    );
    assert_eq!(
        hosts.check("127.0.0.1", 2301, &key(KEY_B)),
        HostKeyCheck::Trusted
    );
    assert_eq!(hosts.check("127.0.0.1", 22, &key(KEY_B)), unknown());
    assert_eq!(hosts.check("db1", 22, &key(KEY_B)), HostKeyCheck::Trusted);
    assert_eq!(hosts.check("db10", 22, &key(KEY_B)), unknown());
}

#[test]
fn a_different_key_of_the_same_type_is_a_change() {
    let hosts = known(&format!("web1 ssh-ed25519 {KEY_A}\n"));
    assert_eq!(
        hosts.check("web1", 22, &key(KEY_B)),
        HostKeyCheck::Changed {
            file: PathBuf::from("/fixture/known_hosts"),
            line: 1
        }
    );
}

/// Regression: a host known only by one key type presenting another was "unknown", so
/// --accept-new-host-keys recorded the unverified key.
#[test]
fn a_key_of_another_type_is_never_unknown_and_names_the_recorded_types() {
    let hosts = known(&format!(
        "web1 ssh-ed25519 {KEY_A}\nweb1 ssh-ed25519 {KEY_A}\n"
    ));
    assert_eq!(
        hosts.check("web1", 22, &key(KEY_C)),
        HostKeyCheck::OtherTypes {
            recorded: vec!["ssh-ed25519".to_string()],
        }
    );
}

#[test]
fn a_revoked_key_is_refused_even_when_also_trusted() {
    let hosts = known(&format!(
        "web1 ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_A}\n"
    ));
    assert!(matches!(
        hosts.check("web1", 22, &key(KEY_A)),
        HostKeyCheck::Revoked { line: 2, .. }
    ));
}

#[test]
fn a_host_covered_by_a_cert_authority_is_not_new_when_it_shows_a_plain_key() {
    let hosts = known(&format!("@cert-authority *.example ssh-ed25519 {KEY_A}\n"));
    assert_eq!(
        hosts.check("web.example", 22, &key(KEY_A)),
        HostKeyCheck::CertificateExpected
    );
    assert_eq!(hosts.check("web.other", 22, &key(KEY_A)), unknown());
}

#[test]
fn malformed_lines_are_skipped() {
    let hosts = known(&format!(
        "web1\nweb1 ssh-ed25519 not-base64!\n@bogus web1 ssh-ed25519 {KEY_B}\nweb1 ssh-ed25519 {KEY_A}\n"
    ));
    assert_eq!(hosts.check("web1", 22, &key(KEY_A)), HostKeyCheck::Trusted);
}

#[test]
fn recorded_keys_are_appended_and_trusted_afterwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ssh").join("known_hosts");
    let hosts = KnownHosts::load(std::slice::from_ref(&file), Some(file.clone())).expect("load");
    assert_eq!(hosts.check("127.0.0.1", 2301, &key(KEY_A)), unknown());
    hosts
        .record("127.0.0.1", 2301, &key(KEY_A))
        .expect("record");
    assert_eq!(
        hosts.check("127.0.0.1", 2301, &key(KEY_A)),
        HostKeyCheck::Trusted
    );
    let reread = KnownHosts::load(std::slice::from_ref(&file), None).expect("reload");
    assert_eq!(
        reread.check("127.0.0.1", 2301, &key(KEY_A)),
        HostKeyCheck::Trusted
    );
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.starts_with("[127.0.0.1]:2301 ssh-ed25519 "), "{text}");
}

#[test]
fn fingerprints_are_printed_as_openssh_does() {
    assert!(fingerprint(&key(KEY_A)).starts_with("SHA256:"));
}

const KEY_RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDjE0eqUyH43SLZjDh3qkMV8nFDO0yVVzbPoyzNcMDsoUlnx6DyMSoC9LMIQhYbiGCqpVbuPegWcmP2MYGPylDOGIY8b3Wl29x07wrAOU8kQQGs7Q2EE5SHStUUFhe0+sulVBHpr/IO4eXsnd8WZlcIJ5Re3G96oyTQeMEubhdgYw==";

const P256: Algorithm = Algorithm::Ecdsa {
    curve: EcdsaCurve::NistP256,
};

/// Regression: russh offered ed25519 first, so a host recorded by its ecdsa key presented an
/// ed25519 key that could not be checked.
#[test]
fn recorded_key_types_are_offered_first() {
    let hosts = known(&format!(
        "[web1]:2222 ecdsa-sha2-nistp256 {KEY_C}\nweb2 ssh-rsa {KEY_RSA}\nweb3 ssh-ed25519 {KEY_A}\n"
    ));
    let ecdsa = hosts.host_key_algorithms("web1", 2222);
    assert_eq!(ecdsa.keys[0], P256);
    assert_eq!(ecdsa.keys[1], Algorithm::Ed25519, "then the defaults");
    assert_eq!(
        ecdsa.keys.len(),
        Preferred::DEFAULT.key.len(),
        "no duplicates"
    );
    assert!(ecdsa.certificates.is_empty(), "no CA covers web1");
    let rsa = hosts.host_key_algorithms("web2", 22);
    let rsa_first: Vec<String> = rsa.keys[..3].iter().map(|a| a.to_string()).collect();
    assert_eq!(rsa_first, ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
    let unknown = hosts.host_key_algorithms("web9", 22);
    assert_eq!(unknown.keys, Preferred::DEFAULT.key.to_vec());
}

#[test]
fn certificates_are_offered_only_where_a_cert_authority_covers_the_host() {
    let hosts = known(&format!(
        "@cert-authority [*.example]:2222 ssh-ed25519 {KEY_A}\nweb.example ecdsa-sha2-nistp256 {KEY_C}\n"
    ));
    let covered = hosts.host_key_algorithms("web.example", 2222);
    assert_eq!(covered.certificates, covered.keys);
    assert_eq!(
        covered.certificates[0].to_certificate_type(),
        "ssh-ed25519-cert-v01@openssh.com"
    );
    let plain = hosts.host_key_algorithms("web.example", 22);
    assert!(plain.certificates.is_empty());
    assert_eq!(plain.keys[0], P256);
}

fn ed25519(seed: u8) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
}

const NOW: u64 = 1_800_000_000;

/// A host certificate for `host_key` signed by `ca`, valid around [`NOW`].
fn certificate(
    ca: &PrivateKey,
    host_key: &PrivateKey,
    edit: impl FnOnce(&mut Builder),
) -> Certificate {
    typed_certificate(CertType::Host, ca, host_key, edit)
}

fn typed_certificate(
    cert_type: CertType,
    ca: &PrivateKey,
    host_key: &PrivateKey,
    edit: impl FnOnce(&mut Builder),
) -> Certificate {
    let mut builder = Builder::new(
        [7u8; 32],
        host_key.public_key().key_data().clone(),
        NOW - 3600,
        NOW + 3600,
    )
    .expect("builder");
    builder.cert_type(cert_type).expect("cert type");
    builder.key_id("web1").expect("key id");
    edit(&mut builder);
    builder.sign(ca).expect("sign")
}

fn with_principal(builder: &mut Builder) {
    builder.valid_principal("web1.example").expect("principal");
}

fn ca_line(pattern: &str, ca: &PrivateKey) -> String {
    format!(
        "@cert-authority {pattern} {}\n",
        ca.public_key().to_openssh().expect("openssh")
    )
}

#[test]
fn a_certificate_from_a_trusted_ca_for_the_host_is_trusted() {
    let (ca, host) = (ed25519(1), ed25519(2));
    let hosts = known(&ca_line("*.example", &ca));
    let cert = certificate(&ca, &host, with_principal);
    assert_eq!(
        hosts.check_certificate("web1.example", 22, &cert, NOW),
        HostKeyCheck::Trusted
    );
    let any_host = certificate(&ca, &host, |b| {
        b.all_principals_valid().expect("no principals");
    });
    assert_eq!(
        hosts.check_certificate("web1.example", 22, &any_host, NOW),
        HostKeyCheck::Trusted,
        "no principals: valid for any host, as in OpenSSH"
    );
}

fn refusal_reason(check: HostKeyCheck) -> String {
    match check {
        HostKeyCheck::CertificateInvalid { reason } => reason,
        other => panic!("expected a refused certificate, got {other:?}"),
    }
}

#[test]
fn certificates_are_refused_for_each_broken_property() {
    let (ca, other_ca, host) = (ed25519(1), ed25519(3), ed25519(2));
    let hosts = known(&ca_line("*.example", &ca));
    let check = |cert: &Certificate, name: &str, now: u64| {
        refusal_reason(hosts.check_certificate(name, 22, cert, now))
    };
    let wrong_ca = certificate(&other_ca, &host, with_principal);
    assert!(check(&wrong_ca, "web1.example", NOW).contains("which no @cert-authority"));
    let good = certificate(&ca, &host, with_principal);
    assert!(check(&good, "web2.example", NOW).contains("not issued for web2.example"));
    assert!(check(&good, "web1.example", NOW + 7200).contains("not valid now"));
    assert!(check(&good, "web1.example", NOW - 7200).contains("not valid now"));
    let user = typed_certificate(CertType::User, &ca, &host, with_principal);
    assert!(check(&user, "web1.example", NOW).contains("user certificate"));
    let critical = certificate(&ca, &host, |b| {
        with_principal(b);
        b.critical_option("force-command", "true").expect("option");
    });
    assert!(check(&critical, "web1.example", NOW).contains("critical options"));
    let uncovered = known(&ca_line("*.other", &ca));
    assert!(
        refusal_reason(uncovered.check_certificate("web1.example", 22, &good, NOW))
            .contains("no @cert-authority line covers")
    );
}

#[test]
fn a_revoked_ca_or_certified_key_is_refused() {
    let (ca, host) = (ed25519(1), ed25519(2));
    let cert = certificate(&ca, &host, with_principal);
    for revoked in [&ca, &host] {
        let text = format!(
            "{}@revoked * {}\n",
            ca_line("*.example", &ca),
            revoked.public_key().to_openssh().expect("openssh")
        );
        assert!(matches!(
            known(&text).check_certificate("web1.example", 22, &cert, NOW),
            HostKeyCheck::Revoked { line: 2, .. }
        ));
    }
}

#[test]
fn a_failing_certificate_falls_back_to_its_recorded_plain_key() {
    let (ca, other_ca, host) = (ed25519(1), ed25519(3), ed25519(2));
    let text = format!(
        "{}web1.example {}\n",
        ca_line("*.example", &ca),
        host.public_key().to_openssh().expect("openssh")
    );
    let cert = certificate(&other_ca, &host, with_principal);
    assert_eq!(
        known(&text).check_certificate("web1.example", 22, &cert, NOW),
        HostKeyCheck::Trusted
    );
}

/// Regression: one byte that is not UTF-8 made the whole file unreadable, failing the run.
#[test]
fn lines_that_are_not_utf8_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_hosts");
    let mut bytes = format!("web1 ssh-ed25519 {KEY_A}\n").into_bytes();
    bytes.extend_from_slice(b"web2 ssh-ed25519 \xff\xfe\n");
    bytes.extend_from_slice(format!("web3 ssh-ed25519 {KEY_B}\n").as_bytes());
    std::fs::write(&file, bytes).expect("write");
    let hosts = KnownHosts::load(std::slice::from_ref(&file), None).expect("load");
    assert_eq!(hosts.check("web1", 22, &key(KEY_A)), HostKeyCheck::Trusted);
    assert_eq!(hosts.check("web3", 22, &key(KEY_B)), HostKeyCheck::Trusted);
    assert_eq!(hosts.warnings().len(), 1, "{:?}", hosts.warnings());
    assert!(
        hosts.warnings()[0].contains("line 2"),
        "{:?}",
        hosts.warnings()
    );
}

#[test]
fn a_binary_file_gives_a_bounded_number_of_warnings() {
    let bytes: Vec<u8> = (0..1000).flat_map(|_| *b"\xff\n").collect();
    let hosts = KnownHosts::from_bytes(&bytes, Path::new("/fixture/known_hosts"), None);
    assert_eq!(hosts.warnings().len(), MAX_WARNINGS_PER_FILE + 1);
    assert!(hosts.warnings()[MAX_WARNINGS_PER_FILE].contains("995 more lines"));
}

/// Regression: recorders appended without a lock, so two runs recorded one host twice.
/// Each thread here is a separate run (its own view of the file, read before any write).
#[test]
fn concurrent_recorders_neither_lose_nor_duplicate_lines() {
    const RUNS: usize = 8;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_hosts");
    let runs: Vec<KnownHosts> = (0..RUNS)
        .map(|_| KnownHosts::load(std::slice::from_ref(&file), Some(file.clone())).expect("load"))
        .collect();
    let start = std::sync::Barrier::new(RUNS);
    std::thread::scope(|scope| {
        for (i, run) in runs.iter().enumerate() {
            let start = &start;
            scope.spawn(move || {
                start.wait();
                run.record("shared", 22, &key(KEY_A))
                    .expect("record shared");
                run.record(&format!("own{i}"), 2222, &key(KEY_B))
                    .expect("record own");
            });
        }
    });
    let text = std::fs::read_to_string(&file).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), RUNS + 1, "{text}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("shared ")).count(),
        1,
        "{text}"
    );
    let reread = KnownHosts::load(std::slice::from_ref(&file), None).expect("reload");
    assert_eq!(reread.len(), RUNS + 1, "every line parses: {text}");
    for i in 0..RUNS {
        assert_eq!(
            reread.check(&format!("own{i}"), 2222, &key(KEY_B)),
            HostKeyCheck::Trusted
        );
    }
}

#[test]
fn a_host_recorded_meanwhile_with_another_key_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_hosts");
    let stale = KnownHosts::load(std::slice::from_ref(&file), Some(file.clone())).expect("load");
    std::fs::write(&file, format!("web1 ssh-ed25519 {KEY_B}\n")).expect("other run");
    let err = stale.record("web1", 22, &key(KEY_A)).expect_err("refused");
    assert!(err.to_string().contains("meanwhile"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        format!("web1 ssh-ed25519 {KEY_B}\n")
    );
}

/// Regression: new entries went in plain text into a file of hashed names, revealing the
/// hosts that hashing hides.
#[test]
fn new_entries_are_hashed_where_the_file_is_and_ssh_keygen_finds_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_hosts");
    std::fs::write(
        &file,
        format!("|1|zePO+ir8//tg4w587vJEibemsGk=|gDbpyKZw1CIfM/5XhdlcdJHXDkw= ssh-ed25519 {KEY_A}"),
    )
    .expect("write");
    let hosts = KnownHosts::load(std::slice::from_ref(&file), Some(file.clone())).expect("load");
    hosts
        .record("127.0.0.1", 2301, &key(KEY_B))
        .expect("record");
    let text = std::fs::read_to_string(&file).expect("read");
    let added = text.lines().nth(1).expect("a second line");
    assert!(added.starts_with("|1|"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    let reread = KnownHosts::load(std::slice::from_ref(&file), None).expect("reload");
    assert_eq!(
        reread.check("127.0.0.1", 2301, &key(KEY_B)),
        HostKeyCheck::Trusted
    );
    match std::process::Command::new("ssh-keygen")
        .args(["-F", "[127.0.0.1]:2301", "-f"])
        .arg(&file)
        .output()
    {
        Ok(out) => {
            let found = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "ssh-keygen -F: {found}");
            assert!(found.contains(KEY_B), "{found}");
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "ssh-keygen is needed to check hashed names in CI"
            );
        }
        Err(err) => panic!("ssh-keygen: {err}"),
    }
}

#[test]
fn plain_files_get_plain_entries_and_keep_their_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real_known_hosts");
    std::fs::write(&real, format!("web1 ssh-ed25519 {KEY_A}")).expect("write");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let link = dir.path().join("known_hosts");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let hosts = KnownHosts::load(std::slice::from_ref(&link), Some(link.clone())).expect("load");
    hosts.record("web2", 22, &key(KEY_B)).expect("record");
    let text = std::fs::read_to_string(&real).expect("read");
    assert_eq!(
        text,
        format!("web1 ssh-ed25519 {KEY_A}\nweb2 ssh-ed25519 {KEY_B}\n")
    );
    assert!(link.is_symlink(), "written through the link");
    let mode = std::fs::metadata(&real).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("ls").count(),
        2,
        "no temp file left"
    );
}

/// Lines that look like known_hosts lines, with random damage.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just(b"@cert-authority".to_vec()),
        Just(b"@revoked".to_vec()),
        Just(b"|1|zePO+ir8//tg4w587vJEibemsGk=|gDbpyKZw1CIfM/5XhdlcdJHXDkw=".to_vec()),
        Just(b"|1||".to_vec()),
        Just(b"[h]:22,!x*".to_vec()),
        Just(b"ssh-ed25519".to_vec()),
        Just(KEY_A.as_bytes().to_vec()),
        Just(KEY_C.as_bytes()[..40].to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(field, 0..5).prop_map(|fields| fields.join(&b' '))
}

proptest! {
    // 256 cases, or `PROPTEST_CASES`.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let hosts = KnownHosts::from_bytes(&bytes, Path::new("/fuzz"), None);
        let lines = bytes.split(|&b| b == b'\n').count();
        prop_assert!(hosts.len() <= lines);
        prop_assert!(hosts.warnings().len() <= MAX_WARNINGS_PER_FILE + 1);
        let _ = hosts.check("h", 22, &key(KEY_A));
        let _ = hosts.host_key_algorithms("h", 22);
    }

    #[test]
    fn arbitrary_lines_never_panic_and_stay_bounded(lines in prop::collection::vec(line(), 0..40)) {
        let bytes = lines.join(&b'\n');
        let hosts = KnownHosts::from_bytes(&bytes, Path::new("/fuzz"), None);
        prop_assert!(hosts.len() <= lines.len().max(1));
        let _ = hosts.check("h", 22, &key(KEY_A));
        let algorithms = hosts.host_key_algorithms("h", 22);
        prop_assert!(algorithms.keys.len() <= Preferred::DEFAULT.key.len());
    }
}
