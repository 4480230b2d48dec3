//! Replays the committed cargo-fuzz corpora of the SMTP targets (`fuzz/corpus/smtp_*/`).

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
    replay("smtp_command", mailwire_smtp::fuzzing::command);
}

#[test]
fn reply() {
    replay("smtp_reply", mailwire_smtp::fuzzing::reply);
}

#[test]
fn server_session() {
    replay(
        "smtp_server_session",
        mailwire_smtp::fuzzing::server_session,
    );
}
