//! Small text helpers shared by the renderers: terminal-safe strings and durations.

/// Makes a string that came from a host safe to print on a terminal.
pub fn clean(s: &str) -> String {
    crate::sanitize::for_terminal(s).into_owned()
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
    fn durations() {
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m");
        assert_eq!(duration(3600 + 5 * 60), "1h 05m");
        assert_eq!(duration(2 * 86400 + 3 * 3600), "2d 3h");
    }
}
