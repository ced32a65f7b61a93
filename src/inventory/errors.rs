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
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// A "did you mean" hint, rendered only when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion(pub Option<String>);

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => write!(f, "; did you mean `{s}`?"),
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
    #[error("cannot read inventory {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{at}: not valid YAML: {message}")]
    Yaml { at: Location, message: String },

    #[error(
        "{at}: the top level of an inventory must be a mapping of group names (usually `all:`), found {found}"
    )]
    TopLevelNotMapping { at: Location, found: &'static str },

    #[error(
        "{at}: this is an inventory plugin configuration (`plugin: {plugin}`), which patchgap cannot run; \
         hint: export a static inventory with `ansible-inventory -i FILE --list --yaml > static.yaml`"
    )]
    PluginInventory { at: Location, plugin: String },

    #[error(
        "{at}: group `{group}` must be a mapping with `hosts`, `children` or `vars` (or be empty), found {found}"
    )]
    GroupNotMapping {
        at: Location,
        group: String,
        found: &'static str,
    },

    #[error(
        "{at}: unexpected key `{key}` in group `{group}`: a group holds only `hosts`, `children` and `vars`{suggestion}"
    )]
    UnexpectedGroupKey {
        at: Location,
        group: String,
        key: String,
        suggestion: Suggestion,
    },

    #[error(
        "{at}: `{key}` of group `{group}` must be a mapping (`name:` on its own line per entry), found {found}"
    )]
    SectionNotMapping {
        at: Location,
        group: String,
        key: &'static str,
        found: &'static str,
    },

    #[error(
        "{at}: host `{host}` must be followed by a mapping of its variables or by nothing, found {found}"
    )]
    HostNotMapping {
        at: Location,
        host: String,
        found: &'static str,
    },

    #[error("{at}: `{key}` is not a valid name: {reason}")]
    BadName {
        at: Location,
        key: String,
        reason: &'static str,
    },

    #[error("{at}: host range `{pattern}`: {reason}")]
    BadRange {
        at: Location,
        pattern: String,
        reason: String,
    },

    #[error("{at}: `{key}` (for {owner}): expected {expected}, found {found}")]
    InvalidValue {
        at: Location,
        /// `host NAME` or `group NAME`.
        owner: String,
        key: String,
        expected: &'static str,
        found: String,
    },

    #[error(
        "{at}: unknown patchgap variable `{key}` (for {owner}){}",
        known_or(suggestion)
    )]
    UnknownPatchgapVar {
        at: Location,
        owner: String,
        key: String,
        suggestion: Suggestion,
    },

    #[error("{at}: `{key}` is set on group `{group}` but is only meaningful for a host")]
    HostOnlyVar {
        at: Location,
        group: String,
        key: String,
    },

    #[error(
        "{at}: group `{group}` is its own ancestor ({cycle}); remove one of the `children` entries"
    )]
    Cycle {
        at: Location,
        group: String,
        cycle: String,
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
