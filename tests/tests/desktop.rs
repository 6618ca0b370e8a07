//! The real desktop app, driven over WebDriver (tauri-driver + WebKitWebDriver)
//! under Xvfb, against a real gateway process and real `vestibule-cli`
//! processes. Run by `scripts/test.sh` inside `xvfb-run`.

use fantoccini::Locator;
use std::time::{Duration, Instant};

use vestibule_e2e::ui::{WAIT, fill, find, shot, text_of, wait_text};
use vestibule_e2e::{AppHome, Driver, GatewayProc, Proc, bin, cli, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_see_another_device_kick_it_then_get_kicked() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the desktop test needs a display: run it under xvfb-run (scripts/test.sh does)"
    );
    let gateway = GatewayProc::start().await;
    let home = AppHome::new("desktop");
    let driver = Driver::start(&home).await;
    let launched = Instant::now();
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    println!(
        "launch to login page: {} ms",
        launched.elapsed().as_millis()
    );
    shot(&client, "01-login").await;

    // Log in as alice against the real gateway process.
    let alice_token = token("alice");
    fill(&client, "#login-url", &gateway.url).await;
    fill(&client, "#login-appkey", "demo").await;
    fill(&client, "#login-account", "alice").await;
    fill(&client, "#login-token", &alice_token).await;
    find(&client, "[data-testid=login-submit]")
        .await
        .click()
        .await
        .expect("submit");
    find(&client, "[data-testid=home-page]").await;
    wait_text(&client, "[data-testid=status-banner]", "Connected").await;
    shot(&client, "02-home-connected").await;

    // Another device of alice, from the CLI, appears in the list.
    let mut phone = Proc::spawn(cli(
        &gateway,
        "alice",
        &[
            "login",
            "--json",
            "--device-id",
            "phone-e2e",
            "--device-type",
            "iOS",
        ],
    ));
    phone
        .line_where(WAIT, |l| l.contains("\"type\":\"ready\""))
        .await;
    let row = find(
        &client,
        "[data-testid=device-row][data-device-id=phone-e2e]",
    )
    .await;
    let row_text = row.text().await.unwrap_or_default();
    assert!(
        row_text.contains("iPhone") && row_text.contains("127.0.0.1"),
        "{row_text}"
    );
    shot(&client, "03-home-two-devices").await;

    // Kick it from the app, through the confirmation.
    find(&client, "[data-testid=kick-phone-e2e]")
        .await
        .click()
        .await
        .expect("kick button");
    find(&client, "[data-testid=confirm-dialog]").await;
    shot(&client, "04-kick-confirm").await;
    find(&client, "[data-testid=confirm-ok]")
        .await
        .click()
        .await
        .expect("confirm");
    let kicked = phone
        .line_where(WAIT, |l| l.contains("\"type\":\"disconnected\""))
        .await;
    assert!(kicked.contains("\"byDevice\""), "{kicked}");
    assert_eq!(phone.exit_code(WAIT).await, 4, "the kicked CLI exits 4");
    let deadline = Instant::now() + WAIT;
    while client
        .find(Locator::Css(
            "[data-testid=device-row][data-device-id=phone-e2e]",
        ))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the kicked device stayed in the list"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A CLI device that stays signed in and then dies (no logout) is listed
    // offline; the app signs it out, and its session token no longer works.
    let mut left = Proc::spawn(cli(
        &gateway,
        "alice",
        &[
            "login",
            "--json",
            "--print-session-token",
            "--stay-signed-in",
            "--device-id",
            "cli-left",
            "--device-type",
            "iOS",
        ],
    ));
    let line = left
        .line_where(WAIT, |l| l.contains("\"type\":\"sessionToken\""))
        .await;
    let line: serde_json::Value = serde_json::from_str(&line).expect("sessionToken line");
    let left_session = line["sessionToken"]
        .as_str()
        .expect("sessionToken")
        .to_owned();
    find(
        &client,
        "[data-testid=device-row][data-device-id=cli-left][data-online=true]",
    )
    .await;
    left.kill().await;
    let offline = find(
        &client,
        "[data-testid=devices-offline] [data-testid=device-row][data-device-id=cli-left][data-online=false]",
    )
    .await;
    let offline_text = offline.text().await.unwrap_or_default();
    assert!(
        offline_text.contains("iPhone") && offline_text.to_lowercase().contains("active"),
        "an offline device says when it was last active: {offline_text}"
    );
    shot(&client, "04b-home-offline-device").await;
    find(&client, "[data-testid=kick-cli-left]")
        .await
        .click()
        .await
        .expect("sign out the offline device");
    find(&client, "[data-testid=confirm-ok]")
        .await
        .click()
        .await
        .expect("confirm");
    let deadline = Instant::now() + WAIT;
    while client
        .find(Locator::Css(
            "[data-testid=device-row][data-device-id=cli-left]",
        ))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the signed-out offline device stayed in the list"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let back = cli(
        &gateway,
        "alice",
        &[
            "login",
            "--json",
            "--device-id",
            "cli-left",
            "--device-type",
            "iOS",
        ],
    )
    .env_remove("VESTIBULE_TOKEN")
    .env("VESTIBULE_SESSION_TOKEN", &left_session)
    .output()
    .await
    .expect("come back with the session token");
    let said = String::from_utf8_lossy(&back.stdout);
    assert_eq!(
        back.status.code(),
        Some(3),
        "a signed-out session is refused: {said}"
    );
    assert!(
        said.contains("420") && said.contains("byDevice"),
        "it says who ended it: {said}"
    );

    // Now a CLI device kicks the app: it lands on the login page with the reason.
    let install =
        std::fs::read_to_string(home.config_dir().join("install.json")).expect("install.json");
    let install: serde_json::Value = serde_json::from_str(&install).expect("json");
    let app_device = install["deviceId"].as_str().expect("deviceId").to_owned();
    let out = cli(
        &gateway,
        "alice",
        &[
            "kick",
            "--device-id",
            "cli-kicker",
            "--device-type",
            "Android",
            &app_device,
        ],
    )
    .output()
    .await
    .expect("kick the app");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("signed out {app_device}")
    );
    find(&client, "[data-testid=login-page]").await;
    // Who did it: the kicking device's type, OS and IP, and when.
    let reason = wait_text(&client, "[data-testid=signed-out-reason]", "Android").await;
    assert!(
        reason.contains("Debian") || reason.contains("Linux"),
        "its OS is shown: {reason}"
    );
    assert!(reason.contains("127.0.0.1"), "its IP is shown: {reason}");
    assert!(reason.contains("4903"), "the code is shown: {reason}");
    shot(&client, "05-login-signed-out").await;
    let title = text_of(&client, "[data-testid=signed-out-title]").await;
    assert!(!title.is_empty());

    // Log in again; a sign-in with the app's token that copies this app's
    // deviceId takes over, and the app is told who did it (never silent).
    fill(&client, "#login-token", &alice_token).await;
    find(&client, "[data-testid=login-submit]")
        .await
        .click()
        .await
        .expect("submit again");
    find(&client, "[data-testid=home-page]").await;
    wait_text(&client, "[data-testid=status-banner]", "Connected").await;
    let mut copycat = Proc::spawn(cli(
        &gateway,
        "alice",
        &[
            "login",
            "--json",
            "--device-id",
            &app_device,
            "--device-type",
            "PC",
        ],
    ));
    copycat
        .line_where(WAIT, |l| l.contains("\"type\":\"ready\""))
        .await;
    find(&client, "[data-testid=login-page]").await;
    let reason = wait_text(&client, "[data-testid=signed-out-reason]", "127.0.0.1").await;
    assert!(
        reason.contains("this device's id") && reason.contains("took over"),
        "the takeover is explained as one: {reason}"
    );
    shot(&client, "05b-login-taken-over").await;
    copycat.kill().await;

    // Log in again from the prefilled form, then log out.
    fill(&client, "#login-token", &alice_token).await;
    find(&client, "[data-testid=login-submit]")
        .await
        .click()
        .await
        .expect("submit again");
    find(&client, "[data-testid=home-page]").await;
    wait_text(&client, "[data-testid=status-banner]", "Connected").await;
    find(&client, "[data-testid=logout]")
        .await
        .click()
        .await
        .expect("log out");
    find(&client, "[data-testid=login-page]").await;
    shot(&client, "06-login-after-logout").await;

    client.close().await.expect("end the session");
    drop(driver);
    // Nothing the app wrote (config, logs) holds the token.
    let written = home.all_text();
    assert!(
        written.contains(&app_device),
        "the app wrote its files under the test HOME"
    );
    assert!(
        !written.contains(&alice_token),
        "a token leaked into the app's files"
    );
}
