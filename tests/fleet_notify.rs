//! `patchgap audit -i ... --notify` on a real host plus one that cannot be reached: the
//! fleet path of notifications (audit_inventory). The webhook receives the fleet's counts
//! and the failed host; a webhook answering 500 is a line of the report's
//! `controller.warnings`, and the exit status stays the fleet's own (4: a host failed).

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/notify.rs"]
mod notify;

use fleet::Fleet;
use notify::Server;
use serde_json::Value;

#[test]
fn a_fleet_audit_notifies_its_counts_and_failed_hosts_without_changing_its_status() {
    let Some(fleet) = Fleet::up("notify", 1) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start("http", &dir.path().join("ok"), &[]);
    let broken = Server::start("http", &dir.path().join("500"), &["--status", "500"]);
    // h01 is real; `gone` refuses connections (port 1 on this machine listens to nothing).
    let inventory = fleet.dir().join("notify-inventory.yml");
    std::fs::write(
        &inventory,
        format!(
            "all:\n  hosts:\n    h01:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      \
             ansible_user: root\n    gone:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n      \
             ansible_user: root\n",
            fleet.host("h01").port
        ),
    )
    .expect("write the inventory");
    let ok_url = format!("http://127.0.0.1:{}/fleet", server.port);
    let broken_url = format!("http://127.0.0.1:{}/fleet", broken.port);
    let (status, report) = fleet
        .start_audit(&inventory, &["--notify", &ok_url, "--notify", &broken_url])
        .finish();
    assert_eq!(status.code(), Some(4), "a host failed: {report}");

    let requests = server.records("request");
    assert_eq!(requests.len(), 1);
    let body: Value =
        serde_json::from_str(requests[0]["body"].as_str().expect("body")).expect("JSON");
    assert_eq!(body["counts"]["hosts"], 2);
    assert_eq!(body["counts"]["hosts_failed"], 1);
    assert_eq!(body["failed_hosts"][0]["host"], "gone");
    assert_eq!(body["failed_hosts"][0]["failure"], "unreachable");
    let h01: patchgap_probe::Report =
        serde_json::from_value(fleet::host_result(&report, "h01")["report"].clone())
            .expect("h01's probe report");
    assert_eq!(
        body["counts"]["hosts_with_findings"],
        usize::from(h01.action_needed()),
        "{body}"
    );
    let warnings = report["controller"]["warnings"].to_string();
    assert!(
        warnings.contains("notification to http://127.0.0.1 failed: the server answered HTTP 500"),
        "{warnings}"
    );
    assert_eq!(broken.records("request").len(), 1);
}
