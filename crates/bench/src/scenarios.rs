//! The benchmark scenarios. Each reports its figures next to a baseline
//! measured in the same run: a raw tokio-tungstenite server (4 KiB read
//! buffer) that accepts a WebSocket, answers one frame and holds it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use vestibule_client::LoginInfo;
use vestibule_client::backoff::{Backoff, BackoffConfig};
use vestibule_client::machine::{Action, Input, Machine};
use vestibule_protocol::{ClientFrame, CloseCause, Code, DeviceType, LoginOk, ServerFrame};

use crate::net::{self, Ws};
use crate::procs::{
    GatewayProc, LoginStages, Proc, RedisCluster, RedisServer, bin, cpu_time, hold, line_after,
    machine_busy, rss_kib, tcp_kernel_kib,
};
use crate::report::{Row, percentile};

/// How big each scenario runs.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// Small numbers for a smoke test.
    pub quick: bool,
}

impl Scale {
    fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// Source addresses for load (64 loopback addresses), so ephemeral ports
/// (28k per source and destination, held 60 s in TIME_WAIT) never run out.
pub fn source(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1 + (i % 64) as u8, 0, 2))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// The raw baseline server, run as a separate process (`vestibule-bench baseline-server`).
pub struct Baseline {
    proc: Proc,
    addr: SocketAddr,
}

impl Baseline {
    async fn start(listen: &str) -> anyhow::Result<Self> {
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command.args(["baseline-server", "--listen", listen]);
        let mut proc = Proc::try_spawn(command)?;
        let addr = line_after(&mut proc, "listening", Duration::from_secs(10))
            .await?
            .parse()?;
        Ok(Self { proc, addr })
    }
}

/// Flags every bench gateway gets: load comes from few addresses and many
/// accounts, so the per-IP and per-account abuse limits are off.
pub const UNLIMITED: [&str; 10] = [
    "--idle-timeout",
    "3600",
    "--attempts-per-ip",
    "0",
    "--failures-per-account",
    "0",
    "--failures-per-account-and-ip",
    "0",
    "--connections-per-ip",
    "0",
];

/// A cluster node on `redis`.
async fn node(redis: &str, id: &str) -> anyhow::Result<GatewayProc> {
    let mut args = vec!["--redis", redis, "--node-id", id];
    args.extend_from_slice(&UNLIMITED);
    GatewayProc::start("127.0.0.1:0", &args).await
}

async fn gateway(extra: &[&str]) -> anyhow::Result<GatewayProc> {
    let mut args = vec!["--memory"];
    args.extend_from_slice(&UNLIMITED);
    args.extend_from_slice(extra);
    GatewayProc::start("127.0.0.1:0", &args).await
}

/// Memory per idle logged-in connection (RSS delta ÷ count), kernel socket memory apart.
pub async fn memory(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let n = scale.pick(15_000, 500);
    let scenario = format!("memory ({n} idle connections)");

    let base = Baseline::start("127.0.0.1:0").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (r0, k0) = (rss_kib(base.proc.pid()), tcp_kernel_kib());
    let holder = hold(base.addr, n, "127.0.0.1", "mem", true, 256, &[]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (r1, k1) = (rss_kib(base.proc.pid()), tcp_kernel_kib());
    let base_user = r1.saturating_sub(r0) as f64 / n as f64;
    let base_kernel = k1.saturating_sub(k0) as f64 / n as f64;
    holder.terminate().await;
    base.proc.terminate().await;

    let gw = gateway(&[]).await?;
    // Warm up lazily allocated state with one login.
    let (ws, ok) = net::login(
        gw.addr,
        None,
        "warm",
        "warm",
        DeviceType::Pc,
        &net::token("warm"),
    )
    .await?;
    ensure!(
        matches!(ok, ServerFrame::LoginOk(_)),
        "warm-up login: {ok:?}"
    );
    drop(ws);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (r0, k0) = (rss_kib(gw.proc.pid()), tcp_kernel_kib());
    let holder = hold(gw.addr, n, "127.0.0.1", "mem", false, 256, &[]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sessions = gw.sessions().await?;
    ensure!(
        sessions as usize >= n,
        "only {sessions} of {n} sessions are logged in"
    );
    let (r1, k1) = (rss_kib(gw.proc.pid()), tcp_kernel_kib());
    let user = r1.saturating_sub(r0) as f64 / n as f64;
    let kernel = k1.saturating_sub(k0) as f64 / n as f64;
    holder.terminate().await;
    gw.proc.terminate().await;

    let row = Row::new(
        &scenario,
        "gateway RSS per idle logged-in connection",
        user,
        "KiB",
    )
    .baseline(base_user);
    let met = user <= 10.0 && row.ratio.is_some_and(|r| r <= 1.5);
    Ok(vec![
        row.target("≤ 10 KiB and ≤ 1.5× baseline", met),
        Row::new(
            &scenario,
            "kernel TCP memory per connection (both loopback ends)",
            kernel,
            "KiB",
        )
        .baseline(base_kernel),
    ])
}

/// Runs `work` on `concurrency` tasks until `duration` passes; returns the count.
async fn hammer<F, Fut>(concurrency: usize, duration: Duration, work: F) -> anyhow::Result<u64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let work = Arc::new(work);
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (done, errors, work) = (done.clone(), errors.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match work(c).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let errors = errors.load(Ordering::Relaxed);
    let done = done.load(Ordering::Relaxed);
    ensure!(
        errors * 100 <= done.max(1),
        "{errors} failures against {done} successes"
    );
    Ok(done)
}

/// Full logins per server CPU-second vs the baseline's handshake + echo.
pub async fn throughput(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let concurrency = scale.pick(64, 8);
    let duration = Duration::from_secs(scale.pick(5, 1));
    let scenario = format!(
        "login throughput ({concurrency} concurrent clients, {}s)",
        duration.as_secs()
    );

    let base = Baseline::start("127.0.0.1:0").await?;
    let addr = base.addr;
    let cpu0 = cpu_time(base.proc.pid());
    let echoes = hammer(concurrency, duration, move |c| async move {
        net::echo(addr, Some(source(c)), "{\"type\":\"ping\"}")
            .await
            .map(drop)
    })
    .await?;
    let base_cpu = cpu_time(base.proc.pid()).saturating_sub(cpu0).as_secs_f64();
    base.proc.terminate().await;

    let gw = gateway(&[]).await?;
    let addr = gw.addr;
    let tokens: Arc<Vec<vestibule_protocol::Token>> = Arc::new(
        (0..concurrency)
            .map(|c| net::token(&format!("tp-{c}")))
            .collect(),
    );
    let cpu0 = cpu_time(gw.proc.pid());
    let all_tokens = tokens.clone();
    let logins = hammer(concurrency, duration, move |c| {
        let tokens = tokens.clone();
        async move {
            let (ws, reply) = net::login(
                addr,
                Some(source(c)),
                &format!("tp-{c}"),
                &format!("dev-{c}"),
                DeviceType::Android,
                &tokens[c],
            )
            .await?;
            drop(ws);
            ensure!(
                matches!(reply, ServerFrame::LoginOk(_)),
                "login refused: {reply:?}"
            );
            Ok(())
        }
    })
    .await?;
    let gw_cpu = cpu_time(gw.proc.pid()).saturating_sub(cpu0).as_secs_f64();

    // The same devices coming back with their session tokens (every reconnect).
    let mut sessions = Vec::with_capacity(concurrency);
    for (c, token) in all_tokens.iter().enumerate() {
        let (ws, reply) = net::login(
            addr,
            Some(source(c)),
            &format!("tp-{c}"),
            &format!("dev-{c}"),
            DeviceType::Android,
            token,
        )
        .await?;
        drop(ws);
        let ServerFrame::LoginOk(ok) = reply else {
            anyhow::bail!("sign-in refused: {reply:?}")
        };
        sessions.push(
            ok.session_token
                .context("a sign-in without a session token")?,
        );
    }
    let sessions = Arc::new(sessions);
    let cpu1 = cpu_time(gw.proc.pid());
    let resumes = hammer(concurrency, duration, move |c| {
        let sessions = sessions.clone();
        async move {
            let (ws, reply) = net::resume(
                addr,
                Some(source(c)),
                &format!("tp-{c}"),
                &format!("dev-{c}"),
                DeviceType::Android,
                &sessions[c],
            )
            .await?;
            drop(ws);
            ensure!(
                matches!(&reply, ServerFrame::LoginOk(ok) if ok.session_token.is_none()),
                "resume refused: {reply:?}"
            );
            Ok(())
        }
    })
    .await?;
    let resume_cpu = cpu_time(gw.proc.pid()).saturating_sub(cpu1).as_secs_f64();
    gw.proc.terminate().await;

    let per_core = logins as f64 / gw_cpu.max(0.01);
    let resumes_per_core = resumes as f64 / resume_cpu.max(0.01);
    let base_per_core = echoes as f64 / base_cpu.max(0.01);
    let row =
        Row::new(&scenario, "logins per server CPU-second", per_core, "/s").baseline(base_per_core);
    let met = row.ratio.is_some_and(|r| r >= 0.7);
    let resume_row = Row::new(
        &scenario,
        "session-token logins per server CPU-second (baseline: app-token logins)",
        resumes_per_core,
        "/s",
    )
    .baseline(per_core);
    let resume_met = resume_row.ratio.is_some_and(|r| r >= 0.95);
    Ok(vec![
        row.target("≥ 0.7× baseline", met),
        resume_row.target("≥ 0.95× app-token logins", resume_met),
        Row::new(
            &scenario,
            "logins per wall-clock second (2 cores shared with the load)",
            logins as f64 / duration.as_secs_f64(),
            "/s",
        )
        .baseline(echoes as f64 / duration.as_secs_f64()),
    ])
}

/// Sequential login round trips, one connection at a time.
pub async fn login_latency(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let iterations = scale.pick(2000, 50);
    let scenario = format!("login round trip ({iterations} sequential)");
    let base = Baseline::start("127.0.0.1:0").await?;
    let mut base_samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t0 = Instant::now();
        let ws = net::echo(base.addr, Some(source(i)), "{\"type\":\"ping\"}").await?;
        base_samples.push(ms(t0.elapsed()));
        drop(ws);
    }
    base.proc.terminate().await;

    let gw = gateway(&[]).await?;
    let token = net::token("lat");
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t0 = Instant::now();
        let (ws, reply) = net::login(
            gw.addr,
            Some(source(i)),
            "lat",
            "lat-dev",
            DeviceType::Pc,
            &token,
        )
        .await?;
        samples.push(ms(t0.elapsed()));
        ensure!(
            matches!(reply, ServerFrame::LoginOk(_)),
            "login refused: {reply:?}"
        );
        drop(ws);
    }
    gw.proc.terminate().await;
    let (s, b) = (sorted(samples), sorted(base_samples));
    let mut rows = Vec::new();
    for p in [50.0, 99.0] {
        let row = Row::new(
            &scenario,
            &format!("connect + login p{p:.0}"),
            percentile(&s, p),
            "ms",
        )
        .baseline(percentile(&b, p));
        let met = row.ratio.is_some_and(|r| r <= 2.0);
        rows.push(row.target("≤ 2× baseline", met));
    }
    Ok(rows)
}

/// Reads frames until `want` matches one.
async fn until_frame(
    ws: &mut Ws,
    want: impl Fn(&ServerFrame) -> bool,
) -> anyhow::Result<ServerFrame> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), net::next_frame(ws))
            .await
            .context("timed out")??;
        if want(&frame) {
            return Ok(frame);
        }
    }
}

fn has_device(frame: &ServerFrame, id: &str) -> bool {
    matches!(frame, ServerFrame::Devices { devices, .. } if devices.iter().any(|d| d.device_id == id))
}

/// Kick sent → kicked frame received, with the kicker on `a` and the target on `b`.
async fn kick_rounds(
    a: SocketAddr,
    b: SocketAddr,
    rounds: usize,
    account: &str,
) -> anyhow::Result<Vec<f64>> {
    let token = net::token(account);
    let (mut kicker, ok) = net::login(a, None, account, "kicker", DeviceType::Pc, &token).await?;
    ensure!(
        matches!(ok, ServerFrame::LoginOk(_)),
        "kicker login: {ok:?}"
    );
    let mut samples = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let target_id = format!("target-{r}");
        let (mut target, ok) =
            net::login(b, None, account, &target_id, DeviceType::Ios, &token).await?;
        ensure!(
            matches!(ok, ServerFrame::LoginOk(_)),
            "target login: {ok:?}"
        );
        until_frame(&mut kicker, |f| has_device(f, &target_id)).await?;
        let kick = ClientFrame::Kick {
            id: r as u64 + 10,
            device_ids: vec![target_id.clone()],
        }
        .encode();
        let t0 = Instant::now();
        net::send(&mut kicker, kick).await?;
        until_frame(&mut target, |f| matches!(f, ServerFrame::Kicked { .. })).await?;
        samples.push(ms(t0.elapsed()));
        until_frame(&mut kicker, |f| matches!(f, ServerFrame::KickResult { .. })).await?;
    }
    Ok(sorted(samples))
}

/// Kick propagation on one node and across two nodes through Redis.
pub async fn kicks(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let rounds = scale.pick(1000, 30);
    let mut rows = Vec::new();
    let gw = gateway(&[]).await?;
    let one = kick_rounds(gw.addr, gw.addr, rounds, "kick-one").await?;
    gw.proc.terminate().await;
    let scenario = format!("kick propagation, one node ({rounds} kicks)");
    rows.push(Row::new(
        &scenario,
        "kick sent → kicked received p50",
        percentile(&one, 50.0),
        "ms",
    ));
    let p99 = percentile(&one, 99.0);
    rows.push(
        Row::new(&scenario, "kick sent → kicked received p99", p99, "ms")
            .target("p99 ≤ 1 ms", p99 <= 1.0),
    );

    let redis = RedisServer::start()?;
    let n1 = node(&redis.url(), "bench-1").await?;
    let n2 = node(&redis.url(), "bench-2").await?;
    let cross = kick_rounds(n1.addr, n2.addr, rounds, "kick-cross").await?;
    n1.proc.terminate().await;
    n2.proc.terminate().await;
    redis.kill();
    let scenario = format!("kick propagation, two nodes via Redis ({rounds} kicks)");
    rows.push(Row::new(
        &scenario,
        "kick sent → kicked received p50",
        percentile(&cross, 50.0),
        "ms",
    ));
    let p99 = percentile(&cross, 99.0);
    rows.push(
        Row::new(&scenario, "kick sent → kicked received p99", p99, "ms")
            .target("p99 ≤ 5 ms", p99 <= 5.0),
    );
    Ok(rows)
}

/// A big account: 200 online devices (and 50 signed in but offline) under
/// `all{500}`. Each round one more device logs in, and the time until every
/// online device has the new list is measured, then it logs out. The
/// gateway's CPU per list change shows what encoding each list once per
/// change (not once per receiver) saves. The readers only time-stamp and
/// look for the newcomer's entry; full decoding is checked once per reader.
pub async fn pushes(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let rounds = scale.pick(100, 10);
    let observers = scale.pick(200, 20);
    let offline = scale.pick(50, 10);
    let scenario = format!(
        "big account: device list to {observers} online devices (+ {offline} offline, all{{500}}), {rounds} logins"
    );
    let gw = gateway(&[]).await?;
    gw.set_policy(serde_json::json!({"mode": "all", "maxDevices": 500}))
        .await?;
    let account = "push";
    let token = net::token(account);
    // Devices that signed in and left without logging out: listed, offline.
    for i in 0..offline {
        let (ws, ok) = net::login(
            gw.addr,
            Some(source(i)),
            account,
            &format!("away-{i}"),
            DeviceType::Ios,
            &token,
        )
        .await?;
        ensure!(
            matches!(ok, ServerFrame::LoginOk(_)),
            "offline device login: {ok:?}"
        );
        drop(ws);
    }
    const NEWCOMER: &str = "\"deviceId\":\"newcomer\"";
    // (arrival, whether the list has the newcomer, the first such list in full).
    type Arrival = (Instant, bool, Option<String>);
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<Arrival>();
    let mut readers = Vec::new();
    for i in 0..observers {
        let (mut ws, ok) = net::login(
            gw.addr,
            Some(source(i)),
            account,
            &format!("obs-{i}"),
            DeviceType::Android,
            &token,
        )
        .await?;
        let ServerFrame::LoginOk(ok) = ok else {
            bail!("observer login: {ok:?}");
        };
        let tx = arrivals_tx.clone();
        let me = ok.connection_id;
        readers.push(tokio::spawn(async move {
            let mut checked = false;
            while let Ok(text) = net::next_text(&mut ws).await {
                if !text.starts_with("{\"type\":\"devices\"") {
                    continue;
                }
                let at = Instant::now();
                let has = text.contains(NEWCOMER);
                let full = (has && !checked).then(|| {
                    checked = true;
                    format!("{me}\n{text}")
                });
                let _ = tx.send((at, has, full));
            }
        }));
    }
    // Let the observers' own arrivals settle, then start clean.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while arrivals.try_recv().is_ok() {}
    async fn wait(
        arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
        observers: usize,
        with_newcomer: bool,
        mut each: impl FnMut(Instant, Option<String>),
    ) -> anyhow::Result<()> {
        let mut seen = 0;
        while seen < observers {
            let (at, has, full) = tokio::time::timeout(Duration::from_secs(20), arrivals.recv())
                .await
                .context("push timed out")?
                .context("readers ended")?;
            if has == with_newcomer {
                each(at, full);
                seen += 1;
            }
        }
        Ok(())
    }
    let mut samples = Vec::with_capacity(rounds * observers);
    // Per round: when the last online device had the list.
    let mut everyone = Vec::with_capacity(rounds);
    let mut firsts = Vec::with_capacity(observers);
    let cpu0 = cpu_time(gw.proc.pid());
    for r in 0..rounds {
        let mut ws = net::connect(gw.addr, None).await?;
        let frame = net::login_frame(account, "newcomer", DeviceType::Web, &token);
        let t0 = Instant::now();
        net::send(&mut ws, frame).await?;
        let mut last = 0.0f64;
        wait(&mut arrivals, observers, true, |at, full| {
            let t = ms(at.duration_since(t0));
            samples.push(t);
            last = last.max(t);
            firsts.extend(full);
        })
        .await?;
        everyone.push(last);
        net::send(&mut ws, ClientFrame::Logout { id: r as u64 + 2 }.encode()).await?;
        until_frame(&mut ws, |f| matches!(f, ServerFrame::Ok { .. })).await?;
        wait(&mut arrivals, observers, false, |_, _| {}).await?;
    }
    let cpu_per_change =
        cpu_time(gw.proc.pid()).saturating_sub(cpu0).as_secs_f64() * 1000.0 / (2 * rounds) as f64;
    for r in readers {
        r.abort();
    }
    gw.proc.terminate().await;
    // Every reader's first list with the newcomer, decoded in full: everyone
    // listed, and the reader (only) marked current.
    ensure!(firsts.len() == observers, "{} first lists", firsts.len());
    for first in &firsts {
        let (me, text) = first.split_once('\n').context("first list")?;
        let ServerFrame::Devices { devices, .. } =
            ServerFrame::decode(text).map_err(|e| anyhow::anyhow!("{e}"))?
        else {
            bail!("not a device list");
        };
        ensure!(
            devices.len() == observers + offline + 1,
            "{} devices listed",
            devices.len()
        );
        let current: Vec<&str> = devices
            .iter()
            .filter(|d| d.current)
            .map(|d| d.connection_id.as_str())
            .collect();
        ensure!(current == [me], "current entries {current:?} for {me}");
    }
    let s = sorted(samples);
    let all = sorted(everyone);
    let all_p99 = percentile(&all, 99.0);
    Ok(vec![
        Row::new(
            &scenario,
            "login sent → one device has the list p50",
            percentile(&s, 50.0),
            "ms",
        ),
        Row::new(
            &scenario,
            "login sent → one device has the list p99",
            percentile(&s, 99.0),
            "ms",
        ),
        Row::new(
            &scenario,
            "login sent → all devices have the list p50",
            percentile(&all, 50.0),
            "ms",
        ),
        Row::new(
            &scenario,
            "login sent → all devices have the list p99",
            all_p99,
            "ms",
        )
        .target("p99 ≤ 5 ms", all_p99 <= 5.0),
        Row::new(
            &scenario,
            "gateway CPU per list change (every receiver)",
            cpu_per_change,
            "ms",
        ),
    ])
}

/// One slow reader (a phone on a bad link: it takes one frame a second)
/// while its account changes ten times a second and grows to hundreds of devices: the gateway's memory must
/// not grow with what it cannot deliver (lists waiting for it coalesce).
pub async fn slow_reader(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let seconds = scale.pick(60, 8);
    let gw = gateway(&[]).await?;
    gw.set_policy(serde_json::json!({"mode": "all", "maxDevices": 500}))
        .await?;
    let account = "slow";
    let token = net::token(account);
    // A small receive window, as on a bad mobile link: the gateway cannot park much in the kernel.
    let mut ws = net::connect_with(gw.addr, None, Some(4096)).await?;
    net::send(
        &mut ws,
        net::login_frame(account, "slow-reader", DeviceType::Ios, &token),
    )
    .await?;
    let reply = net::next_frame(&mut ws).await?;
    ensure!(matches!(reply, ServerFrame::LoginOk(_)), "login: {reply:?}");
    // The reader takes one frame a second.
    let reader = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if net::next_text(&mut ws).await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_start = rss_kib(gw.proc.pid());
    let started = Instant::now();
    let mut logins = 0u64;
    let mut held: std::collections::VecDeque<Ws> = std::collections::VecDeque::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        // A device joins (and an old one leaves): two list changes each time.
        let device = format!("churn-{logins}");
        let (ws, reply) =
            net::login(gw.addr, None, account, &device, DeviceType::Web, &token).await?;
        ensure!(matches!(reply, ServerFrame::LoginOk(_)), "login: {reply:?}");
        // Devices stay: the account's list (and each push) grows, as in a
        // busy account; the oldest leave only near the device limit.
        held.push_back(ws);
        if held.len() > 450 {
            drop(held.pop_front());
        }
        logins += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_end = rss_kib(gw.proc.pid());
    let still_online = !reader.is_finished();
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/admin/v1/apps/demo/accounts/{account}/devices",
            gw.http()
        ))
        .bearer_auth(net::ADMIN_KEY)
        .send()
        .await?
        .json()
        .await?;
    let reader_listed = listed["devices"]
        .as_array()
        .is_some_and(|d| d.iter().any(|d| d["deviceId"] == "slow-reader"));
    ensure!(
        still_online && reader_listed,
        "the slow reader was dropped (online {still_online}, listed {reader_listed}): nothing measured"
    );
    reader.abort();
    drop(held);
    gw.proc.terminate().await;
    let scenario = format!("slow reader ({logins} logins on its account in {seconds} s)");
    let growth = (rss_end.saturating_sub(rss_start)) as f64 / 1024.0;
    Ok(vec![
        Row::new(&scenario, "gateway RSS growth", growth, "MiB").target("≤ 2 MiB", growth <= 2.0),
    ])
}

/// What a storm client does once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Login,
    Echo,
}

#[derive(Debug, Default)]
struct StormStats {
    connected: AtomicUsize,
    refused: AtomicU64,
    latencies: std::sync::Mutex<Vec<f64>>,
    recording: std::sync::atomic::AtomicBool,
}

/// One reconnecting client driven by the connection manager's own policy
/// (its [`Machine`]: backoff, `retryAfterMs`, `Retry-After`, shutdown notices),
/// over a light socket so tens of thousands fit in one process.
async fn storm_client(i: usize, addr: SocketAddr, mode: Mode, stats: Arc<StormStats>) {
    let account = format!("storm-{i}");
    let token = net::token(&account);
    let mut machine = Machine::new(Backoff::new(BackoffConfig::default()));
    let mut actions = machine.on(Input::Connect, wall_ms());
    loop {
        let mut next = None;
        for action in actions {
            match action {
                Action::Dial { .. } => {
                    next = Some(
                        storm_attempt(i, addr, mode, &account, &token, &stats, &mut machine).await,
                    );
                }
                Action::ArmRetry { delay, .. } => {
                    tokio::time::sleep(delay).await;
                    next = Some(Input::RetryTimer);
                }
                _ => {}
            }
        }
        let Some(input) = next else { return };
        actions = machine.on(input, wall_ms());
    }
}

/// One connection of a storm client, from dial to its end; returns how it ended.
async fn storm_attempt(
    i: usize,
    addr: SocketAddr,
    mode: Mode,
    account: &str,
    token: &vestibule_protocol::Token,
    stats: &StormStats,
    machine: &mut Machine,
) -> Input {
    let ended = |cause| Input::Ended {
        cause,
        message: String::new(),
        by: None,
        ended: None,
    };
    let mut ws = match net::connect(addr, Some(source(i))).await {
        Ok(ws) => ws,
        Err(e) => {
            let cause = net::connect_cause(&e);
            if matches!(
                cause,
                CloseCause::Rejected {
                    code: Code::Busy,
                    ..
                }
            ) {
                stats.refused.fetch_add(1, Ordering::Relaxed);
            }
            return ended(cause);
        }
    };
    let t0 = Instant::now();
    let ok = match mode {
        Mode::Login => {
            let frame = net::login_frame(account, "dev", DeviceType::Pc, token);
            if net::send(&mut ws, frame).await.is_err() {
                return ended(CloseCause::Transport);
            }
            match net::next_frame(&mut ws).await {
                Ok(ServerFrame::LoginOk(ok)) => ok,
                Ok(ServerFrame::LoginFailed {
                    code,
                    retry_after_ms,
                    ..
                }) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    return ended(CloseCause::Rejected {
                        code,
                        retry_after: retry_after_ms.map(Duration::from_millis),
                    });
                }
                _ => return ended(CloseCause::Transport),
            }
        }
        Mode::Echo => {
            let echoed = net::send(&mut ws, "{}".into()).await.is_ok()
                && net::next_text(&mut ws).await.is_ok();
            if !echoed {
                return ended(CloseCause::Transport);
            }
            // The raw server answers with no session: what the machine sees is the same.
            LoginOk {
                id: 1,
                connection_id: format!("echo-{i}"),
                ip: String::new(),
                port: 0,
                country: String::new(),
                last_login_device_id: None,
                custom_tag: None,
                server_time: wall_ms(),
                repeat_login: false,
                token_expires_at: None,
                devices: Vec::new(),
                rev: 0,
                session_token: None,
            }
        }
    };
    let info = LoginInfo::from_login_ok("demo", account, "dev", &ok);
    machine.on(
        Input::LoggedIn {
            info: Box::new(info),
            devices: Vec::new(),
            rev: ok.rev,
        },
        wall_ms(),
    );
    if stats.recording.load(Ordering::Relaxed)
        && let Ok(mut l) = stats.latencies.lock()
    {
        l.push(ms(t0.elapsed()));
    }
    stats.connected.fetch_add(1, Ordering::Relaxed);
    // Hold until the server goes away; a shutdown notice says when to come back.
    let cause = loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                if let Ok(ServerFrame::Error {
                    id: None,
                    code: Code::Busy,
                    retry_after_ms: Some(after),
                    ..
                }) = ServerFrame::decode(text.as_str())
                {
                    let after = Duration::from_millis(after);
                    machine.on(Input::GoingAway { after }, wall_ms());
                }
            }
            Some(Ok(Message::Close(frame))) => {
                break CloseCause::from_close_code(frame.map(|f| u16::from(f.code)));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break CloseCause::Transport,
        }
    };
    stats.connected.fetch_sub(1, Ordering::Relaxed);
    ended(cause)
}

fn wall_ms() -> u64 {
    vestibule_client::WallClock::system().now()
}

/// How the server goes away in a storm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Restart {
    /// SIGTERM: the gateway tells each session when to come back.
    Graceful,
    /// SIGKILL: connections just drop; only backoff and admission spread the return.
    Crash,
}

/// The server a storm runs against.
enum Server {
    Baseline(Baseline),
    Gateway(GatewayProc),
}

impl Server {
    async fn start(mode: Mode, listen: &str, rate: usize) -> anyhow::Result<(Self, SocketAddr)> {
        match mode {
            Mode::Echo => {
                let b = Baseline::start(listen).await?;
                let addr = b.addr;
                Ok((Self::Baseline(b), addr))
            }
            Mode::Login => {
                let rate = rate.to_string();
                let mut args = vec!["--memory", "--max-logins-per-sec", &rate];
                args.extend_from_slice(&UNLIMITED);
                let gw = GatewayProc::start(listen, &args).await?;
                let addr = gw.addr;
                Ok((Self::Gateway(gw), addr))
            }
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Self::Baseline(b) => b.proc.pid(),
            Self::Gateway(g) => g.proc.pid(),
        }
    }

    async fn stop(self, how: Restart) {
        let proc = match self {
            Self::Baseline(b) => b.proc,
            Self::Gateway(g) => g.proc,
        };
        match how {
            Restart::Graceful => proc.terminate().await,
            Restart::Crash => proc.kill().await,
        }
    }
}

/// Connects `n` reconnecting clients, restarts the server on the same port,
/// and returns (time until 99 % are back, peak server RSS KiB, admitted
/// latencies, refusals).
async fn storm_run(
    n: usize,
    mode: Mode,
    how: Restart,
    listen: &str,
    rate: usize,
) -> anyhow::Result<(Duration, u64, Vec<f64>, u64)> {
    let (server, addr) = Server::start(mode, listen, rate).await?;
    let stats = Arc::new(StormStats::default());
    let clients: Vec<_> = (0..n)
        .map(|i| tokio::spawn(storm_client(i, addr, mode, stats.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    while stats.connected.load(Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} clients connected",
                stats.connected.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stats.refused.store(0, Ordering::Relaxed);
    stats.recording.store(true, Ordering::Relaxed);
    server.stop(how).await;
    let t0 = Instant::now();
    let server = loop {
        match Server::start(mode, listen, rate).await {
            Ok((server, _)) => break server,
            Err(e) if t0.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let target = n * 99 / 100;
    let mut peak = 0;
    while stats.connected.load(Ordering::Relaxed) < target {
        peak = peak.max(rss_kib(server.pid()));
        if t0.elapsed() > Duration::from_secs(300) {
            bail!(
                "only {} of {n} clients came back",
                stats.connected.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t0.elapsed();
    peak = peak.max(rss_kib(server.pid()));
    stats.recording.store(false, Ordering::Relaxed);
    for c in clients {
        c.abort();
    }
    server.stop(Restart::Graceful).await;
    let latencies = stats
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    Ok((took, peak, latencies, stats.refused.load(Ordering::Relaxed)))
}

/// A reconnect storm: every client of a restarted server comes back, once
/// after a graceful restart (the shutdown notice spreads them) and once after
/// a crash (backoff and admission control spread them).
pub async fn storm(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let n = scale.pick(10_000, 300);
    let rate = scale.pick(2500, 300);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut rows = Vec::new();
    for how in [Restart::Graceful, Restart::Crash] {
        let (label, spread) = match how {
            // Clients come back over the notice's retryAfterMs range.
            Restart::Graceful => (
                "restarted",
                Duration::from_millis(vestibule_protocol::SHUTDOWN_RETRY_AFTER_MS.end),
            ),
            Restart::Crash => ("killed -9 and restarted", Duration::ZERO),
        };
        let scenario =
            format!("reconnect storm ({n} clients, server {label}, admission {rate} logins/s)");
        let (base_took, _, base_latencies, _) =
            storm_run(n, Mode::Echo, how, &listen, rate).await?;
        let (took, peak, latencies, refused) =
            storm_run(n, Mode::Login, how, &listen, rate).await?;
        let p99 = percentile(&sorted(latencies), 99.0);
        // The baseline's first round trip on its new connection, in the same
        // storm: what the machine itself costs when every client returns at once.
        let base_p99 = percentile(&sorted(base_latencies), 99.0);
        // The notice (if any) or admission spreads the clients, whichever takes
        // longer; then the last one may wait one more backoff ceiling. 1 s of slack.
        let window = spread.as_secs_f64().max(n as f64 / rate as f64)
            + BackoffConfig::default().ceiling(1).as_secs_f64()
            + 1.0;
        rows.extend([
            Row::new(
                &scenario,
                "restart → 99 % logged in again",
                took.as_secs_f64(),
                "s",
            )
            .baseline(base_took.as_secs_f64())
            .target(
                &format!("≤ {window:.1} s (spread + backoff)"),
                took.as_secs_f64() <= window,
            ),
            Row::new(&scenario, "admitted login latency p99", p99, "ms")
                .baseline(base_p99)
                .target(
                    "< 100 ms, or ≤ 1.5× baseline",
                    p99 < 100.0 || p99 <= 1.5 * base_p99,
                ),
            Row::new(
                &scenario,
                "logins told to back off (503 + retryAfterMs)",
                refused as f64,
                "",
            ),
            Row::new(
                &scenario,
                "gateway peak RSS during the storm",
                peak as f64 / 1024.0,
                "MiB",
            ),
        ]);
    }
    Ok(rows)
}

/// A four-node cluster holding many logged-in connections.
/// Reconnect ceilings of the client's first attempts: a client of a dead
/// node is expected back within them (0.5 + 1 + 2 + 4 s).
const BACK_WITHIN_ATTEMPTS: u32 = 4;

/// How long a dead node's ghosts may stay listed.
const GHOSTS_GONE_WITHIN: Duration = Duration::from_secs(10);

pub async fn cluster(scale: Scale) -> anyhow::Result<Vec<Row>> {
    // Each node under the 20,000-descriptor limit, also once it takes its
    // share of a dead node's clients.
    let nodes = scale.pick(12, 8);
    let total = scale.pick(200_000, 800);
    let per_node = total / nodes;
    let scenario = format!("cluster ({nodes} nodes on a Redis Cluster, {total} connections)");
    let redis = RedisCluster::start()?;
    let seeds = redis.seeds();
    let mut gateways = Vec::new();
    for i in 0..nodes {
        let mut args = vec!["--redis-cluster", seeds.as_str(), "--node-id"];
        let id = format!("bench-{i}");
        args.push(&id);
        args.extend_from_slice(&UNLIMITED);
        gateways.push(GatewayProc::start("127.0.0.1:0", &args).await?);
    }
    let lbs: Vec<String> = gateways
        .iter()
        .map(|g| format!("{}/v1/lbs", g.http()))
        .collect();
    let idle_rss: u64 = gateways.iter().map(|g| rss_kib(g.proc.pid())).sum();
    let started = Instant::now();
    let mut holders = Vec::new();
    for (i, gw) in gateways.iter().enumerate() {
        let addr = gw.addr;
        let source = format!("127.0.0.{}", 10 + i);
        let prefix = format!("cluster-{i}");
        let lbs = lbs.clone();
        holders.push(tokio::spawn(async move {
            // Twelve holders at once: few logins in flight each, so Redis
            // answers within its timeouts on two cores.
            hold(addr, per_node, &source, &prefix, false, 24, &lbs).await
        }));
    }
    let mut held = Vec::new();
    for h in holders {
        held.push(h.await??);
    }
    let setup = started.elapsed();
    let mut sessions = 0;
    let mut rss = 0;
    for gw in &gateways {
        sessions += gw.sessions().await?;
        rss += rss_kib(gw.proc.pid());
    }

    // One node dies: its clients come back on the others, its ghosts go.
    let victim = gateways.pop().context("a node to kill")?;
    let stages_before = login_stages(&gateways).await?;
    let victim_id = format!("bench-{}", gateways.len());
    let mut victim_holder = held.pop().context("its holder")?;
    // Where the CPU goes on the way back: the survivors, Redis, the holders
    // (the clients), and the machine as a whole.
    let cpu_of = |pids: &[u32]| pids.iter().map(|p| cpu_time(*p)).sum::<Duration>();
    let gateway_pids: Vec<u32> = gateways.iter().map(|g| g.proc.pid()).collect();
    let redis_pids = redis.pids();
    let holder_pids: Vec<u32> = held
        .iter()
        .chain(std::iter::once(&victim_holder))
        .map(Proc::pid)
        .collect();
    let cpu_snapshot = || {
        [
            cpu_of(&gateway_pids),
            cpu_of(&redis_pids),
            cpu_of(&holder_pids),
            machine_busy(),
        ]
    };
    let cpu_at_kill = cpu_snapshot();
    let mut cpu_at_back = None;
    let killed = Instant::now();
    let killed_at = wall_ms();
    victim.proc.kill().await;
    // The ghosts are watched on a thread of their own (its Redis calls
    // block), so that neither watch makes the other one late.
    let deadline = killed + Duration::from_secs(120);
    let redis = Arc::new(redis);
    let ghosts = tokio::task::spawn_blocking({
        let redis = redis.clone();
        move || {
            while Instant::now() < deadline {
                if redis.node_listed(&victim_id) == Some(false) {
                    return Some(killed.elapsed());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            None
        }
    });
    let mut back_after = None;
    while back_after.is_none() && Instant::now() < deadline {
        let Ok(line) = line_after(&mut victim_holder, "back", Duration::from_millis(200)).await
        else {
            continue;
        };
        let back: usize = line
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // The way back, for the record (a line at most every 100 ms, read
        // when the reader gets to it: the stamp says when it happened).
        let stamp: Option<u64> = line
            .rsplit_once("last back at ")
            .and_then(|(_, t)| t.trim().parse().ok());
        let at = stamp.map(|t| Duration::from_millis(t.saturating_sub(killed_at)));
        eprintln!(
            "   read {:>5.1} s, happened {:>5.1} s: back {line}",
            killed.elapsed().as_secs_f64(),
            at.unwrap_or_default().as_secs_f64()
        );
        if back >= per_node {
            back_after = Some(at.unwrap_or_else(|| killed.elapsed()));
            cpu_at_back = Some((cpu_snapshot(), killed.elapsed()));
        }
    }
    let ghosts_gone = ghosts.await?;
    // Where the returns waited: the survivors' logins since the kill.
    let returns = login_stages(&gateways).await?.since(&stages_before);
    eprintln!("   the survivors' logins since the kill, by stage:");
    for (stage, count, mean_ms) in returns.means() {
        eprintln!("     {stage:<10} {count:>7} logins, mean {mean_ms:>8.1} ms");
    }
    let way_back = cpu_at_back.map(|(cpu, elapsed)| {
        let used: Vec<f64> = cpu
            .iter()
            .zip(cpu_at_kill)
            .map(|(b, k)| b.saturating_sub(k).as_secs_f64())
            .collect();
        (used, elapsed.as_secs_f64())
    });
    if let Some((used, elapsed)) = &way_back {
        eprintln!(
            "   CPU on the way back ({elapsed:.1} s): survivors {:.1} s, Redis {:.1} s, holders {:.1} s, machine {:.1} s",
            used[0], used[1], used[2], used[3]
        );
    }
    let mut after = 0;
    for gw in &gateways {
        after += gw.sessions().await?;
    }
    victim_holder.terminate().await;
    for h in held {
        h.terminate().await;
    }
    for gw in gateways {
        gw.proc.terminate().await;
    }
    let window: Duration = (1..=BACK_WITHIN_ATTEMPTS)
        .map(|a| BackoffConfig::default().ceiling(a))
        .sum();
    let want = (nodes * per_node) as f64;
    let secs = |d: Option<Duration>| d.map_or(f64::INFINITY, |d| d.as_secs_f64());
    Ok(vec![
        Row::new(&scenario, "logged-in sessions held", sessions as f64, "")
            .target(&format!("≥ {want}"), sessions as f64 >= want),
        Row::new(&scenario, "connections per node", per_node as f64, "")
            .target("< 20000 (the descriptor limit)", per_node < 20_000),
        Row::new(
            &scenario,
            "time to log them all in",
            setup.as_secs_f64(),
            "s",
        ),
        Row::new(
            &scenario,
            "logins per second (all nodes)",
            sessions as f64 / setup.as_secs_f64(),
            "/s",
        ),
        Row::new(
            &scenario,
            "gateway RSS, all nodes",
            rss as f64 / 1024.0,
            "MiB",
        ),
        Row::new(
            &scenario,
            "gateway RSS per connection (above the idle nodes)",
            rss.saturating_sub(idle_rss) as f64 / sessions.max(1) as f64,
            "KiB",
        ),
        Row::new(
            &scenario,
            "a killed node's clients all back on others",
            secs(back_after),
            "s",
        )
        .target(
            &format!(
                "≤ {:.1} s (the first {BACK_WITHIN_ATTEMPTS} backoff ceilings)",
                window.as_secs_f64()
            ),
            back_after.is_some_and(|d| d <= window),
        ),
        Row::new(&scenario, "its ghosts purged", secs(ghosts_gone), "s").target(
            &format!("≤ {} s", GHOSTS_GONE_WITHIN.as_secs()),
            ghosts_gone.is_some_and(|d| d <= GHOSTS_GONE_WITHIN),
        ),
        Row::new(
            &scenario,
            "mean time of a return's login (the survivors' logins since the kill)",
            returns
                .means()
                .iter()
                .find(|(stage, _, _)| stage == "all")
                .map_or(f64::NAN, |(_, _, ms)| *ms),
            "ms",
        ),
        Row::new(
            &scenario,
            "CPU on the way back: survivors + Redis, per return",
            way_back
                .as_ref()
                .map_or(f64::NAN, |(u, _)| (u[0] + u[1]) * 1000.0 / per_node as f64),
            "ms",
        ),
        Row::new(
            &scenario,
            "CPU on the way back: the holders (clients), per return",
            way_back
                .as_ref()
                .map_or(f64::NAN, |(u, _)| u[2] * 1000.0 / per_node as f64),
            "ms",
        ),
        Row::new(
            &scenario,
            "cores busy on the way back (the whole machine)",
            way_back
                .as_ref()
                .map_or(f64::NAN, |(u, e)| u[3] / e.max(0.001)),
            "",
        ),
        Row::new(&scenario, "sessions after the kill", after as f64, "")
            .target(&format!("= {want}"), after as f64 >= want),
    ])
}

/// The nodes' login stages, summed.
/// The desktop app, as a person meets it: `measure-desktop` (tests/src/bin,
/// next to this binary) starts the real app under the display (Xvfb) over
/// WebDriver, with a real keychain and a real gateway: first start → login
/// page, a remember-me start → Connected, then PSS and RSS over the app and
/// its WebKit processes, idle with that account online. A full run measures
/// both builds a person gets: the packaged one (`release`: fat LTO, what the
/// .deb holds; the size and memory targets are its) and the one
/// `scripts/run.sh` starts (`quick-release`), each that is built; a quick run
/// measures the app next to this binary once.
pub async fn desktop(scale: Scale) -> anyhow::Result<Vec<Row>> {
    ensure!(
        std::env::var_os("DISPLAY").is_some(),
        "the desktop scenario needs a display: run the bench under xvfb-run -a"
    );
    let exe = std::env::current_exe()?;
    let here = exe.parent().context("bench directory")?;
    let measure = here.join("measure-desktop");
    ensure!(
        measure.is_file(),
        "{} is missing: cargo build -p vestibule-e2e --bin measure-desktop (same profile as the bench)",
        measure.display()
    );
    let target = here.parent().context("target directory")?;
    let apps: Vec<(String, std::path::PathBuf, bool)> = if scale.quick {
        vec![("this build".to_owned(), here.join("vestibule"), false)]
    } else {
        [
            ("packaged (release)", "release", true),
            ("scripts/run.sh (quick-release)", "quick-release", false),
        ]
        .into_iter()
        .map(|(name, dir, packaged)| {
            (
                name.to_owned(),
                target.join(dir).join("vestibule"),
                packaged,
            )
        })
        .filter(|(_, path, _)| path.is_file())
        .collect()
    };
    ensure!(
        !apps.is_empty() && apps.iter().all(|(_, path, _)| path.is_file()),
        "no desktop app to measure: cargo build --release -p vestibule-desktop"
    );
    let runs = scale.pick(5, 1);
    let mut rows = Vec::new();
    for (name, app, packaged) in apps {
        let mut command = tokio::process::Command::new(&measure);
        command
            .arg(&app)
            .arg(runs.to_string())
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        let out = tokio::time::timeout(Duration::from_secs(120 * runs as u64), command.output())
            .await
            .context("measure-desktop timed out")??;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "measure-desktop {}: {}\n{stdout}{}",
            app.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // The per-process breakdown, for the log.
        for line in stdout.lines().filter(|l| !l.starts_with("json: ")) {
            eprintln!("   {line}");
        }
        let json: serde_json::Value = stdout
            .lines()
            .find_map(|l| l.strip_prefix("json: "))
            .context("no json: line from measure-desktop")
            .and_then(|j| Ok(serde_json::from_str(j)?))?;
        let get = |k: &str| json[k].as_f64().with_context(|| format!("{k} in {json}"));
        let scenario = format!("desktop app, {name} ({runs} starts)");
        let (size, login, connected) = (
            get("binaryMiB")? * 1.048576,
            get("startToLoginMs")?,
            get("rememberedStartToConnectedMs")?,
        );
        let (pss, rss) = (get("idlePssMiB")?, get("idleRssMiB")?);
        let mut size_row = Row::new(&scenario, "binary size", size, "MB");
        let mut pss_row = Row::new(
            &scenario,
            "idle, one account online: PSS (app + WebKit)",
            pss,
            "MiB",
        );
        let (mut login_row, mut connected_row) = (
            Row::new(&scenario, "start → login page (median)", login, "ms"),
            Row::new(
                &scenario,
                "remember-me start → Connected (median)",
                connected,
                "ms",
            ),
        );
        if !scale.quick {
            login_row = login_row.target("≤ 1000 ms", login <= 1000.0);
            connected_row = connected_row.target("≤ 1500 ms", connected <= 1500.0);
        }
        if packaged {
            size_row = size_row.target("≤ 15 MB", size <= 15.0);
            pss_row = pss_row.target("≤ 120 MiB", pss <= 120.0);
        }
        rows.extend([
            size_row,
            login_row,
            connected_row,
            pss_row,
            Row::new(
                &scenario,
                "idle, one account online: RSS (app + WebKit)",
                rss,
                "MiB",
            ),
        ]);
    }
    Ok(rows)
}

async fn login_stages(gateways: &[GatewayProc]) -> anyhow::Result<LoginStages> {
    let mut all = LoginStages::default();
    for gw in gateways {
        all.add(&gw.login_stages().await?);
    }
    Ok(all)
}

/// Checks the binaries the scenarios need before starting (panics with how to build them).
pub fn preflight() -> anyhow::Result<()> {
    bin("vestibule-gateway");
    Ok(())
}
