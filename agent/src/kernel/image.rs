//! Reads the version string out of a kernel image without running or loading it.
//!
//! x86 images carry it in the bzImage setup header (see the kernel's
//! `Documentation/arch/x86/boot.rst`: the `kernel_version` pointer at 0x20E, relative to
//! 0x200, valid when the `HdrS` magic is at 0x202). Other images (arm64 `Image`, EFI zboot,
//! compressed payloads) hold the kernel's `Linux version ...` banner, possibly inside a
//! gzip, xz or zstd stream that is found by its magic and decompressed as a stream, so
//! memory stays bounded whatever the image's size.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::report::VersionSource;

/// Images bigger than this are read only up to it (Debian's are about 10 MiB).
const MAX_IMAGE_BYTES: u64 = 128 << 20;
/// Decompressed bytes searched per stream before giving up.
const MAX_DECOMPRESSED: u64 = 512 << 20;
/// Enough for the setup header and the version string it points to.
const HEADER_BYTES: u64 = 64 << 10;
/// Streams of each kind tried per image: the magic can occur by chance in other data.
const MAX_STREAMS: usize = 4;
const BANNER: &[u8] = b"Linux version ";
const MAX_VERSION_LEN: usize = 512;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// A version string and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVersion {
    /// Without the `Linux version ` prefix: `RELEASE (builder) ... #1 SMP ...`.
    pub text: String,
    pub from: VersionSource,
}

/// The version of the image at `path`; `Ok(None)` when nothing inside names one.
pub fn read_image_version(path: &Path) -> io::Result<Option<ImageVersion>> {
    let mut file = File::open(path)?;
    let mut bytes = Vec::new();
    (&mut file).take(HEADER_BYTES).read_to_end(&mut bytes)?;
    if let Some(text) = bzimage_version(&bytes) {
        return Ok(Some(ImageVersion {
            text,
            from: VersionSource::BzimageHeader,
        }));
    }
    file.take(MAX_IMAGE_BYTES - HEADER_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(version_from_bytes(&bytes))
}

/// The version inside a whole image held in memory.
pub fn version_from_bytes(bytes: &[u8]) -> Option<ImageVersion> {
    if let Some(text) = bzimage_version(bytes) {
        return Some(ImageVersion {
            text,
            from: VersionSource::BzimageHeader,
        });
    }
    let mut finder = BannerFinder::default();
    finder.feed(bytes);
    if let Some(text) = finder.finish() {
        return Some(ImageVersion {
            text,
            from: VersionSource::Embedded,
        });
    }
    let kinds = [
        (GZIP_MAGIC, VersionSource::Gzip),
        (XZ_MAGIC, VersionSource::Xz),
        (ZSTD_MAGIC, VersionSource::Zstd),
    ];
    for (magic, from) in kinds {
        for start in find_all(bytes, magic).take(MAX_STREAMS) {
            if let Some(text) = search_stream(&bytes[start..], from) {
                return Some(ImageVersion { text, from });
            }
        }
    }
    None
}

fn bzimage_version(bytes: &[u8]) -> Option<String> {
    if bytes.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*bytes.get(0x20e)?, *bytes.get(0x20f)?]);
    if ptr == 0 {
        return None;
    }
    let start = usize::from(ptr) + 0x200;
    let tail = bytes.get(start..)?;
    let end = tail.iter().take(MAX_VERSION_LEN).position(|b| *b == 0)?;
    let text = String::from_utf8_lossy(&tail[..end]).trim().to_string();
    text.starts_with(|c: char| c.is_ascii_digit())
        .then_some(text)
}

fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

fn search_stream(data: &[u8], from: VersionSource) -> Option<String> {
    let mut finder = BannerFinder::default();
    match from {
        VersionSource::Gzip => pump(flate2::read::GzDecoder::new(data), &mut finder),
        VersionSource::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(data).ok()?;
            pump(decoder, &mut finder);
        }
        VersionSource::Xz => {
            // lzma-rs only writes into a sink: the finder stops it with an error once the
            // banner is found or the size bound is reached. Decoding errors (trailing
            // data, a false magic) end the search with what was seen.
            let _ = lzma_rs::xz_decompress(&mut io::BufReader::new(data), &mut finder);
        }
        _ => {}
    }
    finder.finish()
}

fn pump(mut reader: impl Read, finder: &mut BannerFinder) {
    let mut buf = vec![0u8; 64 << 10];
    while !finder.done() {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => finder.feed(&buf[..n]),
        }
    }
}

/// Searches a byte stream chunk by chunk for the kernel banner, keeping only a window
/// the size of one banner between chunks.
#[derive(Default)]
struct BannerFinder {
    window: Vec<u8>,
    seen: u64,
    found: Option<String>,
}

impl BannerFinder {
    fn done(&self) -> bool {
        self.found.is_some() || self.seen >= MAX_DECOMPRESSED
    }

    fn feed(&mut self, chunk: &[u8]) {
        if self.done() {
            return;
        }
        self.seen += chunk.len() as u64;
        self.window.extend_from_slice(chunk);
        let mut keep_from = self
            .window
            .len()
            .saturating_sub(BANNER.len() + MAX_VERSION_LEN);
        for at in find_all(&self.window, BANNER) {
            let rest = &self.window[at + BANNER.len()..];
            // Format strings such as `Linux version %s` are not the banner.
            if !rest.first().is_some_and(u8::is_ascii_digit) {
                continue;
            }
            let end = rest
                .iter()
                .take(MAX_VERSION_LEN)
                .position(|b| !(b' '..=b'~').contains(b));
            match end {
                // Only printable text ended by a NUL or newline is the banner: other bytes
                // mean the words happen to appear in compressed or binary data.
                Some(end) if !matches!(rest[end], 0 | b'\n') => continue,
                Some(end) => {
                    self.found = Some(String::from_utf8_lossy(&rest[..end]).trim().to_string());
                    return;
                }
                None if rest.len() >= MAX_VERSION_LEN => {
                    let text = String::from_utf8_lossy(&rest[..MAX_VERSION_LEN]);
                    self.found = Some(text.trim().to_string());
                    return;
                }
                None => {
                    keep_from = keep_from.min(at);
                    break;
                }
            }
        }
        self.window.drain(..keep_from);
    }

    fn finish(self) -> Option<String> {
        self.found
    }
}

impl Write for BannerFinder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.done() {
            return Err(io::Error::other("kernel banner search finished"));
        }
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = "6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)";

    /// A setup header as the x86 boot protocol lays it out, string at 0x200 + 0x3c0.
    pub(crate) fn bzimage(version: &str) -> Vec<u8> {
        let mut b = vec![0u8; 0x800];
        b[0x1fe] = 0x55;
        b[0x1ff] = 0xaa;
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x20e..0x210].copy_from_slice(&0x3c0u16.to_le_bytes());
        b[0x5c0..0x5c0 + version.len()].copy_from_slice(version.as_bytes());
        b
    }

    fn vmlinux(version: &str) -> Vec<u8> {
        let mut raw = vec![0x90u8; 300_000];
        raw.extend_from_slice(b"Linux version %s\0");
        raw.extend_from_slice(format!("Linux version {version}\n\0").as_bytes());
        raw.extend(std::iter::repeat_n(0xccu8, 200_000));
        raw
    }

    /// An EFI-zboot-like image: a small stub, then the compressed kernel.
    fn wrapped(payload: Vec<u8>) -> Vec<u8> {
        let mut img = b"MZ\0\0zimg".to_vec();
        img.extend(std::iter::repeat_n(0u8, 4000));
        img.extend(payload);
        img
    }

    #[test]
    fn reads_bzimage_header() {
        let v = version_from_bytes(&bzimage(VERSION)).expect("version");
        assert_eq!(v.text, VERSION);
        assert_eq!(v.from, VersionSource::BzimageHeader);
    }

    #[test]
    fn header_without_magic_or_pointer_is_ignored() {
        let mut b = bzimage(VERSION);
        b[0x202] = b'X';
        assert_eq!(bzimage_version(&b), None);
        let mut b = bzimage(VERSION);
        b[0x20e..0x210].copy_from_slice(&[0, 0]);
        assert_eq!(bzimage_version(&b), None);
        assert_eq!(bzimage_version(&[0u8; 16]), None);
    }

    #[test]
    fn finds_banner_in_plain_image_skipping_format_strings() {
        let v = version_from_bytes(&vmlinux(VERSION)).expect("version");
        assert_eq!(
            (v.text.as_str(), v.from),
            (VERSION, VersionSource::Embedded)
        );
    }

    #[test]
    fn finds_banner_in_gzip_xz_and_zstd_streams() {
        let raw = vmlinux(VERSION);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut io::Cursor::new(&raw), &mut xz).expect("xz");
        let zst = ruzstd::encoding::compress_to_vec(
            io::Cursor::new(&raw),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        // lzma-rs writes stored (uncompressed) LZMA2 chunks, so the banner would be
        // visible in the file: its stream is decoded directly.
        assert_eq!(
            search_stream(&xz, VersionSource::Xz).as_deref(),
            Some(VERSION)
        );
        for (payload, from) in [(gz, VersionSource::Gzip), (zst, VersionSource::Zstd)] {
            let v = version_from_bytes(&wrapped(payload)).expect("version");
            assert_eq!((v.text.as_str(), v.from), (VERSION, from));
        }
    }

    #[test]
    fn banner_split_across_chunks() {
        let raw = vmlinux(VERSION);
        let at = raw
            .windows(BANNER.len())
            .rposition(|w| w == BANNER)
            .expect("banner");
        let mut f = BannerFinder::default();
        for chunk in [&raw[..at + 5], &raw[at + 5..at + 40], &raw[at + 40..]] {
            f.feed(chunk);
        }
        assert_eq!(f.finish().as_deref(), Some(VERSION));
    }

    #[test]
    fn false_magic_and_no_banner_give_nothing() {
        let mut junk = vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff];
        junk.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
        assert_eq!(version_from_bytes(&junk), None);
    }
}
