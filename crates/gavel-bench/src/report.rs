//! Percentiles and the JSON line each scenario prints.

use serde_json::{json, Map, Value};
use std::time::Instant;

pub struct Report {
    name: String,
    /// Milliseconds, sorted.
    samples: Vec<f64>,
    extra: Map<String, Value>,
}

impl Report {
    pub fn from_instants(name: &str, start: Instant, times: &[Instant]) -> Report {
        let mut samples: Vec<f64> = times
            .iter()
            .map(|t| t.saturating_duration_since(start).as_secs_f64() * 1000.0)
            .collect();
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        Report {
            name: name.to_string(),
            samples,
            extra: Map::new(),
        }
    }

    /// From samples already in milliseconds, each with its own start (e.g. one per client's
    /// join, whose joins did not all start at once).
    pub fn from_millis(name: &str, mut samples: Vec<f64>) -> Report {
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        Report {
            name: name.to_string(),
            samples,
            extra: Map::new(),
        }
    }

    /// One report from the samples of several.
    pub fn merge(name: &str, parts: &[Report]) -> Report {
        let mut samples: Vec<f64> = parts.iter().flat_map(|r| r.samples.clone()).collect();
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        Report {
            name: name.to_string(),
            samples,
            extra: Map::new(),
        }
    }

    pub fn extra(&mut self, key: &str, value: f64) {
        self.extra.insert(key.into(), json!(round(value)));
    }

    /// A field that is not a number (a flag, a breakdown), kept as given.
    pub fn set(&mut self, key: &str, value: Value) {
        self.extra.insert(key.into(), value);
    }

    /// Nearest-rank percentile.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        self.samples[rank.clamp(1, self.samples.len()) - 1]
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "scenario": self.name,
            "n": self.samples.len(),
            "p50_ms": round(self.percentile(50.0)),
            "p95_ms": round(self.percentile(95.0)),
            "p99_ms": round(self.percentile(99.0)),
            "max_ms": round(self.percentile(100.0)),
        });
        v.as_object_mut().unwrap().extend(self.extra.clone());
        v
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// CPU time (user + system) a process has used so far, in milliseconds, from /proc (10 ms
/// resolution): where a fan-out's time goes, generator or server.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, inside parentheses).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

/// CPU time the whole machine has been busy (every core, every process: user, nice, system,
/// interrupts, steal), in milliseconds, from /proc/stat: what else ran beside the processes
/// measured.
pub fn machine_busy_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = ticks.iter().take(8).sum::<f64>() - ticks.get(3)? - ticks.get(4)?;
    Some(busy * 10.0)
}

/// Resident memory of a process, from /proc (KiB).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let r = Report {
            name: "x".into(),
            samples: (1..=100).map(f64::from).collect(),
            extra: Map::new(),
        };
        assert_eq!(r.percentile(50.0), 50.0);
        assert_eq!(r.percentile(99.0), 99.0);
        assert_eq!(r.percentile(100.0), 100.0);
    }
}
