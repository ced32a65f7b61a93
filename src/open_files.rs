//! Open-file budget of a fleet run. Every host in flight holds a TCP socket, and a default
//! soft limit of 1024 (often lower in containers and CI) turns a large `--forks` into
//! "Too many open files" for some hosts. The run raises the soft limit to the hard one,
//! as the kernel allows any process to, and then audits no more hosts at once than the
//! limit leaves room for.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for everything but hosts: stdio, the async runtime, report files,
/// known_hosts and key files, jump-host sessions.
const RESERVED: u64 = 32;

/// Descriptors one host in flight may hold (its socket, with room to spare).
const PER_HOST: u64 = 2;

/// The open-files limit in force after [`raise_soft_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// `None`: unlimited.
    pub soft: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; on failure the limit stays as it was.
pub fn raise_soft_limit() -> OpenFiles {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return OpenFiles {
                soft: limit.maximum,
            };
        }
    }
    OpenFiles {
        soft: limit.current,
    }
}

impl OpenFiles {
    /// The most hosts that can be in flight at once under this limit (at least one).
    pub fn max_forks(self) -> usize {
        match self.soft {
            None => usize::MAX,
            Some(soft) => {
                let hosts = soft.saturating_sub(RESERVED) / PER_HOST;
                usize::try_from(hosts).unwrap_or(usize::MAX).max(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_fit_the_limit() {
        assert_eq!(OpenFiles { soft: None }.max_forks(), usize::MAX);
        assert_eq!(OpenFiles { soft: Some(1024) }.max_forks(), 496);
        assert_eq!(OpenFiles { soft: Some(40) }.max_forks(), 4);
        assert_eq!(OpenFiles { soft: Some(10) }.max_forks(), 1);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let before = getrlimit(Resource::Nofile);
        let after = raise_soft_limit();
        assert_eq!(after.soft, before.maximum);
        assert_eq!(getrlimit(Resource::Nofile).current, before.maximum);
    }
}
