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

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit this machine (no inventory) or every host of an inventory (`-i`).
    Audit(AuditArgs),
    /// Restart exactly the stale services, a batch of hosts at a time, and verify each
    /// restart by probing again (this machine without `-i`).
    Restart(RestartArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable tables for a terminal.
    Table,
    /// The versioned JSON report (see docs/report-format.md).
    Json,
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

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

/// `patchgap restart`: what to restart, how, in which batches, and when to stop.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Ansible-style YAML inventory; may be given more than once. Without it, this
    /// machine is the only host.
    #[arg(short = 'i', long = "inventory", value_name = "FILE")]
    pub inventories: Vec<PathBuf>,

    /// Only hosts matching this pattern (as `audit --limit`).
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Show the plan and change nothing.
    #[arg(long = "plan")]
    pub dry_run: bool,

    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Plan from this fleet report (`audit --format json`) instead of a fresh audit;
    /// every host is probed again before anything is restarted.
    #[arg(long, value_name = "REPORT.json", conflicts_with = "resume")]
    pub from: Option<PathBuf>,

    /// Continue the interrupted campaign recorded in STATE; units it restarted are never
    /// restarted again.
    #[arg(long, value_name = "STATE")]
    pub resume: Option<PathBuf>,

    /// Where to record the campaign (JSON lines; default
    /// `patchgap-restart-YYYYMMDDTHHMMSS.jsonl` in the current directory).
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub state: Option<PathBuf>,

    /// Hosts per batch: a number, a percentage or a list (`1,10%,25%`, the last repeats),
    /// as Ansible's `serial`. Default: every host in one batch.
    #[arg(long, value_name = "SIZES")]
    pub serial: Option<crate::campaign::Serial>,

    /// Run this many hosts first, alone; any failure there stops the campaign.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub canary: usize,

    /// Failed hosts a batch may have (a count, or a percentage of the batch) before the
    /// campaign stops; unreachable and timed-out hosts count as failed.
    #[arg(long, value_name = "N|P%", default_value = "0")]
    pub max_fail: crate::campaign::MaxFail,

    /// Seconds to wait between batches.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub pause: u64,

    /// Only restart units matching this glob (repeatable; `nginx` matches `nginx.service`).
    #[arg(long = "units", value_name = "GLOB")]
    pub units: Vec<String>,

    /// Do not restart units matching this glob (repeatable).
    #[arg(long = "exclude-units", value_name = "GLOB")]
    pub exclude_units: Vec<String>,

    /// Never restart units matching this glob (repeatable); they are reported as needing
    /// manual action, as the inventory's `patchgap_never_restart` ones.
    #[arg(long = "never", value_name = "GLOB")]
    pub never: Vec<String>,

    /// Also `systemctl daemon-reexec` when the system manager runs replaced code.
    #[arg(long)]
    pub reexec: bool,

    /// Restart all units of a host with one `systemctl restart`, not one after another.
    #[arg(long)]
    pub together: bool,

    /// Seconds a unit may take to be active again after its restart.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub restart_timeout: u64,

    /// After the restarts, run this shell command on the host (as the login user);
    /// a non-zero status fails the host.
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,

    /// After the restarts, fetch this URL from the host (curl, else wget).
    #[arg(long, value_name = "URL")]
    pub health_url: Option<String>,

    /// After the restarts, connect from the host to its own 127.0.0.1:PORT.
    #[arg(long, value_name = "PORT")]
    pub health_tcp: Option<u16>,

    /// Maintenance window, `[DAYS ]HH:MM-HH:MM` (e.g. `Sat 02:00-04:00`, `Mon-Fri
    /// 22:00-02:00`); repeatable. No batch starts outside every window.
    #[arg(long = "window", value_name = "WINDOW")]
    pub windows: Vec<crate::campaign::Window>,

    /// Time zone of the windows (e.g. `Europe/Paris`); default: this machine's.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,

    /// Outside every window: wait for the next one, or stop.
    #[arg(long, value_enum, default_value_t = OutsideWindowArg::Wait)]
    pub outside_window: OutsideWindowArg,

    /// Output format of the plan and the campaign report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Hide progress and hints on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

/// `--outside-window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutsideWindowArg {
    Wait,
    Stop,
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
