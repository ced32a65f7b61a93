//! The escaper of every value the HTML templates print (askama.toml names it for `.html`
//! templates): askama's HTML escaping of `<`, `>`, `&` and both quotes, plus C0 control
//! characters (other than tab and newline) and DEL written as numeric character
//! references. Why the controls: a parser turns a raw CR into LF, so a host string would
//! not read back as it is, and raw terminal escapes in the file would act on a terminal
//! that `cat`s the page. The browser shows the same characters either way.

use std::fmt::{self, Write};

/// HTML text and quoted attribute values, controls as `&#xNN;`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlText;

impl askama::filters::Escaper for HtmlText {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let mut rest = string;
        while let Some(at) = rest.find(needs_escape) {
            dest.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write_char(&mut dest, c)?;
            rest = &rest[at + c.len_utf8()..];
        }
        dest.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    matches!(c, '<' | '>' | '&' | '"' | '\'' | '\u{7f}')
        || (c.is_ascii_control() && c != '\t' && c != '\n')
}

fn write_char<W: Write>(dest: &mut W, c: char) -> fmt::Result {
    match c {
        '<' => dest.write_str("&lt;"),
        '>' => dest.write_str("&gt;"),
        '&' => dest.write_str("&amp;"),
        '"' => dest.write_str("&quot;"),
        '\'' => dest.write_str("&#39;"),
        other => write!(dest, "&#x{:X};", u32::from(other)),
    }
}

#[cfg(test)]
mod tests {
    use askama::filters::Escaper;

    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        HtmlText.write_escaped_str(&mut out, s).expect("write");
        out
    }

    #[test]
    fn markup_quotes_and_controls_become_references() {
        assert_eq!(
            escaped("<a href='x' title=\"y\">&</a>"),
            "&lt;a href=&#39;x&#39; title=&quot;y&quot;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escaped("a\rb\u{1b}[31m\u{7f}"), "a&#xD;b&#x1B;[31m&#x7F;");
        assert_eq!(escaped("tab\tline\nünï\u{202e}"), "tab\tline\nünï\u{202e}");
    }
}
