//! Who owns a process, from `/proc/PID/cgroup` (see `cgroups(7)`): the systemd unit,
//! user manager, login session or container.
//!
//! systemd names every cgroup after its unit, so the path says what to restart. cgroup v1
//! (`N:name=systemd:/path`) and v2 (`0::/path`) both exist in the wild; the systemd
//! hierarchy is preferred when both are there.

use crate::report::Owner;

/// The systemd cgroup path of a process, from the text of `/proc/PID/cgroup`.
pub fn systemd_path(text: &str) -> Option<&str> {
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrl == "name=systemd" {
            return Some(path);
        }
        if id == "0" && ctrl.is_empty() {
            unified = Some(path);
        }
    }
    unified
}

/// A container found in a cgroup path, and the path's remainder inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef<'a> {
    pub runtime: &'static str,
    pub id: String,
    pub inner: Vec<&'a str>,
}

/// Finds a container runtime's marker in a cgroup path: docker, podman (libpod),
/// containerd/CRI, CRI-O, LXC, and machined/nspawn machines.
pub fn container(path: &str) -> Option<ContainerRef<'_>> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in comps.iter().enumerate() {
        let next = comps.get(i + 1).copied();
        let found = if let Some(id) = scope_id(c, "docker-") {
            Some(("docker", id.to_string(), i + 1))
        } else if *c == "docker" && next.is_some() {
            Some(("docker", next.unwrap_or_default().to_string(), i + 2))
        } else if let Some(id) = scope_id(c, "libpod-").filter(|id| !id.starts_with("conmon-")) {
            Some(("podman", id.to_string(), i + 1))
        } else if let Some(id) = scope_id(c, "cri-containerd-") {
            Some(("containerd", id.to_string(), i + 1))
        } else if let Some(id) = scope_id(c, "crio-") {
            Some(("cri-o", id.to_string(), i + 1))
        } else if let Some(name) = c.strip_prefix("lxc.payload.") {
            Some(("lxc", name.to_string(), i + 1))
        } else if (*c == "lxc" || *c == "lxc.monitor") && next.is_some() {
            Some(("lxc", next.unwrap_or_default().to_string(), i + 2))
        } else if let Some(name) = scope_id(c, "machine-") {
            Some(("machined", unescape(name), i + 1))
        } else {
            c.strip_prefix("systemd-nspawn@")
                .and_then(|n| n.strip_suffix(".service"))
                .map(|name| ("nspawn", unescape(name), i + 1))
        };
        if let Some((runtime, id, rest)) = found {
            return Some(ContainerRef {
                runtime,
                id,
                inner: comps.get(rest..).unwrap_or_default().to_vec(),
            });
        }
    }
    None
}

fn scope_id<'a>(component: &'a str, prefix: &str) -> Option<&'a str> {
    component.strip_prefix(prefix)?.strip_suffix(".scope")
}

/// Undoes systemd's unit-name escaping of `-` and other bytes (`\x2d`).
fn unescape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find("\\x") {
        out.push_str(&rest[..pos]);
        let hex = rest.get(pos + 2..pos + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[pos + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[pos + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The last `.service` unit among path components, ignoring `user@UID.service`.
fn last_service<'a>(comps: &[&'a str]) -> Option<&'a str> {
    comps
        .iter()
        .rev()
        .find(|c| c.ends_with(".service") && !c.starts_with("user@"))
        .copied()
}

/// Classifies a process by its systemd cgroup path (without container markers).
pub fn owner(path: Option<&str>) -> Owner {
    let Some(path) = path else {
        return Owner::Other { cgroup: None };
    };
    if let Some(c) = container(path) {
        return Owner::Container {
            runtime: c.runtime.to_string(),
            id: c.id,
            unit: last_service(&c.inner).map(str::to_string),
        };
    }
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if comps == ["init.scope"] {
        return Owner::SystemManager;
    }
    if let Some(pos) = comps.iter().position(|c| user_manager_uid(c).is_some()) {
        let uid = user_manager_uid(comps[pos]).unwrap_or_default();
        let unit = last_service(&comps[pos + 1..]).map(str::to_string);
        return Owner::UserManager { uid, unit };
    }
    if let Some(id) = comps.iter().find_map(|c| scope_id(c, "session-")) {
        let uid = comps.iter().find_map(|c| {
            c.strip_prefix("user-")?
                .strip_suffix(".slice")?
                .parse()
                .ok()
        });
        return Owner::Session {
            id: id.to_string(),
            uid,
        };
    }
    match last_service(&comps) {
        Some(unit) => Owner::Service {
            unit: unit.to_string(),
        },
        None => Owner::Other {
            cgroup: Some(path.to_string()),
        },
    }
}

fn user_manager_uid(component: &str) -> Option<u32> {
    component
        .strip_prefix("user@")?
        .strip_suffix(".service")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(u: &str) -> Owner {
        Owner::Service { unit: u.into() }
    }

    #[test]
    fn v1_and_v2_lines() {
        let v1 = "12:pids:/system.slice/ssh.service\n9:name=systemd:/system.slice/ssh.service\n0::/system.slice/ssh.service\n";
        assert_eq!(systemd_path(v1), Some("/system.slice/ssh.service"));
        assert_eq!(
            systemd_path("0::/system.slice/nginx.service\n"),
            Some("/system.slice/nginx.service")
        );
        assert_eq!(systemd_path("3:cpu:/\n"), None);
        assert_eq!(systemd_path("garbage"), None);
    }

    #[test]
    fn units_sessions_managers() {
        assert_eq!(
            owner(Some("/system.slice/nginx.service")),
            svc("nginx.service")
        );
        assert_eq!(
            owner(Some("/system.slice/system-getty.slice/getty@tty1.service")),
            svc("getty@tty1.service")
        );
        assert_eq!(owner(Some("/init.scope")), Owner::SystemManager);
        assert_eq!(
            owner(Some(
                "/user.slice/user-1000.slice/user@1000.service/init.scope"
            )),
            Owner::UserManager {
                uid: 1000,
                unit: None
            }
        );
        assert_eq!(
            owner(Some(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service"
            )),
            Owner::UserManager {
                uid: 1000,
                unit: Some("pipewire.service".into())
            }
        );
        assert_eq!(
            owner(Some("/user.slice/user-0.slice/session-42.scope")),
            Owner::Session {
                id: "42".into(),
                uid: Some(0)
            }
        );
        assert_eq!(
            owner(Some("/")),
            Owner::Other {
                cgroup: Some("/".into())
            }
        );
        assert_eq!(owner(None), Owner::Other { cgroup: None });
    }

    #[test]
    fn containers() {
        let c = |p| match owner(Some(p)) {
            Owner::Container { runtime, id, unit } => (runtime, id, unit),
            o => panic!("not a container: {o:?}"),
        };
        assert_eq!(
            c("/system.slice/docker-0123abcd.scope"),
            ("docker".into(), "0123abcd".into(), None)
        );
        assert_eq!(
            c("/docker/feedbeef"),
            ("docker".into(), "feedbeef".into(), None)
        );
        assert_eq!(
            c("/machine.slice/libpod-99aa.scope/container"),
            ("podman".into(), "99aa".into(), None)
        );
        assert_eq!(
            c("/machine.slice/machine-web\\x2d1.scope/payload/system.slice/ssh.service"),
            (
                "machined".into(),
                "web-1".into(),
                Some("ssh.service".into())
            )
        );
        assert_eq!(c("/lxc.payload.db1/system.slice/cron.service").1, "db1");
        assert_eq!(c("/lxc/db2/init.scope").1, "db2");
        assert_eq!(
            c("/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope").0,
            "containerd"
        );
        assert_eq!(
            c("/system.slice/systemd-nspawn@h01.service/payload").1,
            "h01"
        );
    }
}
