//! Inventory errors. Each names the file, the line (when the source shows one) and the key,
//! and says what to write instead, because an inventory is edited by hand and usually
//! shared with Ansible: the user must be able to go straight to the line.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where something was written in an inventory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line, when the key could be found in the source text.
    pub line: Option<u32>,
}

impl Location {
    pub fn new(file: &Path, line: Option<usize>) -> Self {
        Location {
            file: file.to_path_buf(),
            line: line.and_then(|l| u32::try_from(l).ok()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.to_string_lossy();
        match self.line {
            Some(line) => write!(f, "{}:{line}", shown(&file)),
            None => write!(f, "{}", shown(&file)),
        }
    }
}

/// Text longer than this (in characters) is cut in messages: a 10 MB key would otherwise
/// be a 10 MB error, and the line number already says where it is.
const MAX_SHOWN_CHARS: usize = 200;

/// Text from an inventory or the command line, made safe to print in an error message.
///
/// Names and values are the user's (or a generated inventory's) bytes, and an error goes
/// straight to a terminal: a raw ESC could move the cursor or hide the message, a CR
/// overwrite it, a NUL cut it short in a log. Every control character (C0, DEL, C1) and
/// every bidirectional override is written as an escape instead (`\r`, `\0`, `\u{1b}`),
/// so that the user sees exactly which character is wrong, and the text is cut after
/// [`MAX_SHOWN_CHARS`] characters. Backslashes are left as they are: serde_yaml's own
/// messages already escape with them, and doubling them would garble those.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(pub &'a str);

/// [`Shown`] for `text`.
pub fn shown(text: &str) -> Shown<'_> {
    Shown(text)
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for (count, (index, c)) in self.0.char_indices().enumerate() {
            if count == MAX_SHOWN_CHARS {
                return write!(f, "... ({} more bytes)", self.0.len() - index);
            }
            match c {
                '\t' => f.write_str("\\t")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\0' => f.write_str("\\0")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Control characters, and the bidirectional embeddings, overrides and isolates that make
/// a line read differently from what it holds ("Trojan Source").
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A "did you mean" hint, rendered only when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion(pub Option<String>);

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => write!(f, "; did you mean `{}`?", shown(s)),
            None => Ok(()),
        }
    }
}

/// The suggestion when there is one, else the list of known patchgap variables.
fn known_or(suggestion: &Suggestion) -> String {
    match suggestion.0 {
        Some(_) => suggestion.to_string(),
        None => format!("; known: {}", super::vars::PATCHGAP_VARS.join(", ")),
    }
}

/// The closest candidate to a misspelt key, if one is close enough to be a likely typo.
pub fn suggest(key: &str, candidates: &[&str]) -> Suggestion {
    let lowered = key.to_ascii_lowercase();
    let best = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lowered, c), *c))
        .min();
    Suggestion(match best {
        // Two edits catch `host` and `Vars`; a shared start catches `childs`. Anything
        // further would suggest unrelated words.
        Some((distance, c)) if distance <= 2 || strsim::jaro_winkler(&lowered, c) >= 0.88 => {
            Some(c.to_string())
        }
        _ => None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {}: {source}", shown(&path.to_string_lossy()))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{at}: not valid YAML: {}", shown(.message))]
    Yaml { at: Location, message: String },

    #[error(
        "{at}: the top level of an inventory must be a mapping of group names (usually `all:`), found {found}"
    )]
    TopLevelNotMapping { at: Location, found: &'static str },

    #[error(
        "{at}: this is an inventory plugin configuration (`plugin: {}`), which patchgap cannot run; \
         hint: export a static inventory with `ansible-inventory -i FILE --list --yaml > static.yaml`",
        shown(.plugin)
    )]
    PluginInventory { at: Location, plugin: String },

    #[error(
        "{at}: group `{}` must be a mapping with `hosts`, `children` or `vars` (or be empty), found {found}",
        shown(.group)
    )]
    GroupNotMapping {
        at: Location,
        group: String,
        found: &'static str,
    },

    #[error(
        "{at}: unexpected key `{}` in group `{}`: a group holds only `hosts`, `children` and `vars`{suggestion}",
        shown(.key),
        shown(.group)
    )]
    UnexpectedGroupKey {
        at: Location,
        group: String,
        key: String,
        suggestion: Suggestion,
    },

    #[error(
        "{at}: `{key}` of group `{}` must be a mapping (`name:` on its own line per entry), found {found}",
        shown(.group)
    )]
    SectionNotMapping {
        at: Location,
        group: String,
        key: &'static str,
        found: &'static str,
    },

    #[error(
        "{at}: host `{}` must be followed by a mapping of its variables or by nothing, found {found}",
        shown(.host)
    )]
    HostNotMapping {
        at: Location,
        host: String,
        found: &'static str,
    },

    #[error("{at}: `{}` is not a valid name: {reason}", shown(.key))]
    BadName {
        at: Location,
        key: String,
        reason: &'static str,
    },

    #[error("{at}: host range `{}`: {}", shown(.pattern), shown(.reason))]
    BadRange {
        at: Location,
        pattern: String,
        reason: String,
    },

    #[error(
        "{at}: `{}` (for {}): expected {expected}, found {}",
        shown(.key),
        shown(.owner),
        shown(.found)
    )]
    InvalidValue {
        at: Location,
        /// `host NAME` or `group NAME`.
        owner: String,
        key: String,
        expected: &'static str,
        found: String,
    },

    #[error(
        "{at}: unknown patchgap variable `{}` (for {}){}",
        shown(.key),
        shown(.owner),
        known_or(suggestion)
    )]
    UnknownPatchgapVar {
        at: Location,
        owner: String,
        key: String,
        suggestion: Suggestion,
    },

    #[error(
        "{at}: `{}` is set on group `{}` but is only meaningful for a host",
        shown(.key),
        shown(.group)
    )]
    HostOnlyVar {
        at: Location,
        group: String,
        key: String,
    },

    #[error(
        "{at}: group `{}` is its own ancestor ({}); remove one of the `children` entries",
        shown(.group),
        shown(.cycle)
    )]
    Cycle {
        at: Location,
        group: String,
        cycle: String,
    },

    #[error(
        "inventory {} is larger than {cap_mib} MiB, the cap for one file; split it into \
         several files and give each with its own `-i`",
        shown(&path.to_string_lossy())
    )]
    FileTooLarge { path: PathBuf, cap_mib: u64 },

    #[error(
        "{at}: `[` and `{{` nest more than {cap} levels deep here, the cap; an inventory needs \
         a few, so look for a bracket that is never closed"
    )]
    FlowTooDeep { at: Location, cap: usize },

    #[error(
        "{at}: the inventory has more than {cap} hosts with this entry, the cap; check the \
         range for a typo, or audit the fleet in parts (one inventory, or one `--limit`, per part)"
    )]
    TooManyHosts { at: Location, cap: usize },

    #[error(
        "{at}: the inventory lists hosts in groups more than {cap} times with this entry, the \
         cap; list each host in fewer groups (a parent group through `children` counts once \
         per host), or split the inventory"
    )]
    TooManyMemberships { at: Location, cap: usize },

    #[error(
        "{at}: group `{}` is more than {cap} levels of `children` below `all`, the cap; \
         flatten the hierarchy",
        shown(.group)
    )]
    GroupsTooDeep {
        at: Location,
        group: String,
        cap: usize,
    },
}

/// How a YAML value is named in messages.
pub fn kind_of(value: &serde_yaml::Value) -> &'static str {
    use serde_yaml::Value;
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value (`!tag`)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["hosts", "children", "vars"];
        assert_eq!(suggest("host", &keys).0.as_deref(), Some("hosts"));
        assert_eq!(suggest("Hosts", &keys).0.as_deref(), Some("hosts"));
        assert_eq!(suggest("childs", &keys).0.as_deref(), Some("children"));
        assert_eq!(suggest("variables", &keys).0, None);
        assert_eq!(suggest("zzz", &keys).0, None);
    }

    #[test]
    fn location_without_line_prints_the_file() {
        let at = Location::new(Path::new("inv.yaml"), None);
        assert_eq!(at.to_string(), "inv.yaml");
        let at = Location::new(Path::new("inv.yaml"), Some(7));
        assert_eq!(at.to_string(), "inv.yaml:7");
    }
}
