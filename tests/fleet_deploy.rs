//! Probe deployment failures on real hosts: a cache directory mounted noexec and one with
//! no space left each end as a named per-host failure that says what to fix, while the
//! other hosts are audited; and a cache directory an unprivileged user controls is refused
//! to root before anything in it is checked or run.
//!
//! One fleet serves every scenario of this binary: h01 is the healthy host of every run
//! (only audited, never changed), and each scenario has a victim of its own.

#[path = "support/fleet.rs"]
mod fleet;

use fleet::{Fleet, host_result};
use patchgap::deploy::shell_quote;

/// `sha256sum` that, the first time, holds the deploy script right after its hash check
/// until the test says the attacker has swapped the file.
const SHA256SUM_HOLD: &str = r#"#!/bin/sh
# patchgap attack test: stands for the attacker winning the race after the hash check.
/usr/bin/sha256sum "$@"; s=$?
if [ ! -e /var/lib/pg-attack/checked ]; then
  touch /var/lib/pg-attack/checked
  until [ -e /var/lib/pg-attack/swapped ]; do sleep 0.1; done
fi
exit $s
"#;

/// The attacker's program: records the uid it ran as.
const ATTACKER_PROGRAM: &str = "#!/bin/sh\nid -u > /var/tmp/pgcache-ran\n";

const HEALTHY: &str = "h01";

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("deploy", 4)
}

/// Mount `mount` (a tmpfs mount's options) over the victim's default cache directory and
/// audit it with the healthy host: the victim fails with a deploy failure whose message
/// names `says`, the healthy host is audited, and the run exits 4.
fn unusable_cache_directory_fails_only_its_host(victim: &str, options: &str, says: &str) {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    fleet.ssh_ok(
        victim,
        &format!(
            "mkdir -p /var/cache/patchgap && mount -t tmpfs -o {options} tmpfs /var/cache/patchgap"
        ),
    );
    let inventory = fleet.write_inventory(
        &format!("inventory-{victim}.yml"),
        &[(victim, &[]), (HEALTHY, &[])],
    );
    let (status, report) = fleet.start_audit(&inventory, &[]).finish();

    let r = host_result(&report, victim);
    assert_eq!(
        (r["state"].as_str(), r["failure"].as_str()),
        (Some("failed"), Some("deploy_failed")),
        "{r}"
    );
    assert!(
        r["message"].as_str().is_some_and(|m| m.contains(says)),
        "expected {says:?} in: {r}"
    );
    assert_eq!(host_result(&report, HEALTHY)["state"], "audited");
    assert_eq!(status.code(), Some(4), "a host failed: exit 4");
}

#[test]
fn a_noexec_cache_directory_fails_only_its_host() {
    unusable_cache_directory_fails_only_its_host("h02", "noexec,mode=0700", "noexec");
}

#[test]
fn a_full_cache_directory_fails_only_its_host() {
    unusable_cache_directory_fails_only_its_host("h03", "size=512k,mode=0700", "no space");
}

/// The attack on a root login whose inventory sets `patchgap_cache_dir`: an unprivileged
/// user (guest) pre-creates that directory under the sticky `/tmp`, puts the real probe in
/// it under its expected name (its hash checks out) and swaps a program of its own in
/// (a rename in a directory it owns) between the script's hash check and the run. The
/// race is made deterministic by a `sha256sum` wrapper (test scaffolding, installed by
/// root) that holds the script right after the check until the swap is done. The host
/// must refuse the directory as not safe for root before checking or running anything in
/// it, while the other host is audited.
#[test]
fn root_refuses_a_cache_directory_a_user_controls() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let (victim, fine) = ("h04", HEALTHY);
    let probe = patchgap::deploy::embedded_probes()
        .iter()
        .find(|p| p.arch == std::env::consts::ARCH)
        .expect("a probe for this machine's architecture");
    let planted = format!("/tmp/pgcache/probe-{}", probe.sha256);

    let as_guest = |cmd: &str, input: &[u8]| {
        let out = fleet.ssh_with_input(
            victim,
            &format!("runuser -u guest -- sh -c {}", shell_quote(cmd)),
            input,
        );
        assert!(out.status.success(), "as guest: {cmd}: {out:?}");
    };
    as_guest(
        &format!("mkdir -m 0755 /tmp/pgcache && cat > {planted} && chmod 0755 {planted}"),
        probe.bytes,
    );
    as_guest(
        "cat > /tmp/pgcache/.swap && chmod 0755 /tmp/pgcache/.swap",
        ATTACKER_PROGRAM.as_bytes(),
    );
    let out = fleet.ssh_with_input(
        victim,
        "mkdir -p /var/lib/pg-attack && cat > /usr/local/bin/sha256sum \
         && chmod 755 /usr/local/bin/sha256sum",
        SHA256SUM_HOLD.as_bytes(),
    );
    assert!(
        out.status.success(),
        "install the sha256sum wrapper: {out:?}"
    );
    assert_eq!(
        fleet.ssh_ok(victim, "command -v sha256sum").trim(),
        "/usr/local/bin/sha256sum",
        "root's PATH over SSH must find the wrapper first"
    );

    let inventory = fleet.write_inventory(
        "inventory-cache.yml",
        &[
            (victim, &[("patchgap_cache_dir", "/tmp/pgcache")]),
            (fine, &[]),
        ],
    );
    let mut audit = fleet.start_audit(&inventory, &[]);
    let root = fleet.root_of(victim);
    let checked = root.join("var/lib/pg-attack/checked");
    if audit.wait_for(&checked) {
        as_guest(&format!("mv -f /tmp/pgcache/.swap {planted}"), &[]);
        std::fs::write(root.join("var/lib/pg-attack/swapped"), b"").expect("release the hold");
    }
    let (status, report) = audit.finish();

    let ran = std::fs::read_to_string(root.join("var/tmp/pgcache-ran"));
    assert!(
        ran.is_err(),
        "the attacker's program ran, as uid {}",
        ran.unwrap_or_default().trim()
    );
    assert!(
        !checked.exists(),
        "root hashed a file in a directory guest controls"
    );
    let r = host_result(&report, victim);
    assert_eq!(
        (r["state"].as_str(), r["failure"].as_str()),
        (Some("failed"), Some("deploy_failed")),
        "{r}"
    );
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("/tmp/pgcache is not safe for root")),
        "{r}"
    );
    assert_eq!(host_result(&report, fine)["state"], "audited");
    assert_eq!(status.code(), Some(4), "some hosts failed: exit 4");
}
