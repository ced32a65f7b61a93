//! Blanks out what is not code: comments, the contents of string literals, documentation
//! blocks and heredocs, and everything after `__END__`.
//!
//! The import parsers look for keywords in the masked text, so `"import os"` in a string
//! or `# use Foo;` in a comment is never taken for an import, and read a statement's
//! argument (a quoted module name) from the original text at the same offsets: masking
//! keeps every byte offset and every newline. This is a lexer for finding imports, not a
//! full one: what it gets wrong costs a missed or an extra module lookup, never a run.

/// Which lexical rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `#` comments; `'`/`"` strings, `'''`/`"""` spanning lines.
    Python,
    /// `#` comments, POD (`=pod` .. `=cut`), heredocs, `__END__`/`__DATA__`; strings end
    /// at the line's end (a regex holding a quote must not mask the rest of the file).
    Perl,
    /// `#` comments, `=begin` .. `=end`, heredocs, `__END__`; strings as Perl.
    Ruby,
    /// `//` and `/* */` comments, `'`/`"` strings, `` ` `` template literals.
    JavaScript,
}

/// `text` with the contents of comments and string literals replaced by spaces. The
/// result has the same length in bytes, and its line breaks where the original's are.
pub fn mask(text: &str, syntax: Syntax) -> String {
    let src = text.as_bytes();
    let mut out = src.to_vec();
    let mut i = 0;
    let mut line_start = true;
    // Heredoc terminators waiting for the end of the current line.
    let mut heredocs: Vec<(String, bool)> = Vec::new();
    while i < src.len() {
        let c = src[i];
        if c == b'\n' {
            i += 1;
            line_start = true;
            if !heredocs.is_empty() {
                i = skip_heredocs(src, &mut out, i, &mut heredocs);
            }
            continue;
        }
        if line_start
            && matches!(syntax, Syntax::Perl | Syntax::Ruby)
            && let Some(end) = block_at(src, i, syntax)
        {
            blank(&mut out, i, end);
            i = end;
            continue;
        }
        line_start = false;
        match (c, syntax) {
            // Perl's `$#array` is the last index, not a comment.
            (b'#', Syntax::Python | Syntax::Perl | Syntax::Ruby)
                if !(syntax == Syntax::Perl && i > 0 && src[i - 1] == b'$') =>
            {
                let end = line_end(src, i);
                blank(&mut out, i, end);
                i = end;
            }
            (b'/', Syntax::JavaScript) if src.get(i + 1) == Some(&b'/') => {
                let end = line_end(src, i);
                blank(&mut out, i, end);
                i = end;
            }
            (b'/', Syntax::JavaScript) if src.get(i + 1) == Some(&b'*') => {
                let end = find(src, i + 2, b"*/").map_or(src.len(), |e| e + 2);
                blank(&mut out, i, end);
                i = end;
            }
            (b'<', Syntax::Perl | Syntax::Ruby) if src.get(i + 1) == Some(&b'<') => {
                match heredoc_tag(src, i + 2, syntax) {
                    Some((tag, indented, after)) => {
                        heredocs.push((tag, indented));
                        i = after;
                    }
                    None => i += 2,
                }
            }
            (b'\'' | b'"', _) | (b'`', Syntax::JavaScript) => {
                i = string(src, &mut out, i, syntax);
            }
            _ => i += 1,
        }
    }
    // Only ASCII bytes were written, each over a whole run of bytes, so the result is
    // still UTF-8; the lossy conversion never replaces anything.
    String::from_utf8_lossy(&out).into_owned()
}

/// Replaces `out[from..to]` with spaces, keeping newlines.
fn blank(out: &mut [u8], from: usize, to: usize) {
    let to = to.min(out.len());
    for b in &mut out[from..to] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

fn line_end(src: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &src[from..]).map_or(src.len(), |e| from + e)
}

fn find(src: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(src.get(from..)?, needle).map(|e| from + e)
}

/// A string literal starting at `start`: blanks its contents, returns the offset after it.
fn string(src: &[u8], out: &mut [u8], start: usize, syntax: Syntax) -> usize {
    let quote = src[start];
    let triple = syntax == Syntax::Python
        && src.get(start + 1) == Some(&quote)
        && src.get(start + 2) == Some(&quote);
    let open = if triple { 3 } else { 1 };
    let spans_lines = triple || (syntax == Syntax::JavaScript && quote == b'`');
    let mut i = start + open;
    while i < src.len() {
        let c = src[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == b'\n' && !spans_lines {
            blank(out, start + open, i);
            return i;
        }
        if c == quote && (!triple || src[i..].starts_with(&[quote, quote, quote])) {
            blank(out, start + open, i);
            return i + open;
        }
        i += 1;
    }
    blank(out, start + open, src.len());
    src.len()
}

/// A documentation block or end-of-code marker at a line start: where it ends.
fn block_at(src: &[u8], i: usize, syntax: Syntax) -> Option<usize> {
    let rest = &src[i..];
    let word_end = |w: &[u8]| {
        rest.starts_with(w)
            && rest
                .get(w.len())
                .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_')
    };
    if word_end(b"__END__") || (syntax == Syntax::Perl && word_end(b"__DATA__")) {
        return Some(src.len());
    }
    let (open, close): (bool, &[u8]) = match syntax {
        Syntax::Perl => (
            rest.first() == Some(&b'=') && rest.get(1).is_some_and(u8::is_ascii_alphabetic),
            b"\n=cut",
        ),
        _ => (word_end(b"=begin"), b"\n=end"),
    };
    if !open {
        return None;
    }
    Some(find(src, i, close).map_or(src.len(), |e| line_end(src, e + 1)))
}

/// The terminator of a heredoc whose `<<` ends just before `at`: the tag, whether it may
/// be indented (`<<~`, Ruby's `<<-`), and the offset after it. `None` for a shift.
fn heredoc_tag(src: &[u8], at: usize, syntax: Syntax) -> Option<(String, bool, usize)> {
    let mut i = at;
    let mut indented = false;
    if matches!(src.get(i), Some(b'~')) || (syntax == Syntax::Ruby && src.get(i) == Some(&b'-')) {
        indented = true;
        i += 1;
    }
    let quote = match src.get(i) {
        Some(q @ (b'\'' | b'"' | b'`')) => {
            i += 1;
            Some(*q)
        }
        _ => None,
    };
    let start = i;
    while src
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        i += 1;
    }
    if i == start || (quote.is_none() && !src[start].is_ascii_uppercase() && src[start] != b'_') {
        // `1 << 2`, `$x <<$y`: a bare tag must look like one.
        return None;
    }
    let tag = String::from_utf8_lossy(&src[start..i]).into_owned();
    if let Some(q) = quote {
        if src.get(i) != Some(&q) {
            return None;
        }
        i += 1;
    }
    Some((tag, indented, i))
}

/// Blanks the bodies of the pending heredocs, which start at `from` (a line start), and
/// returns the offset of the line after the last terminator.
fn skip_heredocs(
    src: &[u8],
    out: &mut [u8],
    from: usize,
    pending: &mut Vec<(String, bool)>,
) -> usize {
    let mut i = from;
    for (tag, indented) in pending.drain(..) {
        while i < src.len() {
            let end = line_end(src, i);
            let line = &src[i..end];
            let line = if indented {
                line.trim_ascii_start()
            } else {
                line
            };
            let done = line.trim_ascii_end() == tag.as_bytes();
            if !done {
                blank(out, i, end);
            }
            i = (end + 1).min(src.len());
            if done {
                break;
            }
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_strings_and_comments() {
        let src = "import a  # import b\nx = '''\nimport c\n'''\ny = \"import d\"\n";
        let m = mask(src, Syntax::Python);
        assert_eq!(m.len(), src.len());
        assert!(m.contains("import a"));
        for hidden in ["import b", "import c", "import d"] {
            assert!(!m.contains(hidden), "{hidden} in {m:?}");
        }
        assert_eq!(m.matches('\n').count(), src.matches('\n').count());
    }

    #[test]
    fn perl_pod_heredoc_and_end() {
        let src = "use A;\nmy $t = <<\"EOT\";\nuse B;\nEOT\n=pod\n\nuse C;\n\n=cut\nuse D;\nprint 1 << 2; use E;\n__END__\nuse F;\n";
        let m = mask(src, Syntax::Perl);
        for seen in ["use A", "use D", "use E"] {
            assert!(m.contains(seen), "{seen} missing in {m:?}");
        }
        for hidden in ["use B", "use C", "use F"] {
            assert!(!m.contains(hidden), "{hidden} in {m:?}");
        }
    }

    #[test]
    fn ruby_blocks_and_squiggly_heredoc() {
        let src = "require 'a'\ns = <<~TXT\n  require 'b'\n  TXT\n=begin\nrequire 'c'\n=end\nrequire 'd'\n";
        let m = mask(src, Syntax::Ruby);
        // Only the first and the last line remain code (string contents are blanked too).
        assert_eq!(m.matches("require").count(), 2, "{m:?}");
        assert!(
            m.starts_with("require") && m.ends_with("require ' '\n"),
            "{m:?}"
        );
    }

    #[test]
    fn javascript_comments_and_templates() {
        let src = "// require('a')\n/* import 'b' */ const c = require('c');\nconst t = `\nrequire('d')`;\n";
        let m = mask(src, Syntax::JavaScript);
        assert!(m.contains("require('"), "{m:?}");
        assert!(
            !m.contains("require('a')") && !m.contains("import 'b'"),
            "{m:?}"
        );
        assert!(!m.contains("require('d')"), "{m:?}");
    }

    #[test]
    fn unterminated_quotes_stop_at_the_line_end_in_perl() {
        let m = mask("s/'//g;\nuse A;\n", Syntax::Perl);
        assert!(m.contains("use A"), "{m:?}");
    }
}
