//! Every input kept in the client fuzz target's corpus, played by a hostile
//! loopback server: the client never panics, never waits beyond the maximum,
//! and destroy() completes.

use vestibule_client::fuzzing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_session_corpus_replays_cleanly() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/client_session");
    let mut runs = tokio::task::JoinSet::new();
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        // All at once: each has its own server and client.
        runs.spawn(async move { (path, fuzzing::replay(fuzzing::script(&data)).await) });
    }
    let mut replayed = 0;
    while let Some(run) = runs.join_next().await {
        let (path, outcome) = run.expect("no panic");
        if let Err(e) = outcome {
            panic!("{}: {e}", path.display());
        }
        replayed += 1;
    }
    assert!(replayed >= 10, "the corpus is there ({replayed} inputs)");
}
