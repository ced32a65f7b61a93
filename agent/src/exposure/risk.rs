//! The risk of a stale process and of a service, from the report's own facts: what the
//! replaced code lacks (security, CVEs, urgency), who can reach the process (its
//! listening sockets) and for how long it has run replaced code (`stale_since` against
//! the report's `scanned_at`, never the wall clock, so the same report always ranks the
//! same way, locally and in a fleet). The rule is documented in `docs/risk.md`; keep them
//! in step.
//!
//! | level    | when |
//! |----------|------|
//! | critical | a security update and a socket on every interface or a public address |
//! | high     | a security update and a socket on loopback or a private address; a security update ignored for [`LONG_DAYS`] days or more; an update of unknown kind and a socket on every interface or a public address |
//! | medium   | a security update, no socket; an update of unknown kind with any socket or ignored for [`LONG_DAYS`] days; a non-security update of urgency `high` or above |
//! | low      | anything else: non-security updates, updates of unknown kind without sockets, files no package owns |

use std::collections::BTreeSet;

use crate::report::{
    AddressClass, ListeningSocket, PackageExposure, Risk, RiskLevel, Security, StaleProcess,
};

/// Days of running replaced code after which a security update counts as ignored.
pub const LONG_DAYS: i64 = 7;

/// The facts about one stale process that its risk is derived from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub process: &'a StaleProcess,
    /// The exposure of the packages behind its findings.
    pub packages: &'a [&'a PackageExposure],
    pub sockets: &'a [ListeningSocket],
    /// `scanned_at` of the report.
    pub scanned_at: i64,
}

/// The risk of one stale process, with its reasons, most important first.
pub fn of_process(f: Facts<'_>) -> Risk {
    let mut reasons = Vec::new();
    let security: Vec<&&PackageExposure> = f
        .packages
        .iter()
        .filter(|p| p.security == Security::Security)
        .collect();
    let unknown: Vec<&&PackageExposure> = f
        .packages
        .iter()
        .filter(|p| p.security == Security::Unknown)
        .collect();
    for p in &security {
        reasons.push(security_words(p));
    }
    for p in &unknown {
        reasons.push(format!(
            "{} update of unknown kind ({})",
            p.name,
            p.security_reasons
                .first()
                .map_or("no changelog read", String::as_str)
        ));
    }
    let urgent = f
        .packages
        .iter()
        .filter(|p| p.security == Security::NotSecurity)
        .filter_map(|p| Some((p, p.urgency.as_deref()?)))
        .find(|(_, u)| super::changelog::urgency_rank(u) >= 2);
    if let Some((p, u)) = urgent {
        reasons.push(format!("{} update of urgency {u}", p.name));
    }
    if f.packages.is_empty() {
        reasons.push("replaced files owned by no package".to_string());
    } else if security.is_empty() && unknown.is_empty() {
        let names: BTreeSet<&str> = f.packages.iter().map(|p| p.name.as_str()).collect();
        reasons.push(format!(
            "non-security update of {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let widest = f.sockets.iter().map(|s| s.class).max();
    if let Some(s) = f.sockets.iter().max_by_key(|s| s.class) {
        reasons.push(listen_words(s, f.sockets.len()));
    }
    let days = f
        .process
        .stale_since
        .map(|since| (f.scanned_at - since).max(0) / 86_400);
    if let Some(d) = days.filter(|d| *d >= 1) {
        reasons.push(format!("for {d} day{}", if d == 1 { "" } else { "s" }));
    }
    let long = days.is_some_and(|d| d >= LONG_DAYS);
    let reachable_widely = matches!(widest, Some(AddressClass::Any | AddressClass::Public));
    let level = if !security.is_empty() {
        if reachable_widely {
            RiskLevel::Critical
        } else if widest.is_some() || long {
            RiskLevel::High
        } else {
            RiskLevel::Medium
        }
    } else if !unknown.is_empty() {
        if reachable_widely {
            RiskLevel::High
        } else if widest.is_some() || long {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    } else if urgent.is_some() {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    };
    Risk { level, reasons }
}

/// "libssl3 security update (bookworm-security) with CVE-2024-1, CVE-2024-2".
fn security_words(p: &PackageExposure) -> String {
    let mut s = format!("{} security update", p.name);
    if !p.cves.is_empty() {
        s.push_str(" with ");
        s.push_str(&p.cves.join(", "));
    }
    let suites: Vec<&str> = p
        .security_reasons
        .iter()
        .filter_map(|r| r.strip_prefix("uploaded to "))
        .collect();
    if !suites.is_empty() {
        s.push_str(&format!(" ({})", suites.join(", ")));
    }
    s
}

/// "listens on 0.0.0.0:443/tcp (any address)", and how many more.
fn listen_words(s: &ListeningSocket, total: usize) -> String {
    let class = match s.class {
        AddressClass::Loopback => "loopback",
        AddressClass::Private => "private network",
        AddressClass::Public => "public address",
        AddressClass::Any => "every interface",
    };
    let addr = if s.address.contains(':') {
        format!("[{}]", s.address)
    } else {
        s.address.clone()
    };
    let proto = match s.protocol {
        crate::report::Protocol::Tcp => "tcp",
        crate::report::Protocol::Udp => "udp",
    };
    let more = match total {
        0 | 1 => String::new(),
        n => format!(
            " and {} more socket{}",
            n - 1,
            if n == 2 { "" } else { "s" }
        ),
    };
    format!("listens on {addr}:{}/{proto} ({class}){more}", s.port)
}

/// The risk of a service: its riskiest process's level and reasons.
pub fn of_service<'r>(risks: impl IntoIterator<Item = &'r Risk>) -> Option<Risk> {
    risks
        .into_iter()
        .max_by(|a, b| {
            a.level
                .cmp(&b.level)
                .then(b.reasons.len().cmp(&a.reasons.len()))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Owner, Protocol, VersionOrigin};

    const NOW: i64 = 1_700_000_000;

    fn process(stale_days: i64) -> StaleProcess {
        StaleProcess {
            pid: 10,
            ppid: 1,
            uid: 0,
            comm: "pgtestd".into(),
            exe: None,
            started_at: None,
            owner: Owner::Other { cgroup: None },
            stale_since: Some(NOW - stale_days * 86_400 - 5),
            findings: Vec::new(),
        }
    }

    fn package(security: Security, cves: &[&str], urgency: &str) -> PackageExposure {
        PackageExposure {
            context: "host".into(),
            name: "libpgtest1".into(),
            installed_version: Some("1.0-2".into()),
            running_version: Some("1.0-1".into()),
            running_version_from: VersionOrigin::DpkgLog,
            security,
            security_reasons: match security {
                Security::Security => vec!["uploaded to bookworm-security".into()],
                Security::Unknown => vec!["no changelog: excluded".into()],
                Security::NotSecurity => vec!["1 entry".into()],
            },
            cves: cves.iter().map(|c| c.to_string()).collect(),
            urgency: Some(urgency.into()),
            entries: 1,
            changelogs: Vec::new(),
        }
    }

    fn socket(address: &str, class: AddressClass) -> ListeningSocket {
        ListeningSocket {
            protocol: Protocol::Tcp,
            address: address.into(),
            port: 443,
            class,
        }
    }

    fn risk(p: &PackageExposure, sockets: &[ListeningSocket], days: i64) -> Risk {
        let proc_ = process(days);
        of_process(Facts {
            process: &proc_,
            packages: &[p],
            sockets,
            scanned_at: NOW,
        })
    }

    #[test]
    fn the_rule_table() {
        use AddressClass::*;
        use RiskLevel::*;
        let sec = package(Security::Security, &["CVE-2024-1234"], "medium");
        let unk = package(Security::Unknown, &[], "low");
        let plain = package(Security::NotSecurity, &[], "low");
        let urgent = package(Security::NotSecurity, &[], "high");
        let any = [socket("0.0.0.0", Any)];
        let public = [socket("203.0.113.5", Public)];
        let private = [socket("10.0.0.1", Private)];
        let lo = [socket("127.0.0.1", Loopback)];
        let cases: [(&PackageExposure, &[ListeningSocket], i64, RiskLevel); 14] = [
            (&sec, &any, 0, Critical),
            (&sec, &public, 0, Critical),
            (&sec, &private, 0, High),
            (&sec, &lo, 0, High),
            (&sec, &[], LONG_DAYS, High),
            (&sec, &[], LONG_DAYS - 1, Medium),
            (&unk, &any, 0, High),
            (&unk, &lo, 0, Medium),
            (&unk, &[], LONG_DAYS, Medium),
            (&unk, &[], 0, Low),
            (&urgent, &[], 0, Medium),
            (&plain, &any, 0, Low),
            (&plain, &[], 300, Low),
            (&plain, &lo, 0, Low),
        ];
        for (i, (p, s, days, want)) in cases.into_iter().enumerate() {
            assert_eq!(risk(p, s, days).level, want, "case {i}");
        }
    }

    #[test]
    fn reasons_say_what_and_where_and_how_long() {
        let sec = package(
            Security::Security,
            &["CVE-2024-1234", "CVE-2024-12345"],
            "high",
        );
        let r = risk(&sec, &[socket("0.0.0.0", AddressClass::Any)], 9);
        assert_eq!(r.level, RiskLevel::Critical);
        assert_eq!(
            r.reasons,
            [
                "libpgtest1 security update with CVE-2024-1234, CVE-2024-12345 (bookworm-security)",
                "listens on 0.0.0.0:443/tcp (every interface)",
                "for 9 days"
            ]
        );
        let unk = package(Security::Unknown, &[], "low");
        let r = risk(&unk, &[], 0);
        assert_eq!(
            r.reasons,
            ["libpgtest1 update of unknown kind (no changelog: excluded)"]
        );
    }

    #[test]
    fn a_service_takes_its_riskiest_process() {
        let low = Risk {
            level: RiskLevel::Low,
            reasons: vec!["a".into()],
        };
        let high = Risk {
            level: RiskLevel::High,
            reasons: vec!["b".into()],
        };
        assert_eq!(of_service([&low, &high, &low]), Some(high));
        assert_eq!(of_service([]), None);
    }
}
