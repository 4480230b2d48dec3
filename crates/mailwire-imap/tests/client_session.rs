//! The pipelining client session against scripted server bytes: tags, routing, literals,
//! the RFC 9051 §5.5 pipelining rules, AUTHENTICATE, IDLE, STARTTLS and protocol errors.

use mailwire_imap::proto::client::{ApiMisuse, ClientConfig, ClientSession, Event, ProtocolError};
use mailwire_imap::proto::{
    AString, CommandBody, Completion, Data, FetchItem, FetchItems, Flag, Mailbox, SearchKey,
    Secret, SequenceSet, StoreKind, Vec1,
};

fn session(greeting: &[u8]) -> ClientSession {
    let mut s = ClientSession::new(ClientConfig::default());
    s.handle_input(greeting);
    assert!(matches!(s.poll_event(), Some(Event::GreetingReceived(_))));
    s
}

fn wire(s: &mut ClientSession) -> String {
    let mut buf = Vec::new();
    while s.poll_transmit(&mut buf).is_some() {}
    String::from_utf8(buf).expect("ASCII in these tests")
}

fn events(s: &mut ClientSession) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn fetch(uid: bool, set: &str) -> CommandBody {
    let (a, b) = set.split_once(':').unwrap_or((set, set));
    CommandBody::Fetch {
        set: SequenceSet::range(a.parse().unwrap(), b.parse().unwrap()).unwrap(),
        items: FetchItems::Items(Vec1::one(FetchItem::Flags)),
        modifiers: vec![],
        uid,
    }
}

fn completed(ev: &[Event]) -> Vec<Completion> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Completed { status, .. } => Some(status.kind),
            _ => None,
        })
        .collect()
}

#[test]
fn nothing_is_sent_before_the_greeting() {
    let mut s = ClientSession::new(ClientConfig::default());
    s.enqueue(CommandBody::Capability);
    assert_eq!(wire(&mut s), "");
    s.handle_input(b"* OK ready\r\n");
    assert_eq!(wire(&mut s), "A1 CAPABILITY\r\n");
}

#[test]
fn unsolicited_data_are_events_and_completions_are_routed_by_tag() {
    let mut s = session(b"* OK ready\r\n");
    let a = s.enqueue(CommandBody::Noop);
    let b = s.enqueue(CommandBody::Check);
    assert_eq!(wire(&mut s), "A1 NOOP\r\nA2 CHECK\r\n");
    s.handle_input(
        b"* 22 EXPUNGE\r\n* 23 EXISTS\r\n* 14 FETCH (FLAGS (\\Seen))\r\nA2 OK c\r\nA1 NO n\r\n",
    );
    let ev = events(&mut s);
    assert!(matches!(ev[0], Event::CommandSent { handle } if handle == a));
    assert!(matches!(ev[1], Event::CommandSent { handle } if handle == b));
    assert!(matches!(&ev[2], Event::DataReceived(Data::Expunge(n)) if n.get() == 22));
    assert!(matches!(&ev[3], Event::DataReceived(Data::Exists(23))));
    assert!(matches!(&ev[4], Event::DataReceived(Data::Fetch { .. })));
    assert!(
        matches!(&ev[5], Event::Completed { handle, status } if *handle == b && status.kind == Completion::Ok)
    );
    assert!(
        matches!(&ev[6], Event::Completed { handle, status } if *handle == a && status.kind == Completion::No)
    );
    assert_eq!(s.pending(), 0);
}

#[test]
fn a_synchronising_literal_waits_for_the_continuation() {
    let mut s = session(b"* OK ready\r\n");
    let h = s.enqueue(CommandBody::Login {
        username: AString::new("alice").unwrap(),
        password: Secret::new(AString::new("s\u{e9}cret").unwrap()),
    });
    s.enqueue(CommandBody::Noop);
    assert_eq!(wire(&mut s), "A1 LOGIN alice {7}\r\n");
    s.handle_input(b"+ go ahead\r\n");
    assert_eq!(wire(&mut s), "s\u{e9}cret\r\nA2 NOOP\r\n");
    s.handle_input(b"A1 OK logged in\r\nA2 OK\r\n");
    let ev = events(&mut s);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Completed { handle, .. } if *handle == h))
    );
    assert!(
        !ev.iter().any(|e| matches!(e, Event::ProtocolError(_))),
        "{ev:?}"
    );
}

#[test]
fn literal_plus_sends_at_once() {
    let mut s = session(b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n");
    s.enqueue(CommandBody::Login {
        username: AString::new("alice").unwrap(),
        password: Secret::new(AString::new("a\r\nb").unwrap()),
    });
    assert_eq!(wire(&mut s), "A1 LOGIN alice {4+}\r\na\r\nb\r\n");
}

#[test]
fn a_refused_literal_completes_the_command_and_the_queue_moves_on() {
    let mut s = session(b"* OK ready\r\n");
    let h = s.enqueue(CommandBody::Append {
        mailbox: Mailbox::Inbox,
        messages: Vec1::one(mailwire_imap::proto::AppendMessage {
            flags: None,
            date: None,
            data: mailwire_imap::proto::AppendData::Literal(b"Subject: x\r\n\r\nhi\r\n".to_vec()),
        }),
    });
    s.enqueue(CommandBody::Noop);
    assert_eq!(wire(&mut s), "A1 APPEND INBOX {18}\r\n");
    s.handle_input(b"A1 NO [TOOBIG] too big\r\n");
    assert_eq!(wire(&mut s), "A2 NOOP\r\n");
    let ev = events(&mut s);
    assert!(ev.iter().any(|e| matches!(e, Event::Completed { handle, status } if *handle == h && status.kind == Completion::No)));
}

#[test]
fn sequence_numbers_wait_for_commands_that_may_expunge() {
    let mut s = session(b"* OK ready\r\n");
    // FETCH + STORE + SEARCH + NOOP: valid without waiting (RFC 9051 §5.5).
    s.enqueue(fetch(false, "1:2"));
    s.enqueue(CommandBody::Store {
        set: SequenceSet::single(1).unwrap(),
        kind: StoreKind::Add,
        silent: true,
        flags: vec![Flag::Seen],
        unchanged_since: None,
        uid: false,
    });
    s.enqueue(CommandBody::Search {
        returns: None,
        charset: None,
        criteria: Vec1::one(SearchKey::Unseen),
        uid: false,
    });
    s.enqueue(CommandBody::Noop);
    // NOOP may cause EXPUNGE: this FETCH waits.
    s.enqueue(fetch(false, "3:4"));
    let w = wire(&mut s);
    assert_eq!(w.lines().count(), 4, "{w}");
    assert!(!w.contains("A5"), "{w}");
    s.handle_input(b"A1 OK\r\nA2 OK\r\nA3 OK\r\n");
    assert_eq!(wire(&mut s), "", "NOOP is still in flight");
    s.handle_input(b"* 1 EXPUNGE\r\nA4 OK\r\n");
    assert_eq!(wire(&mut s), "A5 FETCH 3:4 FLAGS\r\n");
}

#[test]
fn uid_commands_pipeline_but_sequence_numbers_wait_after_them() {
    let mut s = session(b"* OK ready\r\n");
    s.enqueue(fetch(true, "1:9"));
    s.enqueue(fetch(true, "10:19"));
    s.enqueue(CommandBody::Copy {
        set: SequenceSet::single(1).unwrap(),
        mailbox: Mailbox::new("Trash").unwrap(),
        uid: false,
    });
    let w = wire(&mut s);
    assert_eq!(w, "A1 UID FETCH 1:9 FLAGS\r\nA2 UID FETCH 10:19 FLAGS\r\n");
    s.handle_input(b"A1 OK\r\nA2 OK\r\n");
    assert_eq!(wire(&mut s), "A3 COPY 1 Trash\r\n");
    // A UID SEARCH with sequence numbers in its keys is a sequence-number command.
    s.enqueue(CommandBody::Search {
        returns: None,
        charset: None,
        criteria: Vec1::one(SearchKey::SequenceSet(SequenceSet::range(1, 5).unwrap())),
        uid: true,
    });
    assert_eq!(wire(&mut s), "", "COPY may expunge");
    s.handle_input(b"A3 OK\r\n");
    assert_eq!(wire(&mut s), "A4 UID SEARCH 1:5\r\n");
}

#[test]
fn authenticate_is_alone_on_the_wire_and_gets_its_challenges() {
    let mut s = session(b"* OK ready\r\n");
    s.enqueue(CommandBody::Noop);
    let auth = s.enqueue(CommandBody::Authenticate {
        mechanism: mailwire_imap::proto::Atom::new("PLAIN").unwrap(),
        initial: None,
    });
    s.enqueue(CommandBody::Capability);
    assert_eq!(wire(&mut s), "A1 NOOP\r\n");
    s.handle_input(b"A1 OK\r\n");
    assert_eq!(wire(&mut s), "A2 AUTHENTICATE PLAIN\r\n");
    assert_eq!(s.idle_done(auth), Err(ApiMisuse::NotWaiting));
    s.handle_input(b"+ \r\n");
    let ev = events(&mut s);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::ContinuationReceived { handle, .. } if *handle == auth)),
        "{ev:?}"
    );
    s.authenticate_continue(auth, b"\0alice\0secret").unwrap();
    assert_eq!(wire(&mut s), "AGFsaWNlAHNlY3JldA==\r\n");
    s.handle_input(b"A2 OK [CAPABILITY IMAP4rev1 IDLE] authenticated\r\n");
    assert_eq!(wire(&mut s), "A3 CAPABILITY\r\n");
    assert!(
        s.capabilities()
            .contains(&mailwire_imap::proto::Capability::Idle)
    );
}

#[test]
fn idle_delivers_updates_until_done() {
    let mut s = session(b"* OK ready\r\n");
    let idle = s.enqueue(CommandBody::Idle);
    s.enqueue(CommandBody::Noop);
    assert_eq!(wire(&mut s), "A1 IDLE\r\n");
    s.handle_input(b"+ idling\r\n* 4 EXISTS\r\n");
    let ev = events(&mut s);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::ContinuationReceived { handle, .. } if *handle == idle))
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::DataReceived(Data::Exists(4))))
    );
    assert_eq!(wire(&mut s), "", "nothing is sent during IDLE");
    s.idle_done(idle).unwrap();
    assert_eq!(wire(&mut s), "DONE\r\n");
    s.handle_input(b"A1 OK IDLE terminated\r\n");
    assert_eq!(wire(&mut s), "A2 NOOP\r\n");
}

#[test]
fn protocol_errors_are_events_not_panics() {
    let mut s = session(b"* OK ready\r\n");
    s.enqueue(CommandBody::Noop);
    let _ = wire(&mut s);
    s.handle_input(
        b"Z9 OK who?\r\n* 1 FROB x\r\n+ nobody asked\r\n* OK see {3}\r\nabc\r\nA1 OK\r\n",
    );
    let ev = events(&mut s);
    assert!(ev.iter().any(
        |e| matches!(e, Event::ProtocolError(ProtocolError::UnknownTag(t)) if t.as_str() == "Z9")
    ));
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::ProtocolError(ProtocolError::Unparsable(_))))
    );
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::ProtocolError(ProtocolError::UnexpectedContinuation)
    )));
    assert!(ev.iter().any(|e| matches!(e, Event::Completed { .. })));
}

#[test]
fn bytes_after_the_starttls_go_ahead_are_refused() {
    let mut s = session(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LITERAL+] ready\r\n");
    s.enqueue(CommandBody::StartTls);
    s.enqueue(CommandBody::Capability);
    assert_eq!(wire(&mut s), "A1 STARTTLS\r\n");
    s.handle_input(b"A1 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n");
    assert!(s.is_tls_pending());
    let ev = events(&mut s);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::ProtocolError(ProtocolError::DataAfterStartTls))),
        "{ev:?}"
    );
    assert!(
        !ev.iter().any(|e| matches!(e, Event::DataReceived(_))),
        "injected data is dropped"
    );
    assert_eq!(wire(&mut s), "");
    s.tls_established();
    assert!(
        s.capabilities().is_empty(),
        "capabilities are forgotten after TLS"
    );
    assert!(!s.encode_options().literal_plus);
    assert_eq!(wire(&mut s), "A2 CAPABILITY\r\n");
}

#[test]
fn input_chunking_does_not_change_the_events() {
    let server: &[u8] = b"* OK [CAPABILITY IMAP4rev1] hi\r\n* 2 EXISTS\r\n* 1 FETCH (BODY[] {5}\r\nhello)\r\nA1 OK\r\n";
    let run = |chunk: usize| {
        let mut s = ClientSession::new(ClientConfig::default());
        s.enqueue(fetch(false, "1:1"));
        let mut out = Vec::new();
        for part in server.chunks(chunk) {
            s.handle_input(part);
            while s.poll_transmit(&mut out).is_some() {}
        }
        (events(&mut s), out)
    };
    let whole = run(server.len());
    for chunk in [1, 2, 3, 7, 16] {
        assert_eq!(run(chunk), whole, "chunk size {chunk}");
    }
    assert_eq!(completed(&whole.0), [Completion::Ok]);
}

#[test]
fn compress_hands_the_rest_of_the_input_to_the_driver() {
    let mut s = session(b"* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] ready\r\n");
    s.enqueue(CommandBody::Compress(
        mailwire_imap::proto::Atom::new("DEFLATE").unwrap(),
    ));
    s.enqueue(CommandBody::Noop);
    assert_eq!(wire(&mut s), "A1 COMPRESS DEFLATE\r\n");
    s.handle_input(b"A1 OK DEFLATE active\r\n\x78\x9c\x01\x02");
    assert!(s.is_compression_pending());
    assert_eq!(
        wire(&mut s),
        "",
        "nothing is sent until the layer is in place"
    );
    s.handle_input(b"\x03");
    assert_eq!(s.compression_established(), b"\x78\x9c\x01\x02\x03");
    assert_eq!(wire(&mut s), "A2 NOOP\r\n");
    s.handle_input(b"A2 OK\r\n");
    assert_eq!(completed(&events(&mut s)), [Completion::Ok, Completion::Ok]);
}
