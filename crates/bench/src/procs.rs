//! The processes a benchmark runs (gateway, baseline server, redis, holders)
//! and what /proc says about them.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::process::Command;
pub use vestibule_testkit::{Proc, RedisCluster, RedisServer, bin};

/// Reads lines of `proc` until one starts with `prefix`; returns the rest of it.
pub async fn line_after(proc: &mut Proc, prefix: &str, wait: Duration) -> anyhow::Result<String> {
    let line = proc
        .try_line_where(wait, |l| l.starts_with(prefix))
        .await
        .map_err(|e| anyhow!("waiting for {prefix:?}: {e}"))?;
    Ok(line[prefix.len()..].trim().to_owned())
}

/// Where logins spent their time: per stage, seconds summed and logins
/// counted (the gateway's `vestibule_login_stage_seconds`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoginStages(std::collections::BTreeMap<String, (f64, f64)>);

impl LoginStages {
    /// The stages in a Prometheus text exposition.
    pub fn parse(text: &str) -> Self {
        let mut stages = Self::default();
        for line in text.lines() {
            let (is_sum, rest) = if let Some(rest) =
                line.strip_prefix("vestibule_login_stage_seconds_sum{stage=\"")
            {
                (true, rest)
            } else if let Some(rest) =
                line.strip_prefix("vestibule_login_stage_seconds_count{stage=\"")
            {
                (false, rest)
            } else {
                continue;
            };
            let Some((stage, value)) = rest.split_once("\"} ") else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let entry = stages.0.entry(stage.to_owned()).or_default();
            if is_sum {
                entry.0 += value;
            } else {
                entry.1 += value;
            }
        }
        stages
    }

    /// Adds another process's stages.
    pub fn add(&mut self, other: &Self) {
        for (stage, (sum, count)) in &other.0 {
            let entry = self.0.entry(stage.clone()).or_default();
            entry.0 += sum;
            entry.1 += count;
        }
    }

    /// What happened after `before` was taken.
    pub fn since(&self, before: &Self) -> Self {
        let mut out = Self::default();
        for (stage, (sum, count)) in &self.0 {
            let (was_sum, was_count) = before.0.get(stage).copied().unwrap_or_default();
            out.0
                .insert(stage.clone(), (sum - was_sum, count - was_count));
        }
        out
    }

    /// Per stage: the logins counted and their mean time in milliseconds.
    pub fn means(&self) -> Vec<(String, f64, f64)> {
        self.0
            .iter()
            .filter(|(_, (_, count))| *count > 0.0)
            .map(|(stage, (sum, count))| (stage.clone(), *count, sum / count * 1000.0))
            .collect()
    }
}

/// A running `vestibule-gateway`.
#[derive(Debug)]
pub struct GatewayProc {
    /// The process.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl GatewayProc {
    /// Starts `vestibule-gateway serve` on `listen` with `extra` flags.
    pub async fn start(listen: &str, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(listen, extra, &[]).await
    }

    /// Like [`GatewayProc::start`], with extra environment variables.
    pub async fn start_with_env(
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(bin("vestibule-gateway"));
        command.envs(env.iter().copied());
        command
            .args([
                "serve",
                "--listen",
                listen,
                "--admin-key",
                vestibule_testkit::ADMIN_KEY,
                "--demo-secret",
                vestibule_testkit::SECRET,
            ])
            .args(extra)
            .env("RUST_LOG", "warn");
        let mut proc = Proc::try_spawn(command)?;
        let line = line_after(
            &mut proc,
            "Vestibule gateway listening on ws://",
            Duration::from_secs(30),
        )
        .await?;
        let addr = line
            .split('/')
            .next()
            .ok_or_else(|| anyhow!("no address in {line:?}"))?
            .parse()
            .with_context(|| format!("address in {line:?}"))?;
        Ok(Self { proc, addr })
    }

    /// `http://ADDR`.
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the demo app's device policy through the admin API.
    pub async fn set_policy(&self, policy: serde_json::Value) -> anyhow::Result<()> {
        let status = reqwest::Client::new()
            .put(format!("{}/admin/v1/apps/demo/policy", self.http()))
            .bearer_auth(vestibule_testkit::ADMIN_KEY)
            .json(&policy)
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "policy: {status}");
        Ok(())
    }

    /// Its `vestibule_login_stage_seconds` so far (from /metrics).
    pub async fn login_stages(&self) -> anyhow::Result<LoginStages> {
        let text = reqwest::get(format!("{}/metrics", self.http()))
            .await?
            .text()
            .await?;
        Ok(LoginStages::parse(&text))
    }

    /// Logged-in sessions on this process (from /healthz).
    pub async fn sessions(&self) -> anyhow::Result<u64> {
        let body: serde_json::Value = reqwest::get(format!("{}/healthz", self.http()))
            .await?
            .json()
            .await?;
        body["sessions"]
            .as_u64()
            .ok_or_else(|| anyhow!("no sessions in {body}"))
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 0, utime 11, stime 12 (in clock ticks).
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time the whole machine has spent busy (all cores: `/proc/stat`'s
/// first line, everything but idle and iowait).
pub fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .enumerate()
                // user nice system idle iowait irq softirq steal
                .filter(|(i, _)| !matches!(i, 3 | 4) && *i < 8)
                .filter_map(|(_, v)| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Kernel memory used by TCP sockets, in KiB (`/proc/net/sockstat`, pages of 4 KiB).
pub fn tcp_kernel_kib() -> u64 {
    std::fs::read_to_string("/proc/net/sockstat")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("TCP:"))?.to_owned();
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                if w == "mem" {
                    return words.next()?.parse::<u64>().ok();
                }
            }
            None
        })
        .map_or(0, |pages| pages * 4)
}

/// Starts `vestibule-bench hold` as a separate process (so the measured
/// server does not share memory with its clients).
pub async fn hold(
    target: SocketAddr,
    count: usize,
    source: &str,
    prefix: &str,
    baseline: bool,
    parallel: usize,
    lbs: &[String],
) -> anyhow::Result<Proc> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args([
        "hold",
        "--target",
        &target.to_string(),
        "--count",
        &count.to_string(),
        "--source",
        source,
        "--prefix",
        prefix,
    ]);
    if baseline {
        command.arg("--baseline");
    }
    command.arg("--parallel").arg(parallel.to_string());
    if !lbs.is_empty() {
        command.arg("--lbs").arg(lbs.join(","));
    }
    let mut proc = Proc::try_spawn(command)?;
    line_after(&mut proc, "ready", Duration::from_secs(600)).await?;
    Ok(proc)
}

#[cfg(test)]
mod tests {
    use super::LoginStages;

    #[test]
    fn login_stages_are_read_summed_and_diffed() {
        let before = LoginStages::parse(
            "# TYPE vestibule_login_stage_seconds histogram\n\
             vestibule_login_stage_seconds_sum{stage=\"all\"} 1.5\n\
             vestibule_login_stage_seconds_count{stage=\"all\"} 3\n\
             vestibule_login_stage_seconds_bucket{le=\"0.5\",stage=\"all\"} 3\n",
        );
        let mut after = LoginStages::parse(
            "vestibule_login_stage_seconds_sum{stage=\"all\"} 3.5\n\
             vestibule_login_stage_seconds_count{stage=\"all\"} 7\n\
             vestibule_login_stage_seconds_sum{stage=\"turn\"} 0.2\n\
             vestibule_login_stage_seconds_count{stage=\"turn\"} 4\n",
        );
        after.add(&LoginStages::parse(
            "vestibule_login_stage_seconds_sum{stage=\"turn\"} 0.2\n\
             vestibule_login_stage_seconds_count{stage=\"turn\"} 4\n",
        ));
        let means = after.since(&before).means();
        assert_eq!(means.len(), 2, "{means:?}");
        assert_eq!((means[0].0.as_str(), means[0].1), ("all", 4.0));
        assert!((means[0].2 - 500.0).abs() < 1e-6, "{means:?}");
        assert_eq!((means[1].0.as_str(), means[1].1), ("turn", 8.0));
        assert!((means[1].2 - 50.0).abs() < 1e-6, "{means:?}");
    }
}
