//! Small text helpers shared by the renderers: terminal-safe strings and durations.

/// Makes a string that came from a host safe to print on a terminal: control characters
/// (C0 but tab, DEL, C1) become `?`, so a process named `\x1b]0;...` cannot rewrite the
/// admin's screen.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

/// A short duration for people: `45s`, `12m`, `3h 05m`, `4d 2h`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_control_characters() {
        assert_eq!(clean("nginx\u{1b}]0;pwned\u{7}"), "nginx?]0;pwned?");
        assert_eq!(clean("a\u{9b}b\u{7f}c\td"), "a?b?c\td");
        assert_eq!(clean("späť"), "späť");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m");
        assert_eq!(duration(3600 + 5 * 60), "1h 05m");
        assert_eq!(duration(2 * 86400 + 3 * 3600), "2d 3h");
    }
}
