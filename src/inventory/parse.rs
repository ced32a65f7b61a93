//! Reads Ansible YAML inventory files into groups and hosts as written, before inheritance.
//!
//! The shape follows Ansible's `yaml` inventory plugin: top-level keys are groups (usually
//! just `all`); a group holds `hosts`, `children` and `vars`; a group or host may appear
//! several times, in one file or across files, and its definitions merge, later ones
//! winning. See <https://docs.ansible.com/ansible/latest/collections/ansible/builtin/yaml_inventory.html>.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use serde_yaml::Value;

use super::caps::{Caps, MAX_FILE_BYTES, MAX_NAME_BYTES, flow_too_deep};
use super::errors::{InventoryError, Location, kind_of, suggest};
use super::lines::KeyLines;
use super::ranges;
use super::vars::{VarContext, VarSet, read_var};

/// A group as written: its own variables, direct children and directly listed hosts.
#[derive(Debug)]
pub struct GroupDef {
    pub vars: VarSet,
    /// In the order first written.
    pub children: Vec<String>,
    /// Indices into [`Builder::hosts`], in the order first listed.
    pub hosts: Vec<usize>,
    /// Where the group first appeared, for errors about the group as a whole.
    pub at: Location,
    /// `children` and `hosts` as sets: a group may be written many times and list many
    /// hosts, and a list scan per entry would make that quadratic.
    child_set: HashSet<String>,
    host_set: HashSet<usize>,
}

impl GroupDef {
    pub fn new(at: Location) -> Self {
        GroupDef {
            vars: VarSet::default(),
            children: Vec::new(),
            hosts: Vec::new(),
            at,
            child_set: HashSet::new(),
            host_set: HashSet::new(),
        }
    }
}

#[derive(Debug)]
pub struct HostDef {
    pub name: String,
    /// The host's own variables, merged over all its entries.
    pub vars: VarSet,
}

/// Every file's groups and hosts merged, in the order hosts first appeared.
#[derive(Debug, Default)]
pub struct Builder {
    pub groups: BTreeMap<String, GroupDef>,
    pub hosts: Vec<HostDef>,
    index: HashMap<String, usize>,
    /// Hosts listed in groups, counted against [`Caps::memberships`].
    memberships: usize,
    pub caps: Caps,
}

/// One file being read: where its keys are, for error locations.
struct FileCx<'a> {
    file: &'a Path,
    lines: KeyLines,
}

impl FileCx<'_> {
    fn at(&self, path: &[String]) -> Location {
        Location::new(self.file, self.lines.line_of(path))
    }
}

const GROUP_KEYS: &[&str] = &["hosts", "children", "vars"];

impl Builder {
    pub fn add_file(&mut self, path: &Path) -> Result<(), InventoryError> {
        let read_error = |source| InventoryError::Read {
            path: path.to_path_buf(),
            source,
        };
        // Read one byte past the cap, so that a larger file (or /dev/zero) is refused
        // without being read whole.
        let mut source = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut source))
            .map_err(read_error)?;
        self.add_source(path, &source)
    }

    pub fn add_source(&mut self, file: &Path, source: &str) -> Result<(), InventoryError> {
        if source.len() as u64 > MAX_FILE_BYTES {
            return Err(InventoryError::FileTooLarge {
                path: file.to_path_buf(),
                cap_mib: MAX_FILE_BYTES / (1024 * 1024),
            });
        }
        if let Some(line) = flow_too_deep(source) {
            return Err(InventoryError::FlowTooDeep {
                at: Location::new(file, Some(line)),
                cap: super::caps::MAX_FLOW_DEPTH,
            });
        }
        let lines = KeyLines::scan(source);
        let yaml_error = |e: serde_yaml::Error| yaml_error(file, &lines, &e);
        let mut root: Value = serde_yaml::from_str(source).map_err(yaml_error)?;
        // `<<: *defaults` merge keys are common in inventories and are honoured by Ansible.
        root.apply_merge().map_err(yaml_error)?;
        let cx = FileCx { file, lines };
        let top = match &root {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            other => {
                return Err(InventoryError::TopLevelNotMapping {
                    at: Location::new(file, Some(1)),
                    found: kind_of(other),
                });
            }
        };
        for (key, value) in top {
            let name = self.name(&cx, key, &[])?;
            let path = vec![name.clone()];
            check_length(&cx, &name, &path)?;
            if let ("plugin", Value::String(plugin)) = (name.as_str(), value) {
                return Err(InventoryError::PluginInventory {
                    at: cx.at(&path),
                    plugin: plugin.clone(),
                });
            }
            self.group(&cx, &name, value, path)?;
        }
        Ok(())
    }

    fn group(
        &mut self,
        cx: &FileCx,
        name: &str,
        value: &Value,
        path: Vec<String>,
    ) -> Result<(), InventoryError> {
        self.groups
            .entry(name.to_string())
            .or_insert_with(|| GroupDef::new(cx.at(&path)));
        let body = match value {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            other => {
                return Err(InventoryError::GroupNotMapping {
                    at: cx.at(&path),
                    group: name.to_string(),
                    found: kind_of(other),
                });
            }
        };
        for (key, section) in body {
            let key = self.name(cx, key, &path)?;
            let section_path = join(&path, &key);
            match key.as_str() {
                "hosts" => {
                    for (pattern, host_vars) in entries(cx, name, "hosts", section, &section_path)?
                    {
                        self.hosts_entry(cx, name, pattern, host_vars, &section_path)?;
                    }
                }
                "vars" => {
                    let owner = format!("group {name}");
                    for (var, value) in entries(cx, name, "vars", section, &section_path)? {
                        let var = self.name(cx, var, &section_path)?;
                        let var_cx = VarContext {
                            owner: &owner,
                            at: cx.at(&join(&section_path, &var)),
                        };
                        if let Some(group) = self.groups.get_mut(name) {
                            read_var(&mut group.vars, &var, value, &var_cx)?;
                        }
                    }
                }
                "children" => {
                    for (child, child_body) in
                        entries(cx, name, "children", section, &section_path)?
                    {
                        let child = self.name(cx, child, &section_path)?;
                        let child_path = join(&section_path, &child);
                        check_length(cx, &child, &child_path)?;
                        if let Some(group) = self.groups.get_mut(name)
                            && group.child_set.insert(child.clone())
                        {
                            group.children.push(child.clone());
                        }
                        self.group(cx, &child, child_body, child_path)?;
                    }
                }
                _ => {
                    return Err(InventoryError::UnexpectedGroupKey {
                        at: cx.at(&section_path),
                        group: name.to_string(),
                        suggestion: suggest(&key, GROUP_KEYS),
                        key,
                    });
                }
            }
        }
        Ok(())
    }

    fn hosts_entry(
        &mut self,
        cx: &FileCx,
        group: &str,
        pattern: &Value,
        host_vars: &Value,
        section_path: &[String],
    ) -> Result<(), InventoryError> {
        let pattern = self.name(cx, pattern, section_path)?;
        let path = join(section_path, &pattern);
        let expanded = ranges::expand(&pattern).map_err(|reason| InventoryError::BadRange {
            at: cx.at(&path),
            pattern: pattern.clone(),
            reason,
        })?;
        if let Some(long) = expanded.names.iter().find(|n| n.len() > MAX_NAME_BYTES) {
            check_length(cx, long, &path)?;
        }
        let mut vars = VarSet {
            port: expanded.port,
            ..VarSet::default()
        };
        match host_vars {
            Value::Null => {}
            Value::Mapping(m) => {
                let owner = format!("host {pattern}");
                for (var, value) in m {
                    let var = self.name(cx, var, &path)?;
                    let var_cx = VarContext {
                        owner: &owner,
                        at: cx.at(&join(&path, &var)),
                    };
                    read_var(&mut vars, &var, value, &var_cx)?;
                }
            }
            other => {
                return Err(InventoryError::HostNotMapping {
                    at: cx.at(&path),
                    host: pattern,
                    found: kind_of(other),
                });
            }
        }
        let Some(g) = self.groups.get_mut(group) else {
            return Ok(());
        };
        for name in expanded.names {
            let index = match self.index.get(&name) {
                Some(index) => *index,
                None => {
                    if self.hosts.len() >= self.caps.hosts {
                        return Err(InventoryError::TooManyHosts {
                            at: cx.at(&path),
                            cap: self.caps.hosts,
                        });
                    }
                    self.hosts.push(HostDef {
                        name: name.clone(),
                        vars: VarSet::default(),
                    });
                    self.index.insert(name, self.hosts.len() - 1);
                    self.hosts.len() - 1
                }
            };
            self.hosts[index].vars.overlay(&vars);
            if g.host_set.insert(index) {
                self.memberships += 1;
                if self.memberships > self.caps.memberships {
                    return Err(InventoryError::TooManyMemberships {
                        at: cx.at(&path),
                        cap: self.caps.memberships,
                    });
                }
                g.hosts.push(index);
            }
        }
        Ok(())
    }

    /// A group, host or variable name: a plain scalar without spaces or control characters
    /// (it ends up in SSH connections, patterns and terminal output).
    fn name(&self, cx: &FileCx, key: &Value, parent: &[String]) -> Result<String, InventoryError> {
        let text = match key {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(InventoryError::BadName {
                    at: cx.at(parent),
                    key: kind_of(other).to_string(),
                    reason: "names must be plain strings",
                });
            }
        };
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InventoryError::BadName {
                at: cx.at(&join(parent, &text)),
                reason: "names must not be empty or contain spaces or control characters",
                key: text,
            });
        }
        Ok(text)
    }
}

/// Refuses a host or group name longer than [`MAX_NAME_BYTES`].
fn check_length(cx: &FileCx, name: &str, path: &[String]) -> Result<(), InventoryError> {
    if name.len() <= MAX_NAME_BYTES {
        return Ok(());
    }
    Err(InventoryError::BadName {
        at: cx.at(path),
        key: name.to_string(),
        reason: "host and group names must be at most 255 bytes long (the longest DNS name \
                 is 253); shorten it, or set `ansible_host` to the long address",
    })
}

/// A YAML error at its line. serde_yaml places a duplicate key at the start of its
/// mapping; the line of the repeat itself is more useful.
fn yaml_error(file: &Path, lines: &KeyLines, e: &serde_yaml::Error) -> InventoryError {
    let mut message = e.to_string();
    let mut line = e.location().map(|l| l.line());
    if let Some(key) = message
        .split_once("duplicate entry with key \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(key, _)| key)
        && let Some(repeat) = lines.repeat_of(key)
    {
        line = Some(repeat);
        message = format!("`{key}` appears twice in the same mapping; merge the two entries");
    }
    strip_position(&mut message);
    InventoryError::Yaml {
        at: Location::new(file, line),
        message,
    }
}

/// Removes serde_yaml's " at line L column C", which the location already says.
fn strip_position(message: &mut String) {
    let Some(start) = message.find(" at line ") else {
        return;
    };
    let rest = &message[start + " at line ".len()..];
    let after_line = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let after_column = after_line
        .strip_prefix(" column ")
        .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()))
        .unwrap_or(after_line);
    let end = message.len() - after_column.len();
    message.replace_range(start..end, "");
}

/// The entries of a `hosts`, `vars` or `children` section; an empty section is allowed.
fn entries<'v>(
    cx: &FileCx,
    group: &str,
    key: &'static str,
    section: &'v Value,
    path: &[String],
) -> Result<Vec<(&'v Value, &'v Value)>, InventoryError> {
    match section {
        Value::Null => Ok(Vec::new()),
        Value::Mapping(m) => Ok(m.iter().collect()),
        other => Err(InventoryError::SectionNotMapping {
            at: cx.at(path),
            group: group.to_string(),
            key,
            found: kind_of(other),
        }),
    }
}

/// The path of a key below `parent`, for line lookups.
fn join(parent: &[String], key: &str) -> Vec<String> {
    let mut path = parent.to_vec();
    path.push(key.to_string());
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_yaml_positions_are_not_repeated() {
        let mut m = "did not find expected key at line 4 column 4, while parsing".to_string();
        strip_position(&mut m);
        assert_eq!(m, "did not find expected key, while parsing");
        let mut m = "all.hosts: invalid type at line 2 column 3".to_string();
        strip_position(&mut m);
        assert_eq!(m, "all.hosts: invalid type");
        let mut m = "no position here".to_string();
        strip_position(&mut m);
        assert_eq!(m, "no position here");
    }
}
