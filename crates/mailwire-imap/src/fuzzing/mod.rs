//! The bodies of the IMAP cargo-fuzz targets (`fuzz/fuzz_targets/imap_*.rs`), kept here so the
//! ordinary test run replays the committed corpora (`tests/fuzz_corpus.rs`) through the same
//! code. Each function panics only when an invariant breaks.

pub mod values;

use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig};

use crate::proto::client::{ClientConfig, ClientSession, Event};
use crate::proto::{
    AuthenticateData, Command, CommandBody, DecodeError, DecodeOptions, EncodeOptions, Greeting,
    Response, decode_command, decode_greeting, decode_idle_done, decode_response,
};

/// Checks the prefix property: every proper prefix of a valid message is `Incomplete` or
/// `NeedLiteral`, never a syntax error.
fn prefixes(wire: &[u8], decode: impl Fn(&[u8]) -> Result<usize, DecodeError>) {
    for end in 0..wire.len() {
        match decode(&wire[..end]) {
            Err(DecodeError::Incomplete | DecodeError::NeedLiteral(_)) => {}
            other => panic!(
                "prefix {} of {} gave {other:?}",
                wire[..end].escape_ascii(),
                wire.escape_ascii()
            ),
        }
    }
}

/// Command parser on arbitrary bytes: never panics; what parses re-encodes (with and without
/// LITERAL+ / UTF-8) and parses back equal, consuming the whole encoding.
pub fn command(data: &[u8]) {
    let options = DecodeOptions { max_depth: 8 };
    if let Ok((cmd, _)) = decode_command(data, &options) {
        check_command(&cmd, &options);
    }
}

fn check_command(cmd: &Command, options: &DecodeOptions) {
    for enc in [
        EncodeOptions::default(),
        EncodeOptions {
            literal_plus: true,
            utf8: true,
            ..Default::default()
        },
    ] {
        let wire = cmd.encode(&enc).into_bytes();
        match decode_command(&wire, options) {
            Ok((again, n)) => {
                assert_eq!(n, wire.len(), "{}", wire.escape_ascii());
                assert_eq!(&again, cmd, "{}", wire.escape_ascii());
            }
            Err(e) => panic!("{} does not parse: {e:?}", wire.escape_ascii()),
        }
    }
}

/// Response parser on arbitrary bytes: never panics; what parses round-trips.
pub fn response(data: &[u8]) {
    let options = DecodeOptions { max_depth: 8 };
    if let Ok((r, _)) = decode_response(data, &options) {
        check_response(&r, &options);
    }
}

fn check_response(r: &Response, options: &DecodeOptions) {
    let wire = r.to_bytes();
    match decode_response(&wire, options) {
        Ok((again, n)) => {
            assert_eq!(n, wire.len(), "{}", wire.escape_ascii());
            assert_eq!(&again, r, "{}", wire.escape_ascii());
        }
        Err(e) => panic!("{} does not parse: {e:?}", wire.escape_ascii()),
    }
}

/// Greeting parser: never panics; what parses round-trips.
pub fn greeting(data: &[u8]) {
    if let Ok((g, _)) = decode_greeting(data) {
        let wire = g.to_bytes();
        let (again, _) = decode_greeting(&wire).expect("an encoded greeting parses");
        assert_eq!(again, g);
    }
}

/// AUTHENTICATE continuation lines: never panic; what parses round-trips.
pub fn authenticate_data(data: &[u8]) {
    if let Ok((d, _)) = AuthenticateData::decode(data) {
        let (again, _) = AuthenticateData::decode(&d.to_bytes()).expect("re-encoding parses");
        assert_eq!(again, d);
    }
}

/// IDLE's `DONE`: never panics; accepts exactly `DONE CRLF` (any case) at the start.
pub fn idle_done(data: &[u8]) {
    if let Ok(n) = decode_idle_done(data) {
        assert_eq!(n, 6);
        assert!(data[..4].eq_ignore_ascii_case(b"DONE") && &data[4..6] == b"\r\n");
    }
}

/// Structure-aware: a command built from the bytes encodes, parses back equal, and every
/// proper prefix of its encoding is incomplete.
pub fn command_round_trip(data: &[u8]) {
    let cmd = values::command(&mut values::Source::new(data));
    let options = DecodeOptions::default();
    check_command(&cmd, &options);
    let wire = cmd.encode(&EncodeOptions::default()).into_bytes();
    if wire.len() <= 4096 {
        prefixes(&wire, |p| decode_command(p, &options).map(|(_, n)| n));
    }
}

/// Structure-aware: a response built from the bytes encodes, parses back equal, and every
/// proper prefix of its encoding is incomplete.
pub fn response_round_trip(data: &[u8]) {
    let mut src = values::Source::new(data);
    let r = values::response(&mut src);
    let options = DecodeOptions::default();
    check_response(&r, &options);
    let wire = r.to_bytes();
    if wire.len() <= 4096 {
        prefixes(&wire, |p| decode_response(p, &options).map(|(_, n)| n));
    }
    let g: Greeting = values::greeting(&mut src);
    let (again, _) = decode_greeting(&g.to_bytes()).expect("an encoded greeting parses");
    assert_eq!(again, g);
}

/// Frames a stream of generated commands in chunks chosen by the first byte, and checks that
/// each framed message parses to the command that was encoded.
pub fn framed_commands(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let mut src = values::Source::new(rest);
    let mut commands = Vec::new();
    let mut wire = Vec::new();
    while !src.is_exhausted() && commands.len() < 16 {
        let c = values::command(&mut src);
        wire.extend_from_slice(c.encode(&EncodeOptions::default()).as_bytes());
        commands.push(c);
    }
    let mut framer = ImapFramer::new(ImapFramerConfig::default());
    let mut got = Vec::new();
    for chunk in mailwire_codec::fuzzing::chunks(&wire, seed) {
        let mut input = chunk;
        while let Some(f) = framer.next_frame(&mut input) {
            match f {
                ImapFrame::Message(m) => {
                    let (c, _) = Command::decode(m).expect("a framed command parses");
                    got.push(c);
                }
                ImapFrame::LiteralAnnounced(_) => {}
                ImapFrame::Error { error, .. } => panic!("framing error {error}"),
            }
        }
    }
    assert_eq!(got, commands);
}

/// The client session fed arbitrary server bytes in arbitrary chunks, with commands enqueued
/// between them: never panics, every transmitted command line ends with CRLF.
pub fn client_session(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let mut s = ClientSession::new(ClientConfig::default());
    let mut out = Vec::new();
    let mut src = values::Source::new(rest);
    for (k, chunk) in mailwire_codec::fuzzing::chunks(rest, seed)
        .into_iter()
        .enumerate()
    {
        if k % 3 == 0 {
            let c = values::command(&mut src);
            if !matches!(c.body, CommandBody::Authenticate { .. } | CommandBody::Idle) {
                s.enqueue(c.body);
            }
        }
        s.handle_input(chunk);
        while s.poll_transmit(&mut out).is_some() {}
        while let Some(ev) = s.poll_event() {
            if let Event::ContinuationReceived { handle, .. } = ev {
                let _ = s.authenticate_cancel(handle);
            }
        }
    }
    // Whatever was sent is whole lines (a literal's octets end before its line goes on).
    assert!(
        out.is_empty() || out.ends_with(b"\r\n"),
        "{}",
        out.escape_ascii()
    );
}

/// The server session fed arbitrary bytes in arbitrary chunks, its store requests answered
/// from a small synthetic mailbox, alternately with success and failure, and the mailbox
/// changing under it (messages added and expunged by "another session"): never panics, never
/// leaves the output mid-line, and keeps its sequence numbers within the mailbox.
pub fn server_session(data: &[u8]) {
    use std::sync::Arc;

    use crate::proto::server::{
        Answer, Event as SEvent, Failure, FailureKind, FetchContent, MailboxEntry, MailboxState,
        MessageContent, MessageInfo, Request, ServerConfig, ServerSession, fetch::render_structure,
    };
    use crate::proto::{Date, DateTime, Flag};

    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        starttls_available: seed & 1 == 1,
        allow_insecure_auth: seed & 2 == 2,
        max_output: 512,
        max_literal_len: 4096,
        max_literal_before_auth: 64,
        fetch_batch: 2,
        ..ServerConfig::default()
    };
    let auth = mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret");
    let mut s = ServerSession::new(config, Arc::new(auth), seed & 4 == 4);
    let bodies: [&[u8]; 3] = [
        b"Subject: a\r\nFrom: A <a@x>\r\n\r\nbody\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n",
        b"",
    ];
    let date = DateTime::new(Date::new(2024, 1, 1).expect("date"), 0, 0, 0, 0).expect("time");
    let info = |uid: u32| MessageInfo {
        uid,
        modseq: u64::from(uid),
        flags: if uid.is_multiple_of(2) {
            vec![Flag::Seen]
        } else {
            Vec::new()
        },
        internal_date: date,
        internal_timestamp: 1_704_067_200,
        size: bodies[uid as usize % 3].len() as u64,
    };
    let state = |n: u32| MailboxState {
        exists: n,
        uidvalidity: 7,
        uidnext: n + 1,
        highest_modseq: u64::from(n),
        unseen: 1,
        deleted: 0,
        size: 100,
        flags: vec![Flag::Seen, Flag::Deleted],
    };
    // The mailbox: UIDs present; another session adds and removes as the session polls.
    let mut uids: Vec<u32> = vec![1, 2, 3];
    let mut next = 4;
    let mut yes = false;
    let mut out = Vec::new();
    let no = || Failure::new(FailureKind::NoSuchMailbox, "no");
    for chunk in mailwire_codec::fuzzing::chunks(rest, seed) {
        let mut input = chunk;
        while !input.is_empty() && !s.is_closed() {
            let n = s.handle_input(input);
            input = &input[n..];
            let mut answered = false;
            while let Some(ev) = s.poll_event() {
                answered = true;
                yes = !yes;
                let SEvent::Request(r) = ev else {
                    if matches!(ev, SEvent::StartTls) {
                        s.tls_established();
                    }
                    continue;
                };
                let a = match r {
                    _ if !yes && !matches!(r, Request::Poll | Request::Unselect) => Err(no()),
                    Request::Login { .. }
                    | Request::Create { .. }
                    | Request::Delete { .. }
                    | Request::Rename { .. }
                    | Request::Subscribe { .. }
                    | Request::Discard { .. }
                    | Request::Unselect => Ok(Answer::Done),
                    Request::List => Ok(Answer::Mailboxes(vec![
                        MailboxEntry {
                            name: "INBOX".into(),
                            selectable: true,
                            has_children: false,
                            subscribed: true,
                            special_use: None,
                            exists: true,
                        },
                        MailboxEntry {
                            name: "gone/x".into(),
                            selectable: false,
                            has_children: false,
                            subscribed: true,
                            special_use: None,
                            exists: false,
                        },
                        MailboxEntry {
                            name: "a/b".into(),
                            selectable: true,
                            has_children: false,
                            subscribed: false,
                            special_use: Some(crate::proto::MailboxAttr::Sent),
                            exists: true,
                        },
                    ])),
                    Request::Status { .. } => Ok(Answer::Status(state(uids.len() as u32))),
                    Request::Select { .. } => Ok(Answer::Selected {
                        state: state(uids.len() as u32),
                        messages: uids.iter().map(|&u| info(u)).collect(),
                    }),
                    Request::Append { .. } => {
                        uids.push(next);
                        next += 1;
                        Ok(Answer::Appended {
                            uidvalidity: 7,
                            uid: next - 1,
                        })
                    }
                    Request::Fetch {
                        uids: want,
                        want: content,
                    } => Ok(Answer::Messages(
                        want.iter()
                            .filter(|u| uids.contains(u))
                            .map(|&u| {
                                let raw = bytes::Bytes::from_static(bodies[u as usize % 3]);
                                let mime = Arc::new(mailwire_store::MimeIndex::parse(&raw));
                                // Odd UIDs answer a structure request with the rendered
                                // structure, even ones with the raw message and its index.
                                let render = content == FetchContent::Structure && u % 2 == 1;
                                MessageContent {
                                    uid: u,
                                    structure: render.then(|| render_structure(&raw, &mime)),
                                    mime: (content != FetchContent::Raw && !render).then_some(mime),
                                    raw,
                                }
                            })
                            .collect(),
                    )),
                    Request::Store {
                        uids: want, flags, ..
                    } => Ok(Answer::Stored {
                        updated: want
                            .iter()
                            .filter(|u| uids.contains(u))
                            .map(|&u| (u, flags.clone(), u64::from(next) + 100))
                            .collect(),
                        modified: Vec::new(),
                    }),
                    Request::Copy {
                        uids: want, r#move, ..
                    } => {
                        if r#move {
                            uids.retain(|u| !want.contains(u));
                        }
                        Ok(Answer::Copied {
                            uidvalidity: 9,
                            uids: want.iter().map(|&u| (u, u + 50)).collect(),
                        })
                    }
                    Request::Expunge { .. } => {
                        let gone = uids.first().copied().into_iter().collect::<Vec<_>>();
                        uids.retain(|u| !gone.contains(u));
                        Ok(Answer::Expunged(gone))
                    }
                    Request::Quota { mailbox } => Ok(Answer::Quota {
                        storage: Some((u64::from(next) * 3000, 10_000)),
                        messages: mailbox.map(|_| (uids.len() as u64, 5)),
                    }),
                    Request::Vanished { since } => Ok(Answer::Vanished {
                        // Everything below the first message, and what an old modseq forgot.
                        uids: (1..=uids.first().map_or(next, |u| *u).saturating_sub(1))
                            .chain((1..=next + 3).filter(move |_| since < 3))
                            .map(|u| u..=u)
                            .collect(),
                        exact: since >= 3,
                    }),
                    Request::Poll => {
                        // Another session: one message in, the oldest out.
                        if yes {
                            uids.push(next);
                            next += 1;
                            if uids.len() > 4 {
                                uids.remove(0);
                            }
                            Ok(Answer::Snapshot {
                                messages: uids.iter().map(|&u| info(u)).collect(),
                                flags: vec![Flag::Seen],
                            })
                        } else {
                            Ok(Answer::Unchanged)
                        }
                    }
                };
                s.answer(a);
            }
            s.poll_output(&mut out);
            if n == 0 && !answered {
                break;
            }
        }
    }
    s.poll_output(&mut out);
    if !out.is_empty() {
        assert!(out.ends_with(b"\r\n"), "output ends mid-line");
    }
}
