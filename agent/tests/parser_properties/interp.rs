//! Interpreted programs: the import parsers of every language, the masking lexer and the
//! command line reader never panic, whatever bytes a script or `/proc/PID/cmdline` holds,
//! and masking keeps every offset and line break.

use patchgap_probe::interp::launch::{self, Lang};
use patchgap_probe::interp::mask::{Syntax, mask};
use patchgap_probe::interp::{node, perl, python, ruby};
use proptest::prelude::*;

use super::cases;

/// Pieces of the four languages' syntax, so that random text reaches the parsers' states
/// (strings, heredocs, POD, brackets, keywords) and not only their first branch.
const PIECES: &[&str] = &[
    "import ",
    "from ",
    " as ",
    "(",
    ")",
    ",",
    "\\\n",
    "'''",
    "\"\"\"",
    "'",
    "\"",
    "`",
    "#",
    "//",
    "/*",
    "*/",
    "use ",
    "require ",
    "require_relative ",
    "<<",
    "<<~",
    "<<-",
    "EOT",
    "\n",
    "=pod\n",
    "=cut\n",
    "=begin\n",
    "=end\n",
    "__END__",
    "qw(",
    "{",
    "}",
    ";",
    "::",
    "$",
    "é",
    "${",
    ".",
    "..",
    "*",
    "export ",
    "load ",
    "autoload :X, ",
    "-",
    "-m",
    "-c",
    "-e",
    "-I",
];

fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(PIECES), 0..60).prop_map(|v| v.concat()),
        proptest::collection::vec(any::<u8>(), 0..400)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn parsers_never_panic(src in source()) {
        let _ = python::imports(&src);
        let _ = perl::imports(&src);
        let _ = ruby::imports(&src);
        let _ = node::imports(&src);
        for syntax in [Syntax::Python, Syntax::Perl, Syntax::Ruby, Syntax::JavaScript] {
            let m = mask(&src, syntax);
            prop_assert_eq!(m.len(), src.len());
            prop_assert_eq!(m.matches('\n').count(), src.matches('\n').count());
        }
    }

    #[test]
    fn command_lines_never_panic(bytes in proptest::collection::vec(
        prop_oneof![Just(0u8), any::<u8>(), Just(b'-')], 0..200)) {
        let args = launch::arguments(&bytes);
        for lang in [Lang::Python, Lang::Perl, Lang::Ruby, Lang::Node] {
            let _ = launch::parse(lang, &args);
        }
        let _ = launch::env_var(&bytes, "PYTHONPATH");
        let _ = launch::recognise(&String::from_utf8_lossy(&bytes));
    }
}
