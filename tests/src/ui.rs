//! Driving the real app's UI over WebDriver: find, type, wait for text, screenshots.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

/// How long any UI wait may take.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/desktop");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A screenshot of the whole (virtual) screen. WebKitWebDriver's own
/// screenshot command does not return with this app, so ImageMagick's
/// `import` reads the X display instead; the short pause lets a transition finish.
pub async fn shot(_client: &Client, name: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path = shots_dir().join(format!("{name}.png"));
    let status = tokio::process::Command::new("import")
        .args(["-window", "root"])
        .arg(&path)
        .status()
        .await;
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("screenshot {name} failed: {status:?}");
    }
}

pub async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} within {WAIT:?}: {e}"))
}

pub async fn fill(client: &Client, css: &str, value: &str) {
    let field = find(client, css).await;
    field
        .clear()
        .await
        .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    field
        .send_keys(value)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

pub async fn text_of(client: &Client, css: &str) -> String {
    find(client, css).await.text().await.unwrap_or_default()
}

/// Polls until `css` has text containing `needle`.
pub async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never contained {needle:?}; last text {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Logs in on the login page as alice of the demo app at `url`, with
/// remember me ticked or not, and waits until Home says Connected.
pub async fn log_in(client: &Client, url: &str, token: &str, remember: bool) {
    let box_ = find(client, "[data-testid=remember-me]").await;
    fill(client, "#login-url", url).await;
    fill(client, "#login-appkey", "demo").await;
    fill(client, "#login-account", "alice").await;
    fill(client, "#login-token", token).await;
    if box_.is_selected().await.expect("checked?") != remember {
        box_.click().await.expect("toggle remember me");
    }
    find(client, "[data-testid=login-submit]")
        .await
        .click()
        .await
        .expect("submit");
    find(client, "[data-testid=home-page]").await;
    wait_text(client, "[data-testid=status-banner]", "Connected").await;
}

/// Calls one of the app's commands from the page, as the UI does
/// (`window.__TAURI_INTERNALS__.invoke`): `Ok` with what it returned, `Err`
/// with what it threw.
pub async fn invoke(
    client: &Client,
    command: &str,
    args: serde_json::Value,
) -> Result<serde_json::Value, serde_json::Value> {
    let script = r#"
        const [command, args, done] = arguments;
        window.__TAURI_INTERNALS__.invoke(command, args).then(
            (ok) => done({ ok: ok === undefined ? null : ok }),
            (err) => done({ err: err === undefined ? null : err }),
        );
    "#;
    let out = client
        .execute_async(script, vec![serde_json::json!(command), args])
        .await
        .unwrap_or_else(|e| panic!("invoke {command}: {e}"));
    match out.get("ok") {
        Some(ok) => Ok(ok.clone()),
        None => Err(out.get("err").cloned().unwrap_or(out)),
    }
}

/// Starts one of the app's commands and does not wait for it (for one that
/// ends the process, like `install_update`).
pub async fn invoke_and_forget(client: &Client, command: &str, args: serde_json::Value) {
    let script = r#"
        const [command, args] = arguments;
        window.__TAURI_INTERNALS__.invoke(command, args).catch(() => {});
        return null;
    "#;
    client
        .execute(script, vec![serde_json::json!(command), args])
        .await
        .unwrap_or_else(|e| panic!("invoke {command}: {e}"));
}
