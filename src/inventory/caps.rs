//! The sizes an inventory may not exceed, and why each is where it is.
//!
//! An inventory can be generated, copied from elsewhere or simply wrong (`[1:1000000]` for
//! `[1:100]`), and patchgap reads it before anything else: a file that made it run out of
//! memory, overflow its stack or spin for minutes would stop every audit. Each cap is an
//! order of magnitude above real fleets, and each refusal names the cap and the fix.

/// Bytes of one inventory file. 1,000,000 hosts written one per line take about 20 to
/// 30 MB; 64 MiB leaves room for their variables and bounds what serde_yaml builds from
/// one file.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Hosts of the whole inventory, all files and ranges together. Ten times the largest
/// fleets one controller audits over SSH (tens of thousands of hosts). A host costs about
/// 0.9 KiB here (100,000 hosts: 92 MB peak, bench/inventory.sh), so the cap keeps the
/// hosts under about 1 GB; beyond it memory would grow with whatever a range or a
/// generator produced.
pub const MAX_HOSTS: usize = 1_000_000;

/// Hosts one pattern (`web[1:100]`) stands for: a range larger than this is almost
/// certainly a typo (`[1:100000]` for `[1:10000]`), not a fleet.
pub const MAX_HOSTS_PER_PATTERN: usize = 100_000;

/// Group memberships (a host listed in a group, or in a group through `children`, `all`
/// included), all hosts together: what an inventory of many groups multiplies. Ten groups
/// per host at [`MAX_HOSTS`] hosts, more than real inventories give a host (all,
/// environment, site, role, OS...). A membership costs about 130 bytes (100,000 hosts in
/// 21 groups each: 348 MB peak, bench/inventory.sh), so the cap keeps them under about
/// 1.3 GB.
pub const MAX_MEMBERSHIPS: usize = 10 * MAX_HOSTS;

/// Levels of `children` below `all`. Real inventories use a handful (site, role,
/// environment); a chain deeper than this is generated or looped by mistake, and every
/// walk over the groups is bounded by it.
pub const MAX_GROUP_DEPTH: usize = 64;

/// Levels of nested YAML flow collections (`[` and `{`). serde_yaml refuses documents
/// nested deeper than 128 levels anyway, but only after its parser has read them, and that
/// parser's cost grows with the square of the depth (100,000 nested `[` never finish);
/// checked on the text first, it costs one pass.
pub const MAX_FLOW_DEPTH: usize = 128;

/// Bytes of one host or group name (a host pattern counts once expanded). The longest DNS
/// name is 253 characters; a longer name is a mistake, and names are what ranges multiply,
/// what `--limit` globs are matched against and what is printed once per host.
pub const MAX_NAME_BYTES: usize = 255;

/// The caps that grow with the whole inventory, as one load applies them: the constants
/// above, unless a test lowers them to reach a cap without building a million hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub hosts: usize,
    pub memberships: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            hosts: MAX_HOSTS,
            memberships: MAX_MEMBERSHIPS,
        }
    }
}

/// The 1-based line where YAML flow collections (`[`, `{`) first nest deeper than
/// [`MAX_FLOW_DEPTH`], if they do.
///
/// A rough tokenizer, enough to count what libyaml would: brackets inside quoted scalars
/// and comments do not count, and closing brackets never take the count below zero. A
/// bracket inside a plain scalar (`web[01:20]`) counts, but closes on the same line; a
/// real inventory never leaves 128 of them open, so nothing serde_yaml would accept is
/// refused.
pub fn flow_too_deep(source: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut quote: Option<u8> = None;
    let mut comment = false;
    // The byte before the current one, for "at the start of a token" decisions.
    let mut previous = b'\n';
    let bytes = source.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if b == b'\n' {
            line += 1;
            comment = false;
        }
        if comment {
            previous = b;
            continue;
        }
        match quote {
            Some(b'"') if b == b'\\' => {
                // An escaped character, possibly a quote, belongs to the scalar.
                if bytes.get(i) == Some(&b'\n') {
                    line += 1;
                }
                i += 1;
            }
            Some(q) if b == q => {
                // `''` inside a single-quoted scalar is an escaped quote.
                if q == b'\'' && bytes.get(i) == Some(&b'\'') {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => {
                let token_start = previous.is_ascii_whitespace()
                    || matches!(previous, b'[' | b'{' | b',' | b':' | b'-' | b'?');
                match b {
                    b'"' | b'\'' if token_start => quote = Some(b),
                    b'#' if previous.is_ascii_whitespace() => comment = true,
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Some(line);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        previous = b;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_collections_are_found_at_their_line() {
        let deep = format!("all:\n  hosts:\n    h1:\n      x: {}", "[".repeat(100_000));
        assert_eq!(flow_too_deep(&deep), Some(4));
        let at_cap = format!("x: {}{}\n", "[".repeat(128), "]".repeat(128));
        assert_eq!(flow_too_deep(&at_cap), None);
        let over = format!("x: {}{}\n", "{a: ".repeat(129), "}".repeat(129));
        assert_eq!(flow_too_deep(&over), Some(1));
    }

    #[test]
    fn brackets_in_quotes_comments_and_ranges_do_not_count() {
        let many = 1000;
        let text = format!(
            "a: \"{open}\\\"{open}\"\nb: '{open}''{open}'\n# {open}\nc: x # {open}\n{ranges}",
            open = "[".repeat(many),
            ranges = "web[01:20]:\n".repeat(many),
        );
        assert_eq!(flow_too_deep(&text), None);
        // An apostrophe inside a word does not open a quote that would hide brackets.
        let hidden = format!("a: don't {}\n", "[".repeat(200));
        assert_eq!(flow_too_deep(&hidden), Some(1));
    }
}
