//! *Sign in with another device* in the real app, over WebDriver under Xvfb:
//! the QR code on screen (decoded from a screenshot) carries the code the page
//! shows as text, a code left to expire is replaced, `vestibule-cli approve`
//! signs the app in, the approver's device hears of the new sign-in, and a
//! restart with *Remember me* is still signed in.

use std::time::{Duration, Instant};

use vestibule_e2e::ui::{WAIT, fill, find, shot, shots_dir, text_of, wait_text};
use vestibule_e2e::{AppHome, Driver, GatewayProc, Proc, bin, cli};

/// The texts of every QR code in a screenshot.
fn qr_codes_in(png: &std::path::Path) -> Vec<String> {
    let image = image::open(png)
        .unwrap_or_else(|e| panic!("read {}: {e}", png.display()))
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

/// The code on screen once it differs from `not`.
async fn code_other_than(client: &fantoccini::Client, not: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let code = text_of(client, "[data-testid=pair-code]").await;
        if !code.is_empty() && code != not {
            return code;
        }
        assert!(
            Instant::now() < deadline,
            "the code {not:?} was never replaced"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_device_signs_the_app_in_with_the_code_it_shows() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "run under xvfb-run (scripts/test.sh does)"
    );
    // Codes live 12 s here, so the app renews one within the test (at 6 s).
    let gateway = GatewayProc::start_with(&["--memory", "--pair-code-ttl", "12"]).await;
    let home = AppHome::new("pairing");
    let mut phone = Proc::spawn(cli(
        &gateway,
        "alice",
        &[
            "login",
            "--json",
            "--device-id",
            "phone-1",
            "--device-type",
            "iOS",
        ],
    ));
    phone
        .line_where(WAIT, |l| l.contains("\"type\":\"ready\""))
        .await;

    {
        let driver = Driver::start_with_keyring(&home).await;
        let client = driver.session(&bin("vestibule")).await;
        find(&client, "[data-testid=login-form]").await;
        fill(&client, "#login-url", &gateway.url).await;
        fill(&client, "#login-appkey", "demo").await;
        let remember = find(&client, "[data-testid=remember-me]").await;
        if !remember.is_selected().await.expect("checked?") {
            remember.click().await.expect("tick remember me");
        }
        find(&client, "[data-testid=pair-start]")
            .await
            .click()
            .await
            .expect("sign in with another device");
        find(&client, "[data-testid=pairing]").await;
        wait_text(&client, "[data-testid=pair-waiting]", "Waiting").await;
        let first = code_other_than(&client, "").await;
        assert_eq!(first.len(), 9, "ABCD-EFGH: {first}");

        // Left alone, the code is replaced before it expires.
        let code = code_other_than(&client, &first).await;
        shot(&client, "pairing-code").await;
        // The QR code on screen carries the same code (and where to use it).
        let links = qr_codes_in(&shots_dir().join("pairing-code.png"));
        assert!(
            links.iter().any(|l| l.starts_with("vestibule://pair?")
                && l.contains("appKey=demo")
                && l.ends_with(&format!("code={code}"))),
            "the QR code says {links:?}, the page {code}"
        );

        // The phone's owner approves it from a terminal.
        let out = cli(
            &gateway,
            "alice",
            &[
                "approve",
                "--yes",
                "--device-id",
                "cli-approver",
                "--device-type",
                "Android",
                &code,
            ],
        )
        .output()
        .await
        .expect("approve");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("is signed in to alice"), "{said}");

        // The app lands on Home as alice, connected; the phone hears of it.
        find(&client, "[data-testid=home-page]").await;
        wait_text(&client, "[data-testid=status-banner]", "Connected").await;
        shot(&client, "pairing-home").await;
        let install =
            std::fs::read_to_string(home.config_dir().join("install.json")).expect("install.json");
        let install: serde_json::Value = serde_json::from_str(&install).expect("json");
        let app_device = install["deviceId"].as_str().expect("deviceId").to_owned();
        // (The approving helper's own sign-in is announced too; wait for the app's.)
        let alert = phone
            .line_where(WAIT, |l| {
                l.contains("\"type\":\"newDevice\"") && l.contains(&app_device)
            })
            .await;
        assert!(
            alert.contains("\"online\":false"),
            "listed, not yet online: {alert}"
        );
        let _ = client.close().await;
    }

    // Remembered: the next start is signed in without asking.
    let driver = Driver::start_with_keyring(&home).await;
    let client = driver.session(&bin("vestibule")).await;
    find(&client, "[data-testid=home-page]").await;
    wait_text(&client, "[data-testid=status-banner]", "Connected").await;

    // Now the app approves a terminal's code (Link a new device); its list
    // marks the new device New.
    let mut terminal = {
        let mut command = tokio::process::Command::new(bin("vestibule-cli"));
        command
            .args(["pair", "--json", "--url", &gateway.url, "--app-key", "demo"])
            .args(["--device-id", "terminal-1", "--device-type", "Mac"]);
        Proc::spawn(command)
    };
    let shown = terminal
        .line_where(WAIT, |l| l.contains("\"type\":\"pairCode\""))
        .await;
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("json");
    let code = shown["code"].as_str().expect("code").to_owned();
    find(&client, "[data-testid=link-device]")
        .await
        .click()
        .await
        .expect("link a new device");
    find(&client, "[data-testid=link-dialog]").await;
    fill(&client, "[data-testid=link-code-input]", "ZZZZ-ZZZZ").await;
    find(&client, "[data-testid=link-lookup]")
        .await
        .click()
        .await
        .expect("look up a wrong code");
    wait_text(&client, "[data-testid=link-error]", "no such code").await;
    fill(
        &client,
        "[data-testid=link-code-input]",
        &code.to_lowercase(),
    )
    .await;
    find(&client, "[data-testid=link-lookup]")
        .await
        .click()
        .await
        .expect("look up");
    let who = wait_text(&client, "[data-testid=link-requester]", "127.0.0.1").await;
    assert!(who.contains("Mac"), "Is this you? {who}");
    shot(&client, "pairing-link-dialog").await;
    find(&client, "[data-testid=link-approve]")
        .await
        .click()
        .await
        .expect("approve");
    find(&client, "[data-testid=link-done]").await;
    let paired = terminal
        .line_where(WAIT, |l| l.contains("\"type\":\"paired\""))
        .await;
    assert!(paired.contains("\"account\":\"alice\""), "{paired}");
    find(
        &client,
        "[data-testid=device-row][data-device-id=terminal-1] [data-testid=device-new]",
    )
    .await;
    shot(&client, "pairing-linked-device-new").await;
    let _ = client.close().await;
    drop(driver);
    phone.kill().await;
}
