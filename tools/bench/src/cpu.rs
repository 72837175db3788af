//! The CPU time processes spend, read from `/proc/<pid>/stat`, so that a case can say how
//! much of the two shared cores each process (a server, the gateway, the benchmark's own
//! clients) spends on one call. On a machine where the client and every server share
//! the same cores, throughput is the cores over the CPU time of a call, all processes
//! together: that is what decides what an extra hop costs.

use std::time::Duration;

use anyhow::{Context, anyhow};

/// Clock ticks per second of `/proc/<pid>/stat`'s times: the kernel's `USER_HZ`, which
/// is 100 on every Linux architecture this runs on (the ABI fixes it; `CONFIG_HZ` does
/// not change it).
const TICKS_PER_SECOND: u64 = 100;

/// Processes whose CPU time a case reads around each measured round, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Watched(Vec<(String, u32)>);

impl Watched {
    pub(crate) fn new(processes: Vec<(String, u32)>) -> Watched {
        Watched(processes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each process's CPU time so far (user and system, all its threads), in order.
    pub(crate) fn read(&self) -> anyhow::Result<Vec<Duration>> {
        self.0
            .iter()
            .map(|(name, pid)| cpu_time(*pid).with_context(|| format!("the CPU time of {name} (pid {pid})")))
            .collect()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }
}

/// The CPU time `pid` has used, user and system, over all its threads.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_stat(&stat).ok_or_else(|| anyhow!("{path} has no utime and stime"))
}

/// utime + stime of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted from the
/// last `)`: utime and stime are fields 14 and 15, the 12th and 13th after it.
fn parse_stat(stat: &str) -> Option<Duration> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / TICKS_PER_SECOND))
}

/// The CPU time each watched process spent over some measured rounds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spent(Vec<Duration>);

impl Spent {
    /// Adds what each process spent between `before` and `after`.
    pub(crate) fn add(&mut self, before: &[Duration], after: &[Duration]) {
        if self.0.len() < after.len() {
            self.0.resize(after.len(), Duration::ZERO);
        }
        for ((total, before), after) in self.0.iter_mut().zip(before).zip(after) {
            *total += after.saturating_sub(*before);
        }
    }

    /// Each process's CPU time, in the watched order.
    pub(crate) fn each(&self) -> &[Duration] {
        &self.0
    }

    pub(crate) fn total(&self) -> Duration {
        self.0.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_counted_after_the_command_name() {
        // A command name with a space and a parenthesis, as `(tokio) runtime` could be.
        let stat = "4242 (duban (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 37 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(2_870)));
        assert_eq!(parse_stat("4242 (duban) S 1 2"), None, "too few fields");
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn this_process_is_read_as_it_spends_cpu() {
        let watched = Watched::new(vec![("this test".to_owned(), std::process::id())]);
        let before = watched.read().unwrap();
        assert_eq!(before.len(), 1);
        // Spin until the reading has grown by two ticks: a machine busy with other work
        // only makes this take longer; the deadline catches a reading that never moves.
        let began = std::time::Instant::now();
        let mut spins = 0u64;
        let grown = loop {
            spins = std::hint::black_box(spins.wrapping_add(1));
            if spins.is_multiple_of(100_000) {
                let now = watched.read().unwrap();
                if now[0] >= before[0] + Duration::from_millis(20) {
                    break true;
                }
                if began.elapsed() > Duration::from_secs(30) {
                    break false;
                }
            }
        };
        assert!(grown, "30 s of spinning did not show in /proc/self/stat");
        let missing = Watched::new(vec![("nobody".to_owned(), u32::MAX)]);
        assert!(missing.read().is_err());
    }

    #[test]
    fn spent_adds_each_process_over_rounds() {
        let mut spent = Spent::default();
        let ms = Duration::from_millis;
        spent.add(&[ms(100), ms(0)], &[ms(130), ms(50)]);
        spent.add(&[ms(200), ms(50)], &[ms(210), ms(60)]);
        assert_eq!(spent.each(), &[ms(40), ms(60)]);
        assert_eq!(spent.total(), ms(100));
    }
}
