//! known_hosts matching on fixture lines (keys generated with ssh-keygen, hashed lines with
//! `ssh-keygen -H`).

use super::*;

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
    HostKeyCheck::Unknown {
        other_types: vec![],
        cert_authority: false,
    }
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

#[test]
fn a_key_of_another_type_is_unknown_and_names_the_recorded_type() {
    let hosts = known(&format!("web1 ssh-ed25519 {KEY_A}\n"));
    assert_eq!(
        hosts.check("web1", 22, &key(KEY_C)),
        HostKeyCheck::Unknown {
            other_types: vec!["ssh-ed25519".to_string()],
            cert_authority: false
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
fn cert_authority_lines_do_not_trust_keys_but_are_reported() {
    let hosts = known(&format!("@cert-authority *.example ssh-ed25519 {KEY_A}\n"));
    assert_eq!(
        hosts.check("web.example", 22, &key(KEY_A)),
        HostKeyCheck::Unknown {
            other_types: vec![],
            cert_authority: true
        }
    );
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
