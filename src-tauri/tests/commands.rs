//! The shell's wiring on `tauri::test::mock_builder()`: the real commands,
//! invoked through Tauri's IPC layer, against the real core (no display).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tauri::Manager;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use vestibule_app::secrets::MemoryVault;
use vestibule_app::{AppCore, CoreConfig, DemoMode};
use vestibule_client::{DeviceType, Status, Timing};

struct Harness {
    _dir: tempfile::TempDir,
    _app: tauri::App<MockRuntime>,
    webview: tauri::WebviewWindow<MockRuntime>,
    core: AppCore,
}

fn harness(demo: DemoMode) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = CoreConfig {
        config_dir: dir.path().join("config"),
        export_dir: dir.path().join("exports"),
        demo,
        vault: Arc::new(MemoryVault::new()),
        device_type: DeviceType::Pc,
        os: "Test OS".into(),
        timing: Timing::default(),
        os_locale: None,
    };
    let core = tauri::async_runtime::block_on(AppCore::start(config)).expect("core starts");
    let paths = vestibule_desktop::Paths {
        config: dir.path().join("config"),
        logs: dir.path().join("logs"),
        exports: dir.path().join("exports"),
    };
    let app = vestibule_desktop::run_app(mock_builder(), core, paths, false, false)
        // The real config and capability file: a command the capability does not
        // grant is refused here just as in the app.
        .build(tauri::generate_context!(test = true))
        .expect("app builds");
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("webview");
    let core = app.state::<AppCore>().inner().clone();
    Harness {
        _dir: dir,
        _app: app,
        webview,
        core,
    }
}

fn invoke(h: &Harness, cmd: &str, body: Value) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().expect("url"),
        body: InvokeBody::Json(body),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(&h.webview, request).map(|b| b.deserialize::<Value>().expect("json body"))
}

fn wait_for(h: &Harness, what: &str, check: impl Fn(&vestibule_app::view::SessionView) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if check(&h.core.view().borrow()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:#?}",
            h.core.view().borrow()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn demo_login_devices_kick_and_sign_out_through_the_commands() {
    let h = harness(DemoMode::Always);
    let demo = invoke(&h, "start_demo", json!({})).expect("start_demo");
    assert!(
        demo["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("ws://127.0.0.1:"))
    );

    let id = invoke(&h, "login_demo", json!({"account": "alice"})).expect("login_demo");
    let id = id.as_str().expect("account id").to_owned();
    wait_for(&h, "connected", |v| {
        v.accounts
            .iter()
            .any(|a| a.id == id && a.session.status == Status::Connected)
    });

    let device = invoke(
        &h,
        "demo_add_device",
        json!({"accountId": id, "deviceType": "iOS"}),
    )
    .expect("add device");
    let device = device.as_str().expect("device id").to_owned();
    wait_for(&h, "two devices", |v| {
        v.accounts[0].session.devices.len() == 2
    });

    let result = invoke(&h, "kick", json!({"accountId": id, "deviceIds": [device]})).expect("kick");
    assert_eq!(result["kicked"], json!([device]));
    assert_eq!(result["notFound"], json!([]));
    wait_for(&h, "one device", |v| {
        v.accounts[0].session.devices.len() == 1
    });

    let others = invoke(&h, "kick_others", json!({"accountId": id})).expect("kick_others");
    assert_eq!(others["kicked"], json!([]));

    invoke(&h, "demo_kick_me", json!({"accountId": id})).expect("demo_kick_me");
    wait_for(&h, "signed out", |v| {
        v.accounts[0].session.status == Status::SignedOut
    });

    let path = invoke(&h, "export_diagnostics", json!({"accountId": id})).expect("export");
    assert!(std::path::Path::new(path.as_str().expect("path")).exists());

    invoke(&h, "switch_account", json!({"accountId": null})).expect("switch to none");
    assert_eq!(h.core.view().borrow().active, None);
    invoke(&h, "forget_account", json!({"accountId": id})).expect("forget");
    assert!(h.core.view().borrow().accounts.is_empty());
}

#[test]
fn errors_cross_as_code_and_message() {
    let h = harness(DemoMode::Never);
    let err = invoke(&h, "logout", json!({"accountId": "nobody"})).expect_err("no such account");
    assert_eq!(err["code"], "notFound");
    assert!(err["detail"].as_str().is_some_and(|m| m.contains("nobody")));

    let request = json!({"request": {"url": "", "appKey": "demo", "account": "alice", "token": "t", "remember": false}});
    let err = invoke(&h, "login", request).expect_err("empty server");
    assert_eq!(
        (&err["code"], &err["field"]),
        (&json!("required"), &json!("server"))
    );

    let err = invoke(
        &h,
        "demo_add_device",
        json!({"accountId": "x", "deviceType": "Toaster"}),
    )
    .expect_err("bad type");
    assert!(err.as_str().is_some_and(|m| m.contains("Toaster")), "{err}");

    // The capability grants the app's commands and nothing else.
    for refused in [
        "plugin:window|close",
        "plugin:webview|print",
        "plugin:event|emit",
        "plugin:notification|notify",
    ] {
        let err = invoke(&h, refused, json!({})).expect_err(refused);
        assert!(err.to_string().contains("not allowed"), "{refused}: {err}");
    }

    let err = invoke(&h, "no_such_command", json!({})).expect_err("unknown command");
    assert!(err.to_string().contains("no_such_command"), "{err}");
}

#[test]
fn settings_change_through_the_command_are_saved_and_in_the_view() {
    let h = harness(DemoMode::Never);
    let saved = invoke(
        &h,
        "update_settings",
        json!({"update": {"language": "zh-CN", "theme": "dark", "closeAction": "quit"}}),
    )
    .expect("update_settings");
    assert_eq!(saved["language"], "zh-CN");
    assert_eq!(saved["theme"], "dark");
    assert_eq!(saved["closeAction"], "quit");
    assert_eq!(saved["notifySignedOut"], true, "untouched fields stay");
    wait_for(&h, "the view has the settings", |v| {
        v.settings.language == vestibule_app::settings::Language::ZhCn
    });
    let file = std::fs::read_to_string(h._dir.path().join("config/settings.json")).expect("file");
    assert!(file.contains("zh-CN"), "{file}");
    let err = invoke(
        &h,
        "update_settings",
        json!({"update": {"theme": "purple"}}),
    )
    .expect_err("not a theme");
    assert!(err.to_string().contains("purple"), "{err}");

    let about = invoke(&h, "about", json!({})).expect("about");
    assert_eq!(about["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        about["logDir"]
            .as_str()
            .is_some_and(|d| d.ends_with("logs"))
    );
    let status = invoke(&h, "update_status", json!({})).expect("update_status");
    assert_eq!(status["kind"], "unchecked");
}

#[test]
fn subscribe_sends_the_current_view_then_every_change() {
    let h = harness(DemoMode::Never);
    let (tx, rx) = std::sync::mpsc::channel();
    let views = h.core.view();
    tauri::async_runtime::spawn(vestibule_desktop::commands::forward_views(
        views,
        move |view| tx.send(view).is_ok(),
    ));
    let first = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("current view first");
    assert!(first.accounts.is_empty());
    h.core.switch_account(None).expect("no-op switch");
    tauri::async_runtime::block_on(h.core.start_demo()).expect("demo");
    let next = rx.recv_timeout(Duration::from_secs(5)).expect("a change");
    assert!(next.demo.is_some(), "{next:?}");
}

/// The command names live in four places that Tauri cannot tie together:
/// build.rs (which generates the permissions), the capability file (which
/// grants them), the handler list in lib.rs, and the UI's backend.ts (which
/// calls them). They must name the same commands.
#[test]
fn every_place_that_names_the_commands_agrees() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("read {p}: {e}"));
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    let quoted = |text: &str, open: &str, close: char| -> Vec<String> {
        text.split(open)
            .skip(1)
            .filter_map(|rest| rest.split(close).next().map(str::to_owned))
            .collect()
    };
    let build = read("build.rs");
    let list = build
        .split("const COMMANDS")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("COMMANDS in build.rs");
    let in_build = sorted(quoted(list, "\"", '"').into_iter().step_by(2).collect());
    let capability: Value = serde_json::from_str(&read("capabilities/default.json")).expect("json");
    let granted = sorted(
        capability["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
            .map(|p| p.replace('-', "_"))
            .collect(),
    );
    let lib = read("src/lib.rs");
    let handled = sorted(
        lib.split("$crate::commands::")
            .skip(1)
            .filter_map(|rest| rest.split(',').next().map(|s| s.trim().to_owned()))
            .collect(),
    );
    let backend = read("../ui/src/lib/backend.ts");
    let called = sorted(
        quoted(&backend, "call<", ')')
            .iter()
            .filter_map(|args| args.split('\'').nth(1).map(str::to_owned))
            .collect(),
    );
    assert!(in_build.len() >= 14, "{in_build:?}");
    assert_eq!(granted, in_build, "capabilities/default.json vs build.rs");
    assert_eq!(handled, in_build, "lib.rs app_commands! vs build.rs");
    assert_eq!(called, in_build, "ui/src/lib/backend.ts vs build.rs");
}
