//! The inventory variables patchgap understands, checked where they are written.
//!
//! Of Ansible's variables only the connection ones matter here; every other variable is the
//! user's own and is ignored, as Ansible does. patchgap's own settings are `patchgap_*`
//! variables, and a misspelt one is an error: silently ignoring `patchgap_skp: true` would
//! audit a host the user meant to leave alone.

use std::path::PathBuf;

use serde_yaml::Value;

use super::errors::{InventoryError, Location, Suggestion, kind_of, suggest};

/// patchgap's own per-host settings (`patchgap_*` variables), after inheritance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchgapVars {
    /// `patchgap_skip`: leave the host out of every run (decommissioned, appliance, ...).
    pub skip: bool,
    /// `patchgap_sudo`: `false` never runs the probe through sudo (the audit may be
    /// partial); `true` always does, even as root. Unset: sudo when the login user is not
    /// root, or when `ansible_become` is true.
    pub sudo: Option<bool>,
    /// `patchgap_connect_timeout`: seconds for TCP connect and SSH handshake on this host.
    pub connect_timeout: Option<u64>,
    /// `patchgap_host_timeout`: seconds the whole audit of this host may take.
    pub host_timeout: Option<u64>,
    /// `patchgap_cache_dir`: absolute directory on the host where the probe is uploaded,
    /// for hosts whose default cache directory is full or mounted noexec.
    pub cache_dir: Option<PathBuf>,
    /// `patchgap_never_restart`: unit globs a restart campaign leaves to a person on this
    /// host (a YAML list, or one comma-separated string).
    pub never_restart: Vec<String>,
}

/// The patchgap variables, for messages and suggestions.
pub const PATCHGAP_VARS: &[&str] = &[
    "patchgap_skip",
    "patchgap_sudo",
    "patchgap_connect_timeout",
    "patchgap_host_timeout",
    "patchgap_cache_dir",
    "patchgap_never_restart",
];

/// Known variables set at one place (a host entry or a group's `vars`). `None` means not set
/// here, so a less specific level shows through.
#[derive(Debug, Clone, Default)]
pub struct VarSet {
    pub address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    /// From `-J` / `-o ProxyJump` in `ansible_ssh_common_args` or `ansible_ssh_extra_args`.
    pub proxy_jump: Option<String>,
    pub skip: Option<bool>,
    pub sudo: Option<bool>,
    pub connect_timeout: Option<u64>,
    pub host_timeout: Option<u64>,
    pub cache_dir: Option<PathBuf>,
    pub never_restart: Option<Vec<String>>,
    /// `ansible_group_priority`: orders groups of the same depth (higher wins).
    pub group_priority: Option<i64>,
}

macro_rules! overlay_fields {
    ($self:ident, $other:ident, $($field:ident),*) => {
        $( if $other.$field.is_some() { $self.$field.clone_from(&$other.$field); } )*
    };
}

impl VarSet {
    /// Lets the variables of a more specific level win over these.
    pub fn overlay(&mut self, other: &VarSet) {
        overlay_fields!(
            self,
            other,
            address,
            port,
            user,
            private_key_file,
            become_,
            become_user,
            proxy_jump,
            skip,
            sudo,
            connect_timeout,
            host_timeout,
            cache_dir,
            never_restart,
            group_priority
        );
    }

    pub fn patchgap(&self) -> PatchgapVars {
        PatchgapVars {
            skip: self.skip.unwrap_or(false),
            sudo: self.sudo,
            connect_timeout: self.connect_timeout,
            host_timeout: self.host_timeout,
            cache_dir: self.cache_dir.clone(),
            never_restart: self.never_restart.clone().unwrap_or_default(),
        }
    }
}

/// Who a variable is set for, and where, for error messages.
pub struct VarContext<'a> {
    /// `host NAME` or `group NAME`.
    pub owner: &'a str,
    pub at: Location,
}

/// Records one variable if patchgap knows it; ignores the user's own variables.
pub fn read_var(
    set: &mut VarSet,
    key: &str,
    value: &Value,
    cx: &VarContext,
) -> Result<(), InventoryError> {
    let invalid = |expected: &'static str| InventoryError::InvalidValue {
        at: cx.at.clone(),
        owner: cx.owner.to_string(),
        key: key.to_string(),
        expected,
        found: describe(value),
    };
    match key {
        "ansible_host" | "ansible_ssh_host" => {
            set.address = Some(text(value).ok_or_else(|| invalid(TEXT))?)
        }
        "ansible_port" | "ansible_ssh_port" => {
            let port = integer(value).filter(|p| (1..=65535).contains(p));
            set.port = Some(
                port.and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| invalid(PORT))?,
            )
        }
        "ansible_user" | "ansible_ssh_user" => {
            set.user = Some(text(value).ok_or_else(|| invalid(TEXT))?)
        }
        "ansible_ssh_private_key_file" | "ansible_private_key_file" => {
            set.private_key_file = Some(text(value).ok_or_else(|| invalid(TEXT))?.into())
        }
        "ansible_become" => set.become_ = Some(boolean(value).ok_or_else(|| invalid(BOOL))?),
        "ansible_become_user" => set.become_user = Some(text(value).ok_or_else(|| invalid(TEXT))?),
        "ansible_ssh_common_args" | "ansible_ssh_extra_args" => {
            let Value::String(args) = value else {
                return Err(invalid(TEXT));
            };
            if let Some(jump) = super::ssh_args::proxy_jump(args) {
                // Templates elsewhere in the arguments do not matter; in the jump host they do.
                if jump.contains("{{") {
                    return Err(invalid(TEXT));
                }
                set.proxy_jump = Some(jump);
            }
        }
        "ansible_group_priority" => {
            set.group_priority = Some(integer(value).ok_or_else(|| invalid("an integer"))?)
        }
        "patchgap_skip" => set.skip = Some(boolean(value).ok_or_else(|| invalid(BOOL))?),
        "patchgap_sudo" => set.sudo = Some(boolean(value).ok_or_else(|| invalid(BOOL))?),
        "patchgap_connect_timeout" => {
            set.connect_timeout = Some(seconds(value).ok_or_else(|| invalid(SECONDS))?)
        }
        "patchgap_host_timeout" => {
            set.host_timeout = Some(seconds(value).ok_or_else(|| invalid(SECONDS))?)
        }
        "patchgap_cache_dir" => {
            let dir = text(value).filter(|d| d.starts_with('/'));
            set.cache_dir = Some(dir.ok_or_else(|| invalid("an absolute path"))?.into())
        }
        "patchgap_never_restart" => {
            set.never_restart = Some(globs(value).ok_or_else(|| invalid(GLOBS))?)
        }
        _ if key.starts_with("patchgap_") => {
            return Err(InventoryError::UnknownPatchgapVar {
                at: cx.at.clone(),
                owner: cx.owner.to_string(),
                key: key.to_string(),
                suggestion: nearest_patchgap_var(key),
            });
        }
        _ => {}
    }
    Ok(())
}

const TEXT: &str = "a plain string (patchgap does not evaluate Jinja2 templates or vault values)";
const PORT: &str = "an integer 1-65535";
const BOOL: &str = "a boolean (true/false, yes/no)";
const GLOBS: &str = "a list of unit globs, or one comma-separated string of them";
const SECONDS: &str = "a whole number of seconds above 0";

fn nearest_patchgap_var(key: &str) -> Suggestion {
    let suffix = &key["patchgap_".len()..];
    let names: Vec<&str> = PATCHGAP_VARS
        .iter()
        .map(|v| &v["patchgap_".len()..])
        .collect();
    Suggestion(suggest(suffix, &names).0.map(|s| format!("patchgap_{s}")))
}

fn text(value: &Value) -> Option<String> {
    let s = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let templated = s.contains("{{") || s.contains("{%");
    (!s.is_empty() && !templated).then_some(s)
}

/// A list of plain strings, or one string split at commas; empty entries dropped.
fn globs(value: &Value) -> Option<Vec<String>> {
    let words: Vec<String> = match value {
        Value::Sequence(items) => items.iter().map(text).collect::<Option<_>>()?,
        Value::String(s) => s.split(',').map(|w| w.trim().to_string()).collect(),
        _ => return None,
    };
    Some(words.into_iter().filter(|w| !w.is_empty()).collect())
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn seconds(value: &Value) -> Option<u64> {
    integer(value)
        .filter(|s| *s > 0)
        .and_then(|s| u64::try_from(s).ok())
}

/// Ansible's boolean spellings: YAML 1.2 (which serde_yaml reads) leaves `yes` a string.
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "t" | "on" | "1" => Some(true),
            "no" | "n" | "false" | "f" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A short rendering of a wrong value for the message.
fn describe(value: &Value) -> String {
    let shown = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return kind_of(other).to_string(),
    };
    let mut short: String = shown.chars().take(40).collect();
    if short.len() < shown.len() {
        short.push_str("...");
    }
    format!("`{short}`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read(key: &str, yaml: &str) -> Result<VarSet, InventoryError> {
        let value: Value = serde_yaml::from_str(yaml).expect("yaml");
        let mut set = VarSet::default();
        let cx = VarContext {
            owner: "host web1",
            at: Location::new(Path::new("inv.yaml"), Some(3)),
        };
        read_var(&mut set, key, &value, &cx).map(|()| set)
    }

    #[test]
    fn ansible_spellings_are_accepted() {
        assert_eq!(
            read("ansible_port", "\"2222\"").expect("ok").port,
            Some(2222)
        );
        assert_eq!(read("ansible_ssh_port", "22").expect("ok").port, Some(22));
        assert_eq!(
            read("ansible_become", "yes").expect("ok").become_,
            Some(true)
        );
        assert_eq!(
            read("ansible_become", "False").expect("ok").become_,
            Some(false)
        );
        assert_eq!(
            read("ansible_host", "10.0.0.1")
                .expect("ok")
                .address
                .as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            read("patchgap_host_timeout", "30")
                .expect("ok")
                .host_timeout,
            Some(30)
        );
    }

    #[test]
    fn never_restart_is_a_list_or_a_comma_string() {
        let list = read("patchgap_never_restart", "[nginx*, 'ssh.service']").expect("list");
        assert_eq!(
            list.patchgap().never_restart,
            ["nginx*", "ssh.service"],
            "a YAML list"
        );
        let text = read("patchgap_never_restart", "'nginx*, ssh ,'").expect("string");
        assert_eq!(text.patchgap().never_restart, ["nginx*", "ssh"]);
        assert!(read("patchgap_never_restart", "{a: 1}").is_err());
        assert!(read("patchgap_never_restart", "['{{ x }}']").is_err());
        assert!(VarSet::default().patchgap().never_restart.is_empty());
    }

    #[test]
    fn the_jump_host_comes_from_the_ssh_arguments() {
        let set = read("ansible_ssh_common_args", "'-o ProxyJump=ops@bastion'").expect("ok");
        assert_eq!(set.proxy_jump.as_deref(), Some("ops@bastion"));
        let set = read("ansible_ssh_extra_args", "'-C -o User={{ u }}'").expect("ignored");
        assert_eq!(set.proxy_jump, None);
        assert!(read("ansible_ssh_common_args", "'-J {{ jump }}'").is_err());
    }

    #[test]
    fn other_variables_are_ignored() {
        let set = read("http_port", "[1, 2]").expect("ignored");
        assert!(set.port.is_none());
    }

    #[test]
    fn wrong_types_name_the_key_and_the_value() {
        let err = read("ansible_port", "abc")
            .expect_err("not a port")
            .to_string();
        assert_eq!(
            err,
            "inv.yaml:3: `ansible_port` (for host web1): expected an integer 1-65535, found `abc`"
        );
        assert!(read("ansible_port", "70000").is_err());
        assert!(read("ansible_port", "0").is_err());
        assert!(read("ansible_become", "maybe").is_err());
        assert!(read("ansible_host", "\"{{ inventory_hostname }}\"").is_err());
        assert!(read("ansible_user", "{a: 1}").is_err());
        assert!(read("patchgap_connect_timeout", "-1").is_err());
        assert!(read("patchgap_cache_dir", "relative/dir").is_err());
    }

    #[test]
    fn unknown_patchgap_variables_get_a_suggestion() {
        let err = read("patchgap_skp", "true")
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("did you mean `patchgap_skip`?"), "{err}");
        let err = read("patchgap_frobnicate", "1")
            .expect_err("unknown")
            .to_string();
        assert!(!err.contains("did you mean"), "{err}");
        assert!(err.contains("known: patchgap_skip"), "{err}");
        let err = read("patchgap_skp", "true")
            .expect_err("unknown")
            .to_string();
        assert!(!err.contains("known:"), "{err}");
    }

    #[test]
    fn specific_levels_win() {
        let mut base = read("ansible_port", "22").expect("ok");
        base.overlay(&read("ansible_user", "ops").expect("ok"));
        base.overlay(&read("ansible_port", "2222").expect("ok"));
        assert_eq!((base.port, base.user.as_deref()), (Some(2222), Some("ops")));
    }
}
