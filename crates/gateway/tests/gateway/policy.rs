//! Every device policy and both conflict modes, with the right kick reason and `by`.

use serde_json::{Value, json};

use crate::support::*;

/// Logs in `newcomer` while `old` is online and asserts `old` is kicked with `reason`, `by` = newcomer.
async fn assert_kicked_by(old: &mut Client, reason: &str, by_device: &str, by_type: &str) {
    let kicked = old.frame_of("kicked").await;
    assert_eq!(kicked["reason"], reason, "{kicked}");
    assert_eq!(kicked["by"]["deviceId"], by_device, "{kicked}");
    assert_eq!(kicked["by"]["type"], by_type, "{kicked}");
    assert_eq!(kicked["by"]["ip"], "127.0.0.1");
    assert!(kicked["message"].as_str().is_some_and(|m| !m.is_empty()));
    let expected_close = match reason {
        "loginElsewhere" => 4901,
        "instanceLimit" => 4902,
        other => panic!("unexpected reason {other}"),
    };
    assert_eq!(old.closed().await, Some(expected_close));
}

async fn login_refused(
    gw: &TestGateway,
    account: &str,
    device_id: &str,
    device_type: &str,
) -> Value {
    let mut client = Client::connect(&gw.url()).await;
    let reply = client
        .login_with(&login_frame(
            account,
            device_id,
            device_type,
            &token(account),
        ))
        .await;
    assert_eq!(reply["type"], "loginFailed", "{reply}");
    let code = reply["code"].as_u64().expect("code") as u16;
    assert_eq!(client.closed().await, Some(4000 + code));
    reply
}

#[tokio::test]
async fn per_type_is_the_default_and_kicks_the_same_type() {
    let gw = TestGateway::start().await;
    let (mut pc1, _) = gw.login("alice", "pc-1", "PC").await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    assert_eq!(
        device_ids(&pc1.frame_of("devices").await),
        ["pc-1", "phone-1"]
    );

    let (_pc2, ok) = gw.login("alice", "pc-2", "PC").await;
    assert_eq!(
        device_ids(&ok),
        ["pc-2", "phone-1"],
        "the kicked device is gone from the new list"
    );
    assert_kicked_by(&mut pc1, "loginElsewhere", "pc-2", "PC").await;
    // The phone sees pc-1 replaced by pc-2 in one push.
    assert_eq!(
        device_ids(&phone.frame_of("devices").await),
        ["pc-2", "phone-1"]
    );
}

#[tokio::test]
async fn single_allows_one_device_at_all() {
    let gw = TestGateway::start().await;
    gw.set_policy(json!({"mode": "single"})).await;
    let (mut pc, _) = gw.login("alice", "pc-1", "PC").await;
    let (_phone, ok) = gw.login("alice", "phone-1", "Android").await;
    assert_eq!(device_ids(&ok), ["phone-1"]);
    assert_kicked_by(&mut pc, "loginElsewhere", "phone-1", "Android").await;
}

#[tokio::test]
async fn desktop_mobile_keeps_one_of_each_class() {
    let gw = TestGateway::start().await;
    gw.set_policy(json!({"mode": "desktopMobile"})).await;
    let (mut pc, _) = gw.login("alice", "pc-1", "PC").await;
    let (mut ios, _) = gw.login("alice", "ios-1", "iOS").await;
    let (_mac, ok) = gw.login("alice", "mac-1", "Mac").await;
    assert_eq!(device_ids(&ok), ["ios-1", "mac-1"]);
    assert_kicked_by(&mut pc, "loginElsewhere", "mac-1", "Mac").await;
    let (_android, ok) = gw.login("alice", "and-1", "Android").await;
    assert_eq!(device_ids(&ok), ["and-1", "mac-1"]);
    assert_kicked_by(&mut ios, "loginElsewhere", "and-1", "Android").await;
}

#[tokio::test]
async fn all_with_max_devices_evicts_the_oldest() {
    let gw = TestGateway::start().await;
    gw.set_policy(json!({"mode": "all", "maxDevices": 3})).await;
    let (mut first, _) = gw.login("alice", "a", "PC").await;
    let (_b, _) = gw.login("alice", "b", "PC").await;
    let (_c, _) = gw.login("alice", "c", "PC").await;
    let (_d, ok) = gw.login("alice", "d", "PC").await;
    assert_eq!(device_ids(&ok), ["b", "c", "d"]);
    assert_kicked_by(&mut first, "instanceLimit", "d", "PC").await;
}

#[tokio::test]
async fn web_instances_are_limited_by_max_web_instances() {
    let gw = TestGateway::start().await;
    gw.set_policy(json!({"mode": "perType", "maxWebInstances": 2}))
        .await;
    let (mut tab1, _) = gw.login("alice", "tab-1", "Web").await;
    let (_tab2, _) = gw.login("alice", "tab-2", "Web").await;
    let (_tab3, ok) = gw.login("alice", "tab-3", "Web").await;
    assert_eq!(device_ids(&ok), ["tab-2", "tab-3"]);
    assert_kicked_by(&mut tab1, "instanceLimit", "tab-3", "Web").await;
}

#[tokio::test]
async fn reject_new_refuses_with_417_and_419() {
    let gw = TestGateway::start().await;
    gw.set_policy(json!({"mode": "perType", "onConflict": "rejectNew"}))
        .await;
    let (mut pc, pc_ok) = gw.login("alice", "pc-1", "PC").await;
    let reply = login_refused(&gw, "alice", "pc-2", "PC").await;
    assert_eq!(reply["code"], 417);
    // The old session is untouched: no kick, no list change.
    pc.silent_for(std::time::Duration::from_millis(300)).await;

    gw.set_policy(json!({"mode": "all", "maxDevices": 2, "onConflict": "rejectNew"}))
        .await;
    let (_phone, _) = gw.login("alice", "phone-1", "iOS").await;
    let reply = login_refused(&gw, "alice", "tab-1", "Web").await;
    assert_eq!(reply["code"], 419);
    // A reconnect of a device already online (its session token) is not a new device.
    let (_pc_again, ok) = gw
        .resume("alice", "pc-1", "PC", &pc_ok["sessionToken"])
        .await;
    assert_eq!(ok["repeatLogin"], true);
    // The app's token with that deviceId is a new sign-in, and it is refused too.
    let reply = login_refused(&gw, "alice", "pc-1", "PC").await;
    assert_eq!(reply["code"], 417, "{reply}");
}

#[tokio::test]
async fn accounts_and_apps_do_not_interfere() {
    let gw = TestGateway::start().await;
    let (mut alice, _) = gw.login("alice", "pc-1", "PC").await;
    let (_bob, ok) = gw.login("bob", "pc-1", "PC").await;
    assert_eq!(device_ids(&ok), ["pc-1"]);
    alice
        .silent_for(std::time::Duration::from_millis(300))
        .await;
}
