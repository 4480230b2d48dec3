//! Replays the committed cargo-fuzz corpora of the POP3 targets (`fuzz/corpus/pop3_*/`).

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        run(&data);
        n += 1;
    }
    assert!(n > 0, "the corpus {} is empty", dir.display());
}

#[test]
fn command() {
    replay("pop3_command", mailwire_pop3::fuzzing::command);
}

#[test]
fn response() {
    replay("pop3_response", mailwire_pop3::fuzzing::response);
}

#[test]
fn server_session() {
    replay(
        "pop3_server_session",
        mailwire_pop3::fuzzing::server_session,
    );
}
