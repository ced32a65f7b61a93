//! Host patterns of an inventory's `hosts:` keys, expanded as Ansible does:
//! `web[01:20]` (zero padding kept), `db[a:c]`, `node[1:10:2]` (step), several ranges in one
//! name, and a trailing `:PORT` (`db1:2222`).
//! See <https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html>.

/// Names a pattern stands for, and the port it carries, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Expanded {
    pub names: Vec<String>,
    pub port: Option<u16>,
}

/// Ranges larger than this are almost certainly a typo (`[1:100000]`), not a fleet.
const MAX_HOSTS_PER_PATTERN: usize = 100_000;

pub fn expand(pattern: &str) -> Result<Expanded, String> {
    let (name, port) = split_port(pattern)?;
    let mut names = Vec::new();
    expand_into(name, &mut names)?;
    Ok(Expanded { names, port })
}

/// `name:PORT`, unless the colons belong to an IPv6 address or a range.
fn split_port(pattern: &str) -> Result<(&str, Option<u16>), String> {
    let Some((name, port)) = pattern.rsplit_once(':') else {
        return Ok((pattern, None));
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || colon_outside_brackets(name)
    {
        return Ok((pattern, None));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((name, Some(p))),
        _ => Err(format!("port `{port}` is not between 1 and 65535")),
    }
}

fn colon_outside_brackets(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

fn expand_into(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = pattern.find('[') else {
        if pattern.contains(']') {
            return Err("`]` without a matching `[`".into());
        }
        out.push(pattern.to_string());
        return Ok(());
    };
    let close = pattern[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or("`[` without a matching `]`")?;
    let (head, range, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    for item in range_items(range)? {
        if out.len() >= MAX_HOSTS_PER_PATTERN {
            return Err(format!(
                "expands to more than {MAX_HOSTS_PER_PATTERN} hosts"
            ));
        }
        // The tail may hold further ranges: `rack[1:2]-node[a:b]`.
        expand_into(&format!("{head}{item}{tail}"), out)?;
    }
    Ok(())
}

/// The items of one `[begin:end(:step)]` range.
fn range_items(range: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = range.split(':').collect();
    let (begin, end, step) = match parts.as_slice() {
        [b, e] => (*b, *e, 1usize),
        [b, e, s] => {
            let step = s
                .parse::<usize>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("step `{s}` must be a whole number above 0"))?;
            (*b, *e, step)
        }
        _ => {
            return Err(format!(
                "`[{range}]` must be `[begin:end]` or `[begin:end:step]`"
            ));
        }
    };
    if end.is_empty() {
        return Err(format!("`[{range}]` has no end"));
    }
    // Ansible reads a missing begin as 0.
    let begin = if begin.is_empty() { "0" } else { begin };
    let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let letter = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
    if numeric(begin) && numeric(end) {
        numeric_items(begin, end, step)
    } else if letter(begin) && letter(end) {
        let (b, e) = (begin.as_bytes()[0], end.as_bytes()[0]);
        if b > e {
            return Err(format!("begin `{begin}` comes after end `{end}`"));
        }
        Ok((b..=e)
            .step_by(step)
            .map(|c| char::from(c).to_string())
            .collect())
    } else {
        Err(format!(
            "`[{range}]` must run between two numbers or two single letters"
        ))
    }
}

fn numeric_items(begin: &str, end: &str, step: usize) -> Result<Vec<String>, String> {
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("`{s}` is too large for a host range"))
    };
    let (b, e) = (parse(begin)?, parse(end)?);
    if b > e {
        return Err(format!("begin `{begin}` is larger than end `{end}`"));
    }
    if (e - b) / step as u64 >= MAX_HOSTS_PER_PATTERN as u64 {
        return Err(format!(
            "expands to more than {MAX_HOSTS_PER_PATTERN} hosts"
        ));
    }
    // A leading zero asks for zero padding to the width of both ends, as in Ansible.
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(format!(
                "zero-padded begin `{begin}` and end `{end}` must have the same width"
            ));
        }
        begin.len()
    } else {
        0
    };
    Ok((b..=e)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand(p).expect("valid pattern").names
    }

    #[test]
    fn numeric_ranges_keep_padding() {
        assert_eq!(names("web[01:03]"), ["web01", "web02", "web03"]);
        assert_eq!(names("web[8:10].example.com")[2], "web10.example.com");
        assert_eq!(names("web[1:3]").len(), 3);
    }

    #[test]
    fn letters_steps_and_several_ranges() {
        assert_eq!(names("db[a:c]"), ["dba", "dbb", "dbc"]);
        assert_eq!(names("n[1:10:4]"), ["n1", "n5", "n9"]);
        assert_eq!(names("r[1:2]-[a:b]"), ["r1-a", "r1-b", "r2-a", "r2-b"]);
        assert_eq!(names("[:2]x"), ["0x", "1x", "2x"]);
    }

    #[test]
    fn trailing_port_is_split_off() {
        let e = expand("db1:2222").expect("valid");
        assert_eq!((e.names, e.port), (vec!["db1".to_string()], Some(2222)));
        let e = expand("web[1:2]:22").expect("valid");
        assert_eq!((e.names.len(), e.port), (2, Some(22)));
        // An IPv6 address is a name, not a name and a port.
        assert_eq!(expand("fe80::1").expect("valid").port, None);
        assert!(expand("db1:70000").is_err());
    }

    #[test]
    fn bad_ranges_say_why() {
        for (pattern, needle) in [
            ("web[1:", "matching `]`"),
            ("web1]", "matching `[`"),
            ("web[3:1]", "larger than end"),
            ("web[a:3]", "two numbers or two single letters"),
            ("web[1:5:0]", "step"),
            ("web[01:100]", "same width"),
            ("web[1]", "[begin:end]"),
            ("web[1:]", "no end"),
            ("web[0:9999999]", "more than"),
        ] {
            let err = expand(pattern).expect_err(pattern);
            assert!(err.contains(needle), "{pattern}: {err}");
        }
    }
}
