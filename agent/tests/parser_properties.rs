//! Property tests for every parser of outside input in the probe: `/proc` files (maps,
//! stat, cgroup, cpuinfo, sched), the dpkg database (status, `.list` files, diversions,
//! md5sums, `dpkg.log`, path filters), kernel images and GRUB files, and microcode.
//!
//! Each parser gets two kinds of input: arbitrary text or bytes, and structured near-valid
//! input (a valid line or header, then mutated: truncated, a huge number or a `)` put in,
//! a field dropped, a NUL or invalid UTF-8 embedded). The properties are that nothing
//! panics and that the output is bounded by the input (entries at most the lines, strings
//! at most the input's length), so no input can make the probe hold more than it read.
//! Where the valid form is easy to build, the valid input must also parse back to what
//! was built.
//!
//! ## Longer runs
//!
//! By default each property runs a modest number of cases so that CI stays quick. For a
//! longer search, set `PROPTEST_CASES`, which then applies to every property:
//!
//! ```text
//! PROPTEST_CASES=20000 cargo test -p patchgap-probe --test parser_properties
//! ```
//!
//! A failure is shrunk and its seed saved beside the test file, in
//! `parser_properties/NAME.proptest-regressions`; those files are committed so that the
//! case runs first from then on.

#[path = "parser_properties/dpkg.rs"]
mod dpkg;
#[path = "parser_properties/integrity.rs"]
mod integrity;
#[path = "parser_properties/interp.rs"]
mod interp;
#[path = "parser_properties/kernel.rs"]
mod kernel;
#[path = "parser_properties/microcode.rs"]
mod microcode;
#[path = "parser_properties/procfs.rs"]
mod procfs;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};

/// A configuration with `cases` cases, unless `PROPTEST_CASES` asks for another number.
/// Properties that build a fixture host on disk run fewer cases than pure parsers.
/// Failures are saved beside the test file (`procfs.proptest-regressions`): proptest's
/// default place needs a `lib.rs` above the tests, which an integration test lacks.
pub fn cases(cases: u32) -> Config {
    let mut config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Text that breaks parsers: delimiters of the formats, numbers that overflow, NUL,
/// escapes, the kernel's marks.
pub const NASTY: &[&str] = &[
    ")",
    "(",
    ") ",
    " ",
    "  ",
    "\0",
    "\n",
    "\r",
    "\n\n",
    "\t",
    ":",
    "::",
    "=",
    "/",
    "//",
    "..",
    "-1",
    "0x",
    "0xffffffffff",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "\\x",
    "\\xZZ",
    "\\x2d",
    " (deleted)",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\\",
    ">",
    "#",
    "*",
    "é",
    "\u{fffd}",
    "\u{202e}",
];

/// One change to a valid input.
#[derive(Debug, Clone)]
pub enum Edit {
    Truncate(Index),
    Insert(Index, String),
    Delete(Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), prop::sample::select(NASTY))
            .prop_map(|(at, s)| Edit::Insert(at, s.to_string())),
        (any::<Index>(), any::<String>()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<Index>(), 1..24usize).prop_map(|(at, n)| Edit::Delete(at, n)),
    ]
}

/// Up to four edits to apply to a valid input.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 0..5)
}

/// Applies edits to text, at character boundaries.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match e {
            Edit::Truncate(at) => chars.truncate(at.index(chars.len() + 1)),
            Edit::Insert(at, s) => {
                let at = at.index(chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Delete(at, n) => {
                let at = at.index(chars.len() + 1);
                let end = (at + n).min(chars.len());
                chars.drain(at..end);
            }
        }
    }
    chars.into_iter().collect()
}

/// One change to a valid binary input; `Put` writes a little-endian `u32` (a size, an
/// offset, a count) where the formats keep their numbers.
#[derive(Debug, Clone)]
pub enum ByteEdit {
    Truncate(Index),
    Flip(Index, u8),
    Put(Index, u32),
}

/// `u32` values that sizes and counts go wrong with.
fn wild_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(u32::MAX - 7),
        Just(0x8000_0000),
        Just(0x7fff_ffff),
        0u32..4096,
        any::<u32>(),
    ]
}

/// Up to four edits to a binary input.
pub fn byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    let one = prop_oneof![
        any::<Index>().prop_map(ByteEdit::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| ByteEdit::Flip(at, b)),
        (any::<Index>(), wild_u32()).prop_map(|(at, v)| ByteEdit::Put(at, v)),
    ];
    prop::collection::vec(one, 0..5)
}

/// Applies binary edits; a `Put` that would run past the end writes what fits.
pub fn apply_bytes(bytes: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for e in edits {
        match e {
            ByteEdit::Truncate(at) => out.truncate(at.index(out.len() + 1)),
            ByteEdit::Flip(at, b) if !out.is_empty() => {
                let i = at.index(out.len());
                out[i] ^= b;
            }
            ByteEdit::Put(at, v) if !out.is_empty() => {
                let i = at.index(out.len());
                for (dst, src) in out[i..].iter_mut().zip(v.to_le_bytes()) {
                    *dst = src;
                }
            }
            _ => {}
        }
    }
    out
}

/// Number of lines as `str::lines` counts them.
pub fn line_count(text: &str) -> usize {
    text.lines().count()
}

/// Whether `part` is a slice of `whole` (borrowed from it, so it holds no new memory).
pub fn borrowed_from(part: &str, whole: &str) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

/// Arbitrary text, biased towards the characters that the formats care about.
pub fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(NASTY).prop_map(str::to_string),
                "[a-zA-Z0-9_.@-]{1,12}",
            ],
            0..64
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// Lossy UTF-8 of arbitrary bytes, as the probe reads files that need not be UTF-8.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
