//! Replays the committed cargo-fuzz corpora of the IMAP targets (`fuzz/corpus/imap_*/`)
//! through the target bodies in `mailwire_imap::fuzzing`.

fn replay(target: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    mailwire_codec::fuzzing::replay_corpus(&dir, run);
}

#[test]
fn command() {
    replay("imap_command", mailwire_imap::fuzzing::command);
}

#[test]
fn response() {
    replay("imap_response", mailwire_imap::fuzzing::response);
}

#[test]
fn greeting() {
    replay("imap_greeting", mailwire_imap::fuzzing::greeting);
}

#[test]
fn authenticate_data() {
    replay(
        "imap_authenticate_data",
        mailwire_imap::fuzzing::authenticate_data,
    );
}

#[test]
fn idle_done() {
    replay("imap_idle_done", mailwire_imap::fuzzing::idle_done);
}

#[test]
fn command_round_trip() {
    replay(
        "imap_command_round_trip",
        mailwire_imap::fuzzing::command_round_trip,
    );
}

#[test]
fn response_round_trip() {
    replay(
        "imap_response_round_trip",
        mailwire_imap::fuzzing::response_round_trip,
    );
}

#[test]
fn framed_commands() {
    replay(
        "imap_framed_commands",
        mailwire_imap::fuzzing::framed_commands,
    );
}

#[test]
fn client_session() {
    replay(
        "imap_client_session",
        mailwire_imap::fuzzing::client_session,
    );
}

#[test]
fn server_session() {
    replay(
        "imap_server_session",
        mailwire_imap::fuzzing::server_session,
    );
}
