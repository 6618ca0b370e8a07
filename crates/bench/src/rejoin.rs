//! Held connections that come back after their node dies, as the client
//! library does: each knows the nodes `GET /v1/lbs` listed, and after a loss
//! asks the LBS again in the background while it waits a jittered backoff
//! (the client's defaults, a refusal's `retryAfterMs` when longer), then
//! logs in again on the next node of the latest list, with the device's
//! session token (a resume, as the client does: not a new sign-in, which
//! would end the session and announce a new device). The holder prints
//! `back B dropped D failed: … last back at T` as the figures change, T
//! being when the latest return happened (Unix milliseconds): the reader
//! may see the line late on a loaded machine, the stamp is never late.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use rand::seq::SliceRandom;
use vestibule_client::backoff::BackoffConfig;
use vestibule_protocol::{DeviceType, ServerFrame, Token};

use crate::net::{self, Ws};

#[derive(Default)]
struct Counts {
    dropped: AtomicUsize,
    back: AtomicUsize,
    /// Attempts that failed, by how: no live node from any LBS, no
    /// connection or handshake, a refused login (and of those, 503s).
    no_node: AtomicUsize,
    no_connection: AtomicUsize,
    refused: AtomicUsize,
    busy: AtomicUsize,
    /// When the latest connection came back (Unix milliseconds).
    last_back: AtomicU64,
    /// The latest reason an attempt found no connection.
    last_error: Mutex<String>,
}

/// Keeps every connection of `held` (logged in to `target`) alive, coming
/// back elsewhere after a loss; says `ready N` once all are watched, then
/// prints progress until stdin closes.
pub async fn keep(
    held: Vec<(Ws, String, IpAddr, Option<Token>)>,
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
    // What each client learned from the LBS when it connected: one of 64
    // real answers (each lists the other nodes in its own order).
    let mut answers = Vec::new();
    for _ in 0..64 {
        answers.push(ask(&http, &lbs).await.unwrap_or_else(|| vec![target]));
    }
    let turns = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(held.len());
    for (i, (ws, account, source, session)) in held.into_iter().enumerate() {
        let client = Client {
            lbs: lbs.clone(),
            http: http.clone(),
            known: Arc::new(Mutex::new(answers[i % answers.len()].clone())),
            asking: None,
            turns: turns.clone(),
        };
        tasks.push(tokio::spawn(one(
            ws,
            target,
            account,
            source,
            session,
            client,
            counts.clone(),
        )));
    }
    // Only now may the bench kill a node: until here the connections were not watched.
    println!("ready {}", tasks.len());
    let reporter = tokio::spawn({
        let counts = counts.clone();
        async move {
            let mut last = [0; 6];
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = [
                    &counts.back,
                    &counts.dropped,
                    &counts.no_node,
                    &counts.no_connection,
                    &counts.refused,
                    &counts.busy,
                ]
                .map(|c| c.load(Ordering::Relaxed));
                if now != last {
                    let error = counts
                        .last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    println!(
                        "back {} dropped {} failed: no node {}, no connection {} ({error}), refused {} (503: {}), last back at {}",
                        now[0],
                        now[1],
                        now[2],
                        now[3],
                        now[4],
                        now[5],
                        counts.last_back.load(Ordering::Relaxed)
                    );
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

/// One client's view of the cluster.
struct Client {
    lbs: Arc<Vec<String>>,
    http: reqwest::Client,
    /// The nodes the LBS listed last.
    known: Arc<Mutex<Vec<SocketAddr>>>,
    asking: Option<tokio::task::JoinHandle<()>>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Client {
    /// Asks the LBS in the background, unless it is being asked already.
    fn ask_lbs(&mut self) {
        if self.asking.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let (http, lbs, known) = (self.http.clone(), self.lbs.clone(), self.known.clone());
        let turns = self.turns.clone();
        self.asking = Some(tokio::spawn(async move {
            // Thousands of clients share this process's descriptors: a few hundred ask at once.
            let Ok(_turn) = turns.acquire().await else {
                return;
            };
            if let Some(nodes) = ask(&http, &lbs).await {
                *known.lock().unwrap_or_else(PoisonError::into_inner) = nodes;
            }
        }));
    }

    /// The node after `current` in the latest list.
    fn next(&self, current: SocketAddr) -> Option<SocketAddr> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let at = known.iter().position(|n| *n == current);
        let index = at.map_or(0, |i| (i + 1) % known.len().max(1));
        known.get(index).copied()
    }
}

async fn one(
    mut ws: Ws,
    mut target: SocketAddr,
    account: String,
    source: IpAddr,
    mut session: Option<Token>,
    mut client: Client,
    counts: Arc<Counts>,
) {
    let backoff = BackoffConfig::default();
    let token = net::token(&account);
    loop {
        // Reading answers the gateway's pings; the loop ends when the connection does.
        while let Some(Ok(_)) = ws.next().await {}
        // Its descriptor goes now, as a client's would (not at the next login).
        drop(ws);
        counts.dropped.fetch_add(1, Ordering::Relaxed);
        client.ask_lbs();
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
            let Some(next) = client.next(target) else {
                counts.no_node.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            // Like the client: a failed attempt moves on to the next node.
            target = next;
            // Boxed: a held connection's task stays small while it only reads
            // (16,666 per process), the login's state lives only while it runs.
            let login: std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>> = match &session {
                Some(session) => Box::pin(net::resume(
                    next,
                    Some(source),
                    &account,
                    "held",
                    DeviceType::Pc,
                    session,
                )),
                None => Box::pin(net::login(
                    next,
                    Some(source),
                    &account,
                    "held",
                    DeviceType::Pc,
                    &token,
                )),
            };
            match login.await {
                Ok((fresh, ServerFrame::LoginOk(ok))) => {
                    ws = fresh;
                    if ok.session_token.is_some() {
                        session = ok.session_token;
                    }
                    let now = vestibule_client::WallClock::system().now();
                    counts.last_back.fetch_max(now, Ordering::Relaxed);
                    counts.back.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok((
                    _,
                    ServerFrame::LoginFailed {
                        code,
                        retry_after_ms,
                        ..
                    },
                )) => {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    if code == vestibule_protocol::Code::Busy {
                        counts.busy.fetch_add(1, Ordering::Relaxed);
                    }
                    // The server forgot the session: sign in again with the app's token, as the client does.
                    if code == vestibule_protocol::Code::UnknownSession {
                        session = None;
                    }
                    told =
                        retry_after_ms.map_or(Duration::ZERO, vestibule_protocol::server_wait_ms);
                }
                Ok(_) => {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counts.no_connection.fetch_add(1, Ordering::Relaxed);
                    *counts
                        .last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = format!("{e:#}");
                }
            }
            client.ask_lbs();
        }
    }
}

/// The live nodes, as the first LBS (in a random order) that answers lists them.
async fn ask(http: &reqwest::Client, lbs: &[String]) -> Option<Vec<SocketAddr>> {
    let mut order: Vec<&String> = lbs.iter().collect();
    order.shuffle(&mut rand::rng());
    for url in order {
        let Ok(reply) = http.get(url).send().await else {
            continue;
        };
        let Ok(body) = reply.json::<serde_json::Value>().await else {
            continue;
        };
        let nodes: Vec<SocketAddr> = body["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
            .filter_map(|n| n.strip_prefix("ws://")?.split('/').next()?.parse().ok())
            .collect();
        if !nodes.is_empty() {
            return Some(nodes);
        }
    }
    None
}
