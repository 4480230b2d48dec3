//! The pure client session wired to the pure server session: no sockets, no sleeps.

use std::sync::Arc;
use std::time::Instant;

use mailwire_codec::normalise_line_endings;
use mailwire_sasl::{ClientCredentials, Mechanism, StaticAuthenticator};
use mailwire_smtp::proto::client::{Event as ClientEvent, SendReport};
use mailwire_smtp::proto::{
    ClientConfig, ClientSession, Envelope, Event as ServerEvent, Mode, Reply, ServerConfig,
    ServerSession,
};
use mailwire_tls::TlsPolicy;

/// A client and a server session with the bytes moved between them.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    delivered: Vec<(Envelope, Vec<u8>)>,
    reports: Vec<SendReport>,
    /// Client flights, as written.
    flights: Vec<Vec<u8>>,
    closed: bool,
}

impl Pair {
    fn new(client: ClientConfig, server: ServerConfig, tls: bool) -> Self {
        let auth = StaticAuthenticator::new().with_user("alice", "secret");
        Self {
            client: ClientSession::new(client, tls),
            server: ServerSession::new(server, Arc::new(auth), tls),
            delivered: Vec::new(),
            reports: Vec::new(),
            flights: Vec::new(),
            closed: false,
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn run(&mut self) {
        let now = Instant::now();
        loop {
            let mut progressed = false;
            let mut out = Vec::new();
            self.server.poll_output(&mut out);
            if !out.is_empty() {
                progressed = true;
                self.client.handle_input(now, &out);
            }
            while let Some(ev) = self.client.poll_event() {
                match ev {
                    ClientEvent::TransactionCompleted { report, .. } => self.reports.push(report),
                    ClientEvent::Closed => self.closed = true,
                    ClientEvent::Established => {}
                    other => panic!("client: {other:?}"),
                }
            }
            let mut flight = Vec::new();
            while self.client.poll_transmit(now, &mut flight).is_some() {
                progressed = true;
                self.flights.push(flight.clone());
                let mut rest = &flight[..];
                while !rest.is_empty() {
                    let n = self.server.handle_input(rest);
                    rest = &rest[n..];
                    self.serve_events();
                    if n == 0 && !self.server.is_blocked() {
                        break;
                    }
                }
                flight.clear();
            }
            if !progressed {
                return;
            }
        }
    }

    fn serve_events(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            match ev {
                ServerEvent::CheckMail { .. } | ServerEvent::CheckAuth { .. } => {
                    self.server.resolve_check(Ok(()))
                }
                ServerEvent::CheckRcpt { to, .. } => {
                    let unknown = to.to_string().starts_with("<nobody");
                    self.server.resolve_check(if unknown {
                        Err(Reply::new(550, None, "5.1.1 no such user"))
                    } else {
                        Ok(())
                    });
                }
                ServerEvent::Deliver { envelope, message } => {
                    let n = envelope.recipients.len();
                    self.delivered.push((envelope, message));
                    self.server
                        .resolve_delivery(vec![Reply::new(250, None, "stored"); n]);
                }
                ServerEvent::Close => {}
                other => panic!("server: {other:?}"),
            }
        }
    }
}

fn env(to: &[&str]) -> Envelope {
    Envelope::new(
        "sender@example.org".parse().unwrap(),
        to.iter().map(|t| t.parse().unwrap()),
    )
}

fn plaintext() -> ClientConfig {
    ClientConfig {
        tls_policy: TlsPolicy::Disabled,
        ..ClientConfig::default()
    }
}

#[test]
fn many_messages_pipelined_through_the_server_session() {
    let mut p = Pair::new(plaintext(), ServerConfig::default(), false);
    let messages: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            format!("Subject: {i}\r\n\r\n.line starting with a dot\r\nbare\nlf {i}\r\n\r\n.\r\n")
                .into_bytes()
        })
        .collect();
    // The server announces CHUNKING: turn it off to exercise DATA.
    let mut config = plaintext();
    config.chunking = false;
    p.client = ClientSession::new(config, false);
    for m in &messages {
        p.client
            .enqueue_message(env(&["a@x.org", "nobody@x.org", "b@x.org"]), m.clone());
    }
    p.client.enqueue_quit();
    p.run();
    assert!(p.closed);
    assert_eq!(p.reports.len(), 20);
    for r in &p.reports {
        let codes: Vec<u16> = r.recipients.iter().map(|(_, r)| r.code()).collect();
        assert_eq!(codes, [250, 550, 250]);
    }
    assert_eq!(p.delivered.len(), 20);
    for ((envelope, got), sent) in p.delivered.iter().zip(&messages) {
        assert_eq!(envelope.recipients.len(), 2);
        assert_eq!(*got, normalise_line_endings(sent));
    }
    // Greeting-EHLO, one flight per message (its data opens the next group), QUIT last.
    assert_eq!(p.flights.len(), 1 + 1 + 20, "{}", p.flights.len());
    assert!(p.flights[1].starts_with(b"MAIL FROM:<sender@example.org> SIZE="));
    assert!(p.flights[1].ends_with(b"DATA\r\n"));
    assert!(p.flights[21].ends_with(b"\r\n.\r\nQUIT\r\n"));
}

#[test]
fn bdat_through_the_server_session() {
    let mut config = plaintext();
    config.bdat_chunk_size = std::num::NonZeroUsize::new(7);
    let mut p = Pair::new(config, ServerConfig::default(), false);
    let m = b"Subject: chunks\r\n\r\n.no stuffing with BDAT\r\n".to_vec();
    p.client.enqueue_message(env(&["a@x.org"]), m.clone());
    p.client.enqueue_message(env(&["nobody@x.org"]), m.clone());
    p.client.enqueue_message(env(&["b@x.org"]), m.clone());
    p.client.enqueue_quit();
    p.run();
    assert!(p.closed);
    assert_eq!(p.reports.len(), 3);
    assert!(p.reports[0].is_delivered_to_all());
    assert_eq!(p.reports[1].delivered().count(), 0);
    // After the refused BDAT, RSET cleared the server's transaction.
    assert!(p.reports[2].is_delivered_to_all(), "{:?}", p.reports[2]);
    assert_eq!(p.delivered.len(), 2);
    assert_eq!(p.delivered[0].1, m);
    assert!(p.flights.iter().any(|f| f.starts_with(b"RSET\r\nMAIL")));
}

#[test]
fn lmtp_per_recipient_replies_from_the_server_session() {
    let config = ClientConfig {
        lmtp: true,
        ..plaintext()
    };
    let server = ServerConfig {
        mode: Mode::Lmtp,
        ..ServerConfig::default()
    };
    let mut p = Pair::new(config, server, false);
    p.client.enqueue_message(
        env(&["a@x.org", "nobody@x.org", "b@x.org"]),
        b"hi\r\n".to_vec(),
    );
    p.client.enqueue_quit();
    p.run();
    assert!(p.closed);
    let r = &p.reports[0];
    let codes: Vec<u16> = r.recipients.iter().map(|(_, r)| r.code()).collect();
    assert_eq!(codes, [250, 550, 250]);
    assert_eq!(r.recipients[0].1.text(), "stored");
}

#[test]
fn scram_sha_256_against_the_server_session() {
    let config = ClientConfig {
        credentials: Some(ClientCredentials::password("alice", "secret")),
        ..ClientConfig::default()
    };
    // Implicit TLS on both sides (the sessions only need to know).
    let mut p = Pair::new(config, ServerConfig::default(), true);
    p.client
        .enqueue_message(env(&["a@x.org"]), b"hi\r\n".to_vec());
    p.run();
    assert_eq!(p.client.authenticated(), Some(Mechanism::ScramSha256));
    assert!(p.reports[0].is_delivered_to_all());
    let wire: Vec<u8> = p.flights.concat();
    assert!(
        String::from_utf8_lossy(&wire).contains("AUTH SCRAM-SHA-256 "),
        "{}",
        String::from_utf8_lossy(&wire)
    );

    // Wrong password: refused, and the message is not sent.
    let config = ClientConfig {
        credentials: Some(ClientCredentials::password("alice", "wrong")),
        ..ClientConfig::default()
    };
    let mut p = Pair::new(config, ServerConfig::default(), true);
    p.client
        .enqueue_message(env(&["a@x.org"]), b"hi\r\n".to_vec());
    let now = Instant::now();
    let mut failed = None;
    for _ in 0..10 {
        let mut out = Vec::new();
        p.server.poll_output(&mut out);
        p.client.handle_input(now, &out);
        let mut flight = Vec::new();
        while p.client.poll_transmit(now, &mut flight).is_some() {}
        p.server.handle_input(&flight);
        while let Some(ev) = p.client.poll_event() {
            if let ClientEvent::Failed(e) = ev {
                failed = Some(e);
            }
        }
    }
    let e = failed.expect("the client failed");
    assert!(e.to_string().contains("authentication failed"), "{e}");
    assert!(p.delivered.is_empty());
}

mod chunking {
    use std::time::Instant;

    use mailwire_smtp::proto::client::{Event, SendReport};
    use mailwire_smtp::proto::{ClientConfig, ClientSession};
    use mailwire_tls::TlsPolicy;
    use proptest::prelude::*;

    /// The replies of a whole pipelined session: greeting, EHLO, two messages (one recipient
    /// refused, one message whose DATA is refused), the RSET, a third message, QUIT.
    const SERVER: &[u8] = b"220 mx ESMTP\r\n\
        250-mx\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE 100000\r\n\
        250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 unknown\r\n354 go\r\n\
        250 2.0.0 one\r\n250 2.1.0 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no recipients\r\n\
        250 2.0.0 reset\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n\
        250-2.0.0 three\r\n250 2.0.0 queued\r\n221 2.0.0 bye\r\n";

    /// Runs the client over SERVER cut at `cuts`; returns every flight and the reports.
    fn run(cuts: &[usize]) -> (Vec<Vec<u8>>, Vec<SendReport>, bool) {
        let now = Instant::now();
        let mut c = ClientSession::new(
            ClientConfig {
                tls_policy: TlsPolicy::Disabled,
                ..ClientConfig::default()
            },
            false,
        );
        let env = |to: &[&str]| {
            mailwire_smtp::proto::Envelope::new(
                "a@x.org".parse().unwrap(),
                to.iter().map(|t| t.parse().unwrap()),
            )
        };
        c.enqueue_message(env(&["b@x.org", "c@x.org"]), b"one\r\n".to_vec());
        c.enqueue_message(env(&["c@x.org"]), b"two\r\n".to_vec());
        c.enqueue_message(env(&["b@x.org"]), b"three\r\n".to_vec());
        c.enqueue_quit();
        let mut flights = Vec::new();
        let mut reports = Vec::new();
        let mut closed = false;
        let mut start = 0;
        let mut points: Vec<usize> = cuts.iter().map(|&c| c % (SERVER.len() + 1)).collect();
        points.push(SERVER.len());
        points.sort_unstable();
        for end in points {
            let mut buf = Vec::new();
            while c.poll_transmit(now, &mut buf).is_some() {
                flights.push(std::mem::take(&mut buf));
            }
            c.handle_input(now, &SERVER[start..end]);
            start = end;
            while let Some(e) = c.poll_event() {
                match e {
                    Event::TransactionCompleted { report, .. } => reports.push(report),
                    Event::Closed => closed = true,
                    Event::Established => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        let mut buf = Vec::new();
        while c.poll_transmit(now, &mut buf).is_some() {
            flights.push(std::mem::take(&mut buf));
        }
        (flights, reports, closed)
    }

    #[test]
    fn whole() {
        let (flights, reports, closed) = run(&[]);
        assert!(closed);
        assert_eq!(reports.len(), 3);
        assert_eq!(reports[0].delivered().count(), 1);
        assert_eq!(reports[1].final_reply.as_ref().map(|r| r.code()), Some(554));
        assert_eq!(reports[2].recipients[0].1.lines(), ["three", "queued"]);
        let wire: Vec<u8> = flights.concat();
        assert_eq!(
            String::from_utf8_lossy(&wire),
            "EHLO localhost\r\n\
             MAIL FROM:<a@x.org> SIZE=5\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<c@x.org>\r\nDATA\r\n\
             one\r\n.\r\nMAIL FROM:<a@x.org> SIZE=5\r\nRCPT TO:<c@x.org>\r\nDATA\r\n\
             RSET\r\nMAIL FROM:<a@x.org> SIZE=7\r\nRCPT TO:<b@x.org>\r\nDATA\r\n\
             three\r\n.\r\nQUIT\r\n"
        );
    }

    proptest! {
        #[test]
        fn any_split_of_the_replies_gives_the_same_session(cuts in proptest::collection::vec(0usize..2000, 0..12)) {
            let whole = run(&[]);
            let split = run(&cuts);
            prop_assert_eq!(whole.1, split.1);
            prop_assert_eq!(whole.0.concat(), split.0.concat());
            prop_assert!(split.2);
        }

        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut c = ClientSession::new(ClientConfig::default(), false);
            c.handle_input(Instant::now(), b"220 ok\r\n");
            c.enqueue_message(
                mailwire_smtp::proto::Envelope::new(
                    "a@x.org".parse().unwrap(),
                    ["b@x.org".parse().unwrap()],
                ),
                b"x".to_vec(),
            );
            c.handle_input(Instant::now(), &input);
            let mut buf = Vec::new();
            while c.poll_transmit(Instant::now(), &mut buf).is_some() {}
            while c.poll_event().is_some() {}
            c.handle_eof();
            prop_assert!(c.is_closed());
        }
    }
}
