//! Line numbers of mapping keys, recovered from the source text.
//!
//! serde_yaml's `Value` keeps no positions, yet every inventory error must name its line.
//! Inventories are written in block style, so an indentation scan of the text finds the
//! line of each key by its path from the top (`all` > `children` > `web` > `hosts` > `web1`).
//! Keys the scan cannot see (inside a flow mapping `{...}`) fall back to the line of the
//! nearest enclosing key that it can see, which is still the right place to look.
//!
//! The keys are kept as a tree (each key knows its parent), so that a line costs the same
//! however deep it is nested: building a full path per line would make a deeply indented
//! file quadratic, in time and memory.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// A key of the tree: its parent (0 is the document root) and its name.
type Node = (usize, String);

/// Key path to 1-based line.
#[derive(Debug, Default)]
pub struct KeyLines {
    /// Key to (its node id, 1-based line of its first appearance). Node ids start at 1.
    nodes: HashMap<Node, (usize, usize)>,
    /// Keys seen again at the same path: the line of each key's first repeat.
    repeats: HashMap<String, usize>,
}

impl KeyLines {
    pub fn scan(source: &str) -> Self {
        let mut nodes: HashMap<Node, (usize, usize)> = HashMap::new();
        let mut repeats = HashMap::new();
        // Open keys: (indentation, node id).
        let mut stack: Vec<(usize, usize)> = Vec::new();
        // Indentation of the key that opened a block scalar (`|` or `>`): more indented
        // lines are its text, not keys.
        let mut block_scalar: Option<usize> = None;
        for (index, raw) in source.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            let content = line.trim_start_matches(' ');
            let mut indent = line.len() - content.len();
            if let Some(opener) = block_scalar {
                if content.is_empty() || indent > opener {
                    continue;
                }
                block_scalar = None;
            }
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if indent == 0 && (content.starts_with("---") || content.starts_with("...")) {
                stack.clear();
                continue;
            }
            let mut content = content;
            // A sequence entry `- key: value` opens a mapping two columns further in.
            while let Some(rest) = content.strip_prefix("- ") {
                let trimmed = rest.trim_start_matches(' ');
                indent += content.len() - trimmed.len();
                content = trimmed;
            }
            let Some((key, value)) = split_key(content) else {
                continue;
            };
            while stack.last().is_some_and(|(i, _)| *i >= indent) {
                stack.pop();
            }
            let parent = stack.last().map_or(0, |(_, id)| *id);
            let next_id = nodes.len() + 1;
            let id = match nodes.entry((parent, key)) {
                Entry::Occupied(slot) => {
                    repeats.entry(slot.key().1.clone()).or_insert(index + 1);
                    slot.get().0
                }
                Entry::Vacant(slot) => slot.insert((next_id, index + 1)).0,
            };
            stack.push((indent, id));
            let value = value.trim_start();
            if value.starts_with('|') || value.starts_with('>') {
                block_scalar = Some(indent);
            }
        }
        KeyLines { nodes, repeats }
    }

    /// Line where `key` appears a second time in one mapping. Only a hint for serde_yaml's
    /// duplicate-key error: the scan also sees repeats that are legal (the same key in
    /// two entries of a list), so it is asked only once YAML itself refused a duplicate.
    pub fn repeat_of(&self, key: &str) -> Option<usize> {
        self.repeats.get(key).copied()
    }

    /// Line of the key at `path`, or of its nearest ancestor the scan saw.
    pub fn line_of(&self, path: &[String]) -> Option<usize> {
        let mut parent = 0;
        let mut line = None;
        for key in path {
            // The lookup needs an owned key; paths are a handful of short names.
            match self.nodes.get(&(parent, key.clone())) {
                Some((id, at)) => {
                    parent = *id;
                    line = Some(*at);
                }
                None => break,
            }
        }
        line
    }
}

/// Splits `key: value` at the first colon that ends a key (one followed by a space, a
/// tab or the end of the line), so `web[01:20]:` and `host:2222:` keep their colons.
fn split_key(content: &str) -> Option<(String, &str)> {
    let quote = content.chars().next().filter(|c| *c == '"' || *c == '\'');
    if let Some(q) = quote {
        let end = content[1..].find(q)? + 1;
        let after = content[end + 1..].trim_start_matches(' ');
        let value = after.strip_prefix(':')?;
        if !(value.is_empty() || value.starts_with([' ', '\t'])) {
            return None;
        }
        return Some((content[1..end].to_string(), value));
    }
    if content.starts_with(['?', '{', '[', '&', '*', '!', '|', '>']) {
        return None;
    }
    let bytes = content.as_bytes();
    let position = (0..bytes.len()).find(|&i| {
        bytes[i] == b':' && bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t')
    })?;
    let key = content[..position].trim_end();
    // A comment after a value can hold a colon; a key never starts a comment.
    if key.is_empty() || key.contains(" #") {
        return None;
    }
    Some((key.to_string(), &content[position + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('/').map(str::to_string).collect()
    }

    const SOURCE: &str = "\
# comment: with a colon
all:
  vars:
    ansible_user: admin
  children:
    web:
      hosts:
        web[01:20]:
        'quoted:name':
          ansible_port: 22
        db1:2222:
      vars:
        note: |
          text: that looks like a key
        ansible_port: 2200
    db:
      hosts: {db1: {ansible_port: 5}}
      vars:
        ansible_port: 2300
";

    #[test]
    fn finds_each_key_by_its_path() {
        let lines = KeyLines::scan(SOURCE);
        assert_eq!(lines.line_of(&path("all")), Some(2));
        assert_eq!(lines.line_of(&path("all/vars/ansible_user")), Some(4));
        assert_eq!(
            lines.line_of(&path("all/children/web/hosts/web[01:20]")),
            Some(8)
        );
        assert_eq!(
            lines.line_of(&path("all/children/web/hosts/quoted:name/ansible_port")),
            Some(10)
        );
        assert_eq!(
            lines.line_of(&path("all/children/web/hosts/db1:2222")),
            Some(11)
        );
        assert_eq!(
            lines.line_of(&path("all/children/web/vars/ansible_port")),
            Some(15)
        );
        assert_eq!(
            lines.line_of(&path("all/children/db/vars/ansible_port")),
            Some(19)
        );
    }

    #[test]
    fn block_scalar_text_is_not_a_key() {
        let lines = KeyLines::scan(SOURCE);
        assert_eq!(lines.line_of(&path("all/children/web/vars/note")), Some(13));
        // `text:` inside the block scalar falls back to the scalar's key.
        assert_eq!(
            lines.line_of(&path("all/children/web/vars/note/text")),
            Some(13)
        );
    }

    #[test]
    fn keys_inside_flow_mappings_fall_back_to_the_enclosing_key() {
        let lines = KeyLines::scan(SOURCE);
        assert_eq!(
            lines.line_of(&path("all/children/db/hosts/db1/ansible_port")),
            Some(17)
        );
        assert_eq!(lines.line_of(&path("nothing/here")), None);
    }

    #[test]
    fn repeated_keys_are_remembered() {
        let lines = KeyLines::scan("all:\n  children:\n    web:\n    db:\n    web:\n");
        assert_eq!(lines.repeat_of("web"), Some(5));
        assert_eq!(lines.repeat_of("db"), None);
    }

    #[test]
    fn sequence_entries_and_crlf_are_handled() {
        let lines = KeyLines::scan("all:\r\n  hosts:\r\n    - web1: x\r\n");
        assert_eq!(lines.line_of(&path("all/hosts")), Some(2));
        assert_eq!(lines.line_of(&path("all/hosts/web1")), Some(3));
    }
}
