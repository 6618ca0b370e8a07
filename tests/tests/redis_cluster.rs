//! Gateways on a real Redis Cluster (three primaries, three replicas on
//! loopback): a primary killed while logins come and go. Its replica takes
//! over; no session is lost, no ghost stays, and kicks still arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use vestibule_client::{
    ClientOptions, DeviceType, DisconnectReason, KickReason, Status, Vestibule,
};
use vestibule_e2e::{GatewayProc, token};
use vestibule_testkit::RedisCluster;

const WAIT: Duration = Duration::from_secs(30);

fn options(url: &str, account: &str, device_id: &str, device_type: DeviceType) -> ClientOptions {
    let mut options = ClientOptions::new(url, "demo", account, token(account), device_id);
    options.device.device_type = device_type;
    options.auto_connect = false;
    options
}

/// Logs short-lived sessions in and closes them (no logout: the connection
/// just goes), alternating nodes, until `stop`; counts the logins that made it.
async fn churn(urls: [String; 2], stop: Arc<AtomicBool>, logins: Arc<AtomicUsize>) {
    let vestibule = Vestibule::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let url = &urls[i % 2];
        let account = format!("churn{}", i % 8);
        let client = vestibule
            .instance(options(url, &account, &format!("c{i}"), DeviceType::Web))
            .expect("churn client");
        client.connect();
        // During the failover a login may be told to wait (503): it retries by itself.
        if client.ready(Duration::from_secs(10)).await.is_ok() {
            logins.fetch_add(1, Ordering::Relaxed);
        }
        let _ = client.close().await;
        i += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_under_load_loses_no_session_leaves_no_ghost_and_kicks_still_arrive() {
    let mut cluster = RedisCluster::start().expect("redis cluster");
    let seeds = cluster.seeds();
    let n1 = GatewayProc::cluster_node(&seeds, "n1").await;
    let n2 = GatewayProc::cluster_node(&seeds, "n2").await;
    // The primary that holds n2's inbox, so kicks to n2 cross the failover.
    let victim = cluster
        .primary_of("vst:{node:n2}:inbox")
        .expect("the inbox's primary");

    // 24 accounts, a desk on n1 and a phone on n2 each.
    let vestibule = Vestibule::new();
    let accounts: Vec<String> = (0..24).map(|i| format!("fo{i}")).collect();
    let mut clients = Vec::new();
    for account in &accounts {
        let desk = vestibule
            .instance(options(&n1.url, account, "desk", DeviceType::Pc))
            .expect("desk");
        let phone = vestibule
            .instance(options(&n2.url, account, "phone", DeviceType::Ios))
            .expect("phone");
        desk.connect();
        phone.connect();
        clients.push((account.clone(), desk, phone));
    }
    for (account, desk, phone) in &clients {
        desk.ready(WAIT).await.expect("desk logs in");
        phone.ready(WAIT).await.expect("phone logs in");
        n1.until_online(account, &["desk", "phone"], WAIT).await;
    }
    let on_victim: Vec<&String> = accounts
        .iter()
        .filter(|a| cluster.primary_of(&format!("{{demo:{a}}}")) == Some(victim))
        .collect();
    assert!(
        !on_victim.is_empty(),
        "some accounts live on the primary that is killed"
    );

    // Under load: logins and closes on both nodes, through the kill.
    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(churn(
        [n1.url.clone(), n2.url.clone()],
        stop.clone(),
        logins.clone(),
    ));
    let before = {
        let deadline = tokio::time::Instant::now() + WAIT;
        while logins.load(Ordering::Relaxed) < 10 {
            assert!(tokio::time::Instant::now() < deadline, "the load runs");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        logins.load(Ordering::Relaxed)
    };
    cluster.kill(victim);
    cluster.wait_ok(WAIT).expect("a replica takes over");
    assert!(
        !cluster.primaries().contains(&victim),
        "the killed node is no primary"
    );
    // Logins go on after the failover.
    let deadline = tokio::time::Instant::now() + WAIT;
    while logins.load(Ordering::Relaxed) < before + 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "logins resume after the failover ({} so far)",
            logins.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.expect("the load stops");
    println!(
        "churn logins: {} before the kill, {} in all",
        before,
        logins.load(Ordering::Relaxed)
    );

    // No session lost: every desk and phone is still connected and listed
    // online, on both nodes.
    for (account, desk, phone) in &clients {
        assert_eq!(desk.snapshot().status, Status::Connected, "{account} desk");
        assert_eq!(
            phone.snapshot().status,
            Status::Connected,
            "{account} phone"
        );
        n1.until_online(account, &["desk", "phone"], WAIT).await;
        n2.until_online(account, &["desk", "phone"], WAIT).await;
    }
    // No ghost: every churn session was closed, so none is online.
    for k in 0..8 {
        n2.until_online(&format!("churn{k}"), &[], WAIT).await;
    }

    // Kicks still arrive: each desk on n1 signs its phone on n2 out, the
    // accounts of the killed primary's slots first.
    let order = clients
        .iter()
        .filter(|(a, _, _)| on_victim.contains(&a))
        .chain(clients.iter().filter(|(a, _, _)| !on_victim.contains(&a)));
    for (account, desk, phone) in order {
        let result = desk.kick(vec!["phone".into()]).await.expect("kick");
        assert_eq!(result.kicked, ["phone"], "{account}");
        let mut watch = phone.watch();
        tokio::time::timeout(WAIT, async {
            while watch.borrow_and_update().status != Status::SignedOut {
                watch.changed().await.expect("phone's state");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{account}: the kick reaches the phone"));
        let reason = phone.snapshot().last_disconnect.expect("why").reason;
        assert!(
            matches!(
                reason,
                DisconnectReason::Kicked {
                    reason: KickReason::ByDevice
                }
            ),
            "{account}: {reason:?}"
        );
        n2.until_online(account, &["desk"], WAIT).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateways_sessions_are_purged_from_the_cluster() {
    let cluster = RedisCluster::start().expect("redis cluster");
    let seeds = cluster.seeds();
    let n1 = GatewayProc::cluster_node(&seeds, "n1").await;
    let n2 = GatewayProc::cluster_node(&seeds, "n2").await;
    let vestibule = Vestibule::new();
    // Accounts spread over the slots, so the purge crosses every primary.
    let accounts: Vec<String> = (0..12).map(|i| format!("dead{i}")).collect();
    let mut clients = Vec::new();
    for account in &accounts {
        let desk = vestibule
            .instance(options(&n1.url, account, "desk", DeviceType::Pc))
            .expect("desk");
        let phone = vestibule
            .instance(options(&n2.url, account, "phone", DeviceType::Ios))
            .expect("phone");
        desk.connect();
        phone.connect();
        desk.ready(WAIT).await.expect("desk logs in");
        phone.ready(WAIT).await.expect("phone logs in");
        clients.push((desk, phone));
    }
    for account in &accounts {
        n1.until_online(account, &["desk", "phone"], WAIT).await;
    }
    n2.kill9().await;
    // Its lease runs out (10 s) and a survivor purges its sessions; every
    // phone is then offline in its desk's list.
    let started = std::time::Instant::now();
    for account in &accounts {
        n1.until_online(account, &["desk"], WAIT).await;
    }
    println!("dead node's sessions purged after {:?}", started.elapsed());
    for (desk, _) in &clients {
        assert_eq!(desk.snapshot().status, Status::Connected);
        assert!(
            !desk
                .devices()
                .iter()
                .any(|d| d.device_id == "phone" && d.online),
            "the desk's own list shows the phone offline"
        );
    }
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_stalled_past_its_lease_registers_its_sessions_again() {
    let cluster = RedisCluster::start().expect("redis cluster");
    let seeds = cluster.seeds();
    let n1 = GatewayProc::cluster_node(&seeds, "n1").await;
    let n2 = GatewayProc::cluster_node(&seeds, "n2").await;
    let vestibule = Vestibule::new();
    let desk = vestibule
        .instance(options(&n1.url, "stall", "desk", DeviceType::Pc))
        .expect("desk");
    let phone = vestibule
        .instance(options(&n2.url, "stall", "phone", DeviceType::Ios))
        .expect("phone");
    desk.connect();
    phone.connect();
    desk.ready(WAIT).await.expect("desk logs in");
    phone.ready(WAIT).await.expect("phone logs in");
    n1.until_online("stall", &["desk", "phone"], WAIT).await;

    // n2 freezes (a stalled VM, a stopped process) past its lease: n1 takes
    // it for dead and purges its sessions.
    let pid = n2.proc.pid();
    signal(pid, "STOP");
    n1.until_online("stall", &["desk"], WAIT).await;
    signal(pid, "CONT");
    // Back, it learns of the purge at its next renewal and puts its live
    // session back: the phone is online again, on every node.
    n1.until_online("stall", &["desk", "phone"], WAIT).await;
    n2.until_online("stall", &["desk", "phone"], WAIT).await;
    assert_eq!(phone.snapshot().status, Status::Connected);
}
