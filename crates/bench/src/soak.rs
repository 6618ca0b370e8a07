//! A bounded soak: many devices logging in, kicking, refreshing tokens and
//! disconnecting, through a proxy that keeps injecting network faults, against
//! a real gateway process. At the end: no panics, the registry back to zero, no
//! ghost devices, gateway memory back near where it started.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use rand::Rng;
use rand::seq::IndexedRandom;
use vestibule_client::backoff::BackoffConfig;
use vestibule_client::{
    Client, ClientOptions, DeviceType, OptionsUpdate, Status, Timing, Vestibule,
};
use vestibule_testkit::{Mode, Proxy};

use crate::net;
use crate::procs::{GatewayProc, rss_kib};

const ACCOUNTS: usize = 8;
const DEVICES: usize = 4;

/// What the soak did and found.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoakReport {
    seconds: u64,
    connects: u64,
    disconnects: u64,
    kicks: u64,
    refreshes: u64,
    recreated: u64,
    fault_changes: u64,
    sessions_at_end: u64,
    ghost_devices: usize,
    panics: f64,
    rss_start_kib: u64,
    rss_peak_kib: u64,
    rss_end_kib: u64,
}

fn options(url: &str, account: usize, device: usize) -> ClientOptions {
    let name = format!("soak-{account}");
    let mut options = ClientOptions::new(
        url,
        "demo",
        &name,
        net::token(&name),
        format!("dev-{device}"),
    );
    options.device.device_type = [
        DeviceType::Pc,
        DeviceType::Ios,
        DeviceType::Android,
        DeviceType::Mac,
    ][device % 4];
    options.auto_connect = false;
    options.timing = Timing {
        backoff: BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
        },
        stable_after: Duration::from_secs(5),
        ping_interval: Duration::from_secs(2),
        pong_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(3),
        ..Timing::default()
    };
    options
}

async fn ghosts(gw: &GatewayProc) -> anyhow::Result<usize> {
    let mut total = 0;
    for account in 0..ACCOUNTS {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/admin/v1/apps/demo/accounts/soak-{account}/devices",
                gw.http()
            ))
            .bearer_auth(net::ADMIN_KEY)
            .send()
            .await?
            .json()
            .await?;
        let devices = body["devices"].as_array().cloned().unwrap_or_default();
        for d in &devices {
            eprintln!(
                "ghost: soak-{account} {} online={} type={}",
                d["deviceId"], d["online"], d["type"]
            );
        }
        total += devices.len();
    }
    Ok(total)
}

/// Runs the soak for `duration`.
pub async fn soak(duration: Duration, plant_panic: bool) -> anyhow::Result<SoakReport> {
    // The planted panic hits every login of the first soak account.
    let env: &[(&str, &str)] = if plant_panic {
        &[("VESTIBULE_TEST_PANIC_ACCOUNT", "soak-0")]
    } else {
        &[]
    };
    let gw = GatewayProc::start_with_env(
        "127.0.0.1:0",
        &[
            "--memory",
            "--idle-timeout",
            "6",
            "--attempts-per-ip",
            "0",
            "--failures-per-account",
            "0",
            "--failures-per-account-and-ip",
            "0",
            "--connections-per-ip",
            "0",
        ],
        env,
    )
    .await?;
    let proxy = Proxy::start(gw.addr).await?;
    let url = proxy.ws_url();
    let mut clients: Vec<Vec<Client>> = (0..ACCOUNTS)
        .map(|a| {
            (0..DEVICES)
                .map(|d| {
                    Vestibule::new()
                        .instance(options(&url, a, d))
                        .map_err(anyhow::Error::from)
                })
                .collect()
        })
        .collect::<anyhow::Result<_>>()?;
    let mut report = SoakReport {
        seconds: duration.as_secs(),
        ..SoakReport::default()
    };
    for client in clients.iter().flatten() {
        client.connect();
        report.connects += 1;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.rss_start_kib = rss_kib(gw.proc.pid());
    report.rss_peak_kib = report.rss_start_kib;

    let faults = [
        Mode::Forward,
        Mode::Forward,
        Mode::Forward,
        Mode::Latency(Duration::from_millis(50)),
        Mode::Split,
        Mode::Trickle {
            bytes: 256,
            every: Duration::from_millis(5),
        },
        Mode::ResetMidFrame,
        Mode::Blackhole,
    ];
    let started = Instant::now();
    let mut next_fault = started;
    let mut rng = rand::rng();
    while started.elapsed() < duration {
        if Instant::now() >= next_fault {
            let mode = *faults.choose(&mut rng).unwrap_or(&Mode::Forward);
            proxy.set_mode(mode);
            report.fault_changes += 1;
            // Blackholes are short: existing connections are severed for good anyway.
            next_fault = Instant::now()
                + if mode == Mode::Blackhole {
                    Duration::from_secs(1)
                } else {
                    Duration::from_secs(3)
                };
        }
        let a = rng.random_range(0..ACCOUNTS);
        let d = rng.random_range(0..DEVICES);
        let client = clients[a][d].clone();
        match rng.random_range(0..10) {
            0..=3 => {
                if !matches!(
                    client.snapshot().status,
                    Status::Connected | Status::Connecting | Status::Reconnecting
                ) {
                    client.connect();
                    report.connects += 1;
                }
            }
            4 => {
                let _ = tokio::time::timeout(Duration::from_secs(5), client.disconnect()).await;
                report.disconnects += 1;
            }
            5 | 6 => {
                let target = format!("dev-{}", rng.random_range(0..DEVICES));
                if client.snapshot().status == Status::Connected {
                    let _ = tokio::time::timeout(Duration::from_secs(5), client.kick(vec![target]))
                        .await;
                    report.kicks += 1;
                }
            }
            7 | 8 => {
                let name = format!("soak-{a}");
                let update = OptionsUpdate::token(vestibule_protocol::token::mint(
                    net::SECRET,
                    "demo",
                    &name,
                    Duration::from_secs(600 + rng.random_range(0..600)),
                )?);
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), client.set_options(update)).await;
                report.refreshes += 1;
            }
            _ => {
                let _ = tokio::time::timeout(Duration::from_secs(5), client.destroy()).await;
                let fresh = Vestibule::new().instance(options(&url, a, d))?;
                fresh.connect();
                clients[a][d] = fresh;
                report.recreated += 1;
            }
        }
        report.rss_peak_kib = report.rss_peak_kib.max(rss_kib(gw.proc.pid()));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }

    // Wind down: a healthy network, everyone logs out. A client still in its
    // backoff cannot send `logout`, and one that logged out while in its
    // backoff left its session on the gateway (signed in, offline, as it
    // should be): each connects (a new sign-in replaces such a session) and
    // is given the time to come back first.
    proxy.set_mode(Mode::Forward);
    // A fault that just ended (a blackhole) left connections that look alive
    // but lead nowhere: a logout sent on one never arrives. The heartbeat
    // finds them within a ping interval and a pong timeout; then they are back.
    let timing = options(&url, 0, 0).timing;
    tokio::time::sleep(timing.ping_interval + timing.pong_timeout + Duration::from_secs(1)).await;
    futures_util::future::join_all(clients.iter().flatten().map(|client| async move {
        client.connect();
        if let Err(e) = client.ready(Duration::from_secs(10)).await {
            eprintln!("wind-down: {:?} not ready: {e}", client.key().account);
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), client.destroy()).await;
    }))
    .await;
    // Sessions severed by a blackhole end at the gateway's idle timeout (6 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        report.sessions_at_end = gw.sessions().await?;
        if report.sessions_at_end == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report.ghost_devices = ghosts(&gw).await?;
    report.panics = vestibule_testkit::metric(&gw.http(), "vestibule_panics ").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.rss_end_kib = rss_kib(gw.proc.pid());
    gw.proc.terminate().await;

    ensure!(
        report.panics == 0.0,
        "the gateway panicked {} times",
        report.panics
    );
    ensure!(
        report.sessions_at_end == 0,
        "{} sessions left in the registry",
        report.sessions_at_end
    );
    ensure!(
        report.ghost_devices == 0,
        "{} ghost devices",
        report.ghost_devices
    );
    // Freed memory is not always returned to the OS; "near" is within 32 MiB of the start.
    if report.rss_end_kib > report.rss_start_kib + 32 * 1024 {
        bail!(
            "gateway memory grew from {} KiB to {} KiB",
            report.rss_start_kib,
            report.rss_end_kib
        );
    }
    Ok(report)
}
