//! CPU time and CPU pinning (Linux): a process's utime + stime from `/proc/<pid>/stat`,
//! and `sched_setaffinity` for the server this run spawns and for the simulator, so a
//! figure of CPU per message means the same on any machine.

use anyhow::{Context, Result, bail};

/// A CPU list as `taskset -c` takes it: `0`, `0,2`, `0-3`.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse()?, b.trim().parse()?);
                if a > b {
                    bail!("CPU range {part} runs backwards");
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().with_context(|| format!("CPU {part:?}"))?),
        }
    }
    if cpus.is_empty() {
        bail!("an empty CPU list");
    }
    Ok(cpus)
}

/// Pins the calling thread (and the threads it starts later, or the program it
/// `exec`s) to `cpus`. Only a syscall: safe to call between `fork` and `exec`.
pub fn pin_current(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: the set is a plain bit mask on our stack, and every CPU number is checked
    // against CPU_SETSIZE before CPU_SET writes its bit.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            if c >= libc::CPU_SETSIZE as usize {
                return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
            }
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// utime + stime in clock ticks from the text of `/proc/<pid>/stat`. The command name
/// (field 2) may hold spaces and parentheses, so the fields are counted after its
/// last `)`: utime and stime are fields 14 and 15.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state), so field n is f[n - 3].
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The CPU seconds a process (`None`: this one) has used so far.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let ticks = parse_stat_ticks(&std::fs::read_to_string(path).ok()?)?;
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks as f64 / hz as f64)
}

/// The `syscw` line of the text of `/proc/<pid>/io`: the write-type system calls
/// (`write`, `writev`, `sendmsg`…) the process has made so far.
pub fn parse_io_writes(io: &str) -> Option<u64> {
    io.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The write-type system calls a process has made so far (`None`: unreadable).
pub fn write_syscalls(pid: u32) -> Option<u64> {
    parse_io_writes(&std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_like_taskset() {
        assert_eq!(parse_cpus("0").unwrap(), vec![0]);
        assert_eq!(parse_cpus("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("").is_err());
    }

    #[test]
    fn stat_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (tokio (w) 1) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 1000 200 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(1234 + 567));
        assert_eq!(parse_stat_ticks("garbage"), None);
        // This process's own figure reads.
        assert!(cpu_seconds(None).is_some());
    }

    #[test]
    fn write_syscalls_are_the_syscw_line() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4567\nread_bytes: 0\n";
        assert_eq!(parse_io_writes(io), Some(4567));
        assert_eq!(parse_io_writes("rchar: 1\n"), None);
        assert!(write_syscalls(std::process::id()).is_some());
    }
}
