//! Pairing: a device that is not signed in shows a code; a signed-in device
//! of the account approves it; the new device gets its own session.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use vestibule_gateway::clock::{Clock, unix_millis};
use vestibule_gateway::store::App;

use crate::support::*;

fn pair_request(id: u64, app_key: &str, device_id: &str) -> Value {
    json!({
        "type": "pairRequest", "id": id, "appKey": app_key,
        "device": {"deviceId": device_id, "type": "PC", "os": "Debian GNU/Linux 12"},
        "client": {"name": "vestibule-desktop", "version": "0.1.0"}
    })
}

/// A device waiting behind a code: the connection and the code it shows.
async fn requester(gw: &TestGateway, device_id: &str) -> (Client, String) {
    let mut client = Client::connect(&gw.url()).await;
    client.send(&pair_request(1, APP, device_id)).await;
    let shown = client.frame().await;
    assert_eq!(shown["type"], "pairCode", "{shown}");
    assert_eq!(shown["id"], 1);
    let code = shown["code"].as_str().expect("code").to_owned();
    (client, code)
}

async fn ask(client: &mut Client, kind: &str, id: u64, code: &str) -> Value {
    client
        .send(&json!({"type": kind, "id": id, "code": code}))
        .await;
    loop {
        let reply = client.frame().await;
        if reply["id"] == id {
            return reply;
        }
    }
}

#[tokio::test]
async fn a_code_approved_by_a_signed_in_device_signs_the_requester_in() {
    let gw = TestGateway::start().await;
    let (mut phone, phone_ok) = gw.login("alice", "phone-1", "iOS").await;
    let (mut laptop, code) = requester(&gw, "laptop-1").await;

    // ABCD-EFGH: 8 symbols of the unambiguous alphabet, valid two minutes.
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-");
    assert!(
        code.chars()
            .filter(|c| *c != '-')
            .all(|c| vestibule_protocol::pairing::CODE_ALPHABET.contains(&(c as u8))),
        "{code}"
    );
    // Until it is approved the requester learns nothing.
    laptop.silent_for(Duration::from_millis(600)).await;

    // The phone sees who asks (typed in lower case, without the dash), then approves.
    let typed = code.replace('-', "").to_lowercase();
    let info = ask(&mut phone, "pairLookup", 7, &typed).await;
    assert_eq!(info["type"], "pairInfo", "{info}");
    let who = &info["requester"];
    assert_eq!(who["device"]["deviceId"], "laptop-1");
    assert_eq!(who["device"]["type"], "PC");
    assert_eq!(who["device"]["os"], "Debian GNU/Linux 12");
    assert_eq!(who["client"]["name"], "vestibule-desktop");
    assert_eq!(who["ip"], "127.0.0.1");
    let requested = who["requestedAt"].as_u64().expect("requestedAt");
    let expires = who["expiresAt"].as_u64().expect("expiresAt");
    assert_eq!(expires - requested, 120_000, "two minutes");
    assert_eq!(
        ask(&mut phone, "pairApprove", 8, &code).await,
        json!({"type": "ok", "id": 8})
    );

    // The laptop gets the account and its own session token, and the connection closes.
    let paired = laptop.frame().await;
    assert_eq!(paired["type"], "paired", "{paired}");
    assert_eq!(paired["id"], 1);
    assert_eq!(paired["account"], "alice");
    let session = paired["sessionToken"].clone();
    assert!(session.as_str().is_some_and(|s| s.starts_with("vst1.")));
    assert_ne!(session, phone_ok["sessionToken"]);
    assert_eq!(laptop.closed().await, Some(1000));

    // The phone is told: a new sign-in, listed (offline until it logs in).
    let alert = phone.frame_of("newDevice").await;
    assert_eq!(alert["device"]["deviceId"], "laptop-1");
    // The laptop logs in with it: a device session of alice's like any other.
    let (_laptop, ok) = gw.resume("alice", "laptop-1", "PC", &session).await;
    assert_eq!(ok["type"], "loginOk");
    let ids: Vec<&str> = ok["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["deviceId"].as_str())
        .collect();
    assert!(
        ids.contains(&"phone-1") && ids.contains(&"laptop-1"),
        "{ids:?}"
    );
    // Used once: the code cannot be approved again.
    let again = ask(&mut phone, "pairApprove", 9, &code).await;
    assert_eq!(again["code"], 425, "{again}");
}

#[tokio::test]
async fn the_paired_session_expires_no_later_than_the_approvers() {
    let gw = TestGateway::start().await;
    let short = vestibule_testkit::token_for("alice", Duration::from_secs(600));
    let mut phone = Client::connect(&gw.url()).await;
    let ok = phone
        .login_with(&login_frame("alice", "phone-1", "iOS", &short))
        .await;
    let approver_expiry = ok["tokenExpiresAt"].as_u64().expect("tokenExpiresAt");
    let (mut laptop, code) = requester(&gw, "laptop-1").await;
    assert_eq!(ask(&mut phone, "pairApprove", 2, &code).await["type"], "ok");
    let paired = laptop.frame().await;
    assert_eq!(paired["tokenExpiresAt"], approver_expiry, "{paired}");
    let (_laptop, ok) = gw
        .resume("alice", "laptop-1", "PC", &paired["sessionToken"])
        .await;
    assert_eq!(ok["tokenExpiresAt"], approver_expiry);
}

#[tokio::test]
async fn wrong_expired_used_and_abandoned_codes_each_say_why() {
    let skew = Arc::new(AtomicU64::new(0));
    let clock_skew = skew.clone();
    let gw = TestGateway::start_with(move |c| {
        c.clock = Clock::from_fn(move || unix_millis() + clock_skew.load(Ordering::SeqCst));
    })
    .await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;

    // A wrong code, and something that is not a code at all: the same answer.
    for wrong in ["ABCD-EFGH", "not a code", ""] {
        let reply = ask(&mut phone, "pairLookup", 2, wrong).await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], 423);
        assert_eq!(reply["message"], "no such code");
    }

    // The requester went away.
    let (laptop, gone) = requester(&gw, "laptop-1").await;
    drop(laptop);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = ask(&mut phone, "pairLookup", 3, &gone).await;
        if reply["code"] == 426 {
            assert_eq!(
                reply["message"],
                "the device that asked is no longer waiting"
            );
            break;
        }
        assert_eq!(reply["type"], "pairInfo", "{reply}");
        assert!(std::time::Instant::now() < deadline, "never seen as gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A code past its two minutes.
    let (_tablet, old) = requester(&gw, "tablet-1").await;
    skew.fetch_add(121_000, Ordering::SeqCst);
    let reply = ask(&mut phone, "pairApprove", 4, &old).await;
    assert_eq!(reply["code"], 424, "{reply}");
    assert_eq!(reply["message"], "this code has expired; ask for a new one");

    // A requester that asks again gets a new code; the old one is withdrawn.
    let (mut desk, first) = requester(&gw, "desk-1").await;
    desk.send(&pair_request(2, APP, "desk-1")).await;
    let renewed = desk.frame().await;
    assert_eq!(renewed["type"], "pairCode");
    assert_eq!(renewed["id"], 2);
    let second = renewed["code"].as_str().expect("code").to_owned();
    assert_ne!(first, second);
    assert_eq!(ask(&mut phone, "pairLookup", 5, &first).await["code"], 426);
    assert_eq!(
        ask(&mut phone, "pairApprove", 6, &second).await["type"],
        "ok"
    );
    let paired = desk.frame().await;
    assert_eq!(paired["id"], 2, "the renewal's id: {paired}");
    assert_eq!(
        ask(&mut phone, "pairApprove", 7, &second).await["code"],
        425
    );
}

#[tokio::test]
async fn a_code_belongs_to_one_app() {
    let gw = TestGateway::start().await;
    gw.gw
        .store()
        .create_app(App {
            app_key: "other".into(),
            name: "Other".into(),
            secret: vestibule_gateway::secret::AppSecret::new(SECRET),
            policy: Default::default(),
            created_at: 0,
        })
        .await
        .expect("another app");
    let other_token =
        vestibule_protocol::token::mint(SECRET, "other", "mallory", Duration::from_secs(600))
            .expect("token");
    let mut mallory = Client::connect(&gw.url()).await;
    let mut frame = login_frame("mallory", "m-1", "PC", other_token.expose());
    frame["appKey"] = json!("other");
    let ok = mallory.login_with(&frame).await;
    assert_eq!(ok["type"], "loginOk", "{ok}");

    let (mut laptop, code) = requester(&gw, "laptop-1").await;
    for kind in ["pairLookup", "pairApprove"] {
        let reply = ask(&mut mallory, kind, 3, &code).await;
        assert_eq!(reply["code"], 423, "{kind}: {reply}");
        assert_eq!(reply["message"], "no such code");
    }
    laptop.silent_for(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn wrong_codes_are_limited_per_session_and_per_address() {
    let gw = TestGateway::start().await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    for i in 0..5 {
        let reply = ask(&mut phone, "pairLookup", 10 + i, "ZZZZ-ZZZZ").await;
        assert_eq!(reply["code"], 423, "{reply}");
    }
    let limited = ask(&mut phone, "pairLookup", 20, "ZZZZ-ZZZZ").await;
    assert_eq!(limited["code"], 416, "{limited}");
    assert!(limited["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0));
    // Even a right code waits: the limit is on trying, not on being wrong.
    let (_laptop, code) = requester(&gw, "laptop-1").await;
    assert_eq!(ask(&mut phone, "pairLookup", 21, &code).await["code"], 416);

    // Other connections from the same address share a larger budget.
    let mut used = 5;
    let mut n = 0;
    loop {
        n += 1;
        let (mut other, _) = gw.login("alice", &format!("tab-{n}"), "Web").await;
        let mut limited = false;
        for i in 0..5 {
            let reply = ask(&mut other, "pairLookup", 30 + i, "YYYY-YYYY").await;
            if reply["code"] == 416 {
                limited = true;
                break;
            }
            assert_eq!(reply["code"], 423, "{reply}");
            used += 1;
        }
        if limited {
            break;
        }
        assert!(n < 10, "no address limit after {used} wrong codes");
    }
    assert_eq!(used, 20, "20 wrong codes per address");
}

#[tokio::test]
async fn a_pairing_connection_may_only_ask_and_an_unknown_app_is_refused() {
    let gw = TestGateway::start().await;
    let (mut laptop, _) = requester(&gw, "laptop-1").await;
    let reply = ask(&mut laptop, "pairLookup", 5, "ABCD-EFGH").await;
    assert_eq!(reply["code"], 414, "{reply}");

    let mut stranger = Client::connect(&gw.url()).await;
    stranger.send(&pair_request(1, "nope", "laptop-2")).await;
    let refused = stranger.frame().await;
    assert_eq!(refused["type"], "loginFailed", "{refused}");
    assert_eq!(refused["code"], 404);
    assert_eq!(stranger.closed().await, Some(4404));

    // A device that is signed in has no business asking.
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    phone.send(&pair_request(3, APP, "phone-1")).await;
    let reply = phone.frame_of("error").await;
    assert_eq!(reply["code"], 414);
}
