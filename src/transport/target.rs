//! Where and as whom to connect for one inventory host: the inventory's values, then the
//! OpenSSH client config, then defaults. Inventory values win over ssh_config, as they do
//! in Ansible (which passes them to ssh on its command line).

use std::path::PathBuf;

use super::ssh_config::{HostSettings, SshConfig, Tokens, expand_tokens};

/// How the inventory says to reach one host: the connection settings only. The
/// [`Resolver`] completes them from the ssh config into a [`Route`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshTarget {
    /// Inventory name (the report's key).
    pub name: String,
    /// `ansible_host`; the name is used when absent.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub identity_files: Vec<PathBuf>,
    /// `[user@]host[:port]` hops, comma-separated, overriding ssh_config's ProxyJump.
    pub proxy_jump: Option<String>,
}

/// One SSH server to authenticate to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Key files to try after the agent, in order.
    pub identity_files: Vec<PathBuf>,
}

/// The target and the jump hosts in front of it, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub jumps: Vec<Endpoint>,
    pub target: Endpoint,
}

/// Resolves inventory hosts against the ssh config and the run's options.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub config: SshConfig,
    pub local_user: String,
    pub home: String,
    /// `--private-key`, tried before every other key file.
    pub private_key: Option<PathBuf>,
}

/// Key files OpenSSH tries when nothing else is configured.
const DEFAULT_KEYS: &[&str] = &["id_ed25519", "id_ecdsa", "id_rsa"];

impl Resolver {
    pub fn route(&self, target: &SshTarget) -> Route {
        let alias = target.host.as_deref().unwrap_or(&target.name);
        let settings = self.config.resolve(alias);
        let endpoint = self.endpoint(
            alias,
            &settings,
            target.user.as_deref(),
            target.port,
            &target.identity_files,
        );
        let hops = match &target.proxy_jump {
            Some(spec) => spec.split(',').map(|hop| hop.trim().to_string()).collect(),
            None => settings.proxy_jump.clone().unwrap_or_default(),
        };
        let jumps = hops
            .iter()
            .filter(|hop| !hop.is_empty() && !hop.eq_ignore_ascii_case("none"))
            .map(|hop| {
                let (user, host, port) = parse_hop(hop);
                self.endpoint(host, &self.config.resolve(host), user, port, &[])
            })
            .collect();
        Route {
            jumps,
            target: endpoint,
        }
    }

    fn endpoint(
        &self,
        alias: &str,
        settings: &HostSettings,
        user: Option<&str>,
        port: Option<u16>,
        inventory_keys: &[PathBuf],
    ) -> Endpoint {
        let user = user
            .map(str::to_string)
            .or_else(|| settings.user.clone())
            .unwrap_or_else(|| self.local_user.clone());
        let port = port.or(settings.port).unwrap_or(22);
        let mut tokens = Tokens {
            alias,
            host: alias,
            port,
            remote_user: &user,
            local_user: &self.local_user,
            home: &self.home,
        };
        let host = settings
            .hostname
            .as_deref()
            .map(|name| expand_tokens(name, &tokens))
            .unwrap_or_else(|| alias.to_string());
        tokens.host = &host;
        let mut identity_files: Vec<PathBuf> = self.private_key.iter().cloned().collect();
        identity_files.extend(inventory_keys.iter().cloned());
        identity_files.extend(
            settings
                .identity_files
                .iter()
                .map(|file| PathBuf::from(expand_tokens(file, &tokens))),
        );
        identity_files.extend(
            DEFAULT_KEYS
                .iter()
                .map(|name| PathBuf::from(&self.home).join(".ssh").join(name)),
        );
        let mut seen = std::collections::HashSet::new();
        identity_files.retain(|file| seen.insert(file.clone()));
        Endpoint {
            host,
            port,
            user,
            identity_files,
        }
    }
}

/// `[ssh://][user@]host[:port]`; IPv6 hosts in brackets (`[::1]:2222`).
fn parse_hop(hop: &str) -> (Option<&str>, &str, Option<u16>) {
    let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
    let (user, rest) = match hop.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, hop),
    };
    if let Some((host, after)) = rest.strip_prefix('[').and_then(|b| b.split_once(']')) {
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (user, host, port);
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (user, host, port.parse().ok()),
        _ => (user, rest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(config: &str) -> Resolver {
        Resolver {
            config: SshConfig::parse(config),
            local_user: "me".into(),
            home: "/home/me".into(),
            private_key: Some(PathBuf::from("/keys/cli")),
        }
    }

    #[test]
    fn inventory_values_win_over_ssh_config() {
        let resolver =
            resolver("Host 10.0.0.*\n  User cfg\n  Port 2200\n  IdentityFile ~/.ssh/%h\n");
        let route = resolver.route(&SshTarget {
            name: "web1".into(),
            host: Some("10.0.0.1".into()),
            user: Some("ops".into()),
            identity_files: vec![PathBuf::from("/keys/inventory")],
            ..SshTarget::default()
        });
        assert!(route.jumps.is_empty());
        assert_eq!(route.target.host, "10.0.0.1");
        assert_eq!(route.target.user, "ops");
        assert_eq!(route.target.port, 2200);
        let keys: Vec<String> = route
            .target
            .identity_files
            .iter()
            .map(|k| k.display().to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "/keys/cli",
                "/keys/inventory",
                "/home/me/.ssh/10.0.0.1",
                "/home/me/.ssh/id_ed25519",
                "/home/me/.ssh/id_ecdsa",
                "/home/me/.ssh/id_rsa"
            ]
        );
    }

    #[test]
    fn hostname_and_proxy_jump_come_from_the_config() {
        let resolver = resolver(
            "Host db*\n  HostName %h.internal\n  ProxyJump admin@bastion:2222\n\
             Host bastion\n  HostName 192.0.2.1\n",
        );
        let route = resolver.route(&SshTarget {
            name: "db1".into(),
            ..SshTarget::default()
        });
        assert_eq!(route.target.host, "db1.internal");
        assert_eq!(route.target.user, "me");
        assert_eq!(route.target.port, 22);
        assert_eq!(route.jumps.len(), 1);
        assert_eq!(route.jumps[0].host, "192.0.2.1");
        assert_eq!(route.jumps[0].user, "admin");
        assert_eq!(route.jumps[0].port, 2222);
    }

    #[test]
    fn hops_parse_users_ports_and_ipv6() {
        assert_eq!(parse_hop("a@h:1"), (Some("a"), "h", Some(1)));
        assert_eq!(parse_hop("ssh://h"), (None, "h", None));
        assert_eq!(parse_hop("[::1]:2222"), (None, "::1", Some(2222)));
        assert_eq!(parse_hop("::1"), (None, "::1", None));
    }
}
