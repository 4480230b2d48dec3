//! Replays the committed cargo-fuzz corpora (`fuzz/corpus/<target>/`) through the same
//! functions the fuzz targets call, so every CI run re-checks every input found so far.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("readable corpus entry").path();
        let data = std::fs::read(&path).expect("readable corpus file");
        run(&data);
        n += 1;
    }
    assert!(n > 0, "the corpus {} is empty", dir.display());
}

#[test]
fn line_framer() {
    replay("line_framer", mailwire_codec::fuzzing::line_framer);
}

#[test]
fn literal_framer() {
    replay("literal_framer", mailwire_codec::fuzzing::literal_framer);
}

#[test]
fn data_receiver() {
    replay("data_receiver", mailwire_codec::fuzzing::data_receiver);
}

#[test]
fn dot_stuff_roundtrip() {
    replay(
        "dot_stuff_roundtrip",
        mailwire_codec::fuzzing::dot_stuff_roundtrip,
    );
}
