//! The gateway binary raises its open-file limit to the hard limit at start,
//! so a low default (1024 on many systems) does not cap its connections.

use std::time::Duration;

use vestibule_e2e::{Proc, bin};

fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    line.split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .expect("soft limit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_raises_its_open_file_limit() {
    let (_, hard) = rlimit_hard();
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" serve --memory --listen 127.0.0.1:0")
        .arg(bin("vestibule-gateway"))
        .env("RUST_LOG", "warn");
    let mut gateway = Proc::spawn(command);
    gateway
        .line_where(Duration::from_secs(20), |l| {
            l.contains("listening on ws://")
        })
        .await;
    assert_eq!(
        soft_nofile(gateway.pid()),
        hard,
        "raised from 256 to the hard limit"
    );
    gateway.kill().await;
}

/// This test process's (soft, hard) open-file limits.
fn rlimit_hard() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut words = line.split_whitespace().skip(3);
    let soft = words.next().and_then(|v| v.parse().ok()).expect("soft");
    let hard = words.next().and_then(|v| v.parse().ok()).expect("hard");
    (soft, hard)
}
