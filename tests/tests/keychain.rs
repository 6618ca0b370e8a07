//! Remember me with a real Secret Service (GNOME Keyring in a private D-Bus
//! session): the token goes to the keychain, never to a file, and the next
//! start of the real app logs in by itself with the same deviceId.

use fantoccini::Locator;
use vestibule_e2e::ui::{find, log_in, shot, wait_text};
use vestibule_e2e::{AppHome, Driver, GatewayProc, bin, cli, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remember_me_keeps_the_token_in_the_keychain_and_logs_in_after_a_restart() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "run under xvfb-run (scripts/test.sh does)"
    );
    let gateway = GatewayProc::start().await;
    let home = AppHome::new("keychain");
    let secret = token("alice");

    {
        let driver = Driver::start_with_keyring(&home).await;
        let client = driver.session(&bin("vestibule")).await;
        let remember = find(&client, "[data-testid=remember-me]").await;
        assert!(
            remember.is_enabled().await.expect("enabled?"),
            "a keychain is running: remember-me is offered"
        );
        log_in(&client, &gateway.url, &secret, true).await;
        let _ = client.close().await;
    }

    let install =
        std::fs::read_to_string(home.config_dir().join("install.json")).expect("install.json");
    let device_id = serde_json::from_str::<serde_json::Value>(&install).expect("json")["deviceId"]
        .as_str()
        .expect("deviceId")
        .to_owned();
    let accounts =
        std::fs::read_to_string(home.config_dir().join("accounts.json")).expect("accounts.json");
    assert!(accounts.contains("\"remember\": true"), "{accounts}");
    assert!(
        !home.all_text().contains(&secret),
        "the token is in no file, keyring files included (they are encrypted)"
    );

    // Second start: no login form, straight to Home, same device.
    let driver = Driver::start_with_keyring(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=home-page]").await;
    wait_text(&client, "[data-testid=status-banner]", "Connected").await;
    let out = cli(
        &gateway,
        "alice",
        &[
            "devices",
            "--json",
            "--device-id",
            "checker",
            "--device-type",
            "Android",
        ],
    )
    .output()
    .await
    .expect("devices");
    let devices: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = devices
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["deviceId"].as_str())
        .collect();
    assert!(
        ids.contains(&device_id.as_str()),
        "the app is online again as {device_id}: {ids:?}"
    );

    // Logging out forgets the token: the next start asks again.
    find(&client, "[data-testid=logout]")
        .await
        .click()
        .await
        .expect("log out");
    find(&client, "[data-testid=login-page]").await;
    let _ = client.close().await;
    drop(driver);
    let driver = Driver::start_with_keyring(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    assert!(
        client
            .find(Locator::Css("[data-testid=home-page]"))
            .await
            .is_err()
    );

    // Remembered again, then signed out from another device while the app
    // is closed: the next start opens on the login page saying who and when,
    // and the keychain entry is gone (the start after that asks plainly).
    log_in(&client, &gateway.url, &secret, true).await;
    let _ = client.close().await;
    drop(driver);
    let out = cli(
        &gateway,
        "alice",
        &[
            "kick",
            "--device-id",
            "cli-kicker",
            "--device-type",
            "Android",
            &device_id,
        ],
    )
    .output()
    .await
    .expect("kick the closed app's device");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("signed out {device_id}"),
        "an offline device can be signed out"
    );
    let driver = Driver::start_with_keyring(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-page]").await;
    let reason = wait_text(&client, "[data-testid=signed-out-reason]", "Android").await;
    assert!(reason.contains("127.0.0.1"), "from where: {reason}");
    println!("shown after a sign-out while closed: {reason}");
    shot(&client, "keychain-signed-out-while-closed").await;
    assert!(
        client
            .find(Locator::Css("[data-testid=home-page]"))
            .await
            .is_err()
    );
    let _ = client.close().await;
    drop(driver);
    let driver = Driver::start_with_keyring(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=login-form]").await;
    assert!(
        client
            .find(Locator::Css("[data-testid=signed-out-reason]"))
            .await
            .is_err(),
        "the ended session's credential was forgotten: nothing is tried again"
    );
    let _ = client.close().await;
}
