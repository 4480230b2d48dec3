//! The tokio IMAP client against mailwire's server (in-process) and Dovecot: TLS both ways,
//! login by the strongest mechanism, pipelined commands from several tasks on one connection,
//! unsolicited events, errors with their response codes.

use std::time::Duration;

#[path = "common/imap_server.rs"]
mod imap_server;

use imap_server::{TestServer, messages};
use mailwire_imap::client::{Appendable, Client, ClientConfig, Error, Login, Unsolicited};
use mailwire_imap::proto::{Code, Data, MessageData};
use mailwire_tls::{Security, TlsPolicy};

fn config(srv: &TestServer, implicit: bool) -> ClientConfig {
    let (port, security) = if implicit {
        (srv.imaps.port(), Security::Implicit)
    } else {
        (srv.imap.port(), Security::StartTls(TlsPolicy::Required))
    };
    ClientConfig::new("localhost", port, security).with_ca_file(srv.ca())
}

/// The BODY[] octets of a FETCH reply.
fn body(d: &Data) -> Option<Vec<u8>> {
    let Data::Fetch { items, .. } = d else {
        return None;
    };
    items.as_slice().iter().find_map(|i| match i {
        MessageData::BodySection { data, .. } => data.as_ref().map(|d| d.as_bytes().to_vec()),
        _ => None,
    })
}

#[test]
fn imaps_and_starttls_login_select_and_pipelined_fetches_from_many_tasks() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        for implicit in [true, false] {
            let c = Client::connect(config(&srv, implicit), &Login::password("alice", "secret"))
                .await
                .unwrap();
            assert!(c.is_tls());
            let s = c.select("INBOX").await.unwrap();
            assert_eq!(s.exists, 3);
            assert!(s.uidvalidity.is_some() && s.uidnext == Some(4));
            // Twelve tasks share the connection; each gets its own message back.
            let mut tasks = Vec::new();
            for i in 0..12u32 {
                let c = c.clone();
                tasks.push(tokio::spawn(async move {
                    let uid = i % 3 + 1;
                    let r = c
                        .command(&format!("UID FETCH {uid} (BODY.PEEK[])"))
                        .await
                        .unwrap();
                    (uid, r)
                }));
            }
            for t in tasks {
                let (uid, r) = t.await.unwrap();
                let bodies: Vec<Vec<u8>> = r.data.iter().filter_map(body).collect();
                assert_eq!(bodies, [messages()[uid as usize - 1].clone()], "UID {uid}");
            }
            c.logout().await.unwrap();
        }
    });
}

#[test]
fn no_and_bad_come_back_with_their_codes() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        let c = Client::connect(config(&srv, true), &Login::password("alice", "secret"))
            .await
            .unwrap();
        match c.select("Nowhere").await {
            Err(Error::No(t)) => assert_eq!(t.code, Some(Code::NonExistent)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.command("FETCH 1 FLAGS").await,
            Err(Error::Bad(_))
        ));
        assert!(matches!(
            c.command("NOT A COMMAND (").await,
            Err(Error::Command(_))
        ));
        // The connection goes on.
        c.noop().await.unwrap();
        let bad = Client::connect(config(&srv, true), &Login::password("alice", "wrong")).await;
        match bad {
            Err(Error::No(t)) => assert_eq!(t.code, Some(Code::AuthenticationFailed)),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn deliveries_and_other_sessions_changes_arrive_as_events() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        let c = Client::connect(config(&srv, true), &Login::password("alice", "secret"))
            .await
            .unwrap();
        let mut events = c.events();
        c.select("INBOX").await.unwrap();
        srv.store
            .deliver("alice@example.com", &b"Subject: new\r\n\r\nx\r\n"[..])
            .await
            .unwrap();
        c.noop().await.unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev, Unsolicited::Data(Data::Exists(4)));
        assert_eq!(c.view().exists, 4);
        c.logout().await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if events.recv().await.unwrap() == Unsolicited::Closed {
                    return;
                }
            }
        })
        .await;
        assert!(end.is_ok(), "no Closed event after LOGOUT");
        assert!(matches!(c.noop().await, Err(Error::Closed)));
    });
}

#[test]
fn starttls_required_refuses_a_server_without_it() {
    // A server with no TLS configured offers no STARTTLS.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = mailwire_store::Store::memory();
        store.add_user("alice", "secret").await.unwrap();
        let server = mailwire_imap::server::Server::new(
            mailwire_imap::server::ServerOptions::default(),
            store,
            None,
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (_stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(server.serve(
            l,
            mailwire_imap::server::Listener::Imap,
            rx,
            Duration::from_secs(1),
        ));
        let cfg = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Required));
        match Client::connect(cfg.clone(), &Login::password("alice", "secret")).await {
            Err(Error::Tls(mailwire_tls::Error::StartTlsUnavailable)) => {}
            other => panic!("{other:?}"),
        }
        // Opportunistic carries on in cleartext, where only a mechanism that sends no
        // replayable password is used (SCRAM here), never PLAIN or LOGIN.
        let cfg = cfg.with_tls_policy(TlsPolicy::Opportunistic);
        let c = Client::connect(cfg.clone(), &Login::password("alice", "secret"))
            .await
            .unwrap();
        assert!(!c.is_tls());
        c.logout().await.unwrap();
        let plain =
            Login::password("alice", "secret").with_mechanism(mailwire_sasl::Mechanism::Plain);
        assert!(matches!(
            Client::connect(cfg.clone(), &plain).await,
            Err(Error::NoLoginMethod(_))
        ));
    });
}

#[test]
fn against_dovecot_cram_md5_and_imaps() {
    let dovecot = mailwire_testkit::Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    for m in messages() {
        dovecot.add_message("alice", &m).unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new("localhost", dovecot.imaps().port(), Security::Implicit)
            .with_ca_file(dovecot.cert_pem_path());
        let c = Client::connect(
            cfg,
            &Login::password("alice", "secret").with_mechanism(mailwire_sasl::Mechanism::CramMd5),
        )
        .await
        .unwrap();
        let s = c.examine("INBOX").await.unwrap();
        assert_eq!(s.exists, 3);
        assert!(s.read_only);
        let r = c.command("UID FETCH 1:* (BODY.PEEK[])").await.unwrap();
        let bodies: Vec<Vec<u8>> = r.data.iter().filter_map(body).collect();
        assert_eq!(bodies, messages());
        // STARTTLS on the cleartext port, the strongest mechanism Dovecot offers.
        let cfg = ClientConfig::new(
            "localhost",
            dovecot.imap().port(),
            Security::StartTls(TlsPolicy::Required),
        )
        .with_ca_file(dovecot.cert_pem_path());
        let c2 = Client::connect(cfg, &Login::password("alice", "secret"))
            .await
            .unwrap();
        assert!(c2.is_tls());
        c2.select("INBOX").await.unwrap();
        c2.logout().await.unwrap();
        c.logout().await.unwrap();
        // SCRAM-SHA-256 and SCRAM-SHA-1, the server's signature verified by the client; a
        // wrong password is a NO.
        for m in [
            mailwire_sasl::Mechanism::ScramSha256,
            mailwire_sasl::Mechanism::ScramSha1,
        ] {
            let cfg = ClientConfig::new("localhost", dovecot.imaps().port(), Security::Implicit)
                .with_ca_file(dovecot.cert_pem_path());
            let c = Client::connect(
                cfg.clone(),
                &Login::password("alice", "secret").with_mechanism(m),
            )
            .await
            .unwrap_or_else(|e| panic!("{m:?}: {e}\n{}", dovecot.log()));
            assert_eq!(c.examine("INBOX").await.unwrap().exists, 3);
            c.logout().await.unwrap();
            match Client::connect(cfg, &Login::password("alice", "wrong").with_mechanism(m)).await {
                Err(Error::No(_)) => {}
                other => panic!("{m:?} with a wrong password: {:?}", other.map(|_| ())),
            }
        }
    });
}

#[test]
fn idle_delivers_events_at_once_and_ends_with_done_or_drop() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        let c = Client::connect(config(&srv, true), &Login::password("alice", "secret"))
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        let mut events = c.events();
        let idle = c.idle().await.unwrap();
        let t = std::time::Instant::now();
        srv.store
            .deliver(
                "alice@example.com",
                &b"Subject: during idle\r\n\r\nx\r\n"[..],
            )
            .await
            .unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an event during IDLE")
            .unwrap();
        assert_eq!(ev, Unsolicited::Data(Data::Exists(4)));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        idle.done().await.unwrap();
        // Dropping an Idle ends it too; the next command runs after it.
        let idle = c.idle().await.unwrap();
        drop(idle);
        let r = c.command("STATUS INBOX (MESSAGES)").await.unwrap();
        assert_eq!(r.data.len(), 1, "{r:?}");
        c.logout().await.unwrap();
    });
}

/// The server logs out after 1 s without a command; the client re-issues IDLE every 300 ms,
/// so its IDLE outlives that, and events still arrive after the re-issues.
#[test]
fn idle_is_reissued_before_the_servers_autologout() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = mailwire_store::Store::memory();
        store.add_user("alice", "secret").await.unwrap();
        let mut options = mailwire_imap::server::ServerOptions::default();
        options.session.allow_insecure_auth = true;
        options.idle_timeout = Duration::from_secs(1);
        let server = mailwire_imap::server::Server::new(options, store.clone(), None);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (_stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(server.serve(
            l,
            mailwire_imap::server::Listener::Imap,
            rx,
            Duration::from_secs(1),
        ));
        let mut cfg = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
        cfg.idle_reissue = Duration::from_millis(300);
        let login = Login::password("alice", "secret").allow_plaintext_without_tls(true);
        let c = Client::connect(cfg, &login).await.unwrap();
        c.select("INBOX").await.unwrap();
        let mut events = c.events();
        let idle = c.idle().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        store
            .deliver("alice@example.com", &b"Subject: late\r\n\r\nx\r\n"[..])
            .await
            .unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an event after the re-issues")
            .unwrap();
        assert_eq!(ev, Unsolicited::Data(Data::Exists(1)));
        idle.done().await.unwrap();
        c.noop().await.unwrap();
    });
}

/// The typed methods, the same script against mailwire's server and Dovecot.
async fn typed_script(c: &Client) {
    use mailwire_imap::proto::{
        FetchItem, FetchItems, Flag, ListSelectOption, MailboxAttr, SearchKey, SequenceSet,
        StatusItem, StatusValue, StoreKind, Vec1,
    };
    let _ = c.delete("Work").await;
    c.create("Work").await.unwrap();
    let names: Vec<Vec<u8>> = c
        .list("", "*")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.mailbox.as_bytes().to_vec())
        .collect();
    assert!(names.contains(&b"Work".to_vec()), "{names:?}");
    let appended = c
        .append(
            "Work",
            &[Flag::Seen],
            b"Subject: typed\r\n\r\nhello\r\n".to_vec(),
        )
        .await
        .unwrap();
    let (_, uid) = appended.expect("APPENDUID");
    let st = c
        .status("Work", &[StatusItem::Messages, StatusItem::UidNext])
        .await
        .unwrap();
    assert!(
        st.contains(&StatusValue::Number(StatusItem::Messages, 1)),
        "{st:?}"
    );
    c.select("Work").await.unwrap();
    let all = SequenceSet::all();
    let f = c
        .fetch(&all, FetchItems::Items(Vec1::one(FetchItem::Flags)), true)
        .await
        .unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(c.search(SearchKey::All, true).await.unwrap(), [uid]);
    let modified = c
        .store(&all, StoreKind::Add, &[Flag::Flagged], false, None)
        .await
        .unwrap();
    assert!(modified.is_empty());
    assert_eq!(c.search(SearchKey::Flagged, false).await.unwrap(), [1]);
    let copied = c.copy(&all, "INBOX", false).await.unwrap();
    assert_eq!(copied.len(), 1, "{copied:?}");
    let moved = c.r#move(&all, "INBOX", true).await.unwrap();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].0, uid);
    let st = c.status("INBOX", &[StatusItem::Messages]).await.unwrap();
    assert!(
        st.contains(&StatusValue::Number(StatusItem::Messages, 5)),
        "{st:?}"
    );
    // MULTIAPPEND: two messages in one command, both UIDs back, in order.
    let (_, uids) = c
        .append_many(
            "Work",
            vec![
                Appendable::new(&b"Subject: one of two\r\n\r\n1\r\n"[..]),
                Appendable::new(&b"Subject: two of two\r\n\r\n2\r\n"[..]).with_flags(&[Flag::Seen]),
            ],
        )
        .await
        .unwrap()
        .expect("APPENDUID");
    assert_eq!(uids.len(), 2, "{uids:?}");
    assert!(uids[0] < uids[1], "{uids:?}");
    // LIST with STATUS: one LIST-STATUS command where offered, LIST + STATUS otherwise.
    let listing = c
        .list_status("", "*", &[StatusItem::Messages])
        .await
        .unwrap();
    let work = listing
        .mailboxes
        .iter()
        .find(|l| l.mailbox.as_bytes() == b"Work")
        .expect("Work listed");
    assert_eq!(
        listing.status_of(&work.mailbox),
        Some(&[StatusValue::Number(StatusItem::Messages, 2)][..]),
        "{listing:?}"
    );
    if c.has_capability(&mailwire_imap::proto::Capability::ListExtended) {
        c.subscribe("Work", true).await.unwrap();
        let subscribed = c
            .list_extended(
                "",
                &["*", "Work"],
                vec![ListSelectOption::Subscribed],
                Vec::new(),
            )
            .await
            .unwrap();
        assert!(
            subscribed
                .mailboxes
                .iter()
                .all(|l| l.attributes.contains(&MailboxAttr::Subscribed)),
            "{subscribed:?}"
        );
        assert!(
            subscribed
                .mailboxes
                .iter()
                .any(|l| l.mailbox.as_bytes() == b"Work"),
            "{subscribed:?}"
        );
        c.subscribe("Work", false).await.unwrap();
    }
    let ns = c.namespace().await.unwrap();
    assert_eq!(ns.personal.len(), 1, "{ns:?}");
    c.examine("INBOX").await.unwrap();
    c.rename("Work", "Work2").await.unwrap();
    c.delete("Work2").await.unwrap();
    match c.status("Work", &[StatusItem::Messages]).await {
        Err(Error::No(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn typed_methods_against_mailwire_and_dovecot() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        let c = Client::connect(config(&srv, true), &Login::password("alice", "secret"))
            .await
            .unwrap();
        typed_script(&c).await;
    });
    let dovecot = mailwire_testkit::Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    for m in messages() {
        dovecot.add_message("alice", &m).unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new("localhost", dovecot.imaps().port(), Security::Implicit)
            .with_ca_file(dovecot.cert_pem_path());
        let c = Client::connect(cfg, &Login::password("alice", "secret"))
            .await
            .unwrap();
        typed_script(&c).await;
    });
}

/// Twisted's IMAP4Server, the seed system's own: STARTTLS (it says LOGINDISABLED before),
/// CRAM-MD5, a message sent to it over SMTP read back byte for byte.
#[test]
fn against_twisted_imap4server_with_starttls_and_cram_md5() {
    let twisted = mailwire_testkit::Twisted::start(true).expect("Twisted (tests/peers/install.sh)");
    let msg = "From: a@example.com\r\nTo: alice@example.com\r\nSubject: from twisted\r\n\r\nhello twisted\r\n";
    mailwire_testkit::python(
        &format!(
            "import smtplib\ns = smtplib.SMTP('127.0.0.1', {})\ns.sendmail('a@example.com', ['alice@example.com'], {msg:?}.encode())\ns.quit()\n",
            twisted.smtp().port()
        ),
        Duration::from_secs(60),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new(
            "localhost",
            twisted.imap().port(),
            Security::StartTls(TlsPolicy::Required),
        )
        .with_ca_file(twisted.cert_pem_path().expect("TLS"));
        let c = Client::connect(
            cfg,
            &Login::password("alice", "secret").with_mechanism(mailwire_sasl::Mechanism::CramMd5),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", twisted.log()));
        assert!(c.is_tls());
        let s = c.select("INBOX").await.unwrap();
        assert_eq!(s.exists, 1);
        let r = c.command("FETCH 1 (BODY.PEEK[])").await.unwrap();
        let bodies: Vec<Vec<u8>> = r.data.iter().filter_map(body).collect();
        assert_eq!(bodies.len(), 1, "{r:?}");
        // Twisted stores what SMTP gave it, with its Received line in front.
        assert!(
            bodies[0].ends_with(msg.as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&bodies[0])
        );
        c.noop().await.unwrap();
        c.logout().await.unwrap();
    });
}

/// A hostile server: greets, then answers each command line with what `answer` returns for
/// it (the tag of the command is given); after `limit` commands it closes.
async fn hostile(answer: fn(&str, &str) -> Vec<u8>) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hostile\r\n")
            .await
            .unwrap();
        let mut line = String::new();
        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
            let (tag, rest) = line.trim_end().split_once(' ').unwrap_or(("", ""));
            let out = answer(tag, rest);
            if w.write_all(&out).await.is_err() {
                break;
            }
            line.clear();
        }
    });
    port
}

#[test]
fn hostile_servers_are_refused_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Bytes after the STARTTLS go-ahead, before the handshake (response injection).
        let port = hostile(|tag, cmd| {
            if cmd.eq_ignore_ascii_case("STARTTLS") {
                format!("{tag} OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")
                    .into_bytes()
            } else {
                format!("{tag} OK\r\n").into_bytes()
            }
        })
        .await;
        let cfg = ClientConfig::new("localhost", port, Security::StartTls(TlsPolicy::Required));
        match Client::connect(cfg, &Login::password("alice", "secret")).await {
            Err(Error::Protocol(_) | Error::Tls(_)) => {}
            other => panic!("injection accepted: {other:?}"),
        }

        // A tagged answer for a tag never used, and a literal over the client's limit.
        let port = hostile(|tag, cmd| match cmd.split(' ').next().unwrap_or("") {
            "NOOP" => format!("ZZ9 OK never sent\r\n{tag} OK NOOP\r\n").into_bytes(),
            "FETCH" => format!("* 1 FETCH (BODY[] {{999999999999}}\r\n{tag} OK\r\n").into_bytes(),
            _ => format!("{tag} OK\r\n").into_bytes(),
        })
        .await;
        let mut cfg = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
        cfg.timeout = Duration::from_secs(5);
        let login = Login::password("alice", "secret").allow_plaintext_without_tls(true);
        let c = Client::connect(cfg, &login).await.unwrap();
        match c.noop().await {
            Err(Error::Protocol(_)) => {}
            other => panic!("unknown tag accepted: {other:?}"),
        }
        let started = std::time::Instant::now();
        match c.command("FETCH 1 BODY[]").await {
            Err(Error::Protocol(_) | Error::Closed | Error::Timeout(_)) => {}
            other => panic!("oversized literal accepted: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));

        // A set in a response code that would expand to four thousand million numbers.
        let port = hostile(|tag, cmd| match cmd.split(' ').next().unwrap_or("") {
            "UID" => format!("* ESEARCH (TAG \"{tag}\") UID ALL 1:4294967295\r\n{tag} OK\r\n")
                .into_bytes(),
            _ => format!("{tag} OK\r\n").into_bytes(),
        })
        .await;
        let mut cfg = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
        cfg.max_set_numbers = 1000;
        let c = Client::connect(cfg, &login).await.unwrap();
        match c.search(mailwire_imap::proto::SearchKey::All, true).await {
            Err(Error::Answer(_)) => {}
            other => panic!("unbounded set accepted: {other:?}"),
        }
        // The connection stays usable after an answer it could not use.
        c.noop().await.unwrap();
    });
}

#[test]
fn fetch_stream_hands_out_messages_one_by_one() {
    use mailwire_imap::proto::{FetchItem, FetchItems, Section, SequenceSet, Vec1};
    let srv = TestServer::memory();
    let n = 300usize;
    srv.rt.block_on(async {
        for i in 0..n {
            let m = format!("Subject: m{i}\r\n\r\n{}\r\n", "x".repeat(10_000 + i));
            srv.store
                .deliver("alice@example.com", m.into_bytes())
                .await
                .unwrap();
        }
        let c = Client::connect(config(&srv, true), &Login::password("alice", "secret"))
            .await
            .unwrap();
        c.examine("INBOX").await.unwrap();
        let items = FetchItems::Items(Vec1::one(FetchItem::BodySection {
            peek: true,
            section: Section::Top(None),
            partial: None,
        }));
        let mut stream = c
            .fetch_stream(&SequenceSet::all(), items, true, 4)
            .await
            .unwrap();
        let mut count = 0;
        let mut last_len = 0;
        while let Some(d) = stream.next().await {
            if let Some(b) = body(&d) {
                count += 1;
                last_len = b.len();
            }
        }
        let done = stream.finish().await.unwrap();
        assert_eq!(done.kind, mailwire_imap::proto::Completion::Ok);
        // The three of TestServer::memory, then ours.
        assert_eq!(count, n + 3);
        assert_eq!(
            last_len,
            format!("Subject: m{}\r\n\r\n", n - 1).len() + 10_000 + n - 1 + 2
        );
        // The connection goes on after the stream.
        c.noop().await.unwrap();

        // A reader that stops reading: after one timeout its FETCH fails, and the other
        // commands on the connection are answered instead of waiting behind it.
        let mut cfg = config(&srv, true);
        cfg.timeout = Duration::from_secs(1);
        let c = Client::connect(cfg, &Login::password("alice", "secret"))
            .await
            .unwrap();
        c.examine("INBOX").await.unwrap();
        let items = FetchItems::Items(Vec1::one(FetchItem::BodySection {
            peek: true,
            section: Section::Top(None),
            partial: None,
        }));
        let mut stalled = c
            .fetch_stream(&SequenceSet::all(), items, true, 1)
            .await
            .unwrap();
        assert!(stalled.next().await.is_some());
        let noop = tokio::time::timeout(Duration::from_secs(10), c.noop()).await;
        assert!(
            matches!(noop, Ok(Ok(()))),
            "the connection waited behind the reader: {noop:?}"
        );
        match stalled.finish().await {
            Err(Error::Timeout(t)) => assert_eq!(t, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        c.noop().await.unwrap();
    });
}

/// QRESYNC resync after another client's changes, against mailwire's server and Dovecot.
async fn qresync_script(a: &Client, b: &Client) {
    use mailwire_imap::proto::{Capability, Flag, SequenceSet, StoreKind};
    // Dovecot reports HIGHESTMODSEQ once CONDSTORE (here through QRESYNC) is enabled.
    let on = a.enable(&[Capability::QResync]).await.unwrap();
    assert!(on.contains(&Capability::QResync), "{on:?}");
    let s = a.select("INBOX").await.unwrap();
    let (v, m) = (
        s.uidvalidity.unwrap(),
        s.highest_modseq.expect("HIGHESTMODSEQ"),
    );
    a.examine("INBOX").await.unwrap();
    // The other client flags UID 1 and expunges UID 2.
    b.select("INBOX").await.unwrap();
    let one = SequenceSet::single(1).unwrap();
    let two = SequenceSet::single(2).unwrap();
    b.store(&one, StoreKind::Add, &[Flag::Flagged], true, None)
        .await
        .unwrap();
    b.store(&two, StoreKind::Add, &[Flag::Deleted], true, None)
        .await
        .unwrap();
    b.expunge(Some(&two)).await.unwrap();
    let r = a.select_qresync("INBOX", true, v, m, None).await.unwrap();
    assert_eq!(r.selected.exists, 2);
    assert_eq!(r.vanished.len(), 1, "{r:?}");
    assert_eq!(r.vanished[0].to_string(), "2");
    let changed_uids: Vec<u32> = r
        .changed
        .iter()
        .filter_map(|(_, items)| {
            items.as_slice().iter().find_map(|i| match i {
                MessageData::Uid(u) => Some(u.get()),
                _ => None,
            })
        })
        .collect();
    assert_eq!(changed_uids, [1], "{r:?}");
    // Another UIDVALIDITY: nothing reported.
    let r = a
        .select_qresync("INBOX", true, v + 1, m, None)
        .await
        .unwrap();
    assert!(r.vanished.is_empty() && r.changed.is_empty(), "{r:?}");
}

#[test]
fn qresync_against_mailwire_and_dovecot() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        let login = Login::password("alice", "secret");
        let a = Client::connect(config(&srv, true), &login).await.unwrap();
        let b = Client::connect(config(&srv, true), &login).await.unwrap();
        qresync_script(&a, &b).await;
        // SORT, THREAD and ID while here.
        use mailwire_imap::proto::{SearchKey, SortCriterion, SortKey, ThreadAlgorithm};
        let sorted = a
            .sort(
                &[SortCriterion {
                    reverse: true,
                    key: SortKey::Arrival,
                }],
                SearchKey::All,
                true,
            )
            .await
            .unwrap();
        assert_eq!(sorted.len(), 2);
        let threads = a
            .thread(ThreadAlgorithm::References, SearchKey::All, false)
            .await
            .unwrap();
        assert_eq!(threads.len(), 2, "{threads:?}");
        let id = a.id(&[("name", "mailwire-test")]).await.unwrap();
        assert!(id.iter().any(|(k, _)| k == "name"), "{id:?}");
    });
    let dovecot = mailwire_testkit::Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    for m in messages() {
        dovecot.add_message("alice", &m).unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new("localhost", dovecot.imaps().port(), Security::Implicit)
            .with_ca_file(dovecot.cert_pem_path());
        let login = Login::password("alice", "secret");
        let a = Client::connect(cfg.clone(), &login).await.unwrap();
        let b = Client::connect(cfg, &login).await.unwrap();
        qresync_script(&a, &b).await;
    });
}

/// COMPRESS=DEFLATE from the client, against mailwire's server (the project's Dovecot loads
/// no compression plugin, so it does not offer it); the server side was proven against
/// Python's zlib and offlineimap.
#[test]
fn compress_deflate_from_the_client() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        let mut cfg = config(&srv, true);
        cfg.compress = true;
        let c = Client::connect(cfg, &Login::password("alice", "secret"))
            .await
            .unwrap();
        assert!(c.is_compressed());
        c.select("INBOX").await.unwrap();
        // Pipelined, compressed both ways; the 240 KB message comes back whole.
        let mut tasks = Vec::new();
        for uid in 1..=3u32 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.command(&format!("UID FETCH {uid} (BODY.PEEK[])"))
                    .await
                    .unwrap()
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            let bodies: Vec<Vec<u8>> = r.data.iter().filter_map(body).collect();
            assert_eq!(bodies, [messages()[i].clone()]);
        }
        let mut events = c.events();
        let idle = c.idle().await.unwrap();
        srv.store
            .deliver("alice@example.com", &b"Subject: z\r\n\r\nzz\r\n"[..])
            .await
            .unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev, Unsolicited::Data(Data::Exists(4)));
        idle.done().await.unwrap();
        c.logout().await.unwrap();
        // Without the setting, nothing is compressed.
        let c = Client::connect(config(&srv, true), &Login::password("alice", "secret"))
            .await
            .unwrap();
        assert!(!c.is_compressed());
    });
}

/// One LMTP delivery to `rcpt` over a plain socket: LHLO, MAIL, RCPT, DATA; panics unless
/// every reply is 2xx/3xx as LMTP (RFC 2033 §4.2) expects.
async fn lmtp_deliver(addr: std::net::SocketAddr, rcpt: &str, message: &[u8]) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            assert!(
                r.read_line(&mut line).await.unwrap() > 0,
                "LMTP closed: {all}"
            );
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                assert!(matches!(line.as_bytes()[0], b'2' | b'3'), "LMTP said {all}");
                return all;
            }
        }
    }
    reply(&mut r).await;
    for cmd in [
        "LHLO client.test\r\n".to_string(),
        "MAIL FROM:<bob@example.org>\r\n".to_string(),
        format!("RCPT TO:<{rcpt}>\r\n"),
        "DATA\r\n".to_string(),
    ] {
        w.write_all(cmd.as_bytes()).await.unwrap();
        reply(&mut r).await;
    }
    w.write_all(message).await.unwrap();
    w.write_all(b".\r\n").await.unwrap();
    reply(&mut r).await;
    w.write_all(b"QUIT\r\n").await.unwrap();
}

/// Dovecot: a client in IDLE sees a message that Dovecot's own LMTP server delivered while it
/// idled, as an EXISTS event, without any command of its own.
#[test]
fn dovecot_idle_sees_an_lmtp_delivery() {
    use mailwire_imap::proto::{FetchItem, FetchItems, Section, SequenceSet, Vec1};
    let dovecot = mailwire_testkit::Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    for m in messages() {
        dovecot.add_message("alice", &m).unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new("localhost", dovecot.imaps().port(), Security::Implicit)
            .with_ca_file(dovecot.cert_pem_path());
        let c = Client::connect(cfg, &Login::password("alice", "secret"))
            .await
            .unwrap();
        assert_eq!(c.select("INBOX").await.unwrap().exists, 3);
        let mut events = c.events();
        let idle = c.idle().await.unwrap();
        let msg = b"Subject: by LMTP during IDLE\r\nMessage-ID: <idle-lmtp@test>\r\n\r\nhello\r\n";
        lmtp_deliver(dovecot.lmtp(), "alice@example.com", msg).await;
        let ev = loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("an event during IDLE")
                .unwrap();
            // Dovecot may send RECENT beside EXISTS.
            if matches!(ev, Unsolicited::Data(Data::Exists(_))) {
                break ev;
            }
        };
        assert_eq!(ev, Unsolicited::Data(Data::Exists(4)));
        idle.done().await.unwrap();
        assert_eq!(c.view().exists, 4);
        let f = c
            .fetch(
                &SequenceSet::single(4).unwrap(),
                FetchItems::Items(Vec1::one(FetchItem::BodySection {
                    section: Section::Top(None),
                    partial: None,
                    peek: true,
                })),
                false,
            )
            .await
            .unwrap();
        let data = Data::Fetch {
            seq: std::num::NonZeroU32::new(f[0].0).unwrap(),
            items: f[0].1.clone(),
        };
        let got = body(&data).expect("BODY[]");
        // LMTP adds its trace fields in front; the message follows them unchanged.
        assert!(got.ends_with(msg), "{}", String::from_utf8_lossy(&got));
        c.logout().await.unwrap();
    });
}

/// Twisted's IMAP4Server has none of LITERAL+, UIDPLUS, MOVE, ESEARCH, LIST-STATUS or
/// MULTIAPPEND: every typed method takes its fallback there (APPEND waits for `+`, MOVE is
/// COPY + STORE + EXPUNGE, LIST-STATUS is LIST + STATUS, SEARCH answers SEARCH), and
/// MULTIAPPEND is refused before anything is sent.
#[test]
fn typed_fallbacks_against_twisted() {
    use mailwire_imap::proto::{
        Capability, Flag, SearchKey, SequenceSet, StatusItem, StatusValue, StoreKind,
    };
    let twisted =
        mailwire_testkit::Twisted::start(false).expect("Twisted (tests/peers/install.sh)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new(
            "127.0.0.1",
            twisted.imap().port(),
            Security::StartTls(TlsPolicy::Disabled),
        );
        let login =
            Login::password("alice", "secret").with_mechanism(mailwire_sasl::Mechanism::CramMd5);
        let c = Client::connect(cfg, &login)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", twisted.log()));
        for cap in [
            Capability::LiteralPlus,
            Capability::UidPlus,
            Capability::Move,
            Capability::MultiAppend,
        ] {
            assert!(!c.has_capability(&cap), "Twisted now offers {cap:?}");
        }
        c.create("Work").await.unwrap();
        // No LITERAL+: the client waits for the `+` before each literal.
        for i in 0..3 {
            let appended = c
                .append(
                    "Work",
                    &[Flag::Seen],
                    format!("Subject: fallback {i}\r\n\r\nbody {i}\r\n").into_bytes(),
                )
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", twisted.log()));
            assert_eq!(appended, None, "no UIDPLUS, so no APPENDUID");
        }
        match c
            .append_many(
                "Work",
                vec![
                    Appendable::new(&b"a\r\n"[..]),
                    Appendable::new(&b"b\r\n"[..]),
                ],
            )
            .await
        {
            Err(Error::Command(_)) => {}
            other => panic!("MULTIAPPEND sent to a server without it: {other:?}"),
        }
        let listing = c
            .list_status("", "*", &[StatusItem::Messages])
            .await
            .unwrap();
        let work = listing
            .mailboxes
            .iter()
            .find(|l| l.mailbox.as_bytes() == b"Work")
            .expect("Work listed");
        assert_eq!(
            listing.status_of(&work.mailbox),
            Some(&[StatusValue::Number(StatusItem::Messages, 3)][..]),
            "{listing:?}"
        );
        c.select("Work").await.unwrap();
        let uids = c.search(SearchKey::All, true).await.unwrap();
        assert_eq!(uids.len(), 3, "{uids:?}");
        c.store(
            &SequenceSet::single(1).unwrap(),
            StoreKind::Add,
            &[Flag::Flagged],
            false,
            None,
        )
        .await
        .unwrap();
        assert_eq!(c.search(SearchKey::Flagged, false).await.unwrap(), [1]);
        // MOVE without MOVE or UIDPLUS: COPY, STORE \Deleted, EXPUNGE.
        let moved = c
            .r#move(&SequenceSet::single(1).unwrap(), "INBOX", false)
            .await
            .unwrap();
        assert!(moved.is_empty(), "no COPYUID from Twisted: {moved:?}");
        let st = c.status("INBOX", &[StatusItem::Messages]).await.unwrap();
        assert!(
            st.contains(&StatusValue::Number(StatusItem::Messages, 1)),
            "{st:?}"
        );
        assert_eq!(c.search(SearchKey::All, false).await.unwrap().len(), 2);
        assert_eq!(c.view().exists, 2);
        let ns = c.namespace().await.unwrap();
        assert_eq!(ns.personal.len(), 1, "{ns:?}");
        c.examine("INBOX").await.unwrap();
        c.rename("Work", "Work2").await.unwrap();
        c.delete("Work2").await.unwrap();
        c.logout().await.unwrap();
    });
}

/// CONDSTORE, QRESYNC, ESEARCH, BINARY, partial ranges and UTF-8 names through the typed
/// API, with the extensions turned on by `ClientConfig::enable`; the sequence map kept
/// through VANISHED.
async fn extensions_script(c: &Client, utf8: bool) {
    use mailwire_imap::proto::{
        Capability, FetchItem, FetchItems, FetchModifier, Flag, Partial, SearchKey,
        SearchReturnOption, Section, SequenceSet, StoreKind, Vec1,
    };
    let on = c.enabled();
    assert!(on.contains(&Capability::QResync), "{on:?}");
    assert_eq!(
        on.contains(&Capability::Utf8Accept) || on.contains(&Capability::Imap4Rev2),
        utf8,
        "{on:?}"
    );
    let _ = c.delete("Ext").await;
    c.create("Ext").await.unwrap();
    let plain = b"Subject: a\r\n\r\n0123456789abcdef\r\n".to_vec();
    let binary = b"Subject: b\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\
Content-Type: text/plain\r\n\r\nsee\r\n--q\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--q--\r\n"
        .to_vec();
    let mut uids = Vec::new();
    for m in [
        plain.clone(),
        binary,
        b"Subject: c\r\n\r\nthird\r\n".to_vec(),
    ] {
        let (_, uid) = c.append("Ext", &[], m).await.unwrap().expect("APPENDUID");
        uids.push(uid);
    }
    let s = c.select_condstore("Ext", false).await.unwrap();
    let m0 = s.highest_modseq.expect("HIGHESTMODSEQ");
    assert_eq!(c.view().highest_modseq, Some(m0));
    let uid = |u: u32| SequenceSet::single(u).unwrap();
    let items = |v: Vec<FetchItem>| FetchItems::Items(Vec1::try_from(v).unwrap());

    // A partial range and BINARY (the base64 part decoded by the server), with UIDs.
    let section = |fetched: &[(u32, Vec1<MessageData>)]| -> Vec<u8> {
        fetched[0]
            .1
            .iter()
            .find_map(|i| match i {
                MessageData::BodySection { data, .. } => {
                    data.as_ref().map(|d| d.as_bytes().to_vec())
                }
                MessageData::Binary { data, .. } => data.clone(),
                _ => None,
            })
            .expect("a section")
    };
    let partial = Partial {
        origin: 3,
        count: std::num::NonZeroU32::new(10).unwrap(),
    };
    let f = c
        .fetch(
            &uid(uids[0]),
            items(vec![
                FetchItem::Uid,
                FetchItem::BodySection {
                    peek: true,
                    section: Section::Top(None),
                    partial: Some(partial),
                },
            ]),
            true,
        )
        .await
        .unwrap();
    assert_eq!(section(&f), plain[3..13].to_vec());
    let f = c
        .fetch(
            &uid(uids[1]),
            items(vec![
                FetchItem::Uid,
                FetchItem::Binary {
                    peek: true,
                    part: vec![std::num::NonZeroU32::new(2).unwrap()],
                    partial: None,
                },
            ]),
            true,
        )
        .await
        .unwrap();
    assert_eq!(section(&f), [0u8, 1, 2, 255]);

    // The sequence map, learnt from FETCH UID.
    c.fetch(&SequenceSet::all(), items(vec![FetchItem::Uid]), false)
        .await
        .unwrap();
    assert_eq!(
        (1..=3).map(|n| c.uid_of(n)).collect::<Vec<_>>(),
        uids.iter().map(|&u| Some(u)).collect::<Vec<_>>()
    );

    // CHANGEDSINCE returns only what changed; UNCHANGEDSINCE refuses what changed since.
    c.store(&uid(uids[0]), StoreKind::Add, &[Flag::Flagged], true, None)
        .await
        .unwrap();
    let changed = c
        .fetch_with(
            &SequenceSet::all(),
            items(vec![FetchItem::Uid, FetchItem::Flags]),
            true,
            &[FetchModifier::ChangedSince(m0)],
        )
        .await
        .unwrap();
    assert_eq!(changed.messages.len(), 1, "{changed:?}");
    assert_eq!(c.uid_of(changed.messages[0].0), Some(uids[0]));
    let set = SequenceSet::range(uids[0], uids[1]).unwrap();
    let refused = c
        .store(&set, StoreKind::Add, &[Flag::Answered], true, Some(m0))
        .await
        .unwrap();
    assert_eq!(refused, [uids[0]], "MODIFIED");
    assert!(c.view().highest_modseq.unwrap() > m0);

    // ESEARCH's MIN, MAX and COUNT; RETURN () is ALL.
    let r = c
        .search_return(
            SearchKey::All,
            true,
            &[
                SearchReturnOption::Min,
                SearchReturnOption::Max,
                SearchReturnOption::Count,
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.min, r.max, r.count),
        (Some(uids[0]), Some(uids[2]), Some(3)),
        "{r:?}"
    );
    let r = c
        .search_return(SearchKey::Flagged, false, &[], None)
        .await
        .unwrap();
    assert_eq!(r.all, [1], "{r:?}");

    // UID EXPUNGE under QRESYNC: VANISHED, and the map closes the gap.
    c.store(&uid(uids[1]), StoreKind::Add, &[Flag::Deleted], true, None)
        .await
        .unwrap();
    let m1 = c.view().highest_modseq.unwrap();
    c.expunge(Some(&uid(uids[1]))).await.unwrap();
    assert_eq!(c.view().exists, 2);
    assert_eq!(c.seq_of(uids[2]), Some(2));
    assert_eq!(c.uid_of(1), Some(uids[0]));
    let since = c
        .fetch_with(
            &SequenceSet::range(1, uids[2]).unwrap(),
            items(vec![FetchItem::Flags]),
            true,
            &[FetchModifier::ChangedSince(m1), FetchModifier::Vanished],
        )
        .await
        .unwrap();
    assert_eq!(since.vanished, [uid(uids[1])], "{since:?}");

    if utf8 {
        let name = "Entw\u{fc}rfe";
        let _ = c.delete(name).await;
        c.create(name).await.unwrap();
        let listed = c.list("", "Entw*").await.unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        // Sent and listed as UTF-8, not modified UTF-7.
        assert_eq!(listed[0].mailbox.as_bytes(), name.as_bytes());
        c.delete(name).await.unwrap();
    }
    c.command("CLOSE").await.unwrap();
    c.delete("Ext").await.unwrap();
}

#[test]
fn extensions_against_mailwire_and_dovecot() {
    use mailwire_imap::proto::Capability;
    let wanted = [
        Capability::CondStore,
        Capability::QResync,
        Capability::Utf8Accept,
        Capability::Imap4Rev2,
    ];
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        let c = Client::connect(
            config(&srv, true).with_enable(&wanted),
            &Login::password("alice", "secret"),
        )
        .await
        .unwrap();
        extensions_script(&c, true).await;
    });
    let dovecot = mailwire_testkit::Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new("localhost", dovecot.imaps().port(), Security::Implicit)
            .with_ca_file(dovecot.cert_pem_path())
            .with_enable(&wanted);
        let c = Client::connect(cfg, &Login::password("alice", "secret"))
            .await
            .unwrap();
        let utf8 = c.has_capability(&Capability::Utf8Accept);
        extensions_script(&c, utf8).await;
    });
}

/// A scripted server: sends `greeting`, then answers each line the client sends with what
/// `answer` returns (empty: nothing); every line received is kept in the returned list.
/// `None` from `answer` closes the connection.
async fn scripted(
    greeting: &'static str,
    mut answer: impl FnMut(&str) -> Option<Vec<u8>> + Send + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        // One connection after the other, all answered by the same script.
        while let Ok((s, _)) = l.accept().await {
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            w.write_all(greeting.as_bytes()).await.unwrap();
            let mut line = String::new();
            while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                let l = line.trim_end().to_owned();
                log.lock().unwrap().push(l.clone());
                match answer(&l) {
                    Some(out) => {
                        if w.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                }
                line.clear();
            }
        }
    });
    (port, seen)
}

fn tag_of(line: &str) -> &str {
    line.split(' ').next().unwrap_or("")
}

fn cleartext(port: u16) -> ClientConfig {
    let mut cfg = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
    cfg.timeout = Duration::from_secs(5);
    cfg
}

/// The login rules over cleartext: PREAUTH refused while TLS is required, a named
/// plaintext mechanism refused without the caller's leave, LOGINDISABLED honoured, SASL-IR
/// sending PLAIN in the command line, XOAUTH2 and OAUTHBEARER carrying the token,
/// capabilities taken from a tagged OK's code, a raw AUTHENTICATE cancelled instead of
/// hanging.
#[test]
fn login_rules_against_scripted_servers() {
    use base64::Engine as _;
    use mailwire_imap::proto::Capability;
    use mailwire_sasl::Mechanism;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // PREAUTH on cleartext while TLS is required: refused before any command.
        let (port, seen) = scripted("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n", |l| {
            Some(format!("{} OK\r\n", tag_of(l)).into_bytes())
        })
        .await;
        let cfg = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Required));
        match Client::connect(cfg, &Login::password("alice", "secret")).await {
            Err(Error::Greeting(_)) => {}
            other => panic!("PREAUTH on cleartext accepted: {other:?}"),
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );

        // PLAIN named by the caller over cleartext, without leave: nothing is sent.
        let (port, seen) = scripted(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2] hi\r\n",
            |l| Some(format!("{} OK\r\n", tag_of(l)).into_bytes()),
        )
        .await;
        for login in [
            Login::password("alice", "secret").with_mechanism(Mechanism::Plain),
            Login::oauth("alice", "tok").with_mechanism(Mechanism::XOAuth2),
        ] {
            match Client::connect(cleartext(port), &login).await {
                Err(Error::NoLoginMethod(_)) => {}
                other => panic!("cleartext secret sent: {other:?}"),
            }
        }
        let lines = seen.lock().unwrap().clone();
        assert!(
            lines.iter().all(|l| !l.contains("AUTHENTICATE")),
            "{lines:?}"
        );

        // LOGINDISABLED: no LOGIN command, even with leave for cleartext.
        let (port, seen) = scripted("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n", |l| {
            Some(format!("{} OK\r\n", tag_of(l)).into_bytes())
        })
        .await;
        let login = Login::password("alice", "secret").allow_plaintext_without_tls(true);
        match Client::connect(cleartext(port), &login).await {
            Err(Error::NoLoginMethod(_)) => {}
            other => panic!("LOGIN sent under LOGINDISABLED: {other:?}"),
        }
        assert!(seen.lock().unwrap().iter().all(|l| !l.contains("LOGIN")));

        // SASL-IR: PLAIN's response in the command itself; the tagged OK's capabilities.
        let (port, seen) = scripted(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n",
            |l| {
                let t = tag_of(l);
                Some(if l.contains("AUTHENTICATE") {
                    format!("{t} OK [CAPABILITY IMAP4rev1 MOVE IDLE] in\r\n").into_bytes()
                } else {
                    format!("{t} OK\r\n").into_bytes()
                })
            },
        )
        .await;
        let c = Client::connect(cleartext(port), &login).await.unwrap();
        let auth = seen
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("AUTHENTICATE"))
            .cloned()
            .unwrap();
        let parts: Vec<&str> = auth.split(' ').collect();
        assert_eq!(parts[1..3], ["AUTHENTICATE", "PLAIN"], "{auth}");
        assert_eq!(b64(parts[3]), b"\0alice\0secret", "{auth}");
        assert!(
            c.has_capability(&Capability::Move),
            "{:?}",
            c.capabilities()
        );
        assert!(!c.has_capability(&Capability::Auth(
            mailwire_imap::proto::Atom::new("PLAIN").unwrap()
        )));

        // Without SASL-IR: the mechanism waits for `+`, then sends its response alone.
        // XOAUTH2 and OAUTHBEARER carry the bearer token.
        for (mech, cap) in [
            (Mechanism::XOAuth2, "AUTH=XOAUTH2"),
            (Mechanism::OAuthBearer, "AUTH=OAUTHBEARER"),
        ] {
            let greeting: &'static str =
                Box::leak(format!("* OK [CAPABILITY IMAP4rev1 {cap}] hi\r\n").into_boxed_str());
            let mut pending = None::<String>;
            let (port, seen) = scripted(greeting, move |l| {
                if l.contains("AUTHENTICATE") {
                    pending = Some(tag_of(l).to_owned());
                    return Some(b"+ \r\n".to_vec());
                }
                Some(match pending.take() {
                    Some(t) => format!("{t} OK in\r\n").into_bytes(),
                    None => format!("{} OK\r\n", tag_of(l)).into_bytes(),
                })
            })
            .await;
            let login = Login::oauth("alice", "tok-123")
                .with_mechanism(mech)
                .allow_plaintext_without_tls(true);
            let c = Client::connect(cleartext(port), &login).await.unwrap();
            let lines = seen.lock().unwrap().clone();
            let i = lines
                .iter()
                .position(|l| l.contains("AUTHENTICATE"))
                .unwrap();
            assert_eq!(
                lines[i].split(' ').count(),
                3,
                "no initial response: {lines:?}"
            );
            let answer = String::from_utf8(b64(&lines[i + 1])).unwrap();
            assert!(answer.contains("auth=Bearer tok-123\u{1}"), "{answer:?}");
            assert!(answer.contains("alice"), "{answer:?}");
            c.logout().await.unwrap();
        }

        // AUTHENTICATE as a raw command: cancelled with `*`, its BAD comes back at once.
        let mut pending = None::<String>;
        let (port, seen) = scripted(
            "* PREAUTH [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n",
            move |l| {
                if l.contains("AUTHENTICATE") {
                    pending = Some(tag_of(l).to_owned());
                    return Some(b"+ \r\n".to_vec());
                }
                Some(match (l, pending.take()) {
                    ("*", Some(t)) => format!("{t} BAD cancelled\r\n").into_bytes(),
                    _ if l.contains(" LOGIN ") => {
                        format!("{} OK [CAPABILITY IMAP4rev1 MOVE] in\r\n", tag_of(l)).into_bytes()
                    }
                    _ => format!("{} OK\r\n", tag_of(l)).into_bytes(),
                })
            },
        )
        .await;
        let c = Client::connect_without_login(cleartext(port))
            .await
            .unwrap();
        let t = std::time::Instant::now();
        match c.command("AUTHENTICATE PLAIN").await {
            Err(Error::Bad(_)) => {}
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        assert!(seen.lock().unwrap().iter().any(|l| l == "*"));
        c.noop().await.unwrap();
        // LOGIN sent raw (as the console does): the capabilities of its OK are taken.
        assert!(!c.has_capability(&Capability::Move));
        c.command("LOGIN alice secret").await.unwrap();
        assert!(
            c.has_capability(&Capability::Move),
            "{:?}",
            c.capabilities()
        );
    });
}

/// Unsolicited data kept in the view: EXISTS, EXPUNGE, VANISHED (with and without EARLIER),
/// HIGHESTMODSEQ in an untagged OK, UIDs from FETCH; an ALERT during a command reaches the
/// events as well as the reply.
#[test]
fn mailbox_state_and_alerts_from_a_scripted_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut noops = 0;
        let (port, _) = scripted(
            "* PREAUTH [CAPABILITY IMAP4rev1 CONDSTORE] hi\r\n",
            move |l| {
                let t = tag_of(l);
                let cmd = l.split(' ').nth(1).unwrap_or("");
                Some(match cmd {
                    "SELECT" => format!(
                        "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [HIGHESTMODSEQ 10] x\r\n\
                         {t} OK [READ-WRITE] done\r\n"
                    ),
                    "FETCH" => format!(
                        "* 1 FETCH (UID 10)\r\n* 2 FETCH (UID 20)\r\n* 3 FETCH (UID 30)\r\n{t} OK\r\n"
                    ),
                    "NOOP" => {
                        noops += 1;
                        match noops {
                            1 => format!(
                                "* 2 EXPUNGE\r\n* 4 EXISTS\r\n* 4 FETCH (UID 40 MODSEQ (12))\r\n\
                                 * OK [ALERT] the disk is nearly full\r\n{t} OK\r\n"
                            ),
                            2 => format!("* VANISHED 30\r\n* OK [HIGHESTMODSEQ 15] x\r\n{t} OK\r\n"),
                            3 => format!("* VANISHED (EARLIER) 5:9\r\n{t} OK\r\n"),
                            _ => format!("* VANISHED 99\r\n{t} OK\r\n"),
                        }
                    }
                    _ => format!("{t} OK\r\n"),
                }
                .into_bytes())
            },
        )
        .await;
        let c = Client::connect_without_login(cleartext(port)).await.unwrap();
        let mut events = c.events();
        let s = c.select("INBOX").await.unwrap();
        assert_eq!((s.exists, s.uidvalidity, s.highest_modseq), (3, Some(7), Some(10)));
        assert_eq!(c.uid_of(1), None);
        c.command("FETCH 1:* UID").await.unwrap();
        assert_eq!([c.uid_of(1), c.uid_of(2), c.uid_of(3)], [Some(10), Some(20), Some(30)]);

        c.noop().await.unwrap();
        let v = c.view();
        assert_eq!((v.exists, v.highest_modseq), (4, Some(12)));
        assert_eq!(
            (1..=4).map(|n| c.uid_of(n)).collect::<Vec<_>>(),
            [Some(10), Some(30), None, Some(40)]
        );
        let mut got = Vec::new();
        while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            got.push(e);
        }
        assert!(
            got.iter().any(|e| matches!(e, Unsolicited::Status(u) if u.code == Some(Code::Alert))),
            "{got:?}"
        );
        assert!(got.contains(&Unsolicited::Data(Data::Expunge(
            std::num::NonZeroU32::new(2).unwrap()
        ))));

        // VANISHED: one message fewer per UID, the map closes up.
        c.noop().await.unwrap();
        assert_eq!((c.view().exists, c.view().highest_modseq), (3, Some(15)));
        assert_eq!(c.seq_of(40), Some(3));
        assert_eq!(c.seq_of(30), None);
        // EARLIER changes no count.
        c.noop().await.unwrap();
        assert_eq!(c.view().exists, 3);
        // A UID never learnt: the count still drops, the positions are no longer known.
        c.noop().await.unwrap();
        assert_eq!(c.view().exists, 2);
        assert_eq!(c.seq_of(40), None);
        assert_eq!(c.uid_of(1), None);
    });
}

/// A lost connection fails every command in flight with the cause: the end of the stream
/// (Closed), or the read timeout (Timeout with its length).
#[test]
fn commands_in_flight_fail_with_the_cause_of_the_loss() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Closed by the server with three commands unanswered.
        let mut n = 0;
        let (port, _) = scripted("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n", move |l| {
            if l.contains("NOOP") {
                n += 1;
                return if n < 3 { Some(Vec::new()) } else { None };
            }
            Some(format!("{} OK\r\n", tag_of(l)).into_bytes())
        })
        .await;
        let c = Client::connect_without_login(cleartext(port))
            .await
            .unwrap();
        let (a, b, d) = tokio::join!(c.noop(), c.noop(), c.noop());
        for r in [a, b, d] {
            assert!(matches!(r, Err(Error::Closed)), "{r:?}");
        }
        assert!(matches!(c.noop().await, Err(Error::Closed)));

        // A server that stops answering: each waiting command gets the timeout.
        let (port, _) = scripted("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n", |l| {
            Some(if l.contains("NOOP") {
                Vec::new()
            } else {
                format!("{} OK\r\n", tag_of(l)).into_bytes()
            })
        })
        .await;
        let mut cfg = cleartext(port);
        cfg.timeout = Duration::from_secs(1);
        let c = Client::connect_without_login(cfg).await.unwrap();
        let t = std::time::Instant::now();
        let (a, b) = tokio::join!(c.noop(), c.noop());
        for r in [a, b] {
            assert!(
                matches!(r, Err(Error::Timeout(d)) if d == Duration::from_secs(1)),
                "{r:?}"
            );
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    });
}
