//! Fixture hosts for the kernel, microcode and reboot tests: a temporary directory laid
//! out as `/proc`, `/boot`, `/run`, `/lib/firmware` and a dpkg database, filled by the
//! tests with exactly what each case needs.

use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use patchgap_probe::Roots;

/// Boot time of every fixture host; package changes are placed around it.
pub const BOOTED_AT: i64 = 1_790_000_000;

/// How a fake kernel image carries its version.
pub enum Image {
    /// An x86 bzImage setup header.
    Bzimage,
    /// A stub followed by a gzip stream of a vmlinux with the banner.
    Gzip,
    /// ... a zstd stream.
    Zstd,
    /// Nothing readable inside.
    Opaque,
}

pub struct Host {
    _dir: tempfile::TempDir,
    pub roots: Roots,
    status: RefCell<String>,
}

/// `RELEASE (builder) #1 SMP ... Debian PKGVER (date)`, the bzImage header's form.
pub fn image_version(release: &str, pkgver: &str) -> String {
    format!(
        "{release} (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian {pkgver} (2024-11-01)"
    )
}

fn image_bytes(kind: &Image, version: &str) -> Vec<u8> {
    let vmlinux = || {
        let mut raw = vec![0x90u8; 100_000];
        // An earlier format string, as in real kernels: the compressor then encodes the
        // banner's prefix as a back-reference, so it is not readable in the raw file.
        raw.extend_from_slice(b"Linux version %s\0");
        raw.extend_from_slice(format!("Linux version {version}\n\0").as_bytes());
        raw.extend(vec![0xccu8; 50_000]);
        raw
    };
    let mut stub = b"MZ\0\0zimg".to_vec();
    stub.extend(vec![0u8; 1000]);
    match kind {
        Image::Bzimage => {
            let mut b = vec![0u8; 0x1000];
            b[0x202..0x206].copy_from_slice(b"HdrS");
            // The string sits 0x200 bytes after the pointer's value.
            b[0x20e..0x210].copy_from_slice(&0x600u16.to_le_bytes());
            b[0x800..0x800 + version.len()].copy_from_slice(version.as_bytes());
            b
        }
        Image::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(stub, flate2::Compression::default());
            gz.write_all(&vmlinux()).expect("gzip");
            gz.finish().expect("gzip")
        }
        Image::Zstd => {
            stub.extend(ruzstd::encoding::compress_to_vec(
                std::io::Cursor::new(vmlinux()),
                ruzstd::encoding::CompressionLevel::Fastest,
            ));
            stub
        }
        Image::Opaque => vec![0x42u8; 4096],
    }
}

impl Host {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let roots = Roots::fixture(dir.path());
        let host = Host {
            _dir: dir,
            roots,
            status: RefCell::new(String::new()),
        };
        host.file("/var/lib/dpkg/status", "");
        host.file("/var/lib/dpkg/info/.keep", "");
        host.file("/proc/stat", format!("cpu  1 2 3\nbtime {BOOTED_AT}\n"));
        host
    }

    fn path(&self, path: &str) -> PathBuf {
        match path.strip_prefix("/proc/") {
            Some(rel) => self.roots.proc_path(rel),
            None => self.roots.fs_path(path),
        }
    }

    /// Writes a file; `/proc/...` goes under the fixture's proc root.
    pub fn file(&self, path: &str, body: impl AsRef<[u8]>) -> &Self {
        let p = self.path(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, body).expect("write");
        self
    }

    pub fn symlink(&self, path: &str, target: &str) -> &Self {
        let p = self.path(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, p).expect("symlink");
        self
    }

    /// The running kernel, as `/proc` shows it.
    pub fn running(&self, release: &str, pkgver: &str) -> &Self {
        self.file("/proc/sys/kernel/osrelease", format!("{release}\n"));
        self.file(
            "/proc/version",
            format!(
                "Linux version {release} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian {pkgver} (2024-11-01)\n"
            ),
        )
    }

    /// A systemd-nspawn container whose PID 1 started `ticks` clock ticks (1/100 s) after
    /// the machine booted, as `/proc/1/stat` in the container's PID namespace shows it.
    pub fn container_started(&self, ticks: u64) -> &Self {
        self.file("/run/systemd/container", "systemd-nspawn\n");
        self.file(
            "/proc/1/stat",
            format!("1 (systemd) S 0 1 1 0 -1 4194560 900 0 0 0 5 3 0 0 20 0 1 0 {ticks} 22000000 3000 18446744073709551615\n"),
        )
    }

    /// An installed package with the given files, unpacked `changed` seconds after boot
    /// (negative: before).
    pub fn package(&self, name: &str, version: &str, files: &[&str], changed: i64) -> &Self {
        let mut status = self.status.borrow_mut();
        status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n"
        ));
        self.file("/var/lib/dpkg/status", status.as_str());
        let list = format!("/var/lib/dpkg/info/{name}.list");
        self.file(&list, files.join("\n") + "\n");
        let at = UNIX_EPOCH + Duration::from_secs((BOOTED_AT + changed).unsigned_abs());
        fs::File::options()
            .write(true)
            .open(self.path(&list))
            .expect("open list")
            .set_modified(at)
            .expect("set mtime");
        self
    }

    /// An image in `/boot` only (no package).
    pub fn image(&self, release: &str, pkgver: &str, kind: Image) -> &Self {
        let bytes = image_bytes(&kind, &image_version(release, pkgver));
        self.file(&format!("/boot/vmlinuz-{release}"), bytes)
    }

    /// `linux-image-RELEASE` at `pkgver` with its image, unpacked before boot.
    pub fn kernel(&self, release: &str, pkgver: &str, kind: Image) -> &Self {
        self.kernel_changed(release, pkgver, kind, -86_400)
    }

    pub fn kernel_changed(&self, release: &str, pkgver: &str, kind: Image, changed: i64) -> &Self {
        self.image(release, pkgver, kind);
        let image = format!("/boot/vmlinuz-{release}");
        self.package(
            &format!("linux-image-{release}"),
            pkgver,
            &["/.", "/boot", &image, "/lib/modules"],
            changed,
        )
    }

    /// A `grub.cfg` in Debian's layout with one entry per release (first is entry 0) and
    /// an advanced submenu, plus a `grubenv`.
    pub fn grub(&self, releases: &[&str], grubenv: &str) -> &Self {
        let entry = |r: &str, indent: &str| {
            format!(
                "{indent}menuentry 'Debian GNU/Linux, with Linux {r}' --class debian $menuentry_id_option 'gnulinux-{r}-advanced-u1' {{\n{indent}\tlinux\t/boot/vmlinuz-{r} root=UUID=u1 ro quiet\n{indent}}}\n"
            )
        };
        let mut cfg = String::from(
            "load_env\nif [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\nelse\n   set default=\"${saved_entry}\"\nfi\n",
        );
        cfg.push_str(&format!(
            "menuentry 'Debian GNU/Linux' $menuentry_id_option 'gnulinux-simple-u1' {{\n\tlinux\t/boot/vmlinuz-{} root=UUID=u1 ro\n}}\n",
            releases[0]
        ));
        cfg.push_str("submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-u1' {\n");
        for r in releases {
            cfg.push_str(&entry(r, "\t"));
        }
        cfg.push_str("}\n");
        self.file("/boot/grub/grub.cfg", cfg);
        self.file(
            "/boot/grub/grubenv",
            format!("# GRUB Environment Block\n{grubenv}\n{}", "#".repeat(900)),
        )
    }

    /// One CPU paragraph per logical processor.
    pub fn cpus(
        &self,
        vendor: &str,
        fms: (u32, u32, u32),
        rev: u32,
        count: u32,
        vm: bool,
    ) -> &Self {
        let flags = if vm { "fpu vme hypervisor" } else { "fpu vme" };
        let text: String = (0..count)
            .map(|i| {
                format!(
                    "processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {}\nmodel\t\t: {}\nstepping\t: {}\nmicrocode\t: {rev:#x}\nflags\t\t: {flags}\n\n",
                    fms.0, fms.1, fms.2
                )
            })
            .collect();
        self.file("/proc/cpuinfo", text)
    }
}

/// An Intel update: a 48-byte header, 64 bytes of data.
pub fn intel_update(rev: u32, sig: u32, pf: u32) -> Vec<u8> {
    let mut b = vec![0u8; 112];
    for (at, v) in [(0, 1), (4, rev), (12, sig), (24, pf), (28, 64), (32, 112)] {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    b
}

/// An AMD container with one equivalence entry and the given patch ids.
pub fn amd_container(cpuid: u32, equiv: u16, patches: &[u32]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x0041_4d44u32, 0, 32] {
        b.extend(v.to_le_bytes());
    }
    let mut entry = [0u8; 16];
    entry[..4].copy_from_slice(&cpuid.to_le_bytes());
    entry[12..14].copy_from_slice(&equiv.to_le_bytes());
    b.extend(entry);
    b.extend([0u8; 16]);
    for id in patches {
        let mut p = [0u8; 64];
        p[4..8].copy_from_slice(&id.to_le_bytes());
        p[24..26].copy_from_slice(&equiv.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(64u32.to_le_bytes());
        b.extend(p);
    }
    b
}
