//! From groups and hosts as written to the hosts patchgap connects to: group membership
//! through `children`, and variable inheritance in Ansible's order (`all`, then groups by
//! depth, then `ansible_group_priority`, then name; the host's own variables last).
//! See <https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html#how-variables-are-merged>.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::errors::{InventoryError, Location};
use super::parse::{Builder, GroupDef};
use super::vars::{PatchgapVars, VarSet};

/// A host to audit, with its settings after inheritance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    /// Inventory name (`inventory_hostname`).
    pub name: String,
    /// `ansible_host`: where to connect, when it differs from the name.
    pub address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// As written: `~` is not expanded, a relative path is relative to the working directory.
    pub private_key_file: Option<PathBuf>,
    pub r#become: bool,
    pub become_user: Option<String>,
    /// Jump hosts (`[user@]host[:port]`, comma-separated) found as `-J` or `-o ProxyJump`
    /// in `ansible_ssh_common_args` / `ansible_ssh_extra_args`; overrides ssh_config.
    pub proxy_jump: Option<String>,
    /// Every group the host is in, ancestors, `all` and `ungrouped` included, sorted.
    pub groups: Vec<String>,
    pub settings: PatchgapVars,
}

impl HostTarget {
    /// The name to resolve and connect to.
    pub fn connect_address(&self) -> &str {
        self.address.as_deref().unwrap_or(&self.name)
    }

    /// Whether the probe runs through `sudo -n`, given whether the login user is root.
    pub fn wants_sudo(&self, login_is_root: bool) -> bool {
        self.settings
            .sudo
            .unwrap_or(self.r#become || !login_is_root)
    }
}

/// Every host of the inventory files, in the order they first appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub hosts: Vec<HostTarget>,
    /// Group name to its hosts (through children too), in inventory order. Every group
    /// written in the files is here, even when empty, and so are `all` and `ungrouped`.
    pub groups: BTreeMap<String, Vec<String>>,
}

/// Reads and merges inventory files, later files winning, as Ansible does with several `-i`.
pub fn load(paths: &[PathBuf]) -> Result<Inventory, InventoryError> {
    let mut builder = Builder::default();
    for path in paths {
        builder.add_file(path)?;
    }
    resolve(builder)
}

/// [`load`] for inventory text that is not in a file (tests, stdin).
pub fn load_str(name: &Path, source: &str) -> Result<Inventory, InventoryError> {
    let mut builder = Builder::default();
    builder.add_source(name, source)?;
    resolve(builder)
}

fn resolve(mut builder: Builder) -> Result<Inventory, InventoryError> {
    for implicit in ["all", "ungrouped"] {
        builder
            .groups
            .entry(implicit.to_string())
            .or_insert_with(|| GroupDef {
                vars: VarSet::default(),
                children: Vec::new(),
                hosts: Vec::new(),
                at: Location::new(Path::new("<implicit>"), None),
            });
    }
    let mut parents = parents_of(&builder.groups);
    // A group nobody lists as a child is a child of `all`.
    for (name, group_parents) in parents.iter_mut() {
        if name != "all" && group_parents.is_empty() {
            group_parents.insert("all".to_string());
        }
    }
    check_cycles(&builder.groups)?;

    let mut direct: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for (group, def) in &builder.groups {
        for host in &def.hosts {
            direct.entry(host).or_default().insert(group.clone());
        }
    }
    let mut depths = HashMap::new();
    let mut hosts = Vec::with_capacity(builder.hosts.len());
    let mut members: BTreeMap<String, Vec<String>> = builder
        .groups
        .keys()
        .map(|g| (g.clone(), Vec::new()))
        .collect();
    for host in &builder.hosts {
        let mut groups = BTreeSet::from(["all".to_string()]);
        let listed = direct.remove(host.name.as_str()).unwrap_or_default();
        if listed.iter().all(|g| g == "all") {
            groups.insert("ungrouped".to_string());
        }
        for group in &listed {
            ancestors(group, &parents, &mut groups);
        }
        let mut ordered: Vec<(usize, i64, &str)> = groups
            .iter()
            .map(|g| {
                let priority = builder.groups[g].vars.group_priority.unwrap_or(1);
                (depth(g, &parents, &mut depths), priority, g.as_str())
            })
            .collect();
        ordered.sort();
        let mut vars = VarSet::default();
        for (_, _, group) in &ordered {
            vars.overlay(&builder.groups[*group].vars);
        }
        vars.overlay(&host.vars);
        for group in &groups {
            if let Some(list) = members.get_mut(group) {
                list.push(host.name.clone());
            }
        }
        hosts.push(HostTarget {
            name: host.name.clone(),
            address: vars.address.clone(),
            port: vars.port,
            user: vars.user.clone(),
            private_key_file: vars.private_key_file.clone(),
            r#become: vars.become_.unwrap_or(false),
            become_user: vars.become_user.clone(),
            proxy_jump: vars.proxy_jump.clone(),
            groups: groups.into_iter().collect(),
            settings: vars.patchgap(),
        });
    }
    Ok(Inventory {
        hosts,
        groups: members,
    })
}

fn parents_of(groups: &BTreeMap<String, GroupDef>) -> BTreeMap<String, BTreeSet<String>> {
    let mut parents: BTreeMap<String, BTreeSet<String>> = groups
        .keys()
        .map(|g| (g.clone(), BTreeSet::new()))
        .collect();
    for (name, def) in groups {
        for child in &def.children {
            parents
                .entry(child.clone())
                .or_default()
                .insert(name.clone());
        }
    }
    parents
}

fn ancestors(
    group: &str,
    parents: &BTreeMap<String, BTreeSet<String>>,
    out: &mut BTreeSet<String>,
) {
    if out.insert(group.to_string()) {
        for parent in parents.get(group).into_iter().flatten() {
            ancestors(parent, parents, out);
        }
    }
}

/// Longest path from `all`, which is how Ansible orders group variables.
fn depth(
    group: &str,
    parents: &BTreeMap<String, BTreeSet<String>>,
    memo: &mut HashMap<String, usize>,
) -> usize {
    if let Some(d) = memo.get(group) {
        return *d;
    }
    let d = parents
        .get(group)
        .into_iter()
        .flatten()
        .map(|p| depth(p, parents, memo) + 1)
        .max()
        .unwrap_or(0);
    memo.insert(group.to_string(), d);
    d
}

/// Refuses `children` loops, which have no depth and would make inheritance meaningless.
fn check_cycles(groups: &BTreeMap<String, GroupDef>) -> Result<(), InventoryError> {
    fn visit<'g>(
        name: &'g str,
        groups: &'g BTreeMap<String, GroupDef>,
        trail: &mut Vec<&'g str>,
        done: &mut BTreeSet<&'g str>,
    ) -> Result<(), InventoryError> {
        if let Some(start) = trail.iter().position(|g| *g == name) {
            let mut cycle: Vec<&str> = trail[start..].to_vec();
            cycle.push(name);
            return Err(InventoryError::Cycle {
                at: groups[name].at.clone(),
                group: name.to_string(),
                cycle: cycle.join(" > "),
            });
        }
        if done.contains(name) {
            return Ok(());
        }
        trail.push(name);
        for child in &groups[name].children {
            visit(child, groups, trail, done)?;
        }
        trail.pop();
        done.insert(name);
        Ok(())
    }
    let mut done = BTreeSet::new();
    for name in groups.keys() {
        visit(name, groups, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}
