//! The groups as a graph of `children` entries: checked for loops and for depth, then
//! walked for each host's ancestors.
//!
//! Nothing here recurses: a generated inventory can chain 100,000 groups, one the child of
//! the next, and a recursive walk would overflow the stack instead of saying what is wrong.
//! Each check costs one pass over the groups and their `children` entries.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::caps::MAX_GROUP_DEPTH;
use super::errors::InventoryError;
use super::parse::GroupDef;

/// Groups by index, in name order (the order of the builder's map).
pub struct Graph<'g> {
    pub names: Vec<&'g str>,
    index: HashMap<&'g str, usize>,
    children: Vec<Vec<usize>>,
    parents: Vec<Vec<usize>>,
    /// Longest path from `all`, which is how Ansible orders group variables.
    pub depth: Vec<usize>,
}

impl<'g> Graph<'g> {
    /// The graph of `groups`, which must hold `all`. A group nobody lists as a child is a
    /// child of `all`. Refuses loops and chains deeper than [`MAX_GROUP_DEPTH`].
    pub fn new(groups: &'g BTreeMap<String, GroupDef>) -> Result<Self, InventoryError> {
        let names: Vec<&str> = groups.keys().map(String::as_str).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut children: Vec<Vec<usize>> = groups
            .values()
            .map(|def| {
                def.children
                    .iter()
                    .filter_map(|c| index.get(c.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut parents = vec![Vec::new(); names.len()];
        for (parent, list) in children.iter().enumerate() {
            for child in list {
                parents[*child].push(parent);
            }
        }
        if let Some(&all) = index.get("all") {
            for (group, list) in parents.iter_mut().enumerate() {
                if group != all && list.is_empty() {
                    list.push(all);
                    children[all].push(group);
                }
            }
        }
        let mut graph = Graph {
            names,
            index,
            children,
            parents,
            depth: Vec::new(),
        };
        graph.check_cycles(groups)?;
        graph.depth = graph.depths(groups)?;
        Ok(graph)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// `groups` and all their ancestors, each once, in no particular order.
    pub fn ancestors(&self, groups: &[usize]) -> Vec<usize> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut queue: Vec<usize> = groups.to_vec();
        while let Some(group) = queue.pop() {
            if seen.insert(group) {
                queue.extend(&self.parents[group]);
            }
        }
        seen.into_iter().collect()
    }

    /// Refuses `children` loops, which have no depth and would make inheritance
    /// meaningless. A depth-first walk from each group in name order, children in the order
    /// written, so that the loop reported is the first one a reader meets.
    fn check_cycles(&self, groups: &BTreeMap<String, GroupDef>) -> Result<(), InventoryError> {
        const NEW: u8 = 0;
        const ON_TRAIL: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; self.names.len()];
        for root in 0..self.names.len() {
            if state[root] != NEW {
                continue;
            }
            state[root] = ON_TRAIL;
            // The trail from `root`: each group and how many of its children were visited.
            let mut trail: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some((group, next)) = trail.last_mut() {
                let Some(&child) = self.children[*group].get(*next) else {
                    state[*group] = DONE;
                    trail.pop();
                    continue;
                };
                *next += 1;
                match state[child] {
                    NEW => {
                        state[child] = ON_TRAIL;
                        trail.push((child, 0));
                    }
                    ON_TRAIL => {
                        let start = trail.iter().position(|(g, _)| *g == child).unwrap_or(0);
                        let mut cycle: Vec<&str> =
                            trail[start..].iter().map(|(g, _)| self.names[*g]).collect();
                        cycle.push(self.names[child]);
                        let name = self.names[child];
                        return Err(InventoryError::Cycle {
                            at: groups[name].at.clone(),
                            group: name.to_string(),
                            cycle: cycle.join(" > "),
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The longest path from a root (only `all`, once loops are refused) to each group, in
    /// topological order; refuses a group deeper than [`MAX_GROUP_DEPTH`].
    fn depths(&self, groups: &BTreeMap<String, GroupDef>) -> Result<Vec<usize>, InventoryError> {
        let mut waiting: Vec<usize> = self.parents.iter().map(Vec::len).collect();
        let mut depth = vec![0usize; self.names.len()];
        let mut ready: VecDeque<usize> =
            (0..self.names.len()).filter(|g| waiting[*g] == 0).collect();
        while let Some(group) = ready.pop_front() {
            if depth[group] > MAX_GROUP_DEPTH {
                let name = self.names[group];
                return Err(InventoryError::GroupsTooDeep {
                    at: groups[name].at.clone(),
                    group: name.to_string(),
                    cap: MAX_GROUP_DEPTH,
                });
            }
            for &child in &self.children[group] {
                depth[child] = depth[child].max(depth[group] + 1);
                waiting[child] -= 1;
                if waiting[child] == 0 {
                    ready.push_back(child);
                }
            }
        }
        Ok(depth)
    }
}
