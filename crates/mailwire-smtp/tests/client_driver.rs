//! The tokio client against fake servers on raw TCP listeners: silence, stalls, closes,
//! STARTTLS response injection, SMTP smuggling vectors, a reader that stops reading, and
//! implicit TLS.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwire_codec::{DataConfig, DataReceiver, DataStatus, normalise_line_endings};
use mailwire_smtp::client::{Client, ClientOptions, Error, Timeouts};
use mailwire_smtp::proto::Envelope;
use mailwire_smtp::proto::client::Error as SessionError;
use mailwire_tls::{SelfSigned, TlsPolicy};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn options(port: u16, limit: Duration) -> ClientOptions {
    ClientOptions::new("127.0.0.1", port)
        .tls_policy(TlsPolicy::Disabled)
        .timeouts(Timeouts::uniform(limit))
}

fn env(to: &[&str]) -> Envelope {
    Envelope::new(
        "a@example.org".parse().unwrap(),
        to.iter().map(|t| t.parse().unwrap()),
    )
}

#[tokio::test]
async fn a_server_that_says_nothing_times_out() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(s);
    });
    let start = Instant::now();
    let err = Client::connect_with(options(port, Duration::from_millis(300)))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(
            err,
            Error::Session(SessionError::Timeout {
                waiting_for: "the greeting",
                ..
            })
        ),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(5),
        "{took:?}"
    );
    server.abort();
}

#[tokio::test]
async fn a_server_that_stops_mid_reply_times_out() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"220 ready\r\n").await.unwrap();
        let mut buf = [0; 512];
        let _ = s.read(&mut buf).await.unwrap();
        // Half of a multi-line EHLO reply, then silence; bytes keep trickling in one by one,
        // which must not keep the client waiting.
        s.write_all(b"250-mx\r\n250-PIPE").await.unwrap();
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if s.write_all(b"L").await.is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let err = Client::connect_with(options(port, Duration::from_millis(400)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Session(SessionError::Timeout {
                waiting_for: "EHLO",
                ..
            })
        ),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    server.abort();
}

#[tokio::test]
async fn a_server_that_closes_mid_transaction() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut s = BufReader::new(s);
        s.write_all(b"220 ready\r\n").await.unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        s.write_all(b"250-mx\r\n250 PIPELINING\r\n").await.unwrap();
        line.clear();
        s.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("MAIL FROM:"), "{line}");
        // Gone.
    });
    let mut c = Client::connect_with(options(port, Duration::from_secs(5)))
        .await
        .unwrap();
    let err = c
        .send(env(&["b@example.org"]), b"x\r\n".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Session(SessionError::ConnectionClosed { .. }) | Error::Io(_)
        ),
        "{err}"
    );
    // The client stays closed.
    assert!(
        c.send(env(&["b@example.org"]), b"x\r\n".to_vec())
            .await
            .is_err()
    );
    server.await.unwrap();
}

/// A fake server that offers STARTTLS and answers it with `go_ahead` (written at once).
async fn starttls_server(go_ahead: &'static [u8], later: Option<&'static [u8]>) -> u16 {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut s = BufReader::new(s);
        s.write_all(b"220 ready\r\n").await.unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        s.write_all(b"250-mx\r\n250 STARTTLS\r\n").await.unwrap();
        line.clear();
        s.read_line(&mut line).await.unwrap();
        assert_eq!(line, "STARTTLS\r\n");
        s.write_all(go_ahead).await.unwrap();
        if let Some(later) = later {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = s.write_all(later).await;
        }
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await;
    });
    port
}

#[tokio::test]
async fn starttls_response_injection_aborts() {
    let port = starttls_server(b"220 ready\r\n250-mx\r\n250 AUTH PLAIN\r\n", None).await;
    let err = Client::connect_with(
        ClientOptions::new("127.0.0.1", port).timeouts(Timeouts::uniform(Duration::from_secs(5))),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Session(SessionError::ResponseInjection)),
        "{err}"
    );

    // The injected bytes arrive in a later segment: they reach the TLS handshake, which fails.
    let port = starttls_server(b"220 ready\r\n", Some(b"250 fake\r\n")).await;
    let err = Client::connect_with(
        ClientOptions::new("127.0.0.1", port).timeouts(Timeouts::uniform(Duration::from_secs(5))),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err}");
}

#[tokio::test]
async fn no_starttls_under_the_default_policy_fails_closed() {
    let (l, port) = listener().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"220 ready\r\n").await.unwrap();
        let mut buf = [0; 512];
        let n = s.read(&mut buf).await.unwrap();
        seen2.lock().unwrap().extend_from_slice(&buf[..n]);
        s.write_all(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        seen2.lock().unwrap().extend_from_slice(&rest);
    });
    let err = Client::connect_with(
        ClientOptions::new("127.0.0.1", port)
            .credentials("alice", mailwire_smtp::client::Secret::new("secret".into())),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Session(SessionError::StartTlsUnavailable)),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(seen.starts_with("EHLO [127.0.0.1]\r\n"), "{seen}");
    assert!(
        !seen.contains("AUTH"),
        "credentials went out in plaintext: {seen}"
    );
}

/// A minimal pipelining server that records every byte the client sends, reads DATA with a
/// strict receiver, and stores what it unstuffed.
/// What a recording server saw: every byte, the command lines, the messages.
type Recorded = (Vec<u8>, Vec<String>, Vec<Vec<u8>>);

async fn recording_server(messages: usize) -> (u16, tokio::task::JoinHandle<Recorded>) {
    let (l, port) = listener().await;
    let handle = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        serve_recording(s, messages).await
    });
    (port, handle)
}

async fn serve_recording<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, messages: usize) -> Recorded {
    let mut wire = Vec::new();
    let mut commands = Vec::new();
    let mut got = Vec::new();
    let mut buf = Vec::new();
    s.write_all(b"220 fake ESMTP\r\n").await.unwrap();
    let mut chunk = [0u8; 4096];
    let mut data: Option<DataReceiver> = None;
    let mut body = Vec::new();
    loop {
        // Handle what is buffered.
        loop {
            if let Some(rx) = &mut data {
                match rx.feed(&buf, &mut body) {
                    DataStatus::NeedMore => {
                        buf.clear();
                        break;
                    }
                    DataStatus::Done { consumed, result } => {
                        buf.drain(..consumed);
                        data = None;
                        let reply: &[u8] = match result {
                            Ok(_) => b"250 2.0.0 stored\r\n",
                            Err(_) => b"550 5.6.0 refused\r\n",
                        };
                        got.push(std::mem::take(&mut body));
                        s.write_all(reply).await.unwrap();
                        continue;
                    }
                }
            }
            let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let line: Vec<u8> = buf.drain(..end + 2).collect();
            commands.push(String::from_utf8_lossy(&line).into_owned());
            let reply: &[u8] = match &line[..4.min(line.len())] {
                b"EHLO" => b"250-fake\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n",
                b"DATA" => {
                    data = Some(DataReceiver::new(DataConfig {
                        max_message_size: 100_000_000,
                        max_line_len: None,
                        ..DataConfig::default()
                    }));
                    b"354 go ahead\r\n"
                }
                b"QUIT" => {
                    s.write_all(b"221 bye\r\n").await.unwrap();
                    return (wire, commands, got);
                }
                _ => b"250 ok\r\n",
            };
            s.write_all(reply).await.unwrap();
        }
        if got.len() > messages {
            return (wire, commands, got);
        }
        let n = s.read(&mut chunk).await.unwrap();
        if n == 0 {
            return (wire, commands, got);
        }
        wire.extend_from_slice(&chunk[..n]);
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn smuggling_vectors_never_reach_the_wire_unstuffed() {
    let vectors: Vec<&[u8]> = vec![
        b"A\r\n.\r\nMAIL FROM:<evil@x>\r\n",
        b"A\n.\nMAIL FROM:<evil@x>\n",
        b"A\r.\rMAIL FROM:<evil@x>\r",
        b"A\n.\r\nMAIL FROM:<evil@x>\r\n",
        b"A\r\n.\nMAIL FROM:<evil@x>\r\n",
        b"A\r.\r\nMAIL FROM:<evil@x>\r\n",
        b"A\r\n.\rMAIL FROM:<evil@x>\r\n",
        b"A\n.\rMAIL FROM:<evil@x>\r\n",
        b"A\r\n\x00.\r\nx\r\n",
        b".\r\n",
        b".",
        b"\n.\n",
        b"ends without newline\r\n.",
        b"ends with cr\r",
    ];
    let (port, server) = recording_server(vectors.len()).await;
    let mut c = Client::connect_with(options(port, Duration::from_secs(10)))
        .await
        .unwrap();
    let batch = vectors
        .iter()
        .map(|v| {
            let mut m = b"Subject: smuggle\r\n\r\n".to_vec();
            m.extend_from_slice(v);
            (env(&["b@example.org"]), m)
        })
        .collect::<Vec<_>>();
    let sent: Vec<Vec<u8>> = batch.iter().map(|(_, m)| m.clone()).collect();
    let results = c.send_many(batch).await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.is_delivered_to_all()))
    );
    c.quit().await.unwrap();
    let (wire, commands, got) = server.await.unwrap();
    // The strict receiver read exactly the messages sent, line endings made CRLF...
    assert_eq!(got.len(), vectors.len());
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!(*g, normalise_line_endings(s));
    }
    // On the wire: no bare CR or LF at all, and a dot between line endings only as the
    // terminator of each message.
    for (i, &b) in wire.iter().enumerate() {
        if b == b'\n' {
            assert_eq!(wire[i - 1], b'\r', "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    let dots = wire
        .windows(5)
        .filter(|w| w[2] == b'.' && w[..2] == *b"\r\n" && w[3..] == *b"\r\n")
        .count();
    assert_eq!(dots, vectors.len(), "{}", String::from_utf8_lossy(&wire));
    // ...and the commands it parsed are the client's own: the smuggled MAIL never was one.
    let mails: Vec<&String> = commands.iter().filter(|c| c.starts_with("MAIL")).collect();
    assert_eq!(mails.len(), vectors.len());
    assert!(
        mails
            .iter()
            .all(|m| m.starts_with("MAIL FROM:<a@example.org> SIZE=")),
        "{mails:?}"
    );
}

#[tokio::test]
async fn a_server_that_stops_reading_makes_the_write_time_out() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut s = BufReader::new(s);
        s.write_all(b"220 ready\r\n").await.unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        s.write_all(b"250-mx\r\n250 PIPELINING\r\n").await.unwrap();
        for _ in 0..3 {
            line.clear();
            s.read_line(&mut line).await.unwrap();
        }
        s.write_all(b"250 ok\r\n250 ok\r\n354 go\r\n")
            .await
            .unwrap();
        // Never reads again.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let timeouts = Timeouts {
        data_block: Duration::from_millis(500),
        ..Timeouts::uniform(Duration::from_secs(10))
    };
    let mut c = Client::connect_with(
        ClientOptions::new("127.0.0.1", port)
            .tls_policy(TlsPolicy::Disabled)
            .timeouts(timeouts),
    )
    .await
    .unwrap();
    let big = vec![b'x'; 64 << 20];
    let start = Instant::now();
    let err = c.send(env(&["b@example.org"]), big).await.unwrap_err();
    assert!(matches!(err, Error::WriteTimeout { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn implicit_tls_smtps() {
    let cert = SelfSigned::localhost().unwrap();
    let acceptor = cert.acceptor();
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let tls = acceptor.accept(s).await.unwrap();
        serve_recording(tls, 1).await
    });
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let opts = ClientOptions::from_url(&format!("smtps://localhost:{port}"))
        .unwrap()
        .ca_file(&ca);
    let mut c = Client::connect_with(opts).await.unwrap();
    assert!(c.is_tls());
    let report = c
        .send(
            env(&["b@example.org"]),
            b"Subject: tls\r\n\r\nsecret\r\n".to_vec(),
        )
        .await
        .unwrap();
    assert!(report.is_delivered_to_all());
    c.quit().await.unwrap();
    let (_, _, got) = server.await.unwrap();
    assert_eq!(got, [b"Subject: tls\r\n\r\nsecret\r\n".to_vec()]);

    // The same server name is checked: an untrusted certificate fails.
    let (l, port) = listener().await;
    let acceptor = cert.acceptor();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let _ = acceptor.accept(s).await;
    });
    let err = Client::connect(&format!("smtps://localhost:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err}");
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let (l, port) = listener().await;
    drop(l);
    let err = Client::connect(&format!("smtp://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    let _ = TcpStream::connect(("127.0.0.1", port)).await;
}
