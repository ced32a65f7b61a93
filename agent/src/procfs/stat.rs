//! Parser for `/proc/PID/stat`, see `proc_pid_stat(5)`.
//!
//! The command name sits in parentheses and may itself contain spaces and `) `, so the
//! fields after it are found from the *last* `)`.

/// The fields of `/proc/PID/stat` that patchgap uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub ppid: u32,
    /// Kernel flags (`PF_*`).
    pub flags: u64,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
}

/// `PF_KTHREAD`: the process is a kernel thread and maps no files.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Clock ticks per second of `/proc` times (`USER_HZ`). It is 100 on every architecture
/// Debian supports; the probe links no libc to ask `sysconf`.
pub const USER_HZ: u64 = 100;

impl Stat {
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }

    /// Unix time the process started, given the boot time. Both numbers come from files
    /// (`btime` of `/proc/stat`, the start ticks of `/proc/PID/stat`), so the sum saturates
    /// rather than overflow.
    pub fn started_at(&self, booted_at: i64) -> i64 {
        booted_at.saturating_add(i64::try_from(self.start_ticks / USER_HZ).unwrap_or(i64::MAX))
    }
}

pub fn parse(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = text[open + 1..close].to_string();
    // Fields from 3 (state) on; index = field number - 3.
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(Stat {
        comm,
        ppid: u32::try_from(field(4)?).ok()?,
        flags: field(9)?,
        start_ticks: field(22)?,
    })
}

/// `btime` of `/proc/stat`: when the machine booted, in Unix time.
pub fn boot_time(proc_stat: &str) -> Option<i64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(comm: &str) -> String {
        format!(
            "1234 ({comm}) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 4242 1000 100 18446744073709551615"
        )
    }

    #[test]
    fn comm_with_parens_and_spaces() {
        let s = parse(&line("evil) S 99 (x")).expect("parses");
        assert_eq!(s.comm, "evil) S 99 (x");
        assert_eq!(s.ppid, 1);
        assert_eq!(s.start_ticks, 4242);
        assert!(!s.is_kernel_thread());
        assert_eq!(s.started_at(1_000), 1_042);
    }

    #[test]
    fn sd_pam_and_long_comm() {
        assert_eq!(parse(&line("(sd-pam)")).expect("parses").comm, "(sd-pam)");
        let long = "a".repeat(64);
        assert_eq!(parse(&line(&long)).expect("parses").comm, long);
    }

    #[test]
    fn kernel_thread_flag_and_truncation() {
        let k = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0";
        assert!(parse(k).expect("parses").is_kernel_thread());
        assert_eq!(parse("12 (trunc) S 1 2"), None);
        assert_eq!(parse("no parens"), None);
    }

    #[test]
    fn btime() {
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu 1 2\n"), None);
    }
}
