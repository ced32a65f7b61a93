//! Host patterns of an inventory's `hosts:` keys, expanded as Ansible does:
//! `web[01:20]` (zero padding kept), `db[a:c]`, `node[1:10:2]` (step), several ranges in one
//! name, and a trailing `:PORT` (`db1:2222`).
//! See <https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html>.

use super::caps::{MAX_HOSTS_PER_PATTERN, MAX_NAME_BYTES};

/// Names a pattern stands for, and the port it carries, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Expanded {
    pub names: Vec<String>,
    pub port: Option<u16>,
}

/// Expands `pattern` in one pass over its text plus one per name it stands for: the size of
/// the expansion and the length of its names are known, and checked against their caps,
/// before any name is built.
pub fn expand(pattern: &str) -> Result<Expanded, String> {
    let (name, port) = split_port(pattern)?;
    let parts = parts(name)?;
    let mut names = Vec::with_capacity(count(&parts));
    let mut odometer = vec![0usize; parts.len()];
    loop {
        let mut next = String::new();
        for (part, at) in parts.iter().zip(&odometer) {
            next.push_str(match part {
                Part::Text(text) => text,
                Part::Range(items) => &items[*at],
            });
        }
        names.push(next);
        // The last range turns fastest, as when the pattern is read left to right.
        let mut turned = false;
        for (part, at) in parts.iter().zip(odometer.iter_mut()).rev() {
            if let Part::Range(items) = part {
                *at += 1;
                if *at < items.len() {
                    turned = true;
                    break;
                }
                *at = 0;
            }
        }
        if !turned {
            break;
        }
    }
    Ok(Expanded { names, port })
}

/// A piece of a pattern: text as written, or the items of one `[...]` range.
enum Part<'a> {
    Text(&'a str),
    Range(Vec<String>),
}

/// How many names `parts` stand for (every range has at least one item).
fn count(parts: &[Part]) -> usize {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(_) => 1,
            Part::Range(items) => items.len(),
        })
        .product()
}

/// Splits a pattern into text and ranges, refusing it as soon as it stands for more than
/// [`MAX_HOSTS_PER_PATTERN`] names or for names longer than [`MAX_NAME_BYTES`].
fn parts(pattern: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let (mut names, mut longest) = (1usize, 0usize);
    let mut rest = pattern;
    loop {
        let (text, range) = match rest.find('[') {
            Some(open) => (&rest[..open], Some(&rest[open + 1..])),
            None => (rest, None),
        };
        if text.contains(']') {
            return Err("`]` without a matching `[`".into());
        }
        longest += text.len();
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        let Some(range) = range else {
            break;
        };
        let close = range.find(']').ok_or("`[` without a matching `]`")?;
        let items = range_items(&range[..close])?;
        names = names.saturating_mul(items.len());
        if names > MAX_HOSTS_PER_PATTERN {
            return Err(too_many());
        }
        longest += items.iter().map(String::len).max().unwrap_or(0);
        if longest > MAX_NAME_BYTES {
            return Err(too_long());
        }
        parts.push(Part::Range(items));
        rest = &range[close + 1..];
    }
    // A name without ranges is checked, with the other names, where it is read.
    if longest > MAX_NAME_BYTES && names > 1 {
        return Err(too_long());
    }
    Ok(parts)
}

fn too_long() -> String {
    format!(
        "its names are longer than {MAX_NAME_BYTES} bytes, the cap (the longest DNS name is \
         253); shorten it, or set `ansible_host` to the long address"
    )
}

fn too_many() -> String {
    format!(
        "expands to more than {MAX_HOSTS_PER_PATTERN} hosts, the cap for one pattern; check \
         the bounds for a typo, or split it into several patterns"
    )
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
        return Err(too_many());
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
