//! mailwire's SMTP/LMTP client against servers nobody here wrote, started by the project's
//! scripts through `mailwire-testkit`: Postfix smtp-sink, aiosmtpd, Twisted's ESMTP server and
//! Dovecot's LMTP. A missing peer fails the test (with the package to install); nothing is
//! skipped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_codec::normalise_line_endings;
use mailwire_sasl::Mechanism;
use mailwire_smtp::client::{Client, ClientOptions, Secret, Timeouts};
use mailwire_smtp::proto::Envelope;
use mailwire_testkit::{Aiosmtpd, AiosmtpdOptions, Dovecot, SmtpSink, Twisted, python};
use mailwire_tls::TlsPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(20);

fn env(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(from.parse().unwrap(), to.iter().map(|t| t.parse().unwrap()))
}

fn plaintext(addr: SocketAddr) -> ClientOptions {
    ClientOptions::new("127.0.0.1", addr.port())
        .tls_policy(TlsPolicy::Disabled)
        .timeouts(Timeouts::uniform(WAIT))
}

/// A TCP relay in front of `upstream` that records each chunk the client wrote, as read: a
/// pipelined group arrives as one chunk, a lock-step session as one chunk per command.
async fn recording_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chunks = Arc::new(Mutex::new(Vec::new()));
    let record = chunks.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        client.set_nodelay(true).unwrap();
        server.set_nodelay(true).unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let down = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            let _ = cw.shutdown().await;
        });
        let mut buf = vec![0; 1 << 16];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record.lock().unwrap().push(buf[..n].to_vec());
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sw.shutdown().await;
        let _ = down.await;
    });
    (addr, chunks)
}

/// Command lines (outside message data) in a recorded chunk.
fn command_lines(chunk: &[u8]) -> usize {
    String::from_utf8_lossy(chunk)
        .split("\r\n")
        .filter(|l| {
            ["MAIL ", "RCPT ", "DATA", "RSET", "QUIT", "EHLO", "LHLO"]
                .iter()
                .any(|v| l.starts_with(v))
        })
        .count()
}

#[tokio::test]
async fn smtp_sink_many_messages_on_one_pipelined_connection() {
    let sink = SmtpSink::start(false).expect("Postfix smtp-sink");
    let (proxy, chunks) = recording_proxy(sink.addr()).await;
    let mut c = Client::connect_with(plaintext(proxy)).await.unwrap();
    assert!(c.extensions().is_some_and(|e| e.pipelining()));
    const N: usize = 200;
    let to = [
        "a@example.org",
        "b@example.org",
        "c@example.org",
        "d@example.org",
    ];
    let batch: Vec<(Envelope, Vec<u8>)> = (0..N)
        .map(|i| {
            let body = format!(
                "Subject: {i}\r\n\r\n.leading dot\r\nline\n{}\r\n",
                "x".repeat(i)
            );
            (env("sender@example.org", &to), body.into_bytes())
        })
        .collect();
    let results = c.send_many(batch).await.unwrap();
    assert_eq!(results.len(), N);
    for r in &results {
        let r = r.as_ref().unwrap();
        assert!(r.is_delivered_to_all(), "{r:?}");
        assert_eq!(r.recipients.len(), 4);
    }
    c.quit().await.unwrap();
    let counters = sink.wait_for_messages(N as u64, WAIT).unwrap();
    assert_eq!(counters.messages, N as u64, "{counters:?}");
    // All on one connection, which ended with QUIT.
    let deadline = std::time::Instant::now() + WAIT;
    while sink.counters().sessions < 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let counters = sink.counters();
    assert_eq!((counters.sessions, counters.quits), (1, 1), "{counters:?}");
    // Pipelining on the wire: N × (MAIL + 4 RCPT + DATA) + EHLO + QUIT command lines, in about
    // one write per message (each message's data carries the next message's commands).
    let chunks = chunks.lock().unwrap().clone();
    let lines: usize = chunks.iter().map(|c| command_lines(c)).sum();
    assert_eq!(lines, N * 6 + 2);
    assert!(
        chunks.len() <= N + 4,
        "{} writes for {N} messages",
        chunks.len()
    );
    let second = String::from_utf8_lossy(&chunks[1]);
    assert_eq!(command_lines(&chunks[1]), 6, "{second}");
    assert!(
        second.starts_with("MAIL FROM:<sender@example.org>"),
        "{second}"
    );
}

#[tokio::test]
async fn smtp_sink_lmtp_per_recipient_replies() {
    let sink = SmtpSink::start(true).expect("Postfix smtp-sink");
    let mut c = Client::connect_with(plaintext(sink.addr()).lmtp(true))
        .await
        .unwrap();
    for i in 0..5 {
        let r = c
            .send(
                env("sender@example.org", &["a@example.org", "b@example.org"]),
                format!("Subject: {i}\r\n\r\nhello\r\n").into_bytes(),
            )
            .await
            .unwrap();
        assert!(r.is_delivered_to_all(), "{r:?}");
        assert!(r.final_reply.is_none());
    }
    c.quit().await.unwrap();
    assert_eq!(sink.wait_for_messages(5, WAIT).unwrap().messages, 5);
}

#[tokio::test]
async fn aiosmtpd_starttls_required_and_auth_plain_over_tls() {
    let aio = Aiosmtpd::start(AiosmtpdOptions {
        auth: true,
        require_starttls: true,
        auth_required: true,
        ..Default::default()
    })
    .expect("aiosmtpd");
    let options = ClientOptions::new("127.0.0.1", aio.addr().port())
        .ca_file(aio.cert_pem_path())
        .credentials("alice", Secret::new("secret".to_owned()))
        .timeouts(Timeouts::uniform(WAIT));
    let mut c = Client::connect_with(options).await.unwrap();
    assert!(c.is_tls());
    // aiosmtpd offers PLAIN and LOGIN: PLAIN, now that TLS is up.
    assert_eq!(c.authenticated(), Some(Mechanism::Plain));
    let messages: Vec<Vec<u8>> = vec![
        b"From: alice@example.org\r\nSubject: plain\r\n\r\nHello.\r\n".to_vec(),
        b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nbare lf\nbare cr\rend".to_vec(),
        "Subject: 8bit\r\n\r\ncaf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e\r\n"
            .as_bytes()
            .to_vec(),
    ];
    for m in &messages {
        let r = c
            .send(
                env(
                    "alice@example.org",
                    &["bob@example.org", "carol@example.org"],
                ),
                m.clone(),
            )
            .await
            .unwrap();
        assert!(r.is_delivered_to_all(), "{r:?}");
    }
    c.quit().await.unwrap();
    aio.wait_for_messages(messages.len(), WAIT).unwrap();
    let stored = aio.envelopes().unwrap();
    assert_eq!(stored.len(), messages.len());
    for (e, m) in stored.iter().zip(&messages) {
        // aiosmtpd adds no header: the bytes are the message's, line endings made CRLF.
        assert_eq!(e.data, normalise_line_endings(m));
        assert_eq!(e.mail_from, "alice@example.org");
        assert_eq!(e.rcpt_to, ["bob@example.org", "carol@example.org"]);
        assert!(e.tls, "not over TLS: {e:?}");
        assert_eq!(e.auth.as_deref(), Some("alice"));
        assert!(
            e.mail_options.iter().any(|o| o.starts_with("SIZE=")),
            "{:?}",
            e.mail_options
        );
    }
    assert!(stored[2].mail_options.iter().any(|o| o == "BODY=8BITMIME"));
    assert!(
        !stored[0]
            .mail_options
            .iter()
            .any(|o| o.starts_with("BODY="))
    );
}

#[tokio::test]
async fn aiosmtpd_refuses_plain_in_cleartext_on_our_side() {
    // aiosmtpd offers PLAIN and LOGIN before STARTTLS here; without TLS the client must not use them.
    let aio = Aiosmtpd::start(AiosmtpdOptions {
        auth: true,
        auth_cleartext: true,
        ..Default::default()
    })
    .expect("aiosmtpd");
    let err = Client::connect_with(
        plaintext(aio.addr()).credentials("alice", Secret::new("secret".to_owned())),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("without TLS"), "{err}");
    assert!(!aio.log().contains("AUTH PLAIN"), "{}", aio.log());
}

#[tokio::test]
async fn twisted_esmtp_cram_md5_one_command_at_a_time() {
    let twisted = Twisted::start(false).expect("Twisted");
    let (proxy, chunks) = recording_proxy(twisted.smtp()).await;
    let mut c = Client::connect_with(
        plaintext(proxy).credentials("alice", Secret::new("secret".to_owned())),
    )
    .await
    .unwrap();
    // CRAM-MD5 never sends the password: usable in cleartext; PLAIN/LOGIN are not.
    assert_eq!(c.authenticated(), Some(Mechanism::CramMd5));
    assert!(c.extensions().is_some_and(|e| !e.pipelining()));
    let body = b"From: alice@example.org\r\nSubject: via Twisted\r\n\r\nHello from mailwire.\r\n";
    let r = c
        .send(
            env(
                "alice@example.org",
                &["alice@example.org", "bob@example.org", "nobody@example.org"],
            ),
            body.to_vec(),
        )
        .await
        .unwrap();
    let codes: Vec<u16> = r.recipients.iter().map(|(_, r)| r.code()).collect();
    assert_eq!(codes, [250, 250, 550], "{r:?}");
    let r = c
        .send(
            env("alice@example.org", &["nobody@example.org"]),
            body.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.delivered().count(), 0);
    let r = c
        .send(
            env("bob@example.org", &["alice@example.org"]),
            body.to_vec(),
        )
        .await
        .unwrap();
    assert!(r.is_delivered_to_all(), "{r:?}");
    c.quit().await.unwrap();
    // No PIPELINING: every write holds at most one command.
    let chunks = chunks.lock().unwrap().clone();
    for chunk in &chunks {
        assert!(
            command_lines(chunk) <= 1,
            "{:?}",
            String::from_utf8_lossy(chunk)
        );
    }
    assert!(
        chunks
            .iter()
            .any(|c| c.starts_with(b"RSET\r\n") && c.len() == 6),
        "RSET after the refused transaction"
    );
    // Read alice's mail back over Twisted's POP3.
    let out = python(
        &format!(
            "import poplib\np = poplib.POP3('127.0.0.1', {})\np.user('alice')\np.pass_('secret')\n\
             n = p.stat()[0]\nprint(n)\nfor i in range(n):\n    print(b'\\n'.join(p.retr(i + 1)[1]).decode())",
            twisted.pop3().port()
        ),
        WAIT,
    )
    .unwrap();
    assert!(out.starts_with("2\n"), "{out}");
    assert_eq!(out.matches("Hello from mailwire.").count(), 2, "{out}");
}

#[tokio::test]
async fn twisted_esmtp_starttls_then_cram_md5() {
    let twisted = Twisted::start(true).expect("Twisted with TLS");
    let ca = twisted.cert_pem_path().expect("a certificate");
    let options = ClientOptions::new("127.0.0.1", twisted.smtp().port())
        .ca_file(ca)
        .credentials("bob", Secret::new("secret".to_owned()))
        .timeouts(Timeouts::uniform(WAIT));
    let mut c = Client::connect_with(options).await.unwrap();
    assert!(c.is_tls());
    assert_eq!(c.authenticated(), Some(Mechanism::CramMd5));
    let r = c
        .send(
            env("bob@example.org", &["bob@example.org"]),
            b"Subject: tls\r\n\r\nx\r\n".to_vec(),
        )
        .await
        .unwrap();
    assert!(r.is_delivered_to_all());
    c.quit().await.unwrap();

    // Wrong password: refused by the server, reported as such.
    let options = ClientOptions::new("127.0.0.1", twisted.smtp().port())
        .ca_file(twisted.cert_pem_path().expect("a certificate"))
        .credentials("bob", Secret::new("wrong".to_owned()));
    let err = Client::connect_with(options).await.unwrap_err();
    assert!(err.to_string().contains("authentication failed"), "{err}");
}

#[tokio::test]
async fn dovecot_lmtp_per_recipient_replies_and_maildirs() {
    let dovecot = Dovecot::start().expect("Dovecot");
    let body =
        b"From: sender@example.org\r\nSubject: LMTP\r\n\r\nDelivered by mailwire over LMTP.\r\n";
    // Dovecot's LMTP announces STARTTLS, CHUNKING and PIPELINING: first with the default policy
    // (TLS required) and BDAT, then in plaintext with DATA.
    let tls = ClientOptions::from_url(&format!("lmtp://127.0.0.1:{}", dovecot.lmtp().port()))
        .unwrap()
        .ca_file(dovecot.cert_pem_path())
        .timeouts(Timeouts::uniform(WAIT));
    let mut data = plaintext(dovecot.lmtp()).lmtp(true);
    data.chunking = false;
    for (i, options) in [tls, data].into_iter().enumerate() {
        let mut c = Client::connect_with(options).await.unwrap();
        assert_eq!(c.is_tls(), i == 0);
        assert!(
            c.extensions()
                .is_some_and(|e| e.chunking() && e.pipelining())
        );
        let r = c
            .send(
                env(
                    "sender@example.org",
                    &["alice@localhost", "bob@localhost", "nobody@localhost"],
                ),
                body.to_vec(),
            )
            .await
            .unwrap();
        let codes: Vec<u16> = r.recipients.iter().map(|(_, r)| r.code()).collect();
        assert_eq!(codes, [250, 250, 550], "{r:?}");
        let refused = &r.recipients[2].1;
        assert_eq!(
            refused.enhanced().map(|e| e.to_string()).as_deref(),
            Some("5.1.1"),
            "{refused}"
        );
        assert_eq!(r.delivered().count(), 2);
        c.quit().await.unwrap();
    }
    for user in ["alice", "bob"] {
        let new = dovecot.maildir(user).join("new");
        let files: Vec<_> = std::fs::read_dir(&new)
            .unwrap_or_else(|e| panic!("{}: {e}", new.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2, "{user}: {files:?}");
        for f in files {
            let stored = std::fs::read(&f).unwrap();
            // Dovecot adds Return-Path and Received, and keeps the rest (stored with LF line
            // ends).
            let text = String::from_utf8_lossy(&stored).replace("\r\n", "\n");
            assert!(
                text.starts_with("Return-Path: <sender@example.org>\n"),
                "{text}"
            );
            assert!(text.contains("with LMTP"), "{text}");
            assert!(
                text.ends_with(
                    "From: sender@example.org\nSubject: LMTP\n\nDelivered by mailwire over LMTP.\n"
                ),
                "{text}"
            );
        }
    }
}

/// aiosmtpd limited to 3 recipients per transaction (`452 4.5.3` past them, as Postfix's
/// `smtpd_recipient_limit` answers): the client sends the message again to the refused ones
/// (RFC 5321 §4.5.3.1.10) until all 7 have it, and one report covers the 3 transactions.
#[tokio::test]
async fn aiosmtpd_recipient_limit_is_met_with_more_transactions() {
    let aio = Aiosmtpd::start(AiosmtpdOptions {
        max_recipients: Some(3),
        ..Default::default()
    })
    .expect("aiosmtpd");
    let mut c = Client::connect_with(plaintext(aio.addr())).await.unwrap();
    let to: Vec<String> = (1..=7).map(|i| format!("r{i}@example.org")).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let message = b"Subject: many\r\n\r\nto seven\r\n".to_vec();
    let r = c
        .send(env("alice@example.org", &to), message.clone())
        .await
        .unwrap();
    assert!(r.is_delivered_to_all(), "{r:?}");
    assert_eq!(r.transactions, 3);
    assert_eq!(r.recipients.len(), 7);
    // The connection goes on: a second message to one recipient is one transaction.
    let r = c
        .send(
            env("alice@example.org", &["one@example.org"]),
            message.clone(),
        )
        .await
        .unwrap();
    assert_eq!((r.transactions, r.is_delivered_to_all()), (1, true));
    c.quit().await.unwrap();
    aio.wait_for_messages(4, WAIT).unwrap();
    let stored = aio.envelopes().unwrap();
    let rcpts: Vec<Vec<String>> = stored.iter().map(|e| e.rcpt_to.clone()).collect();
    assert_eq!(
        rcpts,
        [&to[0..3], &to[3..6], &to[6..7], &["one@example.org"][..],]
            .map(|s| s.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    );
    assert!(stored.iter().all(|e| e.data == message));
}
