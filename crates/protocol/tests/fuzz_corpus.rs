//! Every input kept in the decode fuzz target's corpus (seeds and everything
//! the fuzzer found interesting, including past findings) still passes.

#[test]
fn the_decode_corpus_round_trips() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode_frames");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        if let Err(e) = vestibule_protocol::check_round_trip(&data) {
            panic!("{}: {e}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 10, "the corpus is there ({checked} inputs)");
}
