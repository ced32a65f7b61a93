//! Probe reports for tests, built in code so they follow the report type as it grows.

use patchgap_probe::report::{
    Actions, Finding, FindingKind, HostInfo, NowAtPath, Owner, PackageChange, ScanStats,
    ServiceAction, SessionAction, Severity, StaleProcess,
};
use patchgap_probe::{Report, SCHEMA_VERSION};

/// A host with nothing pending.
pub fn clean(hostname: &str) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        probe_version: "0.1.0".into(),
        host: HostInfo {
            hostname: hostname.into(),
            arch: "x86_64".into(),
            ..HostInfo::default()
        },
        scan: ScanStats::default(),
        processes: Vec::new(),
        packages: Vec::new(),
        actions: Actions::default(),
        ignored: Vec::new(),
        kernel: Default::default(),
        microcode: Default::default(),
        reboot: Default::default(),
        integrity: None,
        warnings: Vec::new(),
        exposure: None,
    }
}

pub fn process(pid: u32, comm: &str, unit: &str, library: &str, package: &str) -> StaleProcess {
    StaleProcess {
        pid,
        ppid: 1,
        uid: 0,
        comm: comm.into(),
        exe: Some(format!("/usr/sbin/{comm}")),
        started_at: None,
        owner: Owner::Service { unit: unit.into() },
        stale_since: None,
        findings: vec![Finding {
            kind: FindingKind::MapDeleted,
            path: library.into(),
            package: Some(package.into()),
            now_at_path: NowAtPath::AnotherFile,
            severity: Severity::Normal,
        }],
    }
}

pub fn package(name: &str, processes: u32) -> PackageChange {
    PackageChange {
        context: "host".into(),
        name: name.into(),
        version: Some("3.0.15-1".into()),
        changed_at: None,
        previous_version: None,
        processes,
    }
}

pub fn service(unit: &str, pids: Vec<u32>, packages: &[&str], refused: bool) -> ServiceAction {
    ServiceAction {
        unit: unit.into(),
        pids,
        packages: packages.iter().map(|p| p.to_string()).collect(),
        restart_refused: refused,
    }
}

/// nginx and sshd on an old libssl3, dbus (refused) on libc6, and a login session.
pub fn with_findings(hostname: &str) -> Report {
    let mut report = clean(hostname);
    report.processes = vec![
        process(
            100,
            "nginx",
            "nginx.service",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "libssl3:amd64",
        ),
        process(
            200,
            "sshd",
            "ssh.service",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "libssl3:amd64",
        ),
        process(
            300,
            "dbus-daemon",
            "dbus.service",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "libc6",
        ),
    ];
    report.packages = vec![package("libssl3:amd64", 2), package("libc6", 2)];
    report.actions = Actions {
        services: vec![
            service("ssh.service", vec![200], &["libssl3:amd64"], false),
            service("nginx.service", vec![100], &["libssl3:amd64"], false),
            service("dbus.service", vec![300], &["libc6"], true),
        ],
        sessions: vec![SessionAction {
            name: "session-4.scope".into(),
            uid: Some(1000),
            pids: vec![400],
            packages: vec!["libc6".into()],
        }],
        ..Actions::default()
    };
    report
}

/// Only libssl3 behind one service, on another architecture's spelling.
pub fn with_one_service(hostname: &str) -> Report {
    let mut report = clean(hostname);
    report.processes = vec![process(
        10,
        "postgres",
        "postgresql@15-main.service",
        "/usr/lib/aarch64-linux-gnu/libssl.so.3",
        "libssl3:arm64",
    )];
    report.packages = vec![package("libssl3:arm64", 1)];
    report.actions.services = vec![service(
        "postgresql@15-main.service",
        vec![10],
        &["libssl3:arm64"],
        false,
    )];
    report
}

pub fn report_json(report: &Report) -> String {
    serde_json::to_string(report).expect("a report serializes")
}

/// One stale process per unit (`(unit, restart_refused)`), each on an old libpgtest1.
pub fn stale_services(hostname: &str, units: &[(&str, bool)]) -> Report {
    let mut report = clean(hostname);
    for (i, (unit, refused)) in (1u32..).zip(units) {
        let comm = unit.strip_suffix(".service").unwrap_or(unit);
        report.processes.push(process(
            i * 100,
            comm,
            unit,
            "/usr/lib/x86_64-linux-gnu/libpgtest.so.1",
            "libpgtest1",
        ));
        report
            .actions
            .services
            .push(service(unit, vec![i * 100], &["libpgtest1"], *refused));
    }
    if !units.is_empty() {
        report.packages = vec![package(
            "libpgtest1",
            u32::try_from(units.len()).unwrap_or(0),
        )];
    }
    report
}

/// A clean host in boot `boot_id`, running kernel `release`.
pub fn booted(hostname: &str, boot_id: &str, release: &str) -> Report {
    let mut report = clean(hostname);
    report.host.boot_id = Some(boot_id.into());
    report.kernel.running.release = Some(release.into());
    report
}

/// A host in boot `boot_id` that runs kernel 6.1.0-27 with 6.1.0-28 installed to boot
/// next: the probe asks for a reboot.
pub fn needs_reboot(hostname: &str, boot_id: &str) -> Report {
    use patchgap_probe::report::{BootDefault, BootSource, KernelStatus, ReasonKind, RebootReason};
    let mut report = booted(hostname, boot_id, "6.1.0-27-amd64");
    report.kernel.status = KernelStatus::VersionUpdatePending;
    report.kernel.boot_default = Some(BootDefault {
        release: "6.1.0-28-amd64".into(),
        image: None,
        build: None,
        source: BootSource::HighestInstalled,
        guess: true,
    });
    report.reboot.needed = true;
    report.reboot.reasons = vec![RebootReason {
        kind: ReasonKind::Kernel,
        message: "kernel 6.1.0-28-amd64 installed, running 6.1.0-27-amd64".into(),
        packages: vec!["linux-image-6.1.0-28-amd64".into()],
    }];
    report
}
