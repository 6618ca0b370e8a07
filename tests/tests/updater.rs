//! Signed updates, end to end: the real app under Xvfb over WebDriver, a
//! feed served here on loopback, made by `scripts/release.sh` with a key pair
//! generated for the run (`tauri signer generate`), and a real newer build
//! (`target/debug/vestibule-next`, the `e2e-newer-version` feature: the next
//! minor version; `scripts/test.sh` builds it).
//!
//! The app runs from a copy in a temp directory, so the update replaces that
//! copy: a binary the bundler did not patch installs like an AppImage, the
//! file rewritten in place (see `scripts/release.sh`).
//!
//! The commands are called as the UI calls them
//! (`window.__TAURI_INTERNALS__.invoke`); what the person reads is checked
//! on the Settings page (a refused signature, a feed out of reach).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vestibule_e2e::ui::{WAIT, find, invoke, invoke_and_forget, wait_text};
use vestibule_e2e::{AppHome, Driver, alive, bin, free_port, pids_running};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn needs_display() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the updater test needs a display: run it under xvfb-run (scripts/test.sh does)"
    );
}

/// The version in tauri.conf.json, and the next minor one (what the newer build reports).
fn versions() -> (String, String) {
    let conf = std::fs::read_to_string(repo().join("src-tauri/tauri.conf.json"))
        .expect("src-tauri/tauri.conf.json");
    let conf: Value = serde_json::from_str(&conf).expect("tauri.conf.json");
    let current = conf["version"].as_str().expect("version").to_owned();
    let parts: Vec<u64> = current
        .split('.')
        .map(|p| p.parse().expect("numeric version"))
        .collect();
    (current, format!("{}.{}.0", parts[0], parts[1] + 1))
}

/// The newer build, or a panic that says how to make it.
fn newer_build() -> PathBuf {
    let path = std::env::var_os("VESTIBULE_NEXT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin("vestibule").with_file_name("vestibule-next"));
    assert!(
        path.is_file(),
        "no newer build at {}: build it first (scripts/test.sh does: \
         cargo build -p vestibule-desktop --features e2e-newer-version && \
         strip -o target/debug/vestibule-next target/debug/vestibule && \
         cargo build -p vestibule-desktop), or set VESTIBULE_NEXT_BIN",
        path.display()
    );
    path
}

/// A minisign key pair without a password, made by the Tauri CLI.
struct Keys {
    private: PathBuf,
    /// The public key as tauri.conf.json's `pubkey` holds it.
    public: String,
}

fn keypair(dir: &Path, name: &str) -> Keys {
    let private = dir.join(name);
    let out = std::process::Command::new("npx")
        .arg("--prefix")
        .arg(repo().join("ui"))
        .args(["tauri", "signer", "generate", "--ci", "-w"])
        .arg(&private)
        .output()
        .expect("npx tauri signer generate (npm ci in ui/ first)");
    assert!(
        out.status.success(),
        "tauri signer generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(format!("{}.pub", private.display())).expect("public key");
    Keys {
        private,
        public: public.trim().to_owned(),
    }
}

/// Runs scripts/release.sh on `binary` and returns the latest.json it wrote in `out`.
fn release(binary: &Path, version: &str, keys: &Keys, url_base: &str, out: &Path) -> Value {
    let started = Instant::now();
    let done = std::process::Command::new(repo().join("scripts/release.sh"))
        .arg("--binary")
        .arg(binary)
        .args(["--version", version, "--notes", "Faster reconnects."])
        .args(["--url-base", url_base])
        .arg("--out")
        .arg(out)
        .env("TAURI_SIGNING_PRIVATE_KEY_PATH", &keys.private)
        .env_remove("TAURI_SIGNING_PRIVATE_KEY")
        .env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", "")
        .output()
        .expect("scripts/release.sh");
    assert!(
        done.status.success(),
        "release.sh failed: {}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    println!("release.sh: {} ms", started.elapsed().as_millis());
    let feed = std::fs::read_to_string(out.join("latest.json")).expect("latest.json");
    serde_json::from_str(&feed).expect("latest.json is JSON")
}

/// A static file server on 127.0.0.1 (GET only), recording each path asked for.
struct Feed {
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Feed {
    async fn bind() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        (listener, port)
    }

    fn serve(listener: TcpListener, dir: PathBuf) -> Self {
        let port = listener.local_addr().expect("addr").port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let dir = dir.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    seen.lock().expect("lock").push(path.clone());
                    let name = path.trim_start_matches('/');
                    let file = (!name.contains('/') && !name.starts_with('.'))
                        .then(|| std::fs::read(dir.join(name)).ok())
                        .flatten();
                    let (status, body) = match file {
                        Some(body) => ("200 OK", body),
                        None => ("404 Not Found", b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { port, asked, task }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("lock").clone()
    }
}

/// Stops every process running the file at this path when dropped: the
/// restarted app runs outside the WebDriver session, even when a test fails.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for pid in pids_running(&self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

/// A copy of the app in a directory of its own, which an update may replace.
fn install_copy(home: &AppHome) -> PathBuf {
    let dir = home.dir.join("app");
    std::fs::create_dir_all(&dir).expect("mkdir app");
    let path = dir.join("vestibule");
    std::fs::copy(bin("vestibule"), &path).expect("copy the app");
    path
}

/// Polls `update_status` until its kind is `kind`.
async fn wait_status(client: &fantoccini::Client, kind: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = invoke(client, "update_status", json!({}))
            .await
            .expect("update_status");
        if status["kind"] == kind {
            return status;
        }
        assert!(Instant::now() < deadline, "status never {kind}: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).ok() == std::fs::read(b).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_newer_build_is_installed_and_started() {
    needs_display();
    let (current, next) = versions();
    let newer = newer_build();
    let home = AppHome::new("updater-install");
    let keys = keypair(&home.dir, "release.key");
    let (listener, port) = Feed::bind().await;
    let feed_dir = home.dir.join("feed");
    let latest = release(
        &newer,
        &next,
        &keys,
        &format!("http://127.0.0.1:{port}"),
        &feed_dir,
    );
    assert_eq!(latest["version"], next.as_str());
    assert!(latest["platforms"]["linux-x86_64"]["signature"].is_string());
    let feed = Feed::serve(listener, feed_dir);
    let app = install_copy(&home);
    let _stop = StopOnDrop(app.clone());

    let feed_url = format!("http://127.0.0.1:{}/latest.json", feed.port);
    let driver = Driver::start_with_env(
        &home,
        &[
            ("VESTIBULE_UPDATE_FEED", &feed_url),
            ("VESTIBULE_UPDATE_PUBKEY", &keys.public),
        ],
    )
    .await;
    let client = driver.session(&app).await;
    find(&client, "[data-testid=login-form]").await;
    let about = invoke(&client, "about", json!({})).await.expect("about");
    assert_eq!(about["version"], current.as_str());
    let old_pids = pids_running(&app);
    assert_eq!(old_pids.len(), 1, "one app process runs the copy");

    let found = invoke(&client, "check_for_updates", json!({}))
        .await
        .expect("check_for_updates");
    assert_eq!(found["kind"], "available", "{found}");
    assert_eq!(found["version"], next.as_str());
    assert_eq!(found["notes"], "Faster reconnects.");

    let started = Instant::now();
    invoke_and_forget(&client, "install_update", json!({})).await;
    // The new version starts from the same path and says so in the log.
    let want = format!("starting version={next}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !home.log_text().contains(&want) {
        assert!(
            Instant::now() < deadline,
            "the new version never started; log:\n{}",
            home.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "install to new version started: {} ms",
        started.elapsed().as_millis()
    );
    let log = home.log_text();
    assert!(
        log.contains(&format!("update installed; restarting version={next}")),
        "{log}"
    );
    assert!(
        same_file(&app, &newer),
        "the copy was replaced by the newer build"
    );
    // The old process is gone and the new one stays up (it did not hand its
    // arguments to the old one and exit).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!old_pids.iter().any(|p| alive(*p)), "the old version quit");
    let new_pids = pids_running(&app);
    assert_eq!(new_pids.len(), 1, "the new version runs: {new_pids:?}");
    assert!(alive(new_pids[0]));
    assert!(
        feed.asked()
            .iter()
            .any(|p| p.starts_with(&format!("/vestibule_{next}"))),
        "{:?}",
        feed.asked()
    );
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_and_nothing_is_installed() {
    needs_display();
    let (current, next) = versions();
    let newer = newer_build();
    let home = AppHome::new("updater-bad-signature");
    let keys = keypair(&home.dir, "release.key");
    let intruder = keypair(&home.dir, "intruder.key");
    let (listener, port) = Feed::bind().await;
    let feed_dir = home.dir.join("feed");
    // A newer build signed with another key than the app trusts.
    release(
        &newer,
        &next,
        &intruder,
        &format!("http://127.0.0.1:{port}"),
        &feed_dir,
    );
    let feed = Feed::serve(listener, feed_dir.clone());
    let app = install_copy(&home);

    let feed_url = format!("http://127.0.0.1:{}/latest.json", feed.port);
    let driver = Driver::start_with_env(
        &home,
        &[
            ("VESTIBULE_UPDATE_FEED", &feed_url),
            ("VESTIBULE_UPDATE_PUBKEY", &keys.public),
        ],
    )
    .await;
    let client = driver.session(&app).await;
    find(&client, "[data-testid=login-form]").await;

    let found = invoke(&client, "check_for_updates", json!({}))
        .await
        .expect("check_for_updates");
    assert_eq!(found["kind"], "available", "{found}");
    let refused = invoke(&client, "install_update", json!({})).await;
    assert!(refused.is_err(), "install must fail: {refused:?}");
    let status = wait_status(&client, "badSignature").await;
    assert_eq!(status["version"], next.as_str());
    // The person reads it on the Settings page.
    find(&client, "[data-testid=open-settings]")
        .await
        .click()
        .await
        .expect("open settings");
    wait_text(
        &client,
        "[data-testid=settings-update-status]",
        "its signature is not Vestibule's",
    )
    .await;
    assert!(
        feed.asked()
            .iter()
            .any(|p| p.starts_with(&format!("/vestibule_{next}"))),
        "the download happened (the refusal is the signature's): {:?}",
        feed.asked()
    );
    assert!(same_file(&app, &bin("vestibule")), "nothing was installed");
    // Still the same version, still running.
    let about = invoke(&client, "about", json!({})).await.expect("about");
    assert_eq!(about["version"], current.as_str());
    assert!(
        home.log_text().contains("bad_signature=true"),
        "{}",
        home.log_text()
    );

    // A signature from the right key, but for another version than the feed
    // announces (an old signed build offered as a new one): refused too.
    let keys_feed = home.dir.join("feed-version");
    let mut latest = release(
        &newer,
        &next,
        &keys,
        &format!("http://127.0.0.1:{port}"),
        &keys_feed,
    );
    latest["version"] = json!("9.0.0");
    std::fs::write(feed_dir.join("latest.json"), latest.to_string()).expect("write feed");
    for entry in std::fs::read_dir(&keys_feed)
        .expect("feed-version")
        .flatten()
    {
        if entry.file_name() != "latest.json" {
            std::fs::copy(entry.path(), feed_dir.join(entry.file_name())).expect("copy");
        }
    }
    let found = invoke(&client, "check_for_updates", json!({}))
        .await
        .expect("check_for_updates");
    assert_eq!(found["version"], "9.0.0", "{found}");
    assert!(invoke(&client, "install_update", json!({})).await.is_err());
    let status = wait_status(&client, "badSignature").await;
    assert_eq!(status["version"], "9.0.0");
    assert!(same_file(&app, &bin("vestibule")), "nothing was installed");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_feed_is_could_not_check_quietly() {
    needs_display();
    let home = AppHome::new("updater-no-feed");
    // A port nothing listens on.
    let feed_url = format!("http://127.0.0.1:{}/latest.json", free_port());
    let driver = Driver::start_with_env(&home, &[("VESTIBULE_UPDATE_FEED", &feed_url)]).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    // From the Settings page, as a person would.
    find(&client, "[data-testid=open-settings]")
        .await
        .click()
        .await
        .expect("open settings");
    find(&client, "[data-testid=settings-check-updates]")
        .await
        .click()
        .await
        .expect("check now");
    wait_text(
        &client,
        "[data-testid=settings-update-status]",
        "Could not check for updates",
    )
    .await;
    find(&client, "[data-testid=settings-back]")
        .await
        .click()
        .await
        .expect("back");
    let status = invoke(&client, "check_for_updates", json!({}))
        .await
        .expect("a failed check is a status, not an error");
    assert_eq!(status["kind"], "couldNotCheck", "{status}");
    let status = invoke(&client, "update_status", json!({}))
        .await
        .expect("update_status");
    assert_eq!(status["kind"], "couldNotCheck");
    // Nothing to install, and the app carries on where it was.
    let install = invoke(&client, "install_update", json!({})).await;
    assert_eq!(install.expect_err("nothing to install")["code"], "notFound");
    find(&client, "[data-testid=login-form]").await;
    // Quietly: the app's own line about it is info, not a warning or an
    // error (the updater plugin logs its own ERROR line; that is not ours).
    let log = home.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("vestibule_desktop") && l.contains("update"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("INFO") && l.contains("could not check for updates")),
        "{log}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("WARN") || l.contains("ERROR")),
        "{lines:#?}"
    );
    drop(driver);
}
