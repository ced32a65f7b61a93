//! `/proc/PID/maps`, `/proc/PID/stat`, `/proc/stat` and `/proc/PID/cgroup`.

use patchgap_probe::procfs::{cgroup, maps, stat};
use patchgap_probe::report::Owner;
use proptest::prelude::*;

use super::{apply, borrowed_from, cases, edits, line_count, texty};

/// A maps line as the kernel prints it, and the parts it was made of.
#[derive(Debug, Clone)]
struct MapsLine {
    text: String,
    executable: bool,
    dev: (u32, u32),
    inode: u64,
    path: String,
    deleted: bool,
}

fn maps_line() -> impl Strategy<Value = MapsLine> {
    (
        (any::<u64>(), any::<u32>()),
        "[r-][w-][x-][ps]",
        any::<u64>(),
        (any::<u32>(), any::<u32>()),
        1..=u64::MAX,
        "/[a-zA-Z0-9 ._()@:-]{0,40}",
        any::<bool>(),
        0..30usize,
    )
        .prop_filter("a path already marked", |(.., path, _, _)| {
            !path.ends_with(maps::DELETED_SUFFIX)
        })
        .prop_map(
            |((start, len), perms, offset, dev, inode, path, deleted, pad)| {
                let mark = if deleted { maps::DELETED_SUFFIX } else { "" };
                let end = start.saturating_add(u64::from(len));
                MapsLine {
                    text: format!(
                        "{start:x}-{end:x} {perms} {offset:08x} {:02x}:{:02x} {inode}{}{path}{mark}",
                        dev.0,
                        dev.1,
                        " ".repeat(pad + 1)
                    ),
                    executable: perms.as_bytes()[2] == b'x',
                    dev,
                    inode,
                    path,
                    deleted,
                }
            },
        )
}

/// Checks what any maps text may give: borrowed paths, at most one entry per line.
fn check_maps(text: &str) {
    let files = maps::executable_files(text);
    assert!(files.len() <= line_count(text));
    for m in &files {
        assert!(m.executable && m.inode != 0 && m.path.starts_with('/'));
        assert!(borrowed_from(m.path, text) && borrowed_from(m.range, text));
    }
}

/// A stat line: `pid (comm) state` and 49 more fields, as `proc_pid_stat(5)` lists them.
fn stat_line(comm: &str, ppid: u32, flags: u64, start: u64) -> String {
    let mut fields: Vec<String> = vec!["S".into(), ppid.to_string()];
    fields.extend((5..=52).map(|n| match n {
        9 => flags.to_string(),
        22 => start.to_string(),
        7 => "-1".into(),
        n => (n * 1000).to_string(),
    }));
    format!("4242 ({comm}) {}\n", fields.join(" "))
}

/// cgroup path components that the classification looks for, and near misses.
const CGROUP_PARTS: &[&str] = &[
    "system.slice",
    "user.slice",
    "user-1000.slice",
    "user-99999999999.slice",
    "user@1000.service",
    "user@.service",
    "user@18446744073709551616.service",
    "session-3.scope",
    "session-.scope",
    "init.scope",
    "ssh.service",
    ".service",
    "docker-0123abcd.scope",
    "docker-.scope",
    "docker",
    "libpod-99aa.scope",
    "libpod-conmon-99aa.scope",
    "cri-containerd-abc.scope",
    "crio-.scope",
    "lxc",
    "lxc.monitor",
    "lxc.payload.",
    "lxc.payload.db1",
    "machine-web\\x2d1.scope",
    "machine-\\x.scope",
    "machine-\\xf.scope",
    "machine-\\xff\\xfe.scope",
    "systemd-nspawn@h01.service",
    "systemd-nspawn@.service",
    "payload",
    "",
    "é",
];

fn cgroup_path() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        3 => prop::sample::select(CGROUP_PARTS).prop_map(str::to_string),
        1 => texty(),
    ];
    (prop::collection::vec(part, 0..8), edits())
        .prop_map(|(parts, e)| apply(&format!("/{}", parts.join("/")), &e))
}

/// Every string an owner holds, to bound them by the path.
fn owner_strings(o: &Owner) -> Vec<&str> {
    match o {
        Owner::Service { unit } => vec![unit],
        Owner::SystemManager => vec![],
        Owner::UserManager { unit, .. } => unit.iter().map(String::as_str).collect(),
        Owner::Session { id, .. } => vec![id],
        Owner::Container { runtime, id, unit } => {
            let mut v = vec![runtime.as_str(), id.as_str()];
            v.extend(unit.as_deref());
            v
        }
        Owner::Other { cgroup } => cgroup.iter().map(String::as_str).collect(),
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn maps_arbitrary_text(text in texty()) {
        check_maps(&text);
    }

    #[test]
    fn maps_valid_lines_parse_back(line in maps_line()) {
        let m = maps::parse_line(&line.text).expect("a valid line parses");
        prop_assert_eq!(m.path, line.path.as_str());
        prop_assert_eq!(
            (m.executable, m.dev, m.inode, m.deleted),
            (line.executable, line.dev, line.inode, line.deleted)
        );
    }

    #[test]
    fn maps_mutated_lines(lines in prop::collection::vec(maps_line(), 1..6), e in edits()) {
        let text: Vec<String> = lines.into_iter().map(|l| l.text).collect();
        check_maps(&apply(&text.join("\n"), &e));
    }

    #[test]
    fn stat_valid_lines_parse_back(
        comm in prop_oneof!["[^\n\0]{0,64}", "[() a-z]{0,64}"],
        ppid in any::<u32>(),
        flags in any::<u64>(),
        start in any::<u64>(),
    ) {
        let s = stat::parse(&stat_line(&comm, ppid, flags, start)).expect("a valid line parses");
        prop_assert_eq!(
            s,
            stat::Stat { comm, ppid, flags, start_ticks: start }
        );
    }

    #[test]
    fn stat_start_time_of_any_numbers(
        start in prop_oneof![any::<u64>(), Just(u64::MAX)],
        booted in prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MIN), 0..2_000_000_000i64],
    ) {
        // `btime` and the start ticks both come from files: their sum must not overflow.
        let s = stat::parse(&stat_line("x", 1, 0, start)).expect("a valid line parses");
        let at = s.started_at(booted);
        prop_assert!(at >= booted);
    }

    #[test]
    fn stat_mutated_and_arbitrary(
        comm in "[^\n]{0,64}",
        e in edits(),
        other in texty(),
        booted in any::<i64>(),
    ) {
        for text in [apply(&stat_line(&comm, 1, 0x0020_0000, 99), &e), other] {
            if let Some(s) = stat::parse(&text) {
                prop_assert!(s.comm.len() <= text.len());
                // Any start time, any boot time: computing the start must not overflow.
                let _ = s.started_at(booted);
                let _ = s.is_kernel_thread();
            }
        }
    }

    #[test]
    fn proc_stat_btime(btime in any::<i64>(), before in texty(), e in edits()) {
        let text = format!("cpu 1 2 3\n{before}\nbtime {btime}\nprocesses 9\n");
        if !before.contains("btime ") {
            prop_assert_eq!(stat::boot_time(&text), Some(btime));
        }
        let _ = stat::boot_time(&apply(&text, &e));
    }

    #[test]
    fn cgroup_file_lines(
        lines in prop::collection::vec(
            (prop_oneof![Just("0".to_string()), "[0-9]{1,3}", texty()],
             prop_oneof![Just(String::new()), Just("name=systemd".to_string()), texty()],
             cgroup_path()),
            0..6,
        ),
        e in edits(),
    ) {
        let text: Vec<String> = lines
            .iter()
            .map(|(id, ctrl, path)| format!("{id}:{ctrl}:{path}"))
            .collect();
        let text = apply(&text.join("\n"), &e);
        if let Some(path) = cgroup::systemd_path(&text) {
            prop_assert!(borrowed_from(path, &text));
        }
    }

    #[test]
    fn cgroup_owner_is_bounded(path in prop_oneof![cgroup_path(), texty()]) {
        if let Some(c) = cgroup::container(&path) {
            prop_assert!(c.id.len() <= path.len());
            prop_assert!(c.inner.len() <= path.split('/').count());
            prop_assert!(c.inner.iter().all(|p| borrowed_from(p, &path)));
        }
        let owner = cgroup::owner(Some(&path));
        for s in owner_strings(&owner) {
            prop_assert!(s.len() <= path.len(), "{:?} from {:?}", owner, path);
        }
    }
}

/// `btime` near the end of time plus a start time overflowed `started_at`.
#[test]
fn started_at_saturates_with_a_huge_btime() {
    let s = stat::parse(&stat_line("x", 1, 0, 100)).expect("a valid line parses");
    assert_eq!(s.started_at(i64::MAX), i64::MAX);
}
