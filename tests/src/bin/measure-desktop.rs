//! Measures the desktop app against a real gateway, with a real keychain:
//! binary size; first start → login page; a remember-me start (the token in
//! the keychain) → Connected; memory (PSS and RSS summed over the app and its
//! WebKit processes) idle with that account online. Prints figures and a
//! last `json:` line for the bench; asserts nothing (timings are not test
//! material).
//!
//! `xvfb-run -a cargo run -p vestibule-e2e --bin measure-desktop -- target/release/vestibule [RUNS]`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use vestibule_e2e::ui::log_in;
use vestibule_e2e::{AppHome, Driver, GatewayProc, token};

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

/// How often the page is looked at while timing.
const POLL: Duration = Duration::from_millis(10);
const WAIT: Duration = Duration::from_secs(30);

/// Polls until `css` has text containing `needle`.
async fn until_text(client: &fantoccini::Client, css: &str, needle: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.text().await.unwrap_or_default().contains(needle)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{css} never showed {needle:?}");
        tokio::time::sleep(POLL).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let app = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/vestibule"));
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(3);
    let app = std::fs::canonicalize(&app).unwrap_or_else(|e| panic!("{}: {e}", app.display()));
    let size = std::fs::metadata(&app).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary: {} ({:.1} MiB)",
        app.display(),
        size as f64 / 1048576.0
    );
    let gateway = GatewayProc::start().await;
    let secret = token("alice");
    let (mut to_login, mut to_connected) = (Vec::new(), Vec::new());
    let mut total = (0, 0);
    for run in 0..runs {
        let home = AppHome::new(&format!("measure-{run}"));
        // First start: the login page; log in with remember me.
        {
            let driver = Driver::start_with_keyring(&home).await;
            let launched = Instant::now();
            let client = driver.session(&app).await;
            client
                .wait()
                .every(POLL)
                .at_most(WAIT)
                .for_element(Locator::Css("[data-testid=login-form]"))
                .await
                .expect("login page");
            to_login.push(launched.elapsed().as_secs_f64() * 1000.0);
            log_in(&client, &gateway.url, &secret, true).await;
            let _ = client.close().await;
        }
        // Remember-me start: straight to Connected.
        let driver = Driver::start_with_keyring(&home).await;
        let launched = Instant::now();
        let client = driver.session(&app).await;
        until_text(&client, "[data-testid=status-banner]", "Connected").await;
        to_connected.push(launched.elapsed().as_secs_f64() * 1000.0);
        if run + 1 == runs {
            // Idle for a while so start-up allocations settle.
            tokio::time::sleep(Duration::from_secs(10)).await;
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
        }
        let _ = client.close().await;
        drop(driver);
        let _ = std::fs::remove_dir_all(&home.dir);
    }
    let (login, connected) = (median(to_login.clone()), median(to_connected.clone()));
    println!("start to login page: {login:.0} ms (median of {to_login:.0?})");
    println!("remember-me start to Connected: {connected:.0} ms (median of {to_connected:.0?})");
    let (pss, rss) = (total.0 as f64 / 1024.0, total.1 as f64 / 1024.0);
    println!("idle, one account online: PSS {pss:.1} MiB, RSS {rss:.1} MiB");
    println!(
        "json: {}",
        serde_json::json!({
            "binaryMiB": size as f64 / 1048576.0,
            "startToLoginMs": login,
            "rememberedStartToConnectedMs": connected,
            "idlePssMiB": pss,
            "idleRssMiB": rss,
        })
    );
    gateway.proc.terminate().await;
}
