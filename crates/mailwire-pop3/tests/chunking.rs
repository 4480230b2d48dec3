//! Property tests: however the bytes are split, both session state machines produce the same
//! result as when they get everything at once (frame first, parse second; each byte once).

use std::sync::Arc;

use mailwire_pop3::proto::client::Event as ClientEvent;
use mailwire_pop3::proto::{
    ClientSession, Command, Event, MessageInfo, ServerConfig, ServerSession, UniqueId,
};
use proptest::prelude::*;

const MESSAGES: [&[u8]; 2] = [
    b"Subject: a\r\n\r\n.first\r\n..second\r\n.\r\nlast\r\n",
    b"Subject: b\r\n\r\nno final line end",
];

/// Feeds `input` split at `cuts` into a fresh server session; returns everything it wrote.
fn serve(input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let auth = mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret");
    let config = ServerConfig {
        allow_insecure_auth: true,
        max_output: 100,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config, Arc::new(auth), false, Some("<1.2@x>".into()));
    let mut out = Vec::new();
    let mut pieces = Vec::new();
    let mut last = 0;
    for &c in cuts {
        let c = c.min(input.len()).max(last);
        pieces.push(&input[last..c]);
        last = c;
    }
    pieces.push(&input[last..]);
    for piece in pieces {
        let mut rest = piece;
        loop {
            let n = s.handle_input(rest);
            rest = &rest[n..];
            let mut answered = false;
            while let Some(ev) = s.poll_event() {
                answered = true;
                match ev {
                    Event::LockMaildrop { .. } => s.resolve_lock(Ok(MESSAGES
                        .iter()
                        .enumerate()
                        .map(|(i, m)| MessageInfo {
                            size: m.len() as u64,
                            uid: UniqueId::new(format!("id{i}")).unwrap(),
                        })
                        .collect())),
                    Event::Retrieve { index, .. } => {
                        s.start_message();
                        for c in MESSAGES[index].chunks(3) {
                            if !s.handle_message_data(c) {
                                break;
                            }
                        }
                        s.end_message();
                    }
                    Event::Commit { .. } => s.resolve_commit(Ok(())),
                    Event::StartTls | Event::Close => {}
                    _ => {}
                }
            }
            s.poll_output(&mut out);
            if rest.is_empty() || s.is_closed() || (n == 0 && !answered) {
                break;
            }
        }
    }
    out
}

const SCRIPT: &[u8] = b"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\n\
TOP 2 0\r\nRETR 2\r\nDELE 1\r\nFROB\r\nRSET\r\nNOOP\r\nQUIT\r\n";

/// Feeds a server transcript split at `cuts` to a client session that sent the matching
/// commands; returns the events, with body chunks merged.
fn receive(input: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut c = ClientSession::default();
    for cmd in [
        Command::Capa,
        Command::Stat,
        Command::Retr(1),
        Command::Retr(9),
        Command::Uidl(None),
        Command::Quit,
    ] {
        c.enqueue(&cmd).unwrap();
    }
    let mut events = Vec::new();
    let mut body = Vec::new();
    let mut last = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|&x| x.min(input.len())).collect();
    bounds.sort_unstable();
    bounds.push(input.len());
    for b in bounds {
        let piece = &input[last..b.max(last)];
        last = b.max(last);
        let n = c.handle_input(piece).unwrap();
        assert_eq!(n, piece.len());
        while let Some(e) = c.poll_event() {
            match e {
                ClientEvent::BodyData { data, .. } => body.extend_from_slice(&data),
                ClientEvent::BodyEnded { result, .. } => {
                    events.push(format!(
                        "body {:?} {:?}",
                        String::from_utf8_lossy(&body),
                        result
                    ));
                    body.clear();
                }
                other => events.push(format!("{other:?}")),
            }
        }
    }
    events
}

const TRANSCRIPT: &[u8] = b"+OK hi <1.2@x>\r\n+OK caps\r\nTOP\r\nPIPELINING\r\n.\r\n+OK 2 100\r\n\
+OK\r\n..a\r\nb\r\n\r\n.\r\n-ERR no such message\r\n+OK\r\n1 x\r\n2 y\r\n.\r\n+OK bye\r\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn server_output_does_not_depend_on_chunking(mut cuts in proptest::collection::vec(0..SCRIPT.len(), 0..20)) {
        cuts.sort_unstable();
        prop_assert_eq!(serve(SCRIPT, &cuts), serve(SCRIPT, &[]));
    }

    #[test]
    fn client_events_do_not_depend_on_chunking(cuts in proptest::collection::vec(0..TRANSCRIPT.len(), 0..20)) {
        prop_assert_eq!(receive(TRANSCRIPT, &cuts), receive(TRANSCRIPT, &[]));
    }
}

#[test]
fn every_single_split_point() {
    let whole = serve(SCRIPT, &[]);
    let text = String::from_utf8_lossy(&whole);
    assert!(
        text.contains(
            "+OK message follows\r\nSubject: a\r\n\r\n..first\r\n...second\r\n..\r\nlast\r\n.\r\n"
        ),
        "{text}"
    );
    for i in 0..=SCRIPT.len() {
        assert_eq!(serve(SCRIPT, &[i]), whole, "split at {i}");
    }
    let events = receive(TRANSCRIPT, &[]);
    assert!(
        events
            .iter()
            .any(|e| e == "body \".a\\r\\nb\\r\\n\\r\\n\" Ok(9)"),
        "{events:?}"
    );
    for i in 0..=TRANSCRIPT.len() {
        assert_eq!(receive(TRANSCRIPT, &[i]), events, "split at {i}");
    }
}
