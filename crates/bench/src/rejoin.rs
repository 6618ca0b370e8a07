//! Held connections that come back after their node dies, as clients do:
//! each waits a jittered backoff (the client library's defaults), asks a
//! node's `GET /v1/lbs` which nodes are alive, and logs in again on one of
//! them. The holder prints `back B dropped D` as the figures change.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use rand::seq::SliceRandom;
use vestibule_client::backoff::BackoffConfig;
use vestibule_protocol::{DeviceType, ServerFrame};

use crate::net::{self, Ws};

#[derive(Default)]
struct Counts {
    dropped: AtomicUsize,
    back: AtomicUsize,
}

/// Keeps every connection of `held` (logged in to `target`) alive, coming
/// back elsewhere after a loss; prints progress until stdin closes.
pub async fn keep(
    held: Vec<(Ws, String, IpAddr)>,
    target: SocketAddr,
    lbs: Vec<String>,
) -> anyhow::Result<()> {
    let counts = Arc::new(Counts::default());
    let lbs = Arc::new(lbs);
    // Few idle connections kept: the holder stays under its descriptor limit.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(4)
        .build()?;
    let mut tasks = Vec::with_capacity(held.len());
    for (ws, account, source) in held {
        tasks.push(tokio::spawn(one(
            ws,
            target,
            account,
            source,
            lbs.clone(),
            http.clone(),
            counts.clone(),
        )));
    }
    let reporter = tokio::spawn({
        let counts = counts.clone();
        async move {
            let mut last = (0, 0);
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = (
                    counts.back.load(Ordering::Relaxed),
                    counts.dropped.load(Ordering::Relaxed),
                );
                if now != last {
                    println!("back {} dropped {}", now.0, now.1);
                    last = now;
                }
            }
        }
    });
    let mut buf = [0u8; 64];
    let mut stdin = tokio::io::stdin();
    while tokio::io::AsyncReadExt::read(&mut stdin, &mut buf)
        .await
        .unwrap_or(0)
        > 0
    {}
    reporter.abort();
    for task in tasks {
        task.abort();
    }
    Ok(())
}

async fn one(
    mut ws: Ws,
    mut target: SocketAddr,
    account: String,
    source: IpAddr,
    lbs: Arc<Vec<String>>,
    http: reqwest::Client,
    counts: Arc<Counts>,
) {
    let backoff = BackoffConfig::default();
    let token = net::token(&account);
    loop {
        // Reading answers the gateway's pings; the loop ends when the connection does.
        while let Some(Ok(_)) = ws.next().await {}
        counts.dropped.fetch_add(1, Ordering::Relaxed);
        let mut attempt = 1;
        // A refusal's retryAfterMs wins over the backoff when it is longer, as in the client.
        let mut told = Duration::ZERO;
        loop {
            let ceiling = backoff.ceiling(attempt);
            let wait =
                Duration::from_secs_f64(rand::rng().random_range(0.0..=ceiling.as_secs_f64()));
            tokio::time::sleep(wait.max(told)).await;
            attempt += 1;
            told = Duration::ZERO;
            let Some(next) = pick(&http, &lbs, target).await else {
                continue;
            };
            match net::login(next, Some(source), &account, "held", DeviceType::Pc, &token).await {
                Ok((fresh, ServerFrame::LoginOk(_))) => {
                    ws = fresh;
                    target = next;
                    counts.back.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok((
                    _,
                    ServerFrame::LoginFailed {
                        retry_after_ms: Some(ms),
                        ..
                    },
                )) => told = vestibule_protocol::server_wait_ms(ms),
                _ => {}
            }
        }
    }
}

/// A live node other than `failed`, as the first answering LBS lists them.
async fn pick(http: &reqwest::Client, lbs: &[String], failed: SocketAddr) -> Option<SocketAddr> {
    let mut order: Vec<&String> = lbs.iter().collect();
    order.shuffle(&mut rand::rng());
    for url in order {
        let Ok(reply) = http.get(url).send().await else {
            continue;
        };
        let Ok(body) = reply.json::<serde_json::Value>().await else {
            continue;
        };
        let mut nodes: Vec<SocketAddr> = body["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
            .filter_map(|n| n.strip_prefix("ws://")?.split('/').next()?.parse().ok())
            .filter(|a| *a != failed)
            .collect();
        nodes.shuffle(&mut rand::rng());
        if let Some(node) = nodes.first() {
            return Some(*node);
        }
    }
    None
}
