//! Replays the committed cargo-fuzz corpus of the store's target (`fuzz/corpus/mime_index/`).

#[test]
fn mime_index() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/mime_index");
    let n = mailwire_codec::fuzzing::replay_corpus(&dir, mailwire_store::fuzzing::mime_index);
    assert!(n >= 20, "the seed corpus has {n} entries");
}
