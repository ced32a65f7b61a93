//! Which stale files are not worth a restart: memfd and SysV shared memory, device and
//! GPU mappings, temporary and runtime files, JIT caches. The default list is the union of
//! needrestart's and checkrestart's. Whatever a rule matches is still reported, under
//! `ignored`, so nothing is lost silently.

use regex::Regex;

/// The built-in rules, as regular expressions on the path the process sees.
pub const DEFAULT_RULES: &[&str] = &[
    r"^/memfd:",
    r"^/SYSV[0-9a-fA-F]{8}",
    r"^/drm( |$)",
    r"^/dev/",
    r"^/\[aio\]",
    r"^(/var)?/tmp/",
    r"^(/var)?/run/",
    r"^/dev/shm/",
    r"/jna\d+\.tmp$",
    r"/\.cache/JNA/",
    r"/orcexec\.",
    r"^/#\d+",
];

/// A compiled set of ignore rules.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    rules: Vec<(String, Regex)>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid ignore pattern {pattern:?}: {source}")]
pub struct IgnoreError {
    pattern: String,
    #[source]
    source: regex::Error,
}

impl Default for IgnoreRules {
    fn default() -> Self {
        Self::new(true, &[]).unwrap_or_else(|_| IgnoreRules { rules: Vec::new() })
    }
}

impl IgnoreRules {
    /// The default rules (unless `defaults` is false) plus the user's own.
    pub fn new(defaults: bool, extra: &[String]) -> Result<Self, IgnoreError> {
        let builtin = DEFAULT_RULES
            .iter()
            .filter(|_| defaults)
            .map(|s| s.to_string());
        let rules = builtin
            .chain(extra.iter().cloned())
            .map(|pattern| match Regex::new(&pattern) {
                Ok(re) => Ok((pattern, re)),
                Err(source) => Err(IgnoreError { pattern, source }),
            })
            .collect::<Result<_, _>>()?;
        Ok(IgnoreRules { rules })
    }

    /// The first rule matching `path`, as written.
    pub fn matching(&self, path: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|(_, re)| re.is_match(path))
            .map(|(p, _)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_known_noise() {
        let r = IgnoreRules::default();
        for p in [
            "/memfd:wayland-cursor",
            "/SYSV00000000",
            "/dev/zero",
            "/tmp/jna-1/jna123.tmp",
            "/var/tmp/x.so",
            "/run/user/1000/x",
            "/home/a/.cache/JNA/temp/libjna.so",
            "/usr/lib/orcexec.abc",
            "/#12345",
            "/drm mm object",
        ] {
            assert!(r.matching(p).is_some(), "{p} should be ignored");
        }
        for p in [
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "/usr/sbin/nginx",
            "/tmpfoo/x",
        ] {
            assert_eq!(r.matching(p), None, "{p} must not be ignored");
        }
    }

    #[test]
    fn user_rules_and_no_defaults() {
        let r = IgnoreRules::new(false, &[r"^/opt/".to_string()]).expect("valid");
        assert_eq!(r.matching("/opt/app/lib.so"), Some("^/opt/"));
        assert_eq!(r.matching("/tmp/x"), None);
        let err = IgnoreRules::new(false, &["(".to_string()]).expect_err("invalid");
        assert!(err.to_string().contains("invalid ignore pattern \"(\""));
    }
}
