//! Which kernel boots next: GRUB's default entry, else Debian's `/vmlinuz` symlinks.
//!
//! GRUB is read from the files `grub-mkconfig` writes: `grub.cfg` (menu entries, submenus,
//! `set default=`) and `grubenv` (`saved_entry`, and `next_entry` for a one-time boot set
//! by `grub-reboot`). The default may be an index, an entry id, a title, or a
//! `>`-separated path through submenus, as GRUB itself accepts.

use std::collections::HashMap;
use std::fs;

use crate::roots::Roots;

/// A `menuentry` or `submenu` of `grub.cfg`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrubEntry {
    pub title: String,
    /// The `$menuentry_id_option`/`--id` argument.
    pub id: Option<String>,
    /// First argument of the entry's `linux` command.
    pub linux: Option<String>,
    /// Entries of a submenu.
    pub children: Vec<GrubEntry>,
    pub submenu: bool,
}

/// The parts of `grub.cfg` that decide the default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrubMenu {
    pub entries: Vec<GrubEntry>,
    /// The last `set default=` that is not the one-time `next_entry` branch.
    pub default: Option<String>,
}

/// What GRUB will boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubChoice {
    pub default: String,
    pub title: String,
    pub linux: String,
    pub one_time: bool,
}

/// Splits a line into words the way GRUB's shell-like parser does for the forms
/// `grub-mkconfig` writes: single quotes, double quotes with backslash escapes, and
/// adjacent quoted parts joined (`'it'\''s'`).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                cur.extend(chars.by_ref().take_while(|c| *c != '\''));
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => cur.extend(chars.next()),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Parses `grub.cfg`. Blocks other than menu entries (`function x {`) are tracked only
/// so that their closing braces do not end an entry.
pub fn parse_grub_cfg(text: &str) -> GrubMenu {
    let mut menu = GrubMenu::default();
    // None marks a non-menu block.
    let mut stack: Vec<Option<GrubEntry>> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let w = words(line);
        let Some(first) = w.first() else { continue };
        if first == "}" {
            if let Some(Some(done)) = stack.pop() {
                match stack.iter_mut().rev().find_map(Option::as_mut) {
                    Some(parent) => parent.children.push(done),
                    None => menu.entries.push(done),
                }
            }
            continue;
        }
        if first == "menuentry" || first == "submenu" {
            let id = w
                .iter()
                .position(|x| x == "$menuentry_id_option" || x == "--id")
                .and_then(|i| w.get(i + 1))
                .cloned();
            stack.push(Some(GrubEntry {
                title: w.get(1).cloned().unwrap_or_default(),
                id,
                submenu: first == "submenu",
                ..GrubEntry::default()
            }));
            continue;
        }
        if line.ends_with('{') {
            stack.push(None);
            continue;
        }
        if matches!(first.as_str(), "linux" | "linuxefi" | "linux16") {
            if let Some(Some(entry)) = stack.last_mut() {
                entry.linux = w.get(1).cloned();
            }
            continue;
        }
        if first == "set"
            && let Some(value) = w.get(1).and_then(|a| a.strip_prefix("default="))
            && !value.contains("next_entry")
        {
            menu.default = Some(value.to_string());
        }
    }
    menu
}

/// Parses `grubenv`: `KEY=VALUE` lines padded with `#` to 1024 bytes.
pub fn parse_grubenv(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl GrubMenu {
    /// The entry a default value names, walking submenus along `>`.
    pub fn resolve(&self, default: &str) -> Option<&GrubEntry> {
        let mut list = &self.entries;
        let mut found = None;
        for part in default.split('>') {
            let entry = match part.parse::<usize>() {
                Ok(i) => list.get(i)?,
                Err(_) => list
                    .iter()
                    .find(|e| e.id.as_deref() == Some(part) || e.title == part)?,
            };
            list = &entry.children;
            found = Some(entry);
        }
        found.filter(|e| !e.submenu)
    }

    /// What GRUB boots next given its environment block, or why that cannot be told.
    pub fn choose(&self, env: &HashMap<String, String>) -> Result<GrubChoice, String> {
        let next = env.get("next_entry").filter(|v| !v.is_empty());
        let (default, one_time) = match (next, self.default.as_deref()) {
            (Some(n), _) => (n.clone(), true),
            (None, Some(d)) if d.contains("saved_entry") => (
                env.get("saved_entry")
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "0".to_string()),
                false,
            ),
            (None, Some(d)) if d.contains('$') => {
                return Err(format!("GRUB default {d:?} depends on a variable"));
            }
            (None, Some(d)) => (d.to_string(), false),
            (None, None) => ("0".to_string(), false),
        };
        let entry = self
            .resolve(&default)
            .ok_or_else(|| format!("GRUB default {default:?} names no menu entry"))?;
        let linux = entry
            .linux
            .clone()
            .ok_or_else(|| format!("GRUB entry {:?} loads no linux image", entry.title))?;
        Ok(GrubChoice {
            default,
            title: entry.title.clone(),
            linux,
            one_time,
        })
    }
}

/// GRUB's choice on this host; `Ok(None)` without a `grub.cfg`.
pub fn grub_choice(roots: &Roots) -> Result<Option<GrubChoice>, String> {
    let cfg_path = roots.fs_path("/boot/grub/grub.cfg");
    let cfg = match fs::read(&cfg_path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("failed to read /boot/grub/grub.cfg: {e}")),
    };
    let env = fs::read(roots.fs_path("/boot/grub/grubenv"))
        .map(|b| parse_grubenv(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    parse_grub_cfg(&cfg).choose(&env).map(Some)
}

/// Debian's kernel symlink (`/vmlinuz`, or `/boot/vmlinuz` with `link_in_boot`) and the
/// file name it points to. The target is not followed, so that an absolute link in a
/// fixture or container root cannot lead out of it.
pub fn symlink_choice(roots: &Roots) -> Option<(String, String)> {
    ["/vmlinuz", "/boot/vmlinuz"].iter().find_map(|path| {
        let target = fs::read_link(roots.fs_path(path)).ok()?;
        let name = target.file_name()?.to_str()?.to_string();
        Some((path.to_string(), name))
    })
}

/// The release in an image file name (`vmlinuz-6.1.0-27-amd64`).
pub fn release_of(file_name: &str) -> Option<&str> {
    file_name
        .strip_prefix("vmlinuz-")
        .or_else(|| file_name.strip_prefix("vmlinux-"))
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const GRUB_CFG: &str = r#"
if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
else
   set default="${saved_entry}"
fi
function load_video {
  insmod all_video
}
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-u1' {
	load_video
	linux	/boot/vmlinuz-6.1.0-28-amd64 root=UUID=u1 ro quiet
	initrd	/boot/initrd.img-6.1.0-28-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-u1' {
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-28-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-28-amd64-advanced-u1' {
		linux	/boot/vmlinuz-6.1.0-28-amd64 root=UUID=u1 ro quiet
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-25-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-25-amd64-advanced-u1' {
		linux	/vmlinuz-6.1.0-25-amd64 root=UUID=u1 ro quiet
	}
}
menuentry 'It'\''s "odd"' {
	linux /boot/vmlinuz-odd
}
"#;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_entries_submenus_and_default() {
        let m = parse_grub_cfg(GRUB_CFG);
        assert_eq!(m.default.as_deref(), Some("${saved_entry}"));
        assert_eq!(m.entries.len(), 3);
        assert_eq!(m.entries[0].id.as_deref(), Some("gnulinux-simple-u1"));
        assert!(m.entries[1].submenu);
        assert_eq!(m.entries[1].children.len(), 2);
        assert_eq!(m.entries[2].title, "It's \"odd\"");
        assert_eq!(m.entries[2].linux.as_deref(), Some("/boot/vmlinuz-odd"));
    }

    #[test]
    fn default_forms_resolve() {
        let m = parse_grub_cfg(GRUB_CFG);
        let linux = |e: HashMap<String, String>| m.choose(&e).map(|c| c.linux);
        let want = Ok("/vmlinuz-6.1.0-25-amd64".to_string());
        assert_eq!(
            linux(env(&[])),
            Ok("/boot/vmlinuz-6.1.0-28-amd64".to_string())
        );
        assert_eq!(linux(env(&[("saved_entry", "1>1")])), want);
        assert_eq!(
            linux(env(&[(
                "saved_entry",
                "gnulinux-advanced-u1>gnulinux-6.1.0-25-amd64-advanced-u1"
            )])),
            want
        );
        assert_eq!(
            linux(env(&[(
                "saved_entry",
                "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-25-amd64"
            )])),
            want
        );
        let once = m
            .choose(&env(&[("saved_entry", "0"), ("next_entry", "1>1")]))
            .expect("choice");
        assert!(once.one_time);
        assert_eq!(once.linux, "/vmlinuz-6.1.0-25-amd64");
        assert!(m.choose(&env(&[("saved_entry", "1")])).is_err());
        assert!(m.choose(&env(&[("saved_entry", "9")])).is_err());
    }

    #[test]
    fn plain_numeric_default_and_grubenv_padding() {
        let m = parse_grub_cfg(&GRUB_CFG.replace("${saved_entry}", "2"));
        assert_eq!(m.choose(&env(&[])).expect("choice").title, "It's \"odd\"");
        let e = parse_grubenv("# GRUB Environment Block\nsaved_entry=1>0\n#####\n");
        assert_eq!(e.get("saved_entry").map(String::as_str), Some("1>0"));
        assert_eq!(release_of("vmlinuz-6.1.0-25-amd64"), Some("6.1.0-25-amd64"));
        assert_eq!(release_of("vmlinuz-"), None);
    }
}
