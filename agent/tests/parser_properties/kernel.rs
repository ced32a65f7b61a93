//! Kernel images (bzImage headers, plain and gzip/xz/zstd-compressed banners), version
//! strings, GRUB's `grub.cfg` and `grubenv`, the container hints of `/proc/1/sched`, and
//! all of them at once (with `/run/reboot-required.pkgs`) through the kernel, microcode
//! and reboot collectors of a fixture host.

use std::cmp::Ordering;
use std::io::{Cursor, Write};
use std::sync::LazyLock;

use patchgap_probe::kernel::{
    self as kernel_part, GrubEntry, compare_releases, detect_container, parse_grub_cfg,
    parse_grubenv, parse_version_string, version_from_bytes,
};
use patchgap_probe::roots::under;
use patchgap_probe::{Roots, microcode, reboot};
use proptest::prelude::*;

use super::{apply, apply_bytes, byte_edits, cases, edits, line_count, texty};

/// The longest version text the image reader keeps (its `MAX_VERSION_LEN`); bytes that are
/// not UTF-8 may each turn into a three-byte replacement character.
const MAX_VERSION_TEXT: usize = 3 * 512;

const VERSION: &str = "6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)";

/// What the reader looks for in an image: the setup header, the banner, stream magics.
const MAGICS: &[&[u8]] = &[
    b"",
    b"HdrS",
    b"Linux version 6",
    b"\x1f\x8b\x08",
    b"\xfd7zXZ\0",
    b"\x28\xb5\x2f\xfd",
];

/// A small uncompressed kernel: code, a format string that is not the banner, the banner.
fn vmlinux() -> Vec<u8> {
    let mut raw = vec![0x90u8; 20_000];
    raw.extend_from_slice(b"Linux version %s\0");
    raw.extend_from_slice(format!("Linux version {VERSION}\n\0").as_bytes());
    raw.extend(std::iter::repeat_n(0xccu8, 10_000));
    raw
}

/// The same kernel compressed each way an image may hold it, behind a small stub.
static COMPRESSED: LazyLock<[Vec<u8>; 3]> = LazyLock::new(|| {
    let raw = vmlinux();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut Cursor::new(&raw), &mut xz).expect("xz");
    let zst = ruzstd::encoding::compress_to_vec(
        Cursor::new(&raw),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    [gz, xz, zst].map(|payload| {
        let mut img = b"MZ\0\0zimg".to_vec();
        img.extend(std::iter::repeat_n(0u8, 64));
        img.extend(payload);
        img
    })
});

/// An x86 setup header: `HdrS` at 0x202, the version pointer at 0x20e (relative to 0x200).
fn bzimage(pointer: u16, version: &[u8], len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(0x210)];
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x20e..0x210].copy_from_slice(&pointer.to_le_bytes());
    let at = usize::from(pointer) + 0x200;
    for (dst, src) in b.iter_mut().skip(at).zip(version) {
        *dst = *src;
    }
    b
}

/// Checks the reader on any bytes: no panic, a version of bounded size.
fn check_image(bytes: &[u8]) {
    if let Some(v) = version_from_bytes(bytes) {
        assert!(v.text.len() <= MAX_VERSION_TEXT, "{} bytes", v.text.len());
    }
}

fn count_entries(entries: &[GrubEntry]) -> usize {
    entries.iter().map(|e| 1 + count_entries(&e.children)).sum()
}

/// `grub.cfg` lines: menu entries, submenus, other blocks, braces, `set default=`.
fn grub_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "menuentry '[a-zA-Z0-9 ,.]{0,20}' --class debian \\$menuentry_id_option '[a-z0-9-]{0,12}' \\{",
        "submenu '[a-zA-Z ]{0,12}' \\$menuentry_id_option '[a-z-]{0,8}' \\{",
        "\tlinux\t/boot/vmlinuz-[0-9.a-z-]{0,16} root=UUID=u1 ro",
        Just("}".to_string()),
        Just("function load_video {".to_string()),
        "set default=\"[0-9>a-z${}_]{0,12}\"",
        "[\"'\\\\ a-z{}]{0,20}",
        texty(),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn image_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        magic in prop::sample::select(MAGICS),
        at in any::<prop::sample::Index>(),
    ) {
        let mut bytes = bytes;
        let at = at.index(bytes.len() + 1);
        bytes.splice(at..at, magic.iter().copied());
        check_image(&bytes);
    }

    #[test]
    fn bzimage_header_parses_back(
        pointer in prop_oneof![0x10u16..0x1000, any::<u16>()],
        version in "[0-9][ -~]{0,80}",
        len in 0usize..0x1400,
        e in byte_edits(),
    ) {
        let image = bzimage(pointer, format!("{version}\0").as_bytes(), len);
        let at = usize::from(pointer) + 0x200;
        if at >= 0x210 && at + version.len() < image.len() {
            let v = version_from_bytes(&image).expect("a valid header is read");
            prop_assert_eq!(v.text, version.trim());
        }
        check_image(&apply_bytes(&image, &e));
    }

    #[test]
    fn version_strings(text in prop_oneof![
        "(Linux version )?[0-9][0-9a-z.+~-]{0,20}( \\([^\n]{0,30}\\)){0,3}( #1 SMP [ -~]{0,20})?",
        texty(),
    ], e in edits()) {
        for text in [apply(&text, &e), text] {
            if let Some((release, build)) = parse_version_string(&text) {
                prop_assert!(!release.is_empty() && release.len() <= text.len());
                prop_assert!(build.map_or(0, |b| b.len()) <= text.len());
            }
        }
    }

    #[test]
    fn release_order_is_antisymmetric(
        a in prop_oneof!["[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,3}-[0-9]{1,3}-[a-z0-9]{1,6}", texty()],
        b in prop_oneof!["[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,3}-[0-9]{1,3}-[a-z0-9]{1,6}", texty()],
    ) {
        prop_assert_eq!(compare_releases(&a, &b), compare_releases(&b, &a).reverse());
        prop_assert_eq!(compare_releases(&a, &a), Ordering::Equal);
    }

    #[test]
    fn grub_cfg_and_env(
        lines in prop::collection::vec(grub_line(), 0..16),
        e in edits(),
        env in prop::collection::vec(
            (prop_oneof![Just("saved_entry"), Just("next_entry"), Just("x")],
             prop_oneof!["[0-9>]{0,8}", "[a-z -]{0,12}(>[a-z -]{0,12})?", texty()]),
            0..4,
        ),
        padding in 0usize..1024,
    ) {
        let cfg = apply(&lines.join("\n"), &e);
        let menu = parse_grub_cfg(&cfg);
        prop_assert!(count_entries(&menu.entries) <= line_count(&cfg));
        prop_assert!(menu.default.as_ref().map_or(0, String::len) <= cfg.len());

        let mut grubenv = String::from("# GRUB Environment Block\n");
        for (k, v) in &env {
            grubenv.push_str(&format!("{k}={v}\n"));
        }
        grubenv.push_str(&"#".repeat(padding));
        let env = parse_grubenv(&grubenv);
        prop_assert!(env.len() <= line_count(&grubenv));
        if let Ok(choice) = menu.choose(&env) {
            prop_assert!(choice.linux.len() + choice.title.len() <= cfg.len());
        }
        for default in env.values() {
            let _ = menu.resolve(default);
        }
    }
}

proptest! {
    // Decompressing a mutated stream costs more than parsing text.
    #![proptest_config(cases(96))]

    #[test]
    fn mutated_compressed_images(kind in 0usize..3, e in byte_edits()) {
        let image = &COMPRESSED[kind];
        if e.is_empty() {
            let v = version_from_bytes(image).expect("the banner is found");
            prop_assert_eq!(v.text.as_str(), VERSION);
        }
        check_image(&apply_bytes(image, &e));
    }
}

proptest! {
    // Each case writes a fixture `/proc/1/sched` to disk.
    #![proptest_config(cases(64))]

    #[test]
    fn sched_file(
        comm in "[^\n]{0,20}",
        pid in prop_oneof![Just("1".to_string()), "[0-9]{1,25}", texty()],
        e in edits(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let roots = Roots::fixture(dir.path());
        std::fs::create_dir_all(roots.proc_path("1")).expect("mkdir");
        let text = format!("{comm} ({pid}, #threads: 1)\n---------\nse.exec_start : 1.0\n");
        std::fs::write(roots.proc_path("1/sched"), apply(&text, &e)).expect("write");
        if let Some(found) = detect_container(&roots) {
            prop_assert_eq!(found.evidence.as_str(), "/proc/1/sched");
        }
    }
}

/// Writes `content` at the absolute path `abs` of a fixture host.
fn put(root: &std::path::Path, abs: &str, content: &[u8]) {
    let p = under(root, std::path::Path::new(abs));
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

proptest! {
    // Each case writes a fixture host's `/proc`, `/boot`, `/run` and dpkg status.
    #![proptest_config(cases(48))]

    #[test]
    fn boot_side_of_a_host(
        release in prop_oneof!["[0-9]\\.[0-9]{1,2}\\.0-[0-9]{1,2}-amd64", texty()],
        version in prop_oneof!["Linux version [ -~]{0,60}", texty()],
        btime in prop_oneof![any::<i64>(), Just(i64::MAX), 0..2_000_000_000i64],
        image in prop::collection::vec(any::<u8>(), 0..600),
        cfg in prop::collection::vec(grub_line(), 0..8),
        grubenv in texty(),
        flags in texty(),
        cpuinfo in texty(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        put(root, "/proc/sys/kernel/osrelease", release.as_bytes());
        put(root, "/proc/version", version.as_bytes());
        put(root, "/proc/stat", format!("cpu 1 2\nbtime {btime}\n").as_bytes());
        put(root, "/proc/cpuinfo", cpuinfo.as_bytes());
        put(root, "/proc/1/sched", b"systemd (1, #threads: 1)\n");
        let name = release.replace(['/', '\0'], "_");
        if !name.is_empty() && name != "." && name != ".." && name.len() < 200 {
            put(root, &format!("/boot/vmlinuz-{name}"), &image);
        }
        put(root, "/boot/grub/grub.cfg", cfg.join("\n").as_bytes());
        put(root, "/boot/grub/grubenv", grubenv.as_bytes());
        put(root, "/run/reboot-required", b"");
        put(root, "/run/reboot-required.pkgs", flags.as_bytes());
        put(root, "/var/lib/dpkg/status", format!(
            "Package: linux-image-{name}\nStatus: install ok installed\nVersion: 1\n\n\
             Package: libc6\nStatus: install ok installed\nVersion: 2\n"
        ).as_bytes());
        put(root, "/var/lib/dpkg/info/libc6.list", b"/lib/libc.so.6\n");

        let roots = Roots::fixture(root);
        let k = kernel_part::collect(&roots);
        let m = microcode::collect(&roots);
        let r = reboot::collect(&roots, &k, &m);
        prop_assert!(r.flag_packages.len() <= line_count(&flags));
        prop_assert!(r.needed, "the flag file alone asks for a reboot");
    }
}
