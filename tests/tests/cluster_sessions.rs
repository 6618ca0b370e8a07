//! Device sessions across a cluster: two real gateway processes on a real
//! redis-server. A device signed out through one node is refused on every
//! node; names and new-sign-in alerts cross nodes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vestibule_client::pairing::{Pairing, PairingEvent, PairingOptions};
use vestibule_client::{ClientOptions, DeviceType, Event, Vestibule};
use vestibule_e2e::{GatewayProc, token};
use vestibule_testkit::RedisServer;

const WAIT: Duration = Duration::from_secs(30);

fn options(url: &str, device_id: &str, device_type: DeviceType) -> ClientOptions {
    ClientOptions::builder(url, "demo", "alice", token("alice"), device_id)
        .device_type(device_type)
        .auto_connect(false)
        .build()
        .expect("options")
}

/// One login over a raw WebSocket; the gateway's answer, and the socket.
async fn raw_login(
    url: &str,
    credential: (&str, &str),
    device_id: &str,
) -> (
    Value,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let (field, value) = credential;
    let mut login = json!({
        "type": "login", "id": 1, "appKey": "demo", "account": "alice",
        "device": {"deviceId": device_id, "type": "PC", "os": "raw"},
        "client": {"name": "raw", "version": "0"}
    });
    login[field] = Value::from(value);
    ws.send(Message::text(login.to_string()))
        .await
        .expect("send");
    let reply = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str::<Value>(text.as_str()).expect("json");
                }
                Some(Ok(_)) => {}
                other => panic!("closed before an answer: {other:?}"),
            }
        }
    })
    .await
    .expect("an answer");
    (reply, ws)
}

async fn next_pairing(pairing: &mut Pairing) -> Option<PairingEvent> {
    tokio::time::timeout(WAIT, pairing.next())
        .await
        .ok()
        .flatten()
}

async fn until<T>(
    events: &mut vestibule_client::Events,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(event) = events.recv().await
                && let Some(found) = pick(&event)
            {
                return found;
            }
        }
    })
    .await
    .expect("the event within the wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_signed_out_while_offline_is_refused_on_every_node() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    let phone = Vestibule::new()
        .instance(options(&n2.url, "phone", DeviceType::Ios))
        .expect("instance");
    let mut events = phone.subscribe();
    phone.connect();
    phone.ready(WAIT).await.expect("phone online");

    // The laptop signs in through n1, then its lid closes (no logout).
    let (ok, ws) = raw_login(&n1.url, ("token", &token("alice")), "laptop").await;
    assert_eq!(ok["type"], "loginOk", "{ok}");
    let session = ok["sessionToken"]
        .as_str()
        .expect("a session token")
        .to_owned();
    let alert = until(&mut events, |e| match e {
        Event::NewDevice { device } => Some(device.clone()),
        _ => None,
    })
    .await;
    assert_eq!(alert.device_id, "laptop", "the alert crossed nodes");
    drop(ws);
    until(&mut events, |e| match e {
        Event::DevicesChanged { devices, .. }
            if devices.iter().any(|d| d.device_id == "laptop" && !d.online) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;

    // The phone, on n2, signs the offline laptop out.
    let result = phone.kick(vec!["laptop".into()]).await.expect("kick");
    assert_eq!(result.kicked, ["laptop"]);

    // Its session token is refused on both nodes, saying who and when.
    for node in [&n1, &n2] {
        let (reply, _) = raw_login(&node.url, ("sessionToken", &session), "laptop").await;
        assert_eq!(reply["type"], "loginFailed", "{reply}");
        assert_eq!(reply["code"], 420);
        assert_eq!(reply["ended"]["reason"], "byDevice");
        assert_eq!(reply["ended"]["by"]["deviceId"], "phone");
        assert_eq!(reply["ended"]["by"]["type"], "iOS");
    }
    let _ = phone.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_comes_back_silently_through_the_other_node_and_names_cross_nodes() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    let laptop = Vestibule::new()
        .instance(options(&n1.url, "laptop", DeviceType::Pc))
        .expect("instance");
    let mut laptop_events = laptop.subscribe();
    laptop.connect();
    let first = laptop.ready(WAIT).await.expect("laptop online");
    assert!(first.new_session);
    let session = laptop.session_token().expect("a session token");

    let phone = Vestibule::new()
        .instance(options(&n2.url, "phone", DeviceType::Ios))
        .expect("instance");
    phone.connect();
    phone.ready(WAIT).await.expect("phone online");
    phone
        .rename_device("laptop", "  Work laptop ")
        .await
        .expect("rename");
    until(&mut laptop_events, |e| match e {
        Event::DevicesChanged { devices, .. }
            if devices
                .iter()
                .any(|d| d.device_id == "laptop" && d.name.as_deref() == Some("Work laptop")) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    assert!(phone.rename_device("laptop", "\u{7}").await.is_err());

    // The laptop's session token through the other node: the same session.
    let (reply, _ws) = raw_login(&n2.url, ("sessionToken", session.expose()), "laptop").await;
    assert_eq!(reply["type"], "loginOk", "{reply}");
    assert_eq!(reply.get("sessionToken"), None, "no new session");
    assert_eq!(reply["repeatLogin"], true, "it replaced its own connection");
    let _ = phone.destroy().await;
    let _ = laptop.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_shown_through_one_node_is_approved_through_the_other() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    let phone = Vestibule::new()
        .instance(options(&n2.url, "phone", DeviceType::Ios))
        .expect("instance");
    let mut events = phone.subscribe();
    phone.connect();
    phone.ready(WAIT).await.expect("phone online on n2");

    // The new laptop waits behind a code on n1.
    let device = vestibule_client::DeviceInfo {
        device_id: "laptop".into(),
        device_type: DeviceType::Pc,
        os: "raw".into(),
        mac: None,
        custom_tag: None,
    };
    let program = vestibule_client::ClientInfo {
        name: "e2e".into(),
        version: "0".into(),
    };
    let mut pairing = Pairing::start(PairingOptions::new(&n1.url, "demo", device, program));
    let Some(PairingEvent::Code { code, .. }) = next_pairing(&mut pairing).await else {
        panic!("a code from n1")
    };

    // The phone on n2 sees who asks and approves; the laptop on n1 is signed in.
    let who = phone.lookup_pair(&code).await.expect("lookup across nodes");
    assert_eq!(who.device.device_id, "laptop");
    phone
        .approve_pair(&code)
        .await
        .expect("approve across nodes");
    let Some(PairingEvent::Paired {
        account,
        session_token,
        ..
    }) = next_pairing(&mut pairing).await
    else {
        panic!("paired through n1")
    };
    assert_eq!(account, "alice");
    let alert = until(&mut events, |e| match e {
        Event::NewDevice { device } => Some(device.device_id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        alert, "laptop",
        "the approver's node hears of the new sign-in"
    );
    // Its session works on either node.
    let (ok, _ws) = raw_login(&n2.url, ("sessionToken", session_token.expose()), "laptop").await;
    assert_eq!(ok["type"], "loginOk", "{ok}");
    assert_eq!(
        phone.approve_pair(&code).await.err().map(|e| e.to_string()),
        Some("the gateway refused: this code was already used (425)".into())
    );
}
