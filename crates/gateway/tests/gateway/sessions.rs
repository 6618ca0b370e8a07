//! Device sessions: a device stays signed in, online or not, until it signs
//! out, is signed out, or expires; its session token is what brings it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use vestibule_gateway::clock::{Clock, unix_millis};
use vestibule_gateway::{Gateway, GatewayConfig, Storage};

use crate::support::*;

const DAY_MS: u64 = 24 * 3600 * 1000;

/// A gateway clock that the test moves forward by days.
#[derive(Clone, Default)]
struct Skew(Arc<AtomicU64>);

impl Skew {
    fn clock(&self) -> Clock {
        let skew = self.0.clone();
        Clock::from_fn(move || unix_millis() + skew.load(Ordering::SeqCst))
    }

    fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A login that the gateway refuses; checks the close code that goes with it.
async fn refused(gw: &TestGateway, frame: &Value) -> Value {
    let mut client = Client::connect(&gw.url()).await;
    let reply = client.login_with(frame).await;
    assert_eq!(reply["type"], "loginFailed", "{reply}");
    let code = reply["code"].as_u64().expect("code");
    assert_eq!(client.closed().await, Some(4000 + code as u16));
    reply
}

fn session_of(ok: &Value) -> String {
    ok["sessionToken"]
        .as_str()
        .expect("a sign-in gets a session token")
        .to_owned()
}

/// Reads `devices` pushes until one satisfies `done`.
async fn list_until(client: &mut Client, done: impl Fn(&[(String, bool)]) -> bool) -> Value {
    loop {
        let list = client.devices().await;
        if done(&presence(&list)) {
            return list;
        }
    }
}

fn entry<'a>(list: &'a Value, device_id: &str) -> &'a Value {
    list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["deviceId"] == device_id)
        .unwrap_or_else(|| panic!("{device_id} is not listed: {list}"))
}

#[tokio::test]
async fn a_device_that_left_without_logging_out_is_listed_offline_and_can_be_signed_out() {
    let gw = TestGateway::start().await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    let (pc, pc_ok) = gw.login("alice", "pc-1", "PC").await;
    let session = session_of(&pc_ok);
    assert!(session.len() >= 43, "at least 256 random bits");
    // The laptop's lid closes: no logout.
    drop(pc);
    let list = list_until(&mut phone, |p| p.contains(&("pc-1".into(), false))).await;
    assert_eq!(
        presence(&list),
        [("phone-1".into(), true), ("pc-1".into(), false)],
        "online devices first"
    );
    let pc = entry(&list, "pc-1");
    assert!(pc["lastActiveAt"].as_u64() >= pc["createdAt"].as_u64());
    assert_eq!(pc["client"]["name"], "gateway-tests");

    // The phone signs the offline laptop out.
    phone
        .send(&json!({"type": "kick", "id": 3, "deviceIds": ["pc-1"]}))
        .await;
    let result = phone.frame_of("kickResult").await;
    assert_eq!(result["kicked"], json!(["pc-1"]));
    assert_eq!(result["notFound"], json!([]));
    let list = gw.gw.registry().devices(APP, "alice").await;
    assert_eq!(
        list.devices
            .iter()
            .map(|d| d.device_id.as_str())
            .collect::<Vec<_>>(),
        ["phone-1"],
        "the session is gone, not just the connection"
    );

    // The laptop wakes up: its session token is refused, saying who and when.
    let reply = refused(&gw, &resume_frame("alice", "pc-1", "PC", &session)).await;
    assert_eq!(reply["code"], 420);
    assert_eq!(reply["ended"]["reason"], "byDevice");
    assert_eq!(reply["ended"]["by"]["deviceId"], "phone-1");
    assert_eq!(reply["ended"]["by"]["type"], "iOS");
    let at = reply["ended"]["at"].as_u64().expect("at");
    assert!(at > 0 && at <= unix_millis());
    // Refused again, the same way: a revocation is not forgotten at once.
    let again = refused(&gw, &resume_frame("alice", "pc-1", "PC", &session)).await;
    assert_eq!(again["ended"], reply["ended"]);
}

#[tokio::test]
async fn the_apps_token_with_the_owners_device_id_does_not_replace_it_silently() {
    let gw = TestGateway::start().await;
    let (mut owner, first) = gw.login("alice", "pc-1", "PC").await;
    // Someone else with the account's token copies the owner's deviceId.
    let (mut _other, ok) = gw.login("alice", "pc-1", "PC").await;
    assert_eq!(ok["repeatLogin"], false, "a new sign-in, not a reconnect");
    assert_ne!(ok["sessionToken"], first["sessionToken"]);
    // The owner is told (a kick with who), not closed with 4001.
    let kicked = owner.frame_of("kicked").await;
    assert_eq!(kicked["reason"], "loginElsewhere", "{kicked}");
    assert_eq!(kicked["by"]["deviceId"], "pc-1");
    assert_eq!(owner.closed().await, Some(4901));
    let reply = refused(
        &gw,
        &resume_frame("alice", "pc-1", "PC", &session_of(&first)),
    )
    .await;
    assert_eq!(reply["code"], 420, "the owner's session ended: {reply}");
    assert_eq!(reply["ended"]["reason"], "signedInAgain");
    assert_eq!(reply["ended"]["by"]["ip"], "127.0.0.1", "from where");
    // The new sign-in's own session works.
    drop(_other);
    gw.resume("alice", "pc-1", "PC", &ok["sessionToken"]).await;

    // With the fresh-session guard, a new sign-in may not take over at all.
    gw.set_policy(json!({"mode": "perType", "freshSessionGuardSecs": 60}))
        .await;
    let (mut owner, _) = gw.login("bob", "pc-1", "PC").await;
    let reply = refused(&gw, &login_frame("bob", "pc-1", "PC", &token("bob"))).await;
    assert_eq!(reply["code"], 403);
    owner.silent_for(Duration::from_millis(300)).await;

    // A guard of 0 seconds guards nothing: the takeover goes ahead, told.
    gw.set_policy(json!({"mode": "perType", "freshSessionGuardSecs": 0}))
        .await;
    let (mut owner, _) = gw.login("carol", "pc-1", "PC").await;
    let (_other, _) = gw.login("carol", "pc-1", "PC").await;
    let kicked = owner.frame_of("kicked").await;
    assert_eq!(kicked["reason"], "loginElsewhere", "{kicked}");
}

#[tokio::test]
async fn a_sign_in_over_an_offline_devices_session_is_announced() {
    let gw = TestGateway::start().await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    let (pc, first) = gw.login("alice", "pc-1", "PC").await;
    phone.frame_of("newDevice").await;
    drop(pc);
    list_until(&mut phone, |p| p.contains(&("pc-1".into(), false))).await;
    // Someone with the app's token reuses the offline laptop's deviceId.
    let (_intruder, ok) = gw.login("alice", "pc-1", "PC").await;
    let alert = phone.frame_of("newDevice").await;
    assert_eq!(alert["device"]["deviceId"], "pc-1", "not a silent swap");
    let reply = refused(
        &gw,
        &resume_frame("alice", "pc-1", "PC", &session_of(&first)),
    )
    .await;
    assert_eq!(reply["ended"]["reason"], "signedInAgain");
    assert_ne!(ok["sessionToken"], first["sessionToken"]);
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let gw = TestGateway::start().await;
    let (mut pc, ok) = gw.login("alice", "pc-1", "PC").await;
    pc.send(&json!({"type": "logout", "id": 2})).await;
    assert_eq!(pc.frame().await, json!({"type": "ok", "id": 2}));
    assert_eq!(pc.closed().await, Some(1000));
    let reply = refused(&gw, &resume_frame("alice", "pc-1", "PC", &session_of(&ok))).await;
    assert_eq!(reply["code"], 420);
    assert_eq!(reply["ended"]["reason"], "loggedOut");
    assert!(
        gw.gw
            .registry()
            .devices(APP, "alice")
            .await
            .devices
            .is_empty()
    );
}

#[tokio::test]
async fn a_token_the_gateway_never_issued_is_unknown_not_revoked() {
    let gw = TestGateway::start().await;
    let reply = refused(
        &gw,
        &resume_frame(
            "alice",
            "pc-1",
            "PC",
            "vst1.not-a-session-this-gateway-issued",
        ),
    )
    .await;
    assert_eq!(reply["code"], 421);
    assert_eq!(reply.get("ended"), None);
    // Another device's session token does not fit this device either.
    let (_pc, ok) = gw.login("alice", "pc-1", "PC").await;
    let reply = refused(&gw, &resume_frame("alice", "pc-2", "PC", &session_of(&ok))).await;
    assert_eq!(reply["code"], 421);
}

#[tokio::test]
async fn a_new_sign_in_alerts_the_other_devices_and_a_reconnect_does_not() {
    let gw = TestGateway::start().await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    let (pc, ok) = gw.login("alice", "pc-1", "PC").await;
    let alert = phone.frame_of("newDevice").await;
    assert_eq!(alert["device"]["deviceId"], "pc-1");
    assert_eq!(alert["device"]["type"], "PC");
    assert_eq!(alert["device"]["ip"], "127.0.0.1");
    assert_eq!(alert["device"]["online"], true);
    drop(pc);
    list_until(&mut phone, |p| p.contains(&("pc-1".into(), false))).await;
    // The laptop comes back with its session: lists change, no alert.
    let (_pc, again) = gw.resume("alice", "pc-1", "PC", &ok["sessionToken"]).await;
    assert_eq!(again.get("sessionToken"), None);
    loop {
        let frame = phone.frame().await;
        assert_ne!(
            frame["type"], "newDevice",
            "a reconnect is not a new sign-in"
        );
        if frame["type"] == "devices" && presence(&frame).contains(&("pc-1".into(), true)) {
            break;
        }
    }
    phone.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn devices_can_be_named_and_every_list_shows_the_name() {
    let gw = TestGateway::start().await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    let (mut pc, _) = gw.login("alice", "pc-1", "PC").await;
    phone
        .send(
            &json!({"type": "renameDevice", "id": 4, "deviceId": "pc-1", "name": "  Work laptop "}),
        )
        .await;
    assert_eq!(phone.frame_of("ok").await, json!({"type": "ok", "id": 4}));
    let list = list_until(&mut pc, |_| true).await;
    assert_eq!(entry(&list, "pc-1")["name"], "Work laptop", "trimmed");
    // Itself, too.
    pc.send(&json!({"type": "renameDevice", "id": 5, "deviceId": "pc-1", "name": "Desk"}))
        .await;
    assert_eq!(pc.frame_of("ok").await["id"], 5);
    // A bad name or an unknown device is an error, and nothing changes.
    for (id, device, name) in [(6, "pc-1", "\u{7}"), (7, "pc-1", ""), (8, "nope", "X")] {
        phone
            .send(&json!({"type": "renameDevice", "id": id, "deviceId": device, "name": name}))
            .await;
        let error = phone.frame_of("error").await;
        assert_eq!(error["id"], id);
        assert_eq!(error["code"], 414, "a bad request: {error}");
    }
    let list = gw.gw.registry().devices(APP, "alice").await;
    let names: Vec<_> = list.devices.iter().map(|d| d.name.clone()).collect();
    assert_eq!(names, [None, Some("Desk".to_owned())]);
}

/// A static token (no expiry): only idleness and sign-outs end its sessions.
fn static_token(account: &str) -> String {
    vestibule_protocol::token::mint_static(SECRET, APP, account)
        .expect("mint")
        .expose()
        .to_owned()
}

/// Signs in with a static token.
async fn sign_in_static(gw: &TestGateway, device_id: &str, device_type: &str) -> (Client, Value) {
    let mut client = Client::connect(&gw.url()).await;
    let ok = client
        .login_with(&login_frame(
            "alice",
            device_id,
            device_type,
            &static_token("alice"),
        ))
        .await;
    assert_eq!(ok["type"], "loginOk", "{ok}");
    (client, ok)
}

#[tokio::test]
async fn an_unused_session_ends_after_the_apps_idle_days() {
    let skew = Skew::default();
    let gw = TestGateway::start_with(|c| c.clock = skew.clock()).await;
    let (pc, ok) = sign_in_static(&gw, "pc-1", "PC").await;
    drop(pc);
    let session = session_of(&ok);
    // 29 days later it is still signed in and comes back.
    skew.advance(29 * DAY_MS);
    assert!(
        vestibule_testkit::eventually(Duration::from_secs(5), || gw.gw.open_connections() == 0)
            .await
    );
    assert_eq!(gw.gw.sweep_sessions().await, 0);
    let (pc, _) = gw
        .resume("alice", "pc-1", "PC", &Value::from(session.clone()))
        .await;
    pc.close().await;
    // Its last activity was day 29: 30 more days without use end it.
    let (mut phone, _) = sign_in_static(&gw, "phone-1", "iOS").await;
    skew.advance(30 * DAY_MS + 1000);
    assert_eq!(gw.gw.sweep_sessions().await, 1);
    list_until(&mut phone, |p| p == [("phone-1".to_owned(), true)]).await;
    let reply = refused(&gw, &resume_frame("alice", "pc-1", "PC", &session)).await;
    assert_eq!(reply["code"], 420);
    assert_eq!(reply["ended"]["reason"], "idle");

    // sessionIdleDays 0: never.
    gw.set_policy(json!({"mode": "perType", "sessionIdleDays": 0}))
        .await;
    let (pc, ok) = sign_in_static(&gw, "pc-2", "PC").await;
    drop(pc);
    skew.advance(400 * DAY_MS);
    assert_eq!(gw.gw.sweep_sessions().await, 0);
    gw.resume("alice", "pc-2", "PC", &ok["sessionToken"]).await;
}

#[tokio::test]
async fn an_offline_session_ends_when_its_token_expires_unless_the_token_is_static() {
    let skew = Skew::default();
    let gw = TestGateway::start_with(|c| c.clock = skew.clock()).await;
    let short = vestibule_testkit::token_for("alice", Duration::from_secs(120));
    let mut pc = Client::connect(&gw.url()).await;
    let ok = pc
        .login_with(&login_frame("alice", "pc-1", "PC", &short))
        .await;
    assert_eq!(ok["type"], "loginOk");
    drop(pc);
    let (tablet, tablet_ok) = sign_in_static(&gw, "tab-1", "Android").await;
    assert_eq!(tablet_ok.get("tokenExpiresAt"), None);
    drop(tablet);
    assert!(
        vestibule_testkit::eventually(Duration::from_secs(5), || gw.gw.open_connections() == 0)
            .await
    );
    assert_eq!(gw.gw.sweep_sessions().await, 0, "not yet");
    skew.advance(121_000);
    assert_eq!(gw.gw.sweep_sessions().await, 1, "only the pc's");
    let reply = refused(&gw, &resume_frame("alice", "pc-1", "PC", &session_of(&ok))).await;
    assert_eq!(reply["ended"]["reason"], "tokenExpired");
    gw.resume("alice", "tab-1", "Android", &tablet_ok["sessionToken"])
        .await;
}

async fn start_on(dir: &std::path::Path) -> TestGateway {
    let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.storage = Storage::Dir(dir.to_owned());
    config.admin_key = Some(ADMIN_KEY.into());
    config.demo_secret = Some(SECRET.into());
    TestGateway {
        gw: Gateway::start(config).await.expect("start"),
    }
}

#[tokio::test]
async fn a_restarted_gateway_keeps_every_session_and_its_revocations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start_on(dir.path()).await;
    let (pc, pc_ok) = gw.login("alice", "pc-1", "PC").await;
    let (mut phone, phone_ok) = gw.login("alice", "phone-1", "iOS").await;
    pc.close().await;
    phone
        .send(&json!({"type": "renameDevice", "id": 2, "deviceId": "pc-1", "name": "Laptop"}))
        .await;
    assert_eq!(phone.frame_of("ok").await["id"], 2);
    drop(phone);
    let (tab, tab_ok) = gw.login("alice", "tab-1", "Web").await;
    drop(tab);
    let (mut other, _) = gw.login("alice", "pc-9", "Mac").await;
    other
        .send(&json!({"type": "kick", "id": 3, "deviceIds": ["tab-1"]}))
        .await;
    assert_eq!(
        other.frame_of("kickResult").await["kicked"],
        json!(["tab-1"])
    );
    drop(other);
    gw.gw.shutdown().await;

    let gw = start_on(dir.path()).await;
    let (_phone, back) = gw
        .resume("alice", "phone-1", "iOS", &phone_ok["sessionToken"])
        .await;
    assert_eq!(back.get("sessionToken"), None, "the same session, silently");
    let list = &back;
    assert_eq!(entry(list, "pc-1")["online"], false);
    assert_eq!(entry(list, "pc-1")["name"], "Laptop");
    gw.resume("alice", "pc-1", "PC", &pc_ok["sessionToken"])
        .await;
    let reply = refused(
        &gw,
        &resume_frame("alice", "tab-1", "Web", &session_of(&tab_ok)),
    )
    .await;
    assert_eq!(reply["ended"]["reason"], "byDevice");
    assert_eq!(reply["ended"]["by"]["deviceId"], "pc-9");
    gw.gw.shutdown().await;
}

#[tokio::test]
async fn an_in_memory_gateway_forgets_sessions_and_says_they_are_unknown() {
    let gw = TestGateway::start().await;
    let (_pc, ok) = gw.login("alice", "pc-1", "PC").await;
    gw.gw.shutdown().await;
    let gw = TestGateway::start().await;
    let reply = refused(&gw, &resume_frame("alice", "pc-1", "PC", &session_of(&ok))).await;
    assert_eq!(
        reply["code"], 421,
        "unknown, so the client may use the app's token"
    );
}

/// The schema of a data directory written before device sessions existed.
const SCHEMA_BEFORE_SESSIONS: &str = "
CREATE TABLE apps (app_key TEXT PRIMARY KEY, name TEXT NOT NULL, secret TEXT NOT NULL,
    policy TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE account_flags (app_key TEXT NOT NULL, account TEXT NOT NULL,
    banned INTEGER NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_key, account));
CREATE TABLE last_login (app_key TEXT NOT NULL, account TEXT NOT NULL,
    device_id TEXT NOT NULL, PRIMARY KEY (app_key, account));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

#[tokio::test]
async fn a_data_directory_from_before_sessions_upgrades_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = rusqlite::Connection::open(dir.path().join("gateway.sqlite3")).expect("open");
        db.execute_batch(SCHEMA_BEFORE_SESSIONS)
            .expect("old schema");
        db.execute(
            "INSERT INTO apps VALUES ('demo', 'Demo', ?1, ?2, 1700000000000)",
            rusqlite::params![
                SECRET,
                r#"{"mode":"perType","maxWebInstances":1,"onConflict":"kickOld"}"#
            ],
        )
        .expect("app");
        db.execute(
            "INSERT INTO account_flags VALUES ('demo', 'mallory', 1, 0)",
            [],
        )
        .expect("flags");
        db.execute(
            "INSERT INTO last_login VALUES ('demo', 'alice', 'old-laptop')",
            [],
        )
        .expect("last login");
    }
    let gw = start_on(dir.path()).await;
    let app = gw.gw.store().app(APP).expect("the old app is there");
    assert_eq!(
        app.policy.session_idle_days, 30,
        "the default for old policies"
    );
    assert!(gw.gw.store().flags(APP, "mallory").banned);
    let (pc, ok) = gw.login("alice", "pc-1", "PC").await;
    assert_eq!(ok["lastLoginDeviceId"], "old-laptop");
    drop(pc);
    gw.gw.shutdown().await;
    // And the sessions written by the upgraded store last.
    let gw = start_on(dir.path()).await;
    gw.resume("alice", "pc-1", "PC", &ok["sessionToken"]).await;
    gw.gw.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_device_closed_for_silence_was_last_active_when_it_went() {
    let _clock = hold_clock();
    let skew = Skew::default();
    let gw = TestGateway::start_with(|c| c.clock = skew.clock()).await;
    let (mut pc, ok) = gw.login("alice", "pc-1", "PC").await;
    let signed_in = ok["serverTime"].as_u64().expect("serverTime");
    // A minute of wall-clock time passes (less than the periodic update),
    // then the client falls silent and the gateway closes it.
    skew.advance(60_000);
    advance(Duration::from_secs(45)).await;
    assert_eq!(pc.closed().await, Some(4408));
    assert!(
        vestibule_testkit::eventually(Duration::from_secs(5), || gw.gw.registry().local_sessions()
            == 0)
        .await
    );
    let session = gw
        .gw
        .store()
        .session(APP, "alice", "pc-1")
        .await
        .expect("store")
        .expect("still signed in, offline");
    assert!(
        session.last_active_at >= signed_in + 60_000,
        "last active when the connection ended, not at sign-in: {} vs {signed_in}",
        session.last_active_at
    );
}
