//! The desktop shell around the UI, on the real app under Xvfb over
//! WebDriver: `vestibule://login` links (at start, and handed over by a
//! second launch to the running app), start at login, and what closing the
//! window does. Each test has its own HOME and XDG directories.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::json;
use vestibule_e2e::ui::{WAIT, find, invoke};
use vestibule_e2e::{AppHome, Driver, SessionBus, alive, bin};

const LINK: &str = "vestibule://login?server=ws://127.0.0.1:1/ws&appKey=k1&account=bob";

fn needs_display() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the desktop shell tests need a display: run them under xvfb-run (scripts/test.sh does)"
    );
}

/// Waits until the field `css` holds `want`.
async fn wait_value(client: &Client, css: &str, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = match client.find(Locator::Css(css)).await {
            Ok(field) => field.prop("value").await.ok().flatten().unwrap_or_default(),
            Err(_) => String::new(),
        };
        if value == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never held {want:?}; it holds {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn form_shows_the_link(client: &Client) {
    wait_value(client, "#login-url", "ws://127.0.0.1:1/ws").await;
    wait_value(client, "#login-appkey", "k1").await;
    wait_value(client, "#login-account", "bob").await;
}

/// The pid of the app process running `exe` with this HOME (the one WebDriver started).
async fn app_pid(exe: &Path, home: &AppHome) -> u32 {
    let want = format!("HOME={}", home.home_dir().display());
    let deadline = Instant::now() + WAIT;
    loop {
        let pids: Vec<u32> = vestibule_e2e::pids_running(exe)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()))
                    .unwrap_or(false)
            })
            .collect();
        if let [pid] = pids[..] {
            return pid;
        }
        assert!(Instant::now() < deadline, "app processes: {pids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks the app's window to close as a window manager does (WM_DELETE_WINDOW).
fn close_window(pid: u32) {
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("close-window.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(helper)
        .arg(pid.to_string())
        .arg("Vestibule")
        .output()
        .expect("python3 close-window.py");
    assert!(
        out.status.success(),
        "close-window.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_at_start_fills_the_login_form() {
    needs_display();
    let home = AppHome::new("shell-link-start");
    let driver = Driver::start(&home).await;
    let client = driver.session_with_args(&bin("vestibule"), &[LINK]).await;
    find(&client, "[data-testid=login-form]").await;
    form_shows_the_link(&client).await;
    // The token field stays empty: a link never carries one.
    wait_value(&client, "#login-token", "").await;
    // The page may listen for the tray's Settings… event, and emit nothing.
    let listen = invoke(
        &client,
        "plugin:event|listen",
        json!({"event": "vestibule://open-settings", "target": {"kind": "Any"}, "handler": 4242}),
    )
    .await;
    assert!(listen.is_ok(), "listen is granted: {listen:?}");
    let emit = invoke(
        &client,
        "plugin:event|emit",
        json!({"event": "vestibule://open-settings", "payload": null}),
    )
    .await;
    assert!(
        emit.as_ref()
            .is_err_and(|e| e.to_string().contains("not allowed")),
        "emit is refused: {emit:?}"
    );
    client.close().await.expect("end the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_launch_hands_its_link_to_the_running_app() {
    needs_display();
    let home = AppHome::new("shell-single-instance");
    // The single-instance guard is a D-Bus name: both launches share this bus.
    let bus = SessionBus::start(&home.dir).await;
    let driver = Driver::start_with_env(&home, &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    wait_value(&client, "#login-account", "").await;
    let first = app_pid(&bin("vestibule"), &home).await;

    let started = Instant::now();
    let second = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(bin("vestibule"))
            .arg(LINK)
            .envs(home.env())
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the second launch exits")
    .expect("run the second launch");
    assert!(
        second.status.success(),
        "the second launch exits 0: {:?} {}",
        second.status,
        String::from_utf8_lossy(&second.stderr)
    );
    println!(
        "second launch handed over and exited in {} ms",
        started.elapsed().as_millis()
    );
    form_shows_the_link(&client).await;
    assert!(alive(first), "the first app still runs");
    assert_eq!(
        app_pid(&bin("vestibule"), &home).await,
        first,
        "one app process"
    );
    client.close().await.expect("end the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_writes_and_removes_the_desktop_entry() {
    needs_display();
    let home = AppHome::new("shell-autostart");
    let driver = Driver::start(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    let entry = home.home_dir().join(".config/autostart/Vestibule.desktop");
    assert_eq!(
        invoke(&client, "autostart", json!({})).await,
        Ok(json!(false))
    );
    assert!(!entry.exists());

    let on = invoke(&client, "set_autostart", json!({ "enabled": true })).await;
    assert_eq!(on, Ok(json!(true)));
    let text = std::fs::read_to_string(&entry)
        .unwrap_or_else(|e| panic!("{} not written: {e}", entry.display()));
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .unwrap_or_else(|| panic!("no Exec= line: {text}"));
    assert_eq!(
        exec,
        format!("{} --hidden", bin("vestibule").display()),
        "{text}"
    );
    assert_eq!(
        invoke(&client, "autostart", json!({})).await,
        Ok(json!(true))
    );

    let off = invoke(&client, "set_autostart", json!({ "enabled": false })).await;
    assert_eq!(off, Ok(json!(false)));
    assert!(!entry.exists(), "{} still there", entry.display());
    assert_eq!(
        invoke(&client, "autostart", json!({})).await,
        Ok(json!(false))
    );
    client.close().await.expect("end the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_hides_to_the_tray() {
    needs_display();
    let home = AppHome::new("shell-close-tray");
    let driver = Driver::start(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    let settings = invoke(
        &client,
        "update_settings",
        json!({ "update": { "closeAction": "tray" } }),
    )
    .await
    .expect("update_settings");
    assert_eq!(settings["closeAction"], "tray", "{settings}");
    let pid = app_pid(&bin("vestibule"), &home).await;

    close_window(pid);
    // The close went through the app's handler: the first-time notice is marked shown.
    let settings_file = home.config_dir().join("settings.json");
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&settings_file)
        .unwrap_or_default()
        .contains("\"closeNoticeShown\": true")
    {
        assert!(alive(pid), "the app quit instead of hiding in the tray");
        assert!(
            Instant::now() < deadline,
            "the close never reached the app: {}",
            std::fs::read_to_string(&settings_file).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(alive(pid), "the app keeps running in the tray");
    // Still serving its page (hidden, not destroyed).
    let about = invoke(&client, "about", json!({})).await.expect("about");
    assert!(about["version"].is_string());
    client.close().await.expect("end the session");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_quits_when_told_to() {
    needs_display();
    let home = AppHome::new("shell-close-quit");
    let driver = Driver::start(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    let settings = invoke(
        &client,
        "update_settings",
        json!({ "update": { "closeAction": "quit" } }),
    )
    .await
    .expect("update_settings");
    assert_eq!(settings["closeAction"], "quit", "{settings}");
    let pid = app_pid(&bin("vestibule"), &home).await;

    close_window(pid);
    let deadline = Instant::now() + WAIT;
    while alive(pid) {
        assert!(Instant::now() < deadline, "the app did not quit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(client);
    drop(driver);
}
