//! What a benchmark's load cost each node process: CPU time and bytes written to storage,
//! read from `/proc/PID/stat` (user + system time) and `/proc/PID/io` (`write_bytes`, what
//! the process caused to be written to the block layer — the log's appends, RocksDB's flushes
//! and compactions) before and after the load. Divided by the transfers committed, they are
//! the per-transfer costs issue 17 asks the cluster bench to report beside its throughput.

use std::process::Command;

/// Clock ticks per second when `getconf CLK_TCK` cannot say (Linux's usual `USER_HZ`).
const TICKS_PER_SECOND_DEFAULT: u64 = 100;

/// One process's counters at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Bytes the process caused to be written to storage.
    pub write_bytes: u64,
}

/// The counters of process `pid` now.
pub fn sample(pid: u32) -> Result<Sample, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|error| format!("/proc/{pid}/stat: {error}"))?;
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .map_err(|error| format!("/proc/{pid}/io: {error}"))?;
    Ok(Sample {
        cpu_ticks: cpu_ticks(&stat).ok_or_else(|| format!("/proc/{pid}/stat: unreadable"))?,
        write_bytes: write_bytes(&io).ok_or_else(|| format!("/proc/{pid}/io: no write_bytes"))?,
    })
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so field N is index N - 3.
    let user: u64 = fields.get(14 - 3)?.parse().ok()?;
    let system: u64 = fields.get(15 - 3)?.parse().ok()?;
    user.checked_add(system)
}

/// The `write_bytes:` value of a `/proc/PID/io` text.
pub fn write_bytes(io: &str) -> Option<u64> {
    io.lines().find_map(|line| line.strip_prefix("write_bytes:")?.trim().parse().ok())
}

/// Clock ticks per second of `/proc`'s CPU times.
pub fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks: &u64| *ticks > 0)
        .unwrap_or(TICKS_PER_SECOND_DEFAULT)
}

/// Per transfer: CPU microseconds and bytes written between `before` and `after`, over
/// `transfers` committed; `None` without a transfer or when a counter went backwards (not
/// the same process).
pub fn per_transfer(
    before: Sample,
    after: Sample,
    transfers: u64,
    ticks_per_second: u64,
) -> Option<(f64, f64)> {
    if transfers == 0 || ticks_per_second == 0 {
        return None;
    }
    let ticks = after.cpu_ticks.checked_sub(before.cpu_ticks)?;
    let bytes = after.write_bytes.checked_sub(before.write_bytes)?;
    let cpu_us = ticks as f64 * 1_000_000.0 / ticks_per_second as f64;
    Some((cpu_us / transfers as f64, bytes as f64 / transfers as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (tianping (node) 1) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    700 55 0 0 20 0 9 0 123 456 789";
        assert_eq!(cpu_ticks(stat), Some(755));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_write_bytes() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: \
                  81920\ncancelled_write_bytes: 0\n";
        assert_eq!(write_bytes(io), Some(81_920));
        assert_eq!(write_bytes("rchar: 1\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sampled = sample(std::process::id()).expect("our own /proc entries are readable");
        assert!(sampled.cpu_ticks < u64::MAX);
    }

    #[test]
    fn costs_divide_by_transfers() {
        let before = Sample { cpu_ticks: 100, write_bytes: 1_000 };
        let after = Sample { cpu_ticks: 300, write_bytes: 201_000 };
        // 200 ticks at 100/s = 2 s = 2 000 000 us over 1 000 transfers.
        assert_eq!(per_transfer(before, after, 1_000, 100), Some((2_000.0, 200.0)));
        assert_eq!(per_transfer(before, after, 0, 100), None);
        assert_eq!(per_transfer(after, before, 1_000, 100), None);
    }
}
