//! Replays the committed cargo-fuzz corpora of the POP3 targets (`fuzz/corpus/pop3_*/`).

fn replay(target: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    mailwire_codec::fuzzing::replay_corpus(&dir, run);
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
