//! Makes text from a host safe to print on a terminal.
//!
//! Unit names, process names, package names, paths and error messages all come from hosts
//! that may be compromised. Printed raw, an escape sequence in a `comm` could move the
//! cursor, rewrite earlier lines (hiding a finding), retitle the window or, on some
//! terminals, write files. Everything from a host goes through [`for_terminal`] before it is
//! rendered; JSON output keeps the data as is, since serde escapes it.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';

/// `text` without terminal control: C0 controls other than tab and newline, DEL, C1
/// controls, whole escape sequences (CSI, OSC, DCS, ...), and the bidirectional overrides
/// that can make a line read differently from what it holds. Removed text leaves no mark,
/// except that an escape sequence is replaced by `?` so the user can see something was
/// there.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ESC {
            skip_escape(&mut chars);
            out.push('?');
        } else if !is_unsafe(c) {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    match c {
        '\t' | '\n' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidirectional embeddings, overrides and isolates ("Trojan Source").
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// Consumes the rest of an escape sequence whose ESC was just read (ECMA-48).
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        // CSI: parameters and intermediates, then one final byte in 0x40..=0x7e.
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        // OSC, DCS, SOS, PM, APC: strings ended by BEL or ST (ESC \).
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == BEL {
                    break;
                }
                if c == ESC {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        // nF sequences: intermediates 0x20..=0x2f, then a final byte.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            for c in chars.by_ref() {
                if !('\u{20}'..='\u{2f}').contains(&c) {
                    break;
                }
            }
        }
        // Two-character sequences (ESC c, ESC 7, ...) or a lone ESC at the end.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "nginx.service\tlibssl3 — ünïcode\nsecond line";
        assert!(matches!(for_terminal(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn escape_sequences_are_removed_whole() {
        assert_eq!(for_terminal("a\u{1b}[31mred\u{1b}[0m"), "a?red?");
        assert_eq!(for_terminal("\u{1b}[2J\u{1b}[1;1Hfake"), "??fake");
        assert_eq!(for_terminal("x\u{1b}]0;title\u{7}y"), "x?y");
        assert_eq!(for_terminal("x\u{1b}]8;;http://evil\u{1b}\\link"), "x?link");
        assert_eq!(for_terminal("x\u{1b}Pdcs data\u{1b}\\y"), "x?y");
        assert_eq!(for_terminal("x\u{1b}(By"), "x?y");
        assert_eq!(for_terminal("x\u{1b}cy"), "x?y");
        assert_eq!(for_terminal("end\u{1b}"), "end?");
        assert_eq!(for_terminal("unterminated\u{1b}[12"), "unterminated?");
    }

    #[test]
    fn controls_are_dropped() {
        assert_eq!(for_terminal("a\rb\u{8}c\u{7f}d\u{0}e"), "abcde");
        assert_eq!(for_terminal("c1\u{9b}31m"), "c131m");
        assert_eq!(for_terminal("bidi\u{202e}txt.exe"), "biditxt.exe");
        assert_eq!(for_terminal("tab\tand\nnewline"), "tab\tand\nnewline");
    }
}
