//! The soak's "zero panics" check can fail: with a panic planted in the
//! gateway, a short soak exits non-zero and says why.

use std::time::Duration;

use vestibule_e2e::{Proc, bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soak_fails_on_a_planted_panic() {
    let out = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(bin("vestibule-bench"));
    command
        .args(["soak", "--seconds", "4", "--plant-panic", "--out"])
        .arg(out.path())
        // A file, not a pipe: the gateway's panic reports must never block it.
        .stderr(std::fs::File::create(out.path().join("stderr")).expect("stderr file"));
    let mut soak = Proc::spawn(command);
    let code = soak.exit_code(Duration::from_secs(120)).await;
    let stderr = std::fs::read_to_string(out.path().join("stderr")).unwrap_or_default();
    assert_ne!(code, 0, "the soak passed with a planted panic: {stderr}");
    assert!(stderr.contains("panicked"), "{stderr}");
}
