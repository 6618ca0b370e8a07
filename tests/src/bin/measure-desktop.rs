//! Measures the desktop app: binary size, time from launch to the login
//! page, and memory (PSS and RSS summed over the app and its WebKit
//! processes) once logged in to the embedded demo gateway and idle.
//! Prints figures; asserts nothing (timings are not test material).
//!
//! `xvfb-run -a cargo run -p vestibule-e2e --bin measure-desktop -- target/release/vestibule`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use vestibule_e2e::{AppHome, Driver};

/// (pid, parent pid, exe) of every process.
fn processes() -> Vec<(u32, u32, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may contain spaces; fields after ")" are fixed.
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        out.push((pid, ppid, exe));
    }
    out
}

/// The app's pid and every descendant's.
fn tree(app: &Path) -> Vec<(u32, PathBuf)> {
    let all = processes();
    let Some(root) = all.iter().find(|(_, _, exe)| exe == app).map(|p| p.0) else {
        return Vec::new();
    };
    let mut pids = vec![root];
    let mut i = 0;
    while i < pids.len() {
        let parent = pids[i];
        pids.extend(all.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    all.into_iter()
        .filter(|p| pids.contains(&p.0))
        .map(|p| (p.0, p.2))
        .collect()
}

/// (Pss, Rss) of a process in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Rss:"))
}

#[tokio::main]
async fn main() {
    let app = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/vestibule"));
    let app = std::fs::canonicalize(&app).unwrap_or_else(|e| panic!("{}: {e}", app.display()));
    let size = std::fs::metadata(&app).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary: {} ({:.1} MiB)",
        app.display(),
        size as f64 / 1048576.0
    );

    let home = AppHome::new("measure");
    let driver = Driver::start(&home).await;
    let launched = Instant::now();
    let client = driver.session(&app).await;
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("[data-testid=login-form]"))
        .await
        .expect("login page");
    println!(
        "launch to login page: {} ms",
        launched.elapsed().as_millis()
    );

    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("[data-testid=demo-login-alice]"))
        .await
        .expect("demo panel")
        .click()
        .await
        .expect("demo login");
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("[data-testid=home-page]"))
        .await
        .expect("home");
    // Idle for a while so start-up allocations settle.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut total = (0, 0);
    for (pid, exe) in tree(&app) {
        let (pss, rss) = memory(pid);
        println!(
            "  {pid:>7} {:<60} PSS {:>7} KiB  RSS {:>7} KiB",
            exe.display(),
            pss,
            rss
        );
        total.0 += pss;
        total.1 += rss;
    }
    println!(
        "idle, one account logged in: PSS {:.1} MiB, RSS {:.1} MiB",
        total.0 as f64 / 1024.0,
        total.1 as f64 / 1024.0
    );
    let _ = client.close().await;
}
