//! Command-line interface: every flag of `patchgap` is declared here and nowhere else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Find the processes still running code that an upgrade replaced, and the hosts that
/// wait for a reboot: on this machine, or on every host of an inventory over SSH.
#[derive(Debug, Parser)]
#[command(name = "patchgap", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit this machine (no inventory) or every host of an inventory (`-i`).
    Audit(AuditArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable tables for a terminal.
    Table,
    /// The versioned JSON report (see docs/report-format.md).
    Json,
}

/// A risk level as `--min-risk` takes it (see docs/risk.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MinRisk {
    Low,
    Medium,
    High,
    Critical,
}

impl From<MinRisk> for patchgap_probe::report::RiskLevel {
    fn from(m: MinRisk) -> Self {
        use patchgap_probe::report::RiskLevel;
        match m {
            MinRisk::Low => RiskLevel::Low,
            MinRisk::Medium => RiskLevel::Medium,
            MinRisk::High => RiskLevel::High,
            MinRisk::Critical => RiskLevel::Critical,
        }
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Ansible-style YAML inventory; may be given more than once. Without it, this
    /// machine is audited in-process.
    #[arg(short = 'i', long = "inventory", value_name = "FILE")]
    pub inventories: Vec<PathBuf>,

    /// Only hosts matching this pattern: host or group names, globs, `!` to exclude,
    /// `,` or `:` between patterns (as Ansible's --limit).
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Output format on stdout (or in the `-o` file).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Hide progress and hints on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// In tables, only services and processes of at least this risk (docs/risk.md).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub min_risk: Option<MinRisk>,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

/// What the probe looks at; the same on this machine and on remote hosts.
#[derive(Debug, Clone, Args, Default)]
pub struct ProbeArgs {
    /// Also verify every packaged file against dpkg's checksums (reads every file).
    #[arg(long)]
    pub integrity: bool,

    /// Limit `--integrity` to packages whose name matches this glob (e.g. 'libssl*').
    #[arg(long, value_name = "PATTERN", requires = "integrity")]
    pub integrity_packages: Option<String>,

    /// Also ignore files whose path matches this regular expression (repeatable).
    #[arg(long = "ignore", value_name = "REGEX")]
    pub ignore: Vec<String>,

    /// Do not apply the built-in ignore list (memfd, /tmp, /dev/shm, JIT files, ...).
    #[arg(long)]
    pub no_default_ignores: bool,

    /// List the findings that ignore rules matched.
    #[arg(long)]
    pub show_ignored: bool,
}

/// How to reach the hosts of an inventory.
#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// Hosts audited at once.
    #[arg(short = 'f', long, default_value_t = 50, value_name = "N")]
    pub forks: usize,

    /// Private key to authenticate with (in addition to ssh-agent and the inventory's keys).
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,

    /// known_hosts file to check host keys against, instead of ~/.ssh/known_hosts and
    /// /etc/ssh/ssh_known_hosts.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// Record the keys of hosts not yet known (a changed key is still refused).
    #[arg(long)]
    pub accept_new_host_keys: bool,

    /// OpenSSH client config to honour (default ~/.ssh/config; `none` to ignore it).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Ask once for the sudo password of the inventory users.
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,

    /// Remove the uploaded probe from each host after the audit.
    #[arg(long)]
    pub cleanup: bool,

    /// Seconds to wait for a TCP connection and SSH handshake.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,

    /// Seconds one host may take in all (connect, upload, probe run).
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub host_timeout: u64,
}
