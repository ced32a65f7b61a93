//! Groups stale processes by what fixes them: a service restart, a re-exec of the system
//! manager, a new login, a container restart. Also marks the services that must never be
//! restarted without being told to (needrestart's `override_rc` list).

use std::collections::{BTreeMap, BTreeSet};

use crate::report::{Actions, ContainerAction, Owner, ServiceAction, SessionAction, StaleProcess};

/// Unit name prefixes (matched as needrestart's `^prefix` rules) whose restart cuts off users, the network or the machine's control.
const REFUSED_PREFIXES: &[&str] = &[
    "dbus",
    "gdm",
    "greetd",
    "kdm",
    "nodm",
    "sddm",
    "wdm",
    "xdm",
    "lightdm",
    "slim",
    "lxdm",
    "xrdp",
    "NetworkManager",
    "ModemManager",
    "wpa_supplicant",
    "ifup",
    "openvpn",
    "bird",
    "quagga",
    "frr",
    "tinc",
    "bluetooth",
    "network",
    "getty@",
    "serial-getty@",
    "user@",
    "usbguard",
    "zfs-fuse",
    "xendomains",
    "lxc",
    "lxcfs",
    "libvirt",
    "virtlogd",
    "virtlockd",
    "docker",
    "bacula-",
    "emergency",
    "rescue",
    "systemd-logind",
    "elogind",
    "systemd-nspawn",
    "apt-daily",
    "unattended-upgrades",
    "cron-",
    "rc-local",
];

/// Whether a restart campaign must leave this unit alone unless told otherwise.
pub fn restart_refused(unit: &str) -> bool {
    let name = unit.strip_suffix(".service").unwrap_or(unit);
    name.ends_with("swan") || REFUSED_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn packages(p: &StaleProcess) -> impl Iterator<Item = String> + '_ {
    p.findings.iter().filter_map(|f| f.package.clone())
}

#[derive(Default)]
struct Group {
    uid: Option<u32>,
    pids: Vec<u32>,
    packages: BTreeSet<String>,
}

impl Group {
    fn add(&mut self, p: &StaleProcess) {
        self.pids.push(p.pid);
        self.packages.extend(packages(p));
    }
}

/// Builds the report's `actions` from its stale processes.
pub fn group(processes: &[StaleProcess]) -> Actions {
    let mut services: BTreeMap<String, Group> = BTreeMap::new();
    let mut sessions: BTreeMap<String, Group> = BTreeMap::new();
    let mut containers: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut actions = Actions::default();
    for p in processes {
        match &p.owner {
            Owner::Service { unit } => services.entry(unit.clone()).or_default().add(p),
            Owner::SystemManager => actions.system_manager.push(p.pid),
            Owner::UserManager { uid, .. } => {
                let g = sessions.entry(format!("user@{uid}.service")).or_default();
                g.uid = Some(*uid);
                g.add(p);
            }
            Owner::Session { id, uid } => {
                let g = sessions.entry(format!("session-{id}.scope")).or_default();
                g.uid = *uid;
                g.add(p);
            }
            Owner::Container { runtime, id, .. } => containers
                .entry((runtime.clone(), id.clone()))
                .or_default()
                .add(p),
            Owner::Other { .. } => actions.other_pids.push(p.pid),
        }
    }
    actions.services = services
        .into_iter()
        .map(|(unit, g)| ServiceAction {
            restart_refused: restart_refused(&unit),
            unit,
            pids: g.pids,
            packages: g.packages.into_iter().collect(),
        })
        .collect();
    actions.sessions = sessions
        .into_iter()
        .map(|(name, g)| SessionAction {
            name,
            uid: g.uid,
            pids: g.pids,
            packages: g.packages.into_iter().collect(),
        })
        .collect();
    actions.containers = containers
        .into_iter()
        .map(|((runtime, id), g)| ContainerAction {
            runtime,
            id,
            pids: g.pids,
            packages: g.packages.into_iter().collect(),
        })
        .collect();
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_units() {
        for u in [
            "dbus.service",
            "dbus-broker.service",
            "getty@tty1.service",
            "user@1000.service",
            "NetworkManager.service",
            "strongswan.service",
            "systemd-logind.service",
            "apt-daily-upgrade.service",
            "docker.service",
            "networking.service",
        ] {
            assert!(restart_refused(u), "{u}");
        }
        for u in [
            "nginx.service",
            "ssh.service",
            "cron.service",
            "systemd-journald.service",
        ] {
            assert!(!restart_refused(u), "{u}");
        }
    }
}
