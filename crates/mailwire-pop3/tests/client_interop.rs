//! mailwire's POP3 client against servers nobody here wrote: Dovecot (STLS, implicit TLS,
//! AUTH CRAM-MD5, APOP, a pipelined RETR of 2000 messages seeded into its Maildir) and
//! Twisted's POP3 server (no STLS: cleartext only when the caller allows it). Bytes retrieved
//! equal bytes delivered. A missing peer fails the test; nothing is skipped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_pop3::client::{AuthMethod, BatchItem, Client, ClientConfig, Direction, Error, Login};
use mailwire_sasl::Mechanism;
use mailwire_testkit::{Dovecot, Twisted, python};
use mailwire_tls::{Security, TlsPolicy};

fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender@example.com\r\nTo: alice@example.com\r\nSubject: message {i}\r\nMessage-ID: <{i}@example.com>\r\n\r\n.a dot-stuffed first body line\r\n"
    )
    .into_bytes();
    let mut n = 0;
    while m.len() < size {
        let line = format!(
            "{i:05} line {n:04} {}\r\n",
            if n % 7 == 0 { "." } else { "text" }
        );
        let line = if n % 11 == 0 {
            format!(".{line}")
        } else {
            line
        };
        m.extend_from_slice(line.as_bytes());
        n += 1;
    }
    m
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn dovecot_config(d: &Dovecot, implicit: bool) -> ClientConfig {
    let (addr, security) = if implicit {
        (d.pop3s(), Security::Implicit)
    } else {
        (d.pop3(), Security::StartTls(TlsPolicy::Required))
    };
    ClientConfig::new("127.0.0.1", addr.port(), security)
        .with_ca_file(d.cert_pem_path())
        .with_timeout(Duration::from_secs(60))
}

#[test]
fn dovecot_stls_cram_md5_apop_and_pipelined_retr_of_2000_messages() {
    let dovecot = Dovecot::start().unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<Vec<u8>> = (0..2000).map(|i| message(i, 10 * 1024)).collect();
    for m in &want {
        dovecot.add_message("alice", m).unwrap();
    }
    let rt = rt();
    rt.block_on(async {
        // STLS (required), then the strongest mechanism Dovecot offers here: CRAM-MD5.
        let sent = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let trace_sent = Arc::clone(&sent);
        let mut c = Client::connect_with_trace(
            dovecot_config(&dovecot, false),
            Some(Box::new(move |dir, bytes| {
                if dir == Direction::Sent {
                    trace_sent.lock().unwrap().push(bytes.to_vec());
                }
            })),
        )
        .await
        .unwrap();
        assert!(c.is_tls());
        assert!(c.capabilities().pipelining, "{:?}", c.capabilities());
        assert!(c.apop_timestamp().is_some(), "Dovecot offers APOP here");
        c.login(
            &Login::password("alice", "secret").with_method(AuthMethod::Sasl(Mechanism::CramMd5)),
        )
        .await
        .unwrap();
        assert!(
            sent.lock()
                .unwrap()
                .iter()
                .any(|w| w.starts_with(b"AUTH CRAM-MD5")),
            "CRAM-MD5 was not used"
        );
        let (count, size) = c.stat().await.unwrap();
        assert_eq!(count, 2000);
        assert_eq!(size, want.iter().map(|m| m.len() as u64).sum::<u64>());
        let numbers: Vec<u32> = (1..=count).collect();
        let mut got: Vec<Vec<u8>> = vec![Vec::new(); count as usize];
        let started = std::time::Instant::now();
        c.retr_batch(&numbers, |n, item| {
            match item {
                BatchItem::Data(d) => got[n as usize - 1].extend_from_slice(d),
                BatchItem::Refused(s) => panic!("message {n} refused: {s}"),
                _ => {}
            }
            Ok(())
        })
        .await
        .unwrap();
        eprintln!(
            "2000 x 10 KiB pipelined from Dovecot in {:?}",
            started.elapsed()
        );
        // Several RETRs went out in one write: the batch really was pipelined.
        let pipelined = sent
            .lock()
            .unwrap()
            .iter()
            .map(|w| w.windows(5).filter(|x| x == b"RETR ").count())
            .max()
            .unwrap_or(0);
        assert!(pipelined > 1, "no write carried more than one RETR");
        // Dovecot numbers Maildir messages in its own order: compare as sets.
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert!(
            got_sorted == want_sorted,
            "bytes retrieved differ from bytes delivered"
        );
        let uidl = c.uidl().await.unwrap();
        assert_eq!(uidl.len(), 2000);
        c.quit().await.unwrap();

        // APOP, asked for explicitly, still after STLS.
        let mut c = Client::connect(dovecot_config(&dovecot, false))
            .await
            .unwrap();
        c.login(&Login::password("alice", "secret").with_method(AuthMethod::Apop))
            .await
            .unwrap();
        let mut top = Vec::new();
        c.top_to(1, 0, &mut top).await.unwrap();
        assert!(top.starts_with(b"From: sender@example.com\r\n") && top.ends_with(b"\r\n\r\n"));
        c.quit().await.unwrap();

        // Implicit TLS, automatic login (PLAIN under TLS... or CRAM-MD5, whichever is strongest),
        // DELE at QUIT.
        let mut c = Client::connect(dovecot_config(&dovecot, true))
            .await
            .unwrap();
        c.login(&Login::password("alice", "secret")).await.unwrap();
        let first = c.uidl().await.unwrap()[0].clone();
        c.dele(first.message).await.unwrap();
        c.quit().await.unwrap();
        let mut c = Client::connect(dovecot_config(&dovecot, true))
            .await
            .unwrap();
        c.login(&Login::password("alice", "secret")).await.unwrap();
        let after = c.uidl().await.unwrap();
        assert_eq!(after.len(), 1999);
        assert!(after.iter().all(|u| u.id != first.id));
        // Wrong password: -ERR from Dovecot.
        let mut bad = Client::connect(dovecot_config(&dovecot, true))
            .await
            .unwrap();
        let err = bad
            .login(&Login::password("bob", "wrong"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Server(_)), "{err}");
        c.quit().await.unwrap();
    });
}

#[test]
fn twisted_pop3_server_without_stls() {
    let twisted = Twisted::start(false).unwrap_or_else(|e| panic!("{e}"));
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| message(i, 3000 + i * 20_000)).collect();
    for b in &bodies {
        let code = format!(
            "import smtplib\n\
             s = smtplib.SMTP('127.0.0.1', {})\n\
             s.sendmail('sender@example.com', ['alice@example.com'], {:?}.encode('latin-1'))\n\
             s.quit()",
            twisted.smtp().port(),
            String::from_utf8_lossy(b)
        );
        python(&code, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    }
    let config = ClientConfig::new(
        "127.0.0.1",
        twisted.pop3().port(),
        Security::StartTls(TlsPolicy::Required),
    );
    let rt = rt();
    rt.block_on(async {
        // Required TLS: Twisted has no STLS, so the client refuses before logging in.
        let err = Client::connect(config.clone()).await.unwrap_err();
        assert!(
            matches!(err, Error::Tls(mailwire_tls::Error::StartTlsUnavailable)),
            "{err}"
        );
        // Explicitly in cleartext: CRAM-MD5 (never the password in the clear).
        let mut c = Client::connect(config.clone().with_tls_policy(TlsPolicy::Disabled))
            .await
            .unwrap();
        // The peer script corrects Twisted's "PIPELINE" to PIPELINING.
        assert!(c.capabilities().pipelining, "{:?}", c.capabilities());
        c.login(&Login::password("alice", "secret")).await.unwrap();
        let (count, _) = c.stat().await.unwrap();
        assert_eq!(count, 3);
        for (i, b) in bodies.iter().enumerate() {
            let got = c.retr(i as u32 + 1).await.unwrap();
            // Twisted's SMTP server adds its Received: header in front.
            assert!(got.ends_with(b), "message {i}: bytes differ");
            assert!(
                got.starts_with(b"Received:"),
                "{:?}",
                String::from_utf8_lossy(&got[..80])
            );
        }
        // The same batch, pipelined.
        let mut n = 0;
        c.retr_batch(&[1, 2, 3], |_, item| {
            if let BatchItem::End(_) = item {
                n += 1;
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(n, 3);
        c.quit().await.unwrap();
        // USER/PASS in cleartext only when the caller says so.
        let mut c = Client::connect(config.clone().with_tls_policy(TlsPolicy::Disabled))
            .await
            .unwrap();
        let err = c
            .login(&Login::password("alice", "secret").with_method(AuthMethod::UserPass))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NoLoginMethod(_)), "{err}");
        c.login(
            &Login::password("alice", "secret")
                .with_method(AuthMethod::UserPass)
                .allow_plaintext_without_tls(true),
        )
        .await
        .unwrap();
        assert_eq!(c.stat().await.unwrap().0, 3);
        c.quit().await.unwrap();
        // APOP against Twisted (its Python 3 APOP bug is fixed in the peer script).
        let mut c = Client::connect(config.with_tls_policy(TlsPolicy::Disabled))
            .await
            .unwrap();
        c.login(&Login::password("alice", "secret").with_method(AuthMethod::Apop))
            .await
            .unwrap();
        c.quit().await.unwrap();
    });
}
