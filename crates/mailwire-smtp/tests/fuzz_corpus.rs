//! Replays the committed cargo-fuzz corpora of the SMTP targets (`fuzz/corpus/smtp_*/`).

fn replay(target: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    mailwire_codec::fuzzing::replay_corpus(&dir, run);
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
