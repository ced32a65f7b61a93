//! Past one controller, and many hosts on one: a sharded audit of real hosts merged back
//! into the report of the unsharded audit; and 50 real SSH hosts served by one sshd in a
//! network namespace of their own (`bench/many-hosts.sh`, the benchmark's setup at a small
//! size), each uploaded to and then audited from its cache.

#[path = "support/fleet.rs"]
mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use fleet::Fleet;
use serde_json::Value;

fn shared_fleet() -> Option<&'static Fleet> {
    Fleet::shared("scale", 4)
}

fn patchgap(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchgap"))
        .args(args)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .expect("run patchgap")
}

/// The report without what differs between two runs of the same audit: times, and the
/// scan counters (a host's own timers start processes between runs).
fn comparable(mut value: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|key, _| {
                    !(key.ends_with("_at") || key == "elapsed_ms" || key == "duration_ms")
                        && key != "scan"
                });
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Three shards of the fleet, audited apart and merged, give the unsharded report; a host
/// that cannot be reached is kept in its place, and a missing shard is refused by name.
#[test]
fn three_shards_merge_into_the_unsharded_audit() {
    let Some(fleet) = shared_fleet() else {
        return;
    };
    let mut hosts: Vec<(&str, &[(&str, &str)])> = fleet
        .hosts()
        .iter()
        .map(|h| (h.name.as_str(), &[][..]))
        .collect();
    // Nothing listens on port 1: unreachable at once.
    let mut inventory =
        std::fs::read_to_string(fleet.write_inventory("scale.yml", &hosts)).expect("inventory");
    inventory.push_str("    gone:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n");
    hosts.push(("gone", &[]));
    let inventory_path = fleet.dir().join("scale.yml");
    std::fs::write(&inventory_path, inventory).expect("inventory");
    let common = |out: &Path| -> Vec<std::ffi::OsString> {
        vec![
            "audit".into(),
            "--quiet".into(),
            "--format".into(),
            "json".into(),
            "--ssh-config".into(),
            "none".into(),
            "-i".into(),
            inventory_path.clone().into(),
            "--known-hosts".into(),
            fleet.known_hosts().into(),
            "--private-key".into(),
            fleet.key().into(),
            "-o".into(),
            out.into(),
        ]
    };
    let run = |extra: &[&str], out: &Path| {
        let mut args = common(out);
        args.extend(extra.iter().map(Into::into));
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let output = patchgap(&refs);
        assert!(
            out.exists(),
            "no report: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.status.code()
    };
    let whole = fleet.dir().join("scale-whole.json");
    assert_eq!(
        run(&[], &whole),
        Some(4),
        "the unreachable host fails the run"
    );
    let mut codes = Vec::new();
    let shards: Vec<PathBuf> = (1..=3)
        .map(|k| {
            let out = fleet.dir().join(format!("scale-shard-{k}.json"));
            codes.push(run(&["--shard", &format!("{k}/3")], &out));
            out
        })
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(4)).count(),
        1,
        "only the shard with the unreachable host fails: {codes:?}"
    );
    let mut sizes = Vec::new();
    for shard in &shards {
        let report = read_json(shard);
        sizes.push(report["hosts"].as_array().map_or(0, Vec::len));
        assert_eq!(report["controller"]["shard"]["count"], 3);
    }
    assert_eq!(sizes.iter().sum::<usize>(), hosts.len(), "{sizes:?}");

    let merged = fleet.dir().join("scale-merged.json");
    let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref()];
    // In reverse: the order of the files does not matter.
    args.extend(shards.iter().rev().map(|p| p.as_os_str()));
    args.extend(["-o".as_ref(), merged.as_os_str()]);
    let output = patchgap(&args);
    assert_eq!(
        output.status.code(),
        Some(4),
        "the merged report exits as the unsharded audit: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (whole, merged) = (read_json(&whole), read_json(&merged));
    assert!(merged["controller"].get("shard").is_none());
    assert_eq!(comparable(merged), comparable(whole));

    let output = patchgap(&[
        "merge".as_ref(),
        shards[0].as_os_str(),
        shards[2].as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing shard(s) 2 of 3"), "{stderr}");
}

/// `bench/many-hosts.sh` at 50 hosts; taken down when the test ends, also on failure.
struct ManyHosts {
    dir: PathBuf,
}

impl ManyHosts {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/many-hosts.sh")
    }

    fn up(count: usize) -> ManyHosts {
        let dir = tempfile::Builder::new()
            .prefix("patchgap-many-")
            .tempdir()
            .expect("tempdir")
            .keep();
        std::fs::remove_dir(&dir).expect("the script creates its directory");
        let output = Command::new(Self::script())
            .args(["up", &count.to_string()])
            .arg(&dir)
            .output()
            .expect("run bench/many-hosts.sh");
        let hosts = ManyHosts { dir };
        assert!(
            output.status.success(),
            "bench/many-hosts.sh up failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        hosts
    }

    /// `patchgap audit` of every host, run inside the hosts' namespace; its exit code and
    /// report.
    fn audit(&self) -> (Option<i32>, Value) {
        let report = self.dir.join("report.json");
        let output = Command::new(Self::script())
            .arg("exec")
            .arg(&self.dir)
            .arg(env!("CARGO_BIN_EXE_patchgap"))
            .args([
                "audit",
                "--quiet",
                "--format",
                "json",
                "--ssh-config",
                "none",
            ])
            .arg("-i")
            .arg(self.dir.join("inventory.yml"))
            .arg("--known-hosts")
            .arg(self.dir.join("known_hosts"))
            .arg("--private-key")
            .arg(self.dir.join("id_ed25519"))
            .arg("-o")
            .arg(&report)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null())
            .output()
            .expect("run patchgap in the namespace");
        assert!(
            report.exists(),
            "no report: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), read_json(&report))
    }

    /// The probe each host's cache holds: (host, inode, modification time).
    fn cached_probes(&self) -> Vec<(String, u64, i64)> {
        use std::os::unix::fs::MetadataExt as _;
        let mut found = Vec::new();
        for host in std::fs::read_dir(self.dir.join("cache")).expect("cache dir") {
            let host = host.expect("cache entry");
            for file in std::fs::read_dir(host.path()).expect("host cache") {
                let file = file.expect("probe");
                let meta = file.metadata().expect("stat");
                if file.file_name().to_string_lossy().starts_with("probe-") {
                    found.push((
                        host.file_name().to_string_lossy().into_owned(),
                        meta.ino(),
                        meta.mtime(),
                    ));
                }
            }
        }
        found.sort();
        found
    }
}

impl Drop for ManyHosts {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .arg("down")
            .arg(&self.dir)
            .output();
    }
}

/// 50 hosts on one sshd: the first run uploads the probe to each host's own cache, the
/// second finds it there; every host is audited both times.
#[test]
fn fifty_hosts_on_one_sshd_upload_then_reuse() {
    if let Err(why) = fleet::prerequisites() {
        assert!(
            std::env::var("PATCHGAP_FLEET").as_deref() != Ok("required"),
            "PATCHGAP_FLEET=required but: {why}"
        );
        return;
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        assert!(
            std::env::var("PATCHGAP_FLEET").as_deref() != Ok("required"),
            "PATCHGAP_FLEET=required but /usr/sbin/sshd is missing (apt-get install openssh-server)"
        );
        return;
    }
    let hosts = ManyHosts::up(50);
    let audited = |report: &Value| {
        report["hosts"]
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .filter(|h| h["result"]["state"] == "audited")
                    .count()
            })
            .unwrap_or(0)
    };
    let (status, first) = hosts.audit();
    assert!(matches!(status, Some(0 | 1)), "exit {status:?}: {first}");
    assert_eq!(audited(&first), 50, "{first}");
    let uploaded = hosts.cached_probes();
    assert_eq!(uploaded.len(), 50, "one upload per host: {uploaded:?}");

    let (status, second) = hosts.audit();
    assert!(matches!(status, Some(0 | 1)), "exit {status:?}");
    assert_eq!(audited(&second), 50);
    assert_eq!(
        hosts.cached_probes(),
        uploaded,
        "the second run used every host's cached probe"
    );
}
