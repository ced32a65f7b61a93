//! Command-line interface: every flag of `patchgap` is declared here and nowhere else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::LimitSpec;

/// Find the processes still running code that an upgrade replaced, and the hosts that
/// wait for a reboot: on this machine, or on every host of an inventory over SSH.
#[derive(Debug, Parser)]
#[command(name = "patchgap", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per run: boxing the larger arguments would buy nothing"
)]
pub enum Command {
    /// Audit this machine (no inventory) or every host of an inventory (`-i`).
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// Merge the reports of a sharded audit (`audit --shard K/N`) into one fleet report.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// Render a saved JSON report (a fleet report or one probe report) in any format,
    /// touching no host.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Compare two saved JSON reports (fleet or local): what was fixed, what is new, what
    /// is still pending, per host. Exits 1 when something new appeared.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Restart exactly the stale services, a batch of hosts at a time, and verify each
    /// restart by probing again (this machine without `-i`).
    #[command(after_help = RESTART_EXAMPLES)]
    Restart(RestartArgs),
    /// Reboot the hosts whose audit asks for a reboot, a few at a time under a lock (the
    /// controller's, or a FleetLock server's), and prove each came back new: a new boot,
    /// the expected kernel, no stale process, the system running.
    #[command(after_help = REBOOT_EXAMPLES)]
    Reboot(RebootArgs),
    /// Write the manual pages, generated from these definitions: `patchgap.1` and one
    /// `patchgap-COMMAND.1` per subcommand.
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArgs),
    /// Print the shell completion script for bash, zsh or fish (or elvish, powershell).
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
}

// The examples that end each `--help` and each manual page (EXAMPLES section): every
// subcommand has some, which tests/cli_usage.rs checks by walking the command tree.
const EXAMPLES: &str = "Examples:
  # Audit this machine (as root for a complete view)
  sudo patchgap audit
  # Audit every host of an Ansible inventory
  patchgap audit -i inventory.yaml
  # Read the manual page of a subcommand
  man patchgap-audit";

const AUDIT_EXAMPLES: &str = "Examples:
  # This machine, as a table
  sudo patchgap audit
  # What the APT hook prints: the services to restart
  sudo patchgap audit --format brief
  # node_exporter's textfile and a JSON report, written atomically
  sudo patchgap audit -o openmetrics:/var/lib/patchgap/patchgap.prom -o json:/var/lib/patchgap/report.json
  # Some hosts of an inventory, JSON report to a file
  patchgap audit -i inventory.yaml --limit 'web*:!web03' -o fleet.json
  # Verify packaged files against dpkg's checksums too
  sudo patchgap audit --integrity --integrity-packages 'libssl*'";

const MERGE_EXAMPLES: &str = "Examples:
  # On each of three runners
  patchgap audit -i inventory.yaml --shard 2/3 -o shard-2.json
  # Once, after: the report one unsharded run would have written
  patchgap merge shard-1.json shard-2.json shard-3.json -o fleet.json";

const REPORT_EXAMPLES: &str = "Examples:
  # A saved report as tables
  patchgap report fleet.json
  # As an HTML page and a CSV file
  patchgap report fleet.json -o fleet.html -o csv:fleet.csv
  # Judged by a policy
  patchgap report fleet.json --policy policy.yaml";

const DIFF_EXAMPLES: &str = "Examples:
  # What changed between yesterday's audit and today's
  patchgap diff yesterday.json today.json
  # As JUnit XML for a CI job
  patchgap diff yesterday.json today.json --format junit -o diff.xml";

const RESTART_EXAMPLES: &str = "Examples:
  # Show what would be restarted on this machine
  sudo patchgap restart --plan
  # One canary host, then 10% of the hosts at a time, checking nginx answers
  patchgap restart -i inventory.yaml --canary 1 --serial 10% --health-url http://127.0.0.1/
  # Continue an interrupted campaign
  patchgap restart -i inventory.yaml --resume patchgap-restart-20250101T020000.jsonl";

const REBOOT_EXAMPLES: &str = "Examples:
  # Which hosts need a reboot, and why (changes nothing)
  patchgap reboot -i inventory.yaml --plan
  # One host at a time, draining it first, allowing 15 minutes to come back
  patchgap reboot -i inventory.yaml --pre-cmd 'systemctl stop haproxy' --reboot-timeout 900
  # Share the reboot slots with CoreOS/Flatcar hosts through a FleetLock server
  patchgap reboot -i inventory.yaml --fleetlock https://fleetlock.example.net --fleetlock-group web
  # Continue after the controller was interrupted: a host already rebooted is only verified
  patchgap reboot -i inventory.yaml --resume patchgap-reboot-20250101T020000.jsonl";

const MAN_EXAMPLES: &str = "Examples:
  # Every page into a directory
  patchgap man --dir /tmp/man && man -l /tmp/man/patchgap-audit.1
  # One page on stdout
  patchgap man audit | man -l -";

const COMPLETIONS_EXAMPLES: &str = "Examples:
  # bash, for the current user
  patchgap completions bash > ~/.local/share/bash-completion/completions/patchgap
  # zsh (a directory on $fpath)
  patchgap completions zsh > ~/.zfunc/_patchgap
  # fish
  patchgap completions fish > ~/.config/fish/completions/patchgap.fish";

/// `patchgap man`: where the manual pages go.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page into DIR (created if missing) instead of one page on stdout.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,

    /// The subcommand whose page goes to stdout (default: the `patchgap` page).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `patchgap completions`: which shell's script.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable tables for a terminal.
    Table,
    /// The versioned JSON report (see docs/report-format.md).
    Json,
    /// One CSV row per host x stale process x file (docs/formats.md).
    Csv,
    /// One CSV row per host.
    CsvHosts,
    /// One CSV row per `--policy` rule and per thing that broke it.
    CsvPolicy,
    /// One self-contained HTML page (tables, charts; no network request).
    Html,
    /// JUnit XML: a testsuite per host, a testcase per check.
    Junit,
    /// A Nagios/Icinga plugin's status line and perfdata; the exit status follows it.
    Nagios,
    /// Gauges for node_exporter's textfile collector (Prometheus text format).
    Openmetrics,
    /// A few lines to read after `apt upgrade`: the services to restart and the command
    /// that does it (what the APT hook prints).
    Brief,
}

/// Where the report goes and in which formats; the same for `audit` and `report`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Format on stdout, or of `-o -`.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE (atomically, mode 0600), in the format its extension
    /// names (.json .csv .html .xml .prom .txt) or FORMAT:FILE; repeatable. `-` is stdout.
    /// With -o, only the outputs named are written.
    #[arg(short = 'o', long = "output", value_name = "[FORMAT:]FILE")]
    pub outputs: Vec<PathBuf>,

    /// Nagios: counts at which the status is WARNING, e.g. services=1,reboot=1,unreachable=1
    /// (the default); `KEY=off` never warns.
    #[arg(long, value_name = "KEY=N,...")]
    pub warning: Option<LimitSpec>,

    /// Nagios: counts at which the status is CRITICAL, e.g. services=10,unreachable=1
    /// (none by default).
    #[arg(long, value_name = "KEY=N,...")]
    pub critical: Option<LimitSpec>,

    /// In tables, only services and processes of at least this risk (docs/risk.md).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub min_risk: Option<MinRisk>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A report saved with `--format json`: a fleet report or one host's probe report.
    #[arg(value_name = "SAVED.json")]
    pub file: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,

    /// List the findings that ignore rules matched (tables).
    #[arg(long)]
    pub show_ignored: bool,

    #[command(flatten)]
    pub policy: PolicyArgs,
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

    #[command(flatten)]
    pub output: OutputArgs,

    /// Hide progress and hints on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub ssh: SshArgs,

    #[command(flatten)]
    pub shard: ShardArgs,

    #[command(flatten)]
    pub notify: NotifyArgs,

    #[command(flatten)]
    pub baseline: BaselineArgs,
}

/// Notifications at the end of a run (`audit`, `restart`, `reboot`; docs/notifications.md).
#[derive(Debug, Clone, Args, Default)]
pub struct NotifyArgs {
    /// Notify when the run ends; repeatable: `https://HOOK` (JSON POST),
    /// `slack+https://HOOK` (Slack/Mattermost text), `syslog:[SOCKET]` (RFC 5424, default
    /// /dev/log), `smtp://USER@HOST:PORT?from=A&to=B` (STARTTLS; `smtps://` for TLS; the
    /// password from $PATCHGAP_SMTP_PASSWORD, `&password_env=VAR` or `&password_file=FILE`;
    /// `&html=inline` or `&html=attach`). A failed notification is a warning; it never
    /// changes the exit status (docs/notifications.md).
    #[arg(long = "notify", value_name = "URL")]
    pub notify: Vec<String>,

    /// `change`: notify only when something is new since the last audit (kept in
    /// --notify-state); the first run notifies.
    #[arg(long, value_enum, default_value_t = NotifyOn::Always, requires = "notify")]
    pub notify_on: NotifyOn,

    /// The last audit, for `--notify-on change` (default /var/lib/patchgap/notify-state.json
    /// for root, else $XDG_STATE_HOME/patchgap/notify-state.json).
    #[arg(long, value_name = "FILE", requires = "notify")]
    pub notify_state: Option<PathBuf>,

    /// PEM file of CA certificates to trust, besides the system's, for https and SMTP
    /// notifications (a private server, a test).
    #[arg(long, value_name = "FILE", requires = "notify")]
    pub notify_ca: Option<PathBuf>,

    /// Seconds each notification may take.
    #[arg(long, value_name = "SECS", default_value_t = 30, requires = "notify")]
    pub notify_timeout: u64,
}

/// `--notify-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum NotifyOn {
    /// After every run.
    #[default]
    Always,
    /// Only when new findings appeared since the last audit.
    Change,
}

/// A checksum baseline for packages that ship no md5sums (debsums -g parity).
#[derive(Debug, Clone, Args, Default)]
pub struct BaselineArgs {
    /// Record the SHA-256 of the files of packages without md5sums, with their versions,
    /// per host, in FILE (written atomically), for a later --baseline.
    #[arg(
        long,
        value_name = "FILE",
        requires = "integrity",
        conflicts_with = "baseline"
    )]
    pub baseline_write: Option<PathBuf>,

    /// With --baseline-write: record every package's files, not only those without md5sums.
    #[arg(long, requires = "baseline_write")]
    pub baseline_all: bool,

    /// Compare with the baseline in FILE: a file changed while its package's version is
    /// the same is an integrity finding; an upgraded package is only noted.
    #[arg(long, value_name = "FILE", requires = "integrity")]
    pub baseline: Option<PathBuf>,
}

/// Splitting one audit over several runners (a Kubernetes Indexed Job, a CI matrix).
#[derive(Debug, Clone, Args, Default)]
pub struct ShardArgs {
    /// Audit only shard K of N of the selected hosts (K from 1; a host's shard depends only
    /// on its name). `auto`: K (and N) from the job's environment: JOB_COMPLETION_INDEX
    /// with --shard-count (Kubernetes), or CI_NODE_INDEX and CI_NODE_TOTAL (GitLab).
    #[arg(long, value_name = "K/N|auto", requires = "inventories")]
    pub shard: Option<String>,

    /// The number of shards, for `--shard auto` in a Kubernetes Indexed Job (its
    /// `completions`); alone, it implies `--shard auto`.
    #[arg(long, value_name = "N", requires = "inventories")]
    pub shard_count: Option<u32>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard reports (`audit --shard K/N -o FILE.json`), one per shard, any order.
    #[arg(value_name = "SHARD.json", required = true)]
    pub shards: Vec<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// The site's policy, shared by every command that judges a report (`audit`, `report`,
/// `diff`).
#[derive(Debug, Clone, Args, Default)]
pub struct PolicyArgs {
    /// Judge the report by this policy file (YAML, see docs/policy.md): its rules decide
    /// the exit status and every format shows their verdict.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// What `patchgap diff` writes.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier report: a fleet report or a local probe report, as `--format json` wrote it.
    #[arg(value_name = "OLD.json")]
    pub old: PathBuf,

    /// The later report, of either kind (a local report is a fleet of one).
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,

    /// Format on stdout, or of `-o -`: any of audit's (table, json, junit, csv, html,
    /// nagios, openmetrics; csv-hosts is the same CSV).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the comparison to FILE (atomically, mode 0600), in the format its extension
    /// names (.json .csv .html .xml .prom .txt) or FORMAT:FILE; repeatable. `-` is stdout.
    /// With -o, only the outputs named are written.
    #[arg(short = 'o', long = "output", value_name = "[FORMAT:]FILE")]
    pub outputs: Vec<PathBuf>,

    /// Also judge NEW.json by this policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
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

    /// Plan from this fleet report (`audit --format json`) instead of a fresh audit;
    /// every host is probed again before anything is restarted.
    #[arg(long, value_name = "REPORT.json", conflicts_with = "resume")]
    pub from: Option<PathBuf>,

    #[command(flatten)]
    pub campaign: CampaignArgs,

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

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

/// `patchgap reboot`: which hosts to reboot, how many at once, under which lock, and how
/// to tell that each came back new.
#[derive(Debug, Args)]
pub struct RebootArgs {
    /// Ansible-style YAML inventory; may be given more than once (required: patchgap does
    /// not reboot the machine it runs on).
    #[arg(short = 'i', long = "inventory", value_name = "FILE", required = true)]
    pub inventories: Vec<PathBuf>,

    /// Only hosts matching this pattern (as `audit --limit`).
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Reboot every selected host, not only those whose probe asks for a reboot.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub campaign: CampaignArgs,

    /// Before each reboot, run this shell command on the host (as the login user: drain
    /// it, take it out of a load balancer); a non-zero status fails the host, unrebooted.
    #[arg(long, value_name = "CMD")]
    pub pre_cmd: Option<String>,

    /// After a host came back verified, run this shell command on it (as the login user).
    #[arg(long, value_name = "CMD")]
    pub post_cmd: Option<String>,

    /// Seconds from asking for a reboot until the host answers SSH again with a new boot
    /// and its system is no longer starting; on top of --host-timeout. A host not back by
    /// then fails (and keeps its FleetLock slot).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub reboot_timeout: u64,

    /// Accept `systemctl is-system-running` = `degraded` (some unit failed) after the
    /// reboot; by default only `running` passes.
    #[arg(long)]
    pub allow_degraded: bool,

    /// Take a slot of this FleetLock server (Zincati's reboot-lock protocol, e.g. airlock)
    /// for each host instead of the controller's lock: POST /v1/pre-reboot before (asked
    /// again while the group is full, within --host-timeout), /v1/steady-state once back
    /// and verified. The host's id is its inventory name.
    #[arg(long, value_name = "URL")]
    pub fleetlock: Option<String>,

    /// The FleetLock group (letters, digits, '.', '-').
    #[arg(
        long,
        value_name = "GROUP",
        default_value = "default",
        requires = "fleetlock"
    )]
    pub fleetlock_group: String,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

/// What every campaign (`restart`, `reboot`) takes: the plan, batches, stops, windows,
/// health checks, journal and output.
#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// Show the plan and change nothing.
    #[arg(long = "plan")]
    pub dry_run: bool,

    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Continue the interrupted campaign recorded in STATE; what it restarted or rebooted
    /// is verified, never done again.
    #[arg(long, value_name = "STATE")]
    pub resume: Option<PathBuf>,

    /// Where to record the campaign (JSON lines; default
    /// `patchgap-COMMAND-YYYYMMDDTHHMMSS.jsonl` in the current directory).
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub state: Option<PathBuf>,

    /// Hosts per batch: a number, a percentage or a list (`1,10%,25%`, the last repeats),
    /// as Ansible's `serial`. Default: every host in one batch for restart, 1 for reboot.
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

    /// After the restarts, or once back from the reboot, run this shell command on the
    /// host (as the login user); a non-zero status fails the host.
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,

    /// After the restarts or the reboot, fetch this URL from the host (curl, else wget).
    #[arg(long, value_name = "URL")]
    pub health_url: Option<String>,

    /// After the restarts or the reboot, connect from the host to its own 127.0.0.1:PORT.
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
    #[arg(long, value_enum, default_value_t = CampaignFormat::Table)]
    pub format: CampaignFormat,

    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Hide progress and hints on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// What `patchgap restart` and `patchgap reboot` write: the plan or the campaign report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CampaignFormat {
    /// Readable tables for a terminal.
    Table,
    /// The versioned plan and campaign documents (see docs/restart.md).
    Json,
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

    /// Do not look for Python, Perl, Ruby and Node.js scripts and modules changed under a
    /// running interpreter (docs/interpreters.md); only mapped code is checked then.
    #[arg(long)]
    pub no_interpreters: bool,
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
