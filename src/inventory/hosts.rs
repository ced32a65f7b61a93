//! From groups and hosts as written to the hosts patchgap connects to: group membership
//! through `children`, and variable inheritance in Ansible's order (`all`, then groups by
//! depth, then `ansible_group_priority`, then name; the host's own variables last).
//! See <https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html#how-variables-are-merged>.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::errors::{InventoryError, Location};
use super::graph::Graph;
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

/// [`load_str`] with lower caps than the real ones, so that tests reach a cap with a small
/// inventory.
#[cfg(test)]
pub fn load_str_with(
    name: &Path,
    source: &str,
    caps: super::caps::Caps,
) -> Result<Inventory, InventoryError> {
    let mut builder = Builder::default();
    builder.caps = caps;
    builder.add_source(name, source)?;
    resolve(builder)
}

fn resolve(mut builder: Builder) -> Result<Inventory, InventoryError> {
    for implicit in ["all", "ungrouped"] {
        builder
            .groups
            .entry(implicit.to_string())
            .or_insert_with(|| GroupDef::new(Location::new(Path::new("<implicit>"), None)));
    }
    let graph = Graph::new(&builder.groups)?;
    let defs: Vec<&GroupDef> = builder.groups.values().collect();
    let (all, ungrouped) = match (graph.index_of("all"), graph.index_of("ungrouped")) {
        (Some(all), Some(ungrouped)) => (all, ungrouped),
        // Both were inserted above.
        _ => return Ok(Inventory::default()),
    };

    // The groups that list each host, in index order.
    let mut listed: Vec<Vec<usize>> = vec![Vec::new(); builder.hosts.len()];
    for (group, def) in defs.iter().enumerate() {
        for host in &def.hosts {
            listed[*host].push(group);
        }
    }
    // Hosts listed in the same groups share their groups and inherited variables, and a
    // range puts thousands of hosts in the same groups: resolve each set once.
    let mut resolved: HashMap<Vec<usize>, Rc<Resolved>> = HashMap::new();
    let mut members: Vec<Vec<String>> = vec![Vec::new(); defs.len()];
    let mut memberships = 0usize;
    let mut hosts = Vec::with_capacity(builder.hosts.len());
    for (host, mut listed) in builder.hosts.iter().zip(listed) {
        listed.retain(|g| *g != all);
        let inherited = match resolved.get(&listed) {
            Some(r) => Rc::clone(r),
            None => {
                let r = Rc::new(resolve_groups(&graph, &defs, &listed, all, ungrouped));
                resolved.insert(listed.clone(), Rc::clone(&r));
                r
            }
        };
        memberships += inherited.groups.len();
        if memberships > builder.caps.memberships {
            let at = listed.first().map_or(&defs[all].at, |g| &defs[*g].at);
            return Err(InventoryError::TooManyMemberships {
                at: at.clone(),
                cap: builder.caps.memberships,
            });
        }
        let mut vars = inherited.vars.clone();
        vars.overlay(&host.vars);
        for group in &inherited.indices {
            members[*group].push(host.name.clone());
        }
        let settings = vars.patchgap();
        hosts.push(HostTarget {
            name: host.name.clone(),
            address: vars.address,
            port: vars.port,
            user: vars.user,
            private_key_file: vars.private_key_file,
            r#become: vars.become_.unwrap_or(false),
            become_user: vars.become_user,
            proxy_jump: vars.proxy_jump,
            groups: inherited.groups.clone(),
            settings,
        });
    }
    let groups = graph
        .names
        .iter()
        .map(|name| name.to_string())
        .zip(members)
        .collect();
    Ok(Inventory { hosts, groups })
}

/// What hosts listed in the same groups share.
struct Resolved {
    /// Every group, ancestors, `all` and `ungrouped` included, by index and sorted by name.
    indices: Vec<usize>,
    groups: Vec<String>,
    /// The groups' variables merged in Ansible's order.
    vars: VarSet,
}

/// The groups of a host listed in `listed` (`all` left out), and their variables merged:
/// `all`, then by depth, then by `ansible_group_priority`, then by name.
fn resolve_groups(
    graph: &Graph,
    defs: &[&GroupDef],
    listed: &[usize],
    all: usize,
    ungrouped: usize,
) -> Resolved {
    let mut indices = graph.ancestors(listed);
    indices.push(all);
    if listed.is_empty() {
        indices.push(ungrouped);
    }
    // Indices follow name order: sorting them sorts the names.
    indices.sort_unstable();
    indices.dedup();
    let mut ordered: Vec<(usize, i64, &str, usize)> = indices
        .iter()
        .map(|g| {
            let priority = defs[*g].vars.group_priority.unwrap_or(1);
            (graph.depth[*g], priority, graph.names[*g], *g)
        })
        .collect();
    ordered.sort();
    let mut vars = VarSet::default();
    for (_, _, _, group) in &ordered {
        vars.overlay(&defs[*group].vars);
    }
    Resolved {
        groups: indices
            .iter()
            .map(|g| graph.names[*g].to_string())
            .collect(),
        indices,
        vars,
    }
}
