//! Whether the probe runs inside a container, where the kernel (and the microcode) belong
//! to the host and a reboot of "this machine" is not what fixes them.
//!
//! Only files readable without root are used, in order of reliability: systemd's
//! `/run/systemd/container`, PID 1's `container=` environment variable (root only on most
//! hosts), the marker files of docker and podman, PID 1's cgroup path, and the PID that
//! `/proc/1/sched` reports (older kernels show the host's PID there).

use std::fs;

use crate::report::ContainerInfo;
use crate::roots::Roots;

const CGROUP_HINTS: &[(&str, &str)] = &[
    ("/docker/", "docker"),
    ("/docker-", "docker"),
    ("libpod-", "podman"),
    ("/lxc/", "lxc"),
    ("/lxc.payload", "lxc"),
    ("/kubepods", "kubernetes"),
];

/// The container the probe runs in, if any.
pub fn detect_container(roots: &Roots) -> Option<ContainerInfo> {
    let found = |runtime: Option<&str>, evidence: &str| ContainerInfo {
        runtime: runtime.filter(|r| !r.is_empty()).map(str::to_string),
        evidence: evidence.to_string(),
    };
    if let Ok(text) = fs::read_to_string(roots.fs_path("/run/systemd/container")) {
        return Some(found(Some(text.trim()), "/run/systemd/container"));
    }
    if let Ok(env) = fs::read(roots.proc_path("1/environ")) {
        let var = env
            .split(|b| *b == 0)
            .find_map(|kv| kv.strip_prefix(b"container="));
        if let Some(value) = var {
            let value = String::from_utf8_lossy(value);
            return Some(found(Some(&value), "/proc/1/environ"));
        }
    }
    if roots.fs_path("/.dockerenv").exists() {
        return Some(found(Some("docker"), "/.dockerenv"));
    }
    if roots.fs_path("/run/.containerenv").exists() {
        return Some(found(Some("podman"), "/run/.containerenv"));
    }
    if let Ok(text) = fs::read_to_string(roots.proc_path("1/cgroup")) {
        let hint = text.lines().find_map(|line| {
            let path = line.splitn(3, ':').nth(2)?;
            CGROUP_HINTS
                .iter()
                .find(|(needle, _)| path.contains(needle))
                .map(|(_, runtime)| *runtime)
        });
        if let Some(runtime) = hint {
            return Some(found(Some(runtime), "/proc/1/cgroup"));
        }
    }
    if let Ok(text) = fs::read_to_string(roots.proc_path("1/sched"))
        && sched_pid(&text).is_some_and(|pid| pid != 1)
    {
        return Some(found(None, "/proc/1/sched"));
    }
    None
}

/// The PID in the first line of `/proc/PID/sched`: `systemd (1, #threads: 1)`.
fn sched_pid(text: &str) -> Option<u32> {
    let line = text.lines().next()?;
    let open = line.rfind(" (")?;
    line[open + 2..].split(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Roots) {
        let dir = tempfile::tempdir().expect("tempdir");
        let roots = Roots::fixture(dir.path());
        for (path, body) in files {
            let p = match path.strip_prefix("/proc/") {
                Some(rel) => roots.proc_path(rel),
                None => roots.fs_path(path),
            };
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, body).expect("write");
        }
        (dir, roots)
    }

    #[test]
    fn each_signal_is_recognised() {
        let cases: &[(&str, &[u8], Option<&str>)] = &[
            (
                "/run/systemd/container",
                b"systemd-nspawn\n",
                Some("systemd-nspawn"),
            ),
            (
                "/proc/1/environ",
                b"PATH=/bin\0container=lxc\0",
                Some("lxc"),
            ),
            ("/.dockerenv", b"", Some("docker")),
            ("/run/.containerenv", b"engine=\"podman\"", Some("podman")),
            (
                "/proc/1/cgroup",
                b"0::/system.slice/docker-0123abcd.scope\n",
                Some("docker"),
            ),
            ("/proc/1/sched", b"bash (4242, #threads: 1)\n----\n", None),
        ];
        for (path, body, runtime) in cases {
            let (_dir, roots) = host(&[(path, body)]);
            let info = detect_container(&roots).expect(path);
            assert_eq!(info.runtime.as_deref(), *runtime, "{path}");
            assert_eq!(info.evidence, *path);
        }
    }

    #[test]
    fn plain_host_is_no_container() {
        let (_dir, roots) = host(&[
            ("/proc/1/cgroup", b"0::/init.scope\n"),
            ("/proc/1/sched", b"systemd (1, #threads: 1)\n"),
            ("/proc/1/environ", b"HOME=/\0TERM=linux\0"),
        ]);
        assert_eq!(detect_container(&roots), None);
        assert_eq!(sched_pid("sd (x) (7, #threads: 2)"), Some(7));
    }
}
