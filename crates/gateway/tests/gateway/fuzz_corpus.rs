//! Every input kept in the gateway fuzz target's corpus, replayed against a
//! real gateway: well-formed answers only, and the gateway stays healthy.

use vestibule_gateway::fuzzing;

use crate::support::*;

#[tokio::test]
async fn the_gateway_session_corpus_replays_cleanly() {
    let gw = TestGateway::start_with(|c| {
        c.attempts_per_ip = None;
        c.failures_per_account = None;
        c.failures_per_account_and_ip = None;
    })
    .await;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/gateway_session");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        let steps = fuzzing::steps(&data);
        if let Err(e) = fuzzing::replay(gw.gw.local_addr(), SECRET, &steps).await {
            panic!("{}: {e}", path.display());
        }
        replayed += 1;
    }
    assert!(replayed >= 7, "the corpus is there ({replayed} inputs)");
    gw.login("after-the-corpus", "pc-1", "PC").await;
}
