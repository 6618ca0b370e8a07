//! The desktop core against real gateways on 127.0.0.1, without Tauri.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use vestibule_app::secrets::{MemoryVault, TokenVault, VaultError};
use vestibule_app::settings::{Language, SettingsUpdate};
use vestibule_app::view::{ErrorCode, LoginRequest, SessionView};
use vestibule_app::{AppCore, CoreConfig, DemoMode, NoticeKind};
use vestibule_client::{DeviceType, DisconnectReason, KickReason, Status, Timing};
use vestibule_gateway::{Gateway, GatewayConfig};
use vestibule_testkit::{ADMIN_KEY, SECRET, eventually, token};

fn config(dir: &Path, vault: Arc<dyn TokenVault>, demo: DemoMode) -> CoreConfig {
    CoreConfig {
        config_dir: dir.join("config"),
        export_dir: dir.join("exports"),
        demo,
        vault,
        device_type: DeviceType::Pc,
        os: "Test OS".into(),
        timing: Timing::default(),
        os_locale: Some("en_US.UTF-8".into()),
    }
}

/// A core on `dir` with `vault`, no demo.
async fn start_with(dir: &Path, vault: Arc<MemoryVault>) -> AppCore {
    AppCore::start(config(dir, vault, DemoMode::Never))
        .await
        .expect("start")
}

/// A core on `dir` with an in-memory keychain.
async fn start(dir: &Path, demo: DemoMode) -> AppCore {
    AppCore::start(config(dir, Arc::new(MemoryVault::new()), demo))
        .await
        .expect("start")
}

async fn gateway() -> Gateway {
    let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.demo_secret = Some(SECRET.into());
    config.admin_key = Some(ADMIN_KEY.into());
    Gateway::start(config).await.expect("gateway")
}

fn request(gw: &Gateway, account: &str, remember: bool) -> LoginRequest {
    LoginRequest {
        url: gw.ws_url(),
        app_key: "demo".into(),
        account: account.into(),
        token: token(account),
        remember,
        proxy: None,
    }
}

/// Waits until the view satisfies `check`.
async fn view_until(
    core: &AppCore,
    what: &str,
    check: impl Fn(&SessionView) -> bool,
) -> SessionView {
    let view = core.view();
    let ok = eventually(Duration::from_secs(15), || check(&view.borrow())).await;
    let last = view.borrow().clone();
    assert!(ok, "timed out waiting for {what}: {last:#?}");
    last
}

/// Waits until account `id` is connected; returns the view.
async fn until_connected(core: &AppCore, id: &str, what: &str) -> SessionView {
    view_until(core, what, |v| status_of(v, id) == Some(Status::Connected)).await
}

fn status_of(view: &SessionView, id: &str) -> Option<Status> {
    view.accounts
        .iter()
        .find(|a| a.id == id)
        .map(|a| a.session.status)
}

/// Every file under `dir`, read as text.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_logs_in_adds_a_device_and_can_sign_me_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = start(dir.path(), DemoMode::Auto).await;
    let demo = view_until(&core, "the demo gateway", |v| v.demo.is_some())
        .await
        .demo
        .expect("demo");
    assert!(demo.url.starts_with("ws://127.0.0.1:"));
    assert_eq!(
        core.view().borrow().defaults.url,
        demo.url,
        "the login form is prefilled with the demo"
    );

    let id = core.login_demo("alice").await.expect("demo login");
    let view = until_connected(&core, &id, "connected").await;
    assert_eq!(view.active.as_deref(), Some(id.as_str()));
    let account = view.accounts.iter().find(|a| a.id == id).expect("account");
    assert!(account.demo);
    assert_eq!(account.session.devices.len(), 1);

    let phone = core
        .demo_add_device(&id, DeviceType::Ios)
        .await
        .expect("add device");
    let view = view_until(&core, "two devices", |v| {
        v.accounts[0].session.devices.len() == 2
    })
    .await;
    assert_eq!(view.accounts[0].demo_devices, std::slice::from_ref(&phone));

    // Kick it from the app.
    let result = core.kick(&id, vec![phone.clone()]).await.expect("kick");
    assert_eq!(result.kicked, [phone]);
    view_until(&core, "one device", |v| {
        v.accounts[0].session.devices.len() == 1
    })
    .await;

    // Now another device signs this app out.
    let mut notices = core.notices();
    core.demo_kick_me(&id).await.expect("kick me");
    // The status comes from the client's state, the timeline from its events:
    // wait for both.
    let view = view_until(&core, "signed out, with the reason in the timeline", |v| {
        status_of(v, &id) == Some(Status::SignedOut)
            && core
                .timeline_of(&id)
                .unwrap_or_default()
                .iter()
                .any(|e| e.text.contains("signed out by"))
    })
    .await;
    let last = view.accounts[0]
        .session
        .last_disconnect
        .clone()
        .expect("reason");
    assert_eq!(
        last.reason,
        DisconnectReason::Kicked {
            reason: KickReason::ByDevice
        }
    );
    let by = last.by.expect("by");
    assert!(by.device_id.starts_with("demo-"), "{by:?}");
    // (the demo device that kicks signs in first: a "New sign-in" notice)
    let notice = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let notice = notices.recv().await.expect("notice");
            if notice.title != "New sign-in" {
                return notice;
            }
        }
    })
    .await
    .expect("notice");
    assert_eq!(notice.title, "You were signed out");
    assert!(notice.body.contains(&by.device_id));
    let timeline = core.timeline_of(&id).expect("timeline");
    assert!(
        timeline.iter().any(|e| e.text.contains("signed out by")),
        "{timeline:?}"
    );
    // The UI says the timeline in the person's language: each entry carries
    // its facts, not only the English line.
    use vestibule_app::view::{TimelineEvent, TimelineKind};
    let kicked = timeline
        .iter()
        .find_map(|e| match &e.event {
            TimelineEvent::Disconnected { info } => Some((e, info)),
            _ => None,
        })
        .expect("a Disconnected entry");
    assert_eq!(kicked.0.kind, TimelineKind::Disconnected);
    assert!(
        matches!(kicked.1.reason, DisconnectReason::Kicked { .. }),
        "{kicked:?}"
    );
    assert_eq!(kicked.0.code, kicked.1.code);
    assert!(
        timeline.iter().any(|e| matches!(
            &e.event,
            TimelineEvent::Connected { connection_id, .. } if !connection_id.is_empty()
        ) && e.kind == TimelineKind::Connected),
        "{timeline:?}"
    );

    // Demo accounts are never saved: their gateway lives only as long as the app.
    assert!(!all_text(&dir.path().join("config")).contains("alice"));
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_accounts_come_back_after_a_restart_and_no_token_touches_disk() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault: Arc<MemoryVault> = Arc::new(MemoryVault::new());
    let core = AppCore::start(config(dir.path(), vault.clone(), DemoMode::Never))
        .await
        .expect("start");
    assert!(core.view().borrow().demo.is_none());
    let req = request(&gw, "alice", true);
    let secret = req.token.clone();
    let id = core.login(req).await.expect("login");
    until_connected(&core, &id, "connected").await;
    // The keychain holds the device session's token, never the app's token.
    assert!(
        eventually(Duration::from_secs(5), || vault
            .get(&id)
            .ok()
            .flatten()
            .is_some())
        .await
    );
    let kept = vault.get(&id).expect("vault").expect("kept");
    assert!(kept.expose().starts_with("vst1."), "a session token");
    assert_ne!(kept.expose(), secret);
    let accounts_file = dir.path().join("config/accounts.json");
    assert!(
        eventually(Duration::from_secs(5), || accounts_file.exists()).await,
        "saved once connected"
    );
    let saved = std::fs::read_to_string(dir.path().join("config/accounts.json")).expect("saved");
    assert!(saved.contains("\"account\": \"alice\""), "{saved}");
    assert!(saved.contains("\"remember\": true"));
    core.shutdown().await;
    assert!(
        !all_text(dir.path()).contains(&secret) && !all_text(dir.path()).contains(kept.expose()),
        "no token anywhere but the vault"
    );
    // Quitting with Remember me keeps the device signed in, offline.
    let list = gw.registry().devices("demo", "alice").await;
    assert_eq!(list.devices.len(), 1);
    assert!(!list.devices[0].online);

    // A new start logs alice in by itself with the same deviceId and session.
    let again = AppCore::start(config(dir.path(), vault.clone(), DemoMode::Auto))
        .await
        .expect("restart");
    let view = until_connected(&again, &id, "auto login").await;
    assert!(view.demo.is_none(), "a configured server: no demo");
    assert_eq!(view.defaults.account, "alice");
    let login = view.accounts[0].session.login.clone().expect("login info");
    assert!(
        !login.new_session,
        "the remembered session, not a new sign-in"
    );
    let devices = gw.registry().devices("demo", "alice").await;
    assert_eq!(devices.devices.len(), 1);
    assert_eq!(devices.devices[0].device_id, view.install.device_id);
    assert!(devices.devices[0].online);

    // Logging out forgets the session but keeps the account for the form.
    again.logout(&id).await.expect("logout");
    assert_eq!(vault.get(&id).expect("vault"), None);
    let view = view_until(&again, "idle", |v| status_of(v, &id) == Some(Status::Idle)).await;
    assert!(!view.accounts[0].remembered);
    assert!(
        gw.registry()
            .devices("demo", "alice")
            .await
            .devices
            .is_empty(),
        "the gateway heard the logout: the session is over"
    );
    again.shutdown().await;
}

/// Another device of `account` on `gw`, connected.
async fn other_device(gw: &Gateway, account: &str, device_id: &str) -> vestibule_client::Client {
    let client = vestibule_client::Vestibule::new()
        .instance(
            vestibule_client::ClientOptions::builder(
                gw.ws_url(),
                "demo",
                account,
                token(account),
                device_id,
            )
            .device_type(DeviceType::Ios)
            .os("iOS 17.5")
            .auto_connect(false)
            .build()
            .expect("options"),
        )
        .expect("instance");
    client.connect();
    client.ready(Duration::from_secs(15)).await.expect("online");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_while_closed_opens_on_the_login_page_saying_who_with_nothing_kept() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault: Arc<MemoryVault> = Arc::new(MemoryVault::new());
    let core = start_with(dir.path(), vault.clone()).await;
    let id = core
        .login(request(&gw, "alice", true))
        .await
        .expect("login");
    until_connected(&core, &id, "connected").await;
    assert!(
        eventually(Duration::from_secs(5), || vault
            .get(&id)
            .ok()
            .flatten()
            .is_some())
        .await
    );
    let device_id = core.view().borrow().install.device_id.clone();
    core.shutdown().await;

    // While the app is closed, the phone signs this computer out.
    let phone = other_device(&gw, "alice", "phone-1").await;
    let result = phone.kick(vec![device_id.clone()]).await.expect("kick");
    assert_eq!(result.kicked, [device_id]);

    let again = start_with(dir.path(), vault.clone()).await;
    let view = view_until(&again, "signed out", |v| {
        status_of(v, &id) == Some(Status::SignedOut)
    })
    .await;
    assert_eq!(
        vault.get(&id).expect("vault"),
        None,
        "nothing left to sign back in with"
    );
    let last = view.accounts[0]
        .session
        .last_disconnect
        .clone()
        .expect("why");
    assert_eq!(last.code, Some(420));
    let ended = last.ended.clone().expect("who and when");
    assert_eq!(ended.reason, vestibule_client::EndReason::ByDevice);
    let by = last.by.expect("by");
    assert_eq!(
        (by.device_id.as_str(), by.os.as_str()),
        ("phone-1", "iOS 17.5")
    );
    assert!(!view.accounts[0].remembered);
    let saved = std::fs::read_to_string(dir.path().join("config/accounts.json")).expect("saved");
    assert!(saved.contains("\"remember\": false"), "{saved}");
    again.shutdown().await;
    // A third start does not try again.
    let third = start_with(dir.path(), vault.clone()).await;
    assert!(
        third.view().borrow().accounts.is_empty(),
        "nothing to restore"
    );
    third.shutdown().await;
    let _ = phone.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_while_running_forgets_the_keychain_entry_before_any_view_shows_it() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault: Arc<MemoryVault> = Arc::new(MemoryVault::new());
    let core = start_with(dir.path(), vault.clone()).await;
    let id = core
        .login(request(&gw, "alice", true))
        .await
        .expect("login");
    until_connected(&core, &id, "connected").await;
    assert!(
        eventually(Duration::from_secs(5), || vault
            .get(&id)
            .ok()
            .flatten()
            .is_some())
        .await
    );
    let device_id = core.view().borrow().install.device_id.clone();
    let mut views = core.view();
    let phone = other_device(&gw, "alice", "phone-1").await;
    phone.kick(vec![device_id]).await.expect("kick");
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            views.changed().await.expect("views");
            let signed_out = status_of(&views.borrow_and_update(), &id) == Some(Status::SignedOut);
            if signed_out {
                assert_eq!(
                    vault.get(&id).expect("vault"),
                    None,
                    "a view showed the login page while the session was still kept"
                );
                return;
            }
        }
    })
    .await
    .expect("signed out");
    core.shutdown().await;
    let _ = phone.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_token_kept_by_an_older_version_is_replaced_by_a_session() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault: Arc<MemoryVault> = Arc::new(MemoryVault::new());
    let saved = serde_json::json!({
        "version": 1,
        "accounts": [{
            "url": gw.ws_url(), "appKey": "demo", "account": "alice",
            "deviceId": "desk-1", "remember": true, "lastUsed": 1
        }]
    });
    std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
    std::fs::write(
        dir.path().join("config/accounts.json"),
        serde_json::to_vec(&saved).expect("json"),
    )
    .expect("write");
    let id = vestibule_app::accounts::account_id(&gw.ws_url(), "demo", "alice");
    let app_token = token("alice");
    vault
        .set(&id, &app_token.clone().into())
        .expect("old entry");
    let core = start_with(dir.path(), vault.clone()).await;
    until_connected(&core, &id, "connected").await;
    assert!(
        eventually(Duration::from_secs(5), || vault
            .get(&id)
            .ok()
            .flatten()
            .is_some_and(|t| t.expose().starts_with("vst1.")))
        .await,
        "the app's token is replaced by the session's"
    );
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sign_in_elsewhere_is_a_notice() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let core = start(dir.path(), DemoMode::Never).await;
    let id = core
        .login(request(&gw, "alice", false))
        .await
        .expect("login");
    until_connected(&core, &id, "connected").await;
    let mut notices = core.notices();
    let phone = other_device(&gw, "alice", "phone-1").await;
    let notice = tokio::time::timeout(Duration::from_secs(15), notices.recv())
        .await
        .expect("a notice")
        .expect("open");
    assert_eq!(notice.title, "New sign-in");
    assert_eq!(notice.account_id, id);
    assert!(
        notice
            .body
            .starts_with("alice signed in on iOS · iOS 17.5 · 127.0.0.1 — not you?"),
        "{}",
        notice.body
    );
    // Renamed, the name shows; an app that quits without Remember me logs out.
    core.rename_device(&id, "phone-1", "Ann's iPhone")
        .await
        .expect("rename");
    view_until(&core, "the name", |v| {
        v.accounts[0]
            .session
            .devices
            .iter()
            .any(|d| d.name.as_deref() == Some("Ann's iPhone"))
    })
    .await;
    core.shutdown().await;
    let device_id = core.view().borrow().install.device_id.clone();
    assert!(
        !gw.registry()
            .devices("demo", "alice")
            .await
            .devices
            .iter()
            .any(|d| d.device_id == device_id),
        "not remembered: the session ended with the app"
    );
    let _ = phone.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_speak_the_chosen_language_and_follow_the_notification_settings() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let core = start(dir.path(), DemoMode::Never).await;
    // Switched off: a new sign-in says nothing.
    core.update_settings(SettingsUpdate {
        notify_new_sign_in: Some(false),
        ..SettingsUpdate::default()
    })
    .expect("settings");
    let id = core
        .login(request(&gw, "alice", false))
        .await
        .expect("login");
    until_connected(&core, &id, "connected").await;
    let mut notices = core.notices();
    let tablet = other_device(&gw, "alice", "tablet-1").await;
    view_until(&core, "the tablet listed", |v| {
        v.accounts[0]
            .session
            .devices
            .iter()
            .any(|d| d.device_id == "tablet-1")
    })
    .await;
    // In Chinese, switched back on: the next one is a Chinese notice.
    let settings = core
        .update_settings(SettingsUpdate {
            language: Some(Language::ZhCn),
            notify_new_sign_in: Some(true),
            ..SettingsUpdate::default()
        })
        .expect("settings");
    assert_eq!(core.view().borrow().settings, settings, "the view has them");
    let phone = other_device(&gw, "alice", "phone-1").await;
    let notice = tokio::time::timeout(Duration::from_secs(15), notices.recv())
        .await
        .expect("a notice")
        .expect("open");
    assert_eq!(notice.kind, NoticeKind::NewSignIn);
    assert_eq!(notice.title, "新设备登录");
    assert!(
        notice.body.contains("phone") || notice.body.contains("iOS"),
        "{}",
        notice.body
    );
    assert!(notice.body.contains("不是你本人"), "{}", notice.body);
    assert!(
        notices.try_recv().is_err(),
        "the tablet's sign-in was not queued"
    );
    // Kept: a new start has the same settings.
    core.shutdown().await;
    let again = start(dir.path(), DemoMode::Never).await;
    assert_eq!(again.settings().language, Language::ZhCn);
    assert!(again.settings().notify_new_sign_in);
    again.shutdown().await;
    let _ = tablet.destroy().await;
    let _ = phone.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keychain_remember_me_is_off_and_says_why() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(MemoryVault::unavailable());
    let core = AppCore::start(config(dir.path(), vault, DemoMode::Never))
        .await
        .expect("start");
    let keychain = core.view().borrow().keychain.clone();
    assert!(!keychain.available);
    assert_eq!(
        keychain.reason,
        Some(VaultError::Unavailable.to_string()),
        "the UI says why"
    );
    assert!(
        keychain
            .reason
            .is_some_and(|r| r.contains("Secret Service"))
    );
    let id = core
        .login(request(&gw, "alice", true))
        .await
        .expect("login still works");
    let view = until_connected(&core, &id, "connected").await;
    assert!(!view.accounts[0].remembered);
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_switch_without_dropping_and_forget_removes_everything() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault: Arc<MemoryVault> = Arc::new(MemoryVault::new());
    let core = AppCore::start(config(dir.path(), vault.clone(), DemoMode::Never))
        .await
        .expect("start");
    let alice = core
        .login(request(&gw, "alice", true))
        .await
        .expect("alice");
    let bob = core.login(request(&gw, "bob", true)).await.expect("bob");
    let view = view_until(&core, "both connected", |v| {
        status_of(v, &alice) == Some(Status::Connected)
            && status_of(v, &bob) == Some(Status::Connected)
    })
    .await;
    assert_eq!(view.active.as_deref(), Some(bob.as_str()));
    core.switch_account(Some(&alice)).expect("switch");
    let view = core.view().borrow().clone();
    assert_eq!(view.active.as_deref(), Some(alice.as_str()));
    assert_eq!(
        status_of(&view, &bob),
        Some(Status::Connected),
        "bob stays connected"
    );
    core.switch_account(None).expect("add account");
    assert_eq!(core.view().borrow().active, None);
    assert_eq!(
        core.switch_account(Some("nobody")).map_err(|e| e.code),
        Err(ErrorCode::NotFound)
    );

    core.forget_account(&bob).await.expect("forget");
    let view = core.view().borrow().clone();
    assert!(view.accounts.iter().all(|a| a.id != bob));
    assert_eq!(vault.get(&bob).expect("vault"), None);
    let saved = std::fs::read_to_string(dir.path().join("config/accounts.json")).expect("saved");
    assert!(!saved.contains("\"bob\""));

    assert_eq!(gw.registry().devices("demo", "bob").await.devices.len(), 0);
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_kept_under_the_old_ambiguous_id_is_moved() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault: Arc<MemoryVault> = Arc::new(MemoryVault::new());
    // What an older version left: the account saved, its token under `account@appKey@url`.
    let account = "ann@example.com";
    let saved = serde_json::json!({
        "version": 1,
        "accounts": [{
            "url": gw.ws_url(), "appKey": "demo", "account": account,
            "deviceId": "desk-1", "remember": true, "lastUsed": 1
        }]
    });
    std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
    std::fs::write(
        dir.path().join("config/accounts.json"),
        serde_json::to_vec(&saved).expect("json"),
    )
    .expect("write");
    let legacy = format!("{account}@demo@{}", gw.ws_url());
    vault
        .set(&legacy, &token(account).into())
        .expect("old entry");
    let core = start_with(dir.path(), vault.clone()).await;
    let id = vestibule_app::accounts::account_id(&gw.ws_url(), "demo", account);
    assert_ne!(id, legacy, "the new id is not the ambiguous one");
    until_connected(&core, &id, "logged in with the moved token").await;
    assert!(
        vault.get(&id).expect("vault").is_some(),
        "moved to the new id"
    );
    assert_eq!(
        vault.get(&legacy).expect("vault"),
        None,
        "the old entry is gone"
    );
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_one_view_publish() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path(), Arc::new(MemoryVault::new()), DemoMode::Never);
    // A long backoff: nothing happens after the drop but the drop itself.
    cfg.timing.backoff.initial = Duration::from_secs(600);
    cfg.timing.backoff.max = Duration::from_secs(600);
    let core = AppCore::start(cfg).await.expect("start");
    let id = core
        .login(request(&gw, "alice", false))
        .await
        .expect("login");
    until_connected(&core, &id, "connected").await;
    // Let the login's own publishes settle.
    let settled = core.view_publishes();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(core.view_publishes(), settled, "nothing changes while idle");
    gw.abort();
    let view = view_until(&core, "reconnecting", |v| {
        status_of(v, &id) == Some(Status::Reconnecting)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // NotReady, NetState and WillReconnect arrive together: one view, not three.
    assert_eq!(core.view_publishes(), settled + 1);
    let account = view.accounts.iter().find(|a| a.id == id).expect("account");
    assert!(account.session.retry.is_some());
    assert!(
        core.timeline_of(&id)
            .expect("timeline")
            .iter()
            .any(|e| e.kind == vestibule_app::view::TimelineKind::Reconnect),
        "the timeline still records every event"
    );
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_lands_on_signed_out_with_302_and_bad_input_is_refused() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let core = start(dir.path(), DemoMode::Never).await;
    let mut req = request(&gw, "alice", false);
    req.token = "wrong".into();
    let id = core.login(req).await.expect("accepted for trying");
    let view = view_until(&core, "signed out", |v| {
        status_of(v, &id) == Some(Status::SignedOut)
    })
    .await;
    let last = view.accounts[0]
        .session
        .last_disconnect
        .clone()
        .expect("reason");
    assert_eq!(last.reason, DisconnectReason::Rejected { code: 302 });
    assert!(
        !std::path::Path::new(&dir.path().join("config/accounts.json")).exists()
            || !all_text(&dir.path().join("config")).contains("\"alice\""),
        "an account that never connected is not saved"
    );

    let mut empty = request(&gw, "alice", false);
    empty.account = "  ".into();
    let err = core.login(empty).await.expect_err("an empty account");
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::Required, Some("account"))
    );
    let mut http = request(&gw, "alice", false);
    http.url = "http://127.0.0.1:1".into();
    let err = core.login(http).await.expect_err("not a ws:// server");
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::InvalidInput, Some("server"))
    );
    let mut proxy = request(&gw, "alice", false);
    proxy.proxy = Some("ftp://proxy.example:21".into());
    let err = core.login(proxy).await.expect_err("not a proxy scheme");
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::InvalidInput, Some("proxy"))
    );
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_export_has_the_timeline_and_never_the_token() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let core = start(dir.path(), DemoMode::Never).await;
    let req = request(&gw, "alice", false);
    let secret = req.token.clone();
    let id = core.login(req).await.expect("login");
    view_until(&core, "the connected entry", |_| {
        core.timeline_of(&id)
            .unwrap_or_default()
            .iter()
            .any(|e| e.kind == vestibule_app::view::TimelineKind::Connected)
    })
    .await;
    let path = core.export_diagnostics(&id).expect("export");
    let text = std::fs::read_to_string(&path).expect("read export");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let timeline = json["account"]["timeline"].as_array().expect("timeline");
    assert!(
        timeline.iter().any(|e| e["kind"] == "connected"),
        "{timeline:?}"
    );
    assert!(!text.contains(&secret), "no token in the export");
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_device_approves_the_code_and_the_app_is_signed_in_and_remembered() {
    use vestibule_app::view::{PairingRequest, PairingState};
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(MemoryVault::new());
    let core = start_with(dir.path(), vault.clone()).await;
    let phone = other_device(&gw, "alice", "phone-1").await;

    core.start_pairing(PairingRequest {
        url: gw.ws_url(),
        app_key: "demo".into(),
        remember: true,
    })
    .await
    .expect("start pairing");
    let view = view_until(&core, "a code on screen", |v| {
        matches!(
            v.pairing.as_ref().map(|p| &p.state),
            Some(PairingState::Showing { .. })
        )
    })
    .await;
    let Some(PairingState::Showing {
        code, qr_svg, link, ..
    }) = view.pairing.map(|p| p.state)
    else {
        unreachable!()
    };
    assert!(
        qr_svg.starts_with("<?xml") || qr_svg.contains("<svg"),
        "an SVG QR code"
    );
    assert!(
        link.starts_with("vestibule://pair?server=ws%3A%2F%2F127.0.0.1"),
        "{link}"
    );
    assert!(
        link.ends_with(&format!("&appKey=demo&code={code}")),
        "{link}"
    );
    assert!(
        view.accounts.is_empty(),
        "nothing is known of any account yet"
    );

    // The phone sees this desktop asking, and approves.
    let who = phone.lookup_pair(&code).await.expect("lookup");
    assert_eq!(who.device.os, "Test OS");
    assert_eq!(who.client.name, "vestibule-desktop");
    phone.approve_pair(&code).await.expect("approve");
    let view = view_until(&core, "signed in as alice", |v| {
        v.pairing.is_none()
            && v.accounts
                .iter()
                .any(|a| a.account == "alice" && a.session.status == Status::Connected)
    })
    .await;
    let id = view.active.clone().expect("the paired account is shown");
    let account = view.accounts.iter().find(|a| a.id == id).expect("account");
    assert!(account.remembered);
    let kept = vault
        .get(&id)
        .expect("vault")
        .expect("a remembered session");
    assert!(
        kept.expose().starts_with("vst1."),
        "the session's token, never an app token"
    );
    assert!(
        !all_text(dir.path()).contains(kept.expose()),
        "the session token is in no file"
    );

    // A restart comes back signed in with it.
    core.shutdown().await;
    drop(core);
    let core = start_with(dir.path(), vault.clone()).await;
    until_connected(&core, &id, "back after a restart").await;
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_a_new_device_looks_up_and_approves_with_the_gateways_reasons() {
    use vestibule_client::pairing::{Pairing, PairingEvent, PairingOptions};
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let core = start(dir.path(), DemoMode::Never).await;
    let id = core
        .login(request(&gw, "alice", false))
        .await
        .expect("login");
    until_connected(&core, &id, "connected").await;

    let wrong = core
        .lookup_pair(&id, "ZZZZ-ZZZZ")
        .await
        .expect_err("wrong code");
    assert_eq!(wrong.code, ErrorCode::Rejected);
    assert_eq!(wrong.server_code, Some(423), "no such code");

    let device = vestibule_client::DeviceInfo {
        device_id: "tablet-1".into(),
        device_type: DeviceType::Android,
        os: "Android 14".into(),
        mac: None,
        custom_tag: None,
    };
    let program = vestibule_client::ClientInfo {
        name: "tablet-app".into(),
        version: "2.0".into(),
    };
    let mut tablet = Pairing::start(PairingOptions::new(gw.ws_url(), "demo", device, program));
    let Some(PairingEvent::Code { code, .. }) = tablet.next().await else {
        panic!("a code")
    };
    let who = core.lookup_pair(&id, &code).await.expect("lookup");
    assert_eq!(who.device_id, "tablet-1");
    assert_eq!(who.device_type, DeviceType::Android);
    assert_eq!(who.os, "Android 14");
    assert_eq!(who.ip, "127.0.0.1");
    assert_eq!(who.client, "tablet-app 2.0");
    core.approve_pair(&id, &code).await.expect("approve");
    assert!(matches!(
        tablet.next().await,
        Some(PairingEvent::Paired { .. })
    ));
    let again = core.approve_pair(&id, &code).await.expect_err("used");
    assert_eq!(again.server_code, Some(425), "already used");
    // The new device is in the account's list, marked new.
    view_until(&core, "the tablet listed", |v| {
        v.accounts.iter().any(|a| {
            a.session
                .devices
                .iter()
                .any(|d| d.device_id == "tablet-1" && !d.online)
        })
    })
    .await;
    core.shutdown().await;
}

/// What the desktop shows when the OS watcher reports the network gone: the
/// account says *No network* (reconnecting, network state disconnected, no
/// countdown) and the network's return reconnects it. (The gateway here is on
/// loopback, which `Vestibule::network_changed` leaves alone, so the test
/// tells the instance directly, as the watcher's fan-out does for a remote one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_shows_as_such_and_its_return_reconnects() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), Arc::new(MemoryVault::new()), DemoMode::Never);
    let core = AppCore::start(cfg).await.expect("start");
    let id = core
        .login(request(&gw, "alice", false))
        .await
        .expect("login");
    until_connected(&core, &id, "connected").await;
    let clients = core.registry().instances();
    assert_eq!(clients.len(), 1);
    clients[0].network_changed(false);
    let view = view_until(&core, "no network", |v| {
        v.accounts.iter().any(|a| {
            a.id == id
                && a.session.status == Status::Reconnecting
                && a.session.net_state == vestibule_client::NetState::Disconnected
        })
    })
    .await;
    let account = view.accounts.iter().find(|a| a.id == id).expect("account");
    assert_eq!(account.session.retry, None, "no countdown while offline");
    assert!(
        account.session.login.is_some(),
        "Home stays, with the banner"
    );
    clients[0].network_changed(true);
    until_connected(&core, &id, "connected again").await;
    core.shutdown().await;
}

/// The login page's *Advanced* proxy: the account goes through it, the
/// accounts file and the view keep it without its password (the keychain
/// has that), and a restart comes back through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_proxy_is_used_and_kept_with_its_password_only_in_the_keychain() {
    let gw = gateway().await;
    let tinyproxy = vestibule_testkit::proxies::tinyproxy(Some(("alice", "pr0xy-pw"))).await;
    let tunnels = || tinyproxy.log().matches("): CONNECT ").count();
    let dir = tempfile::tempdir().expect("tempdir");
    let vault: Arc<MemoryVault> = Arc::new(MemoryVault::new());
    let core = AppCore::start(config(dir.path(), vault.clone(), DemoMode::Never))
        .await
        .expect("start");
    let mut req = request(&gw, "alice", true);
    req.proxy = Some(format!(
        "http://alice:pr0xy-pw@127.0.0.1:{}",
        tinyproxy.port
    ));
    let id = core.login(req).await.expect("login");
    let view = until_connected(&core, &id, "connected").await;
    assert_eq!(tunnels(), 1, "{}", tinyproxy.log());
    let shown = view.accounts[0].proxy.clone().expect("a proxy");
    assert_eq!(shown, format!("http://alice@127.0.0.1:{}", tinyproxy.port));
    let accounts_file = dir.path().join("config/accounts.json");
    assert!(eventually(Duration::from_secs(5), || accounts_file.exists()).await);
    let saved = std::fs::read_to_string(&accounts_file).expect("saved");
    assert!(saved.contains(&shown), "{saved}");
    core.shutdown().await;
    assert!(
        !all_text(dir.path()).contains("pr0xy-pw"),
        "the proxy's password is in no file"
    );
    assert_eq!(
        vault
            .get(&format!("{id}#proxy"))
            .expect("vault")
            .map(|p| p.expose().to_owned())
            .as_deref(),
        Some("pr0xy-pw")
    );

    let again = AppCore::start(config(dir.path(), vault.clone(), DemoMode::Never))
        .await
        .expect("restart");
    until_connected(&again, &id, "connected after the restart").await;
    assert_eq!(tunnels(), 2, "back through the proxy: {}", tinyproxy.log());
    again.shutdown().await;
}
