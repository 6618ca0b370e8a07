//! Saved accounts survive a crash in the middle of a write: a process
//! rewriting them is killed with SIGKILL at random moments, and every time
//! the file still loads — the old version or the new, never a damaged one.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use vestibule_app::accounts::{ACCOUNTS_FILE, AccountStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_accounts_survive_kill_9_mid_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = env!("CARGO_BIN_EXE_accounts-writer");
    let mut kills = 0;
    for round in 0..40u64 {
        let mut child = tokio::process::Command::new(writer)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the writer");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let started = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await;
        assert!(
            matches!(started, Ok(Ok(Some(ref l))) if l == "writing"),
            "round {round}: {started:?}"
        );
        // Let it write for a few milliseconds (hundreds of writes), then pull the plug.
        tokio::time::sleep(Duration::from_millis(2 + (round * 7) % 23)).await;
        child.start_kill().expect("kill -9");
        let status = child.wait().await.expect("wait");
        assert!(
            !status.success(),
            "round {round}: the writer was killed, not finished"
        );
        kills += 1;

        let store = AccountStore::load(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            !dir.path().join("accounts.json.damaged").exists(),
            "round {round}: the file was damaged by the crash"
        );
        let accounts = store.accounts();
        assert!(
            (1..=50).contains(&accounts.len()),
            "round {round}: {} accounts",
            accounts.len()
        );
        assert!(
            accounts
                .iter()
                .all(|a| a.device_id == "desktop-crash-test" && a.account.starts_with("user-"))
        );
        let text = std::fs::read_to_string(dir.path().join(ACCOUNTS_FILE)).expect("read");
        serde_json::from_str::<serde_json::Value>(&text).expect("complete JSON");
    }
    assert_eq!(kills, 40);
}
