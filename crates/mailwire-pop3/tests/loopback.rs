//! mailwire's POP3 client against mailwire's POP3 server over real sockets on 127.0.0.1, and
//! both against hostile peers: STLS command injection, response injection, a server that
//! stalls mid-RETR, overlong lines, the maildrop lock and durable QUIT.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailwire_pop3::client::{AuthMethod, Client, ClientConfig, Error, Login};
use mailwire_pop3::proto::ResponseCode;
use mailwire_pop3::server::{
    Listener, MaildropProvider, MemoryMaildrops, Server, ServerOptions, StoreMaildrops,
};
use mailwire_sasl::{Mechanism, StaticAuthenticator};
use mailwire_tls::{Security, SelfSigned, TlsPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;

struct TestServer {
    rt: tokio::runtime::Runtime,
    pop3: SocketAddr,
    pop3s: SocketAddr,
    drops: MemoryMaildrops,
    ca: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

fn messages() -> Vec<Vec<u8>> {
    vec![
        b"From: a@example.com\r\nSubject: one\r\n\r\nHello\r\n.\r\n..two dots\r\nend\r\n".to_vec(),
        b"Subject: two\r\n\r\n".to_vec(),
        [
            b"Subject: big\r\n\r\n".as_slice(),
            &b".line of a big message\r\n".repeat(20_000),
        ]
        .concat(),
    ]
}

impl TestServer {
    fn start(options: ServerOptions) -> Self {
        Self::start_with(options, MemoryMaildrops::new())
    }

    fn start_with(options: ServerOptions, drops: MemoryMaildrops) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        for m in messages() {
            drops.add_message("alice", m);
        }
        let cert = SelfSigned::localhost().unwrap();
        let ca = tempfile::tempdir().unwrap();
        cert.write_to_dir(ca.path()).unwrap();
        let auth = Arc::new(StaticAuthenticator::new().with_user("alice", "secret"));
        let server = Server::new(options, drops.clone(), auth, Some(cert.acceptor()));
        let (stop, rx) = watch::channel(false);
        let mut addrs = Vec::new();
        for kind in [Listener::Pop3, Listener::Pop3s] {
            let l = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            addrs.push(l.local_addr().unwrap());
            rt.spawn(Arc::clone(&server).serve(l, kind, rx.clone(), Duration::from_secs(5)));
        }
        Self {
            rt,
            pop3: addrs[0],
            pop3s: addrs[1],
            drops,
            ca,
            _stop: stop,
        }
    }

    fn config(&self, implicit: bool) -> ClientConfig {
        let (addr, security) = if implicit {
            (self.pop3s, Security::Implicit)
        } else {
            (self.pop3, Security::StartTls(TlsPolicy::Required))
        };
        ClientConfig::new("127.0.0.1", addr.port(), security)
            .with_ca_file(self.ca.path().join("cert.pem"))
            .with_timeout(Duration::from_secs(20))
    }
}

fn raw(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    (s, r)
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

#[test]
fn client_and_server_over_stls_and_pop3s() {
    let srv = TestServer::start(ServerOptions::default());
    for implicit in [false, true] {
        srv.rt.block_on(async {
            let mut c = Client::connect(srv.config(implicit)).await.unwrap();
            assert!(c.is_tls());
            let caps = c.capabilities().clone();
            assert!(caps.pipelining && caps.top && caps.uidl && caps.user && !caps.stls);
            assert!(caps.sasl.contains(&Mechanism::ScramSha256), "{caps:?}");
            assert!(c.apop_timestamp().is_some());
            c.login(&Login::password("alice", "secret")).await.unwrap();
            assert_eq!(c.stat().await.unwrap().0, 3);
            let list = c.list().await.unwrap();
            let want = messages();
            for (l, m) in list.iter().zip(&want) {
                assert_eq!(l.size, m.len() as u64);
            }
            for (i, m) in want.iter().enumerate() {
                assert_eq!(&c.retr(i as u32 + 1).await.unwrap(), m, "message {i}");
            }
            // Pipelined batch: bytes retrieved equal bytes delivered.
            let mut got = vec![Vec::new(); 3];
            c.retr_batch(&[1, 2, 3, 9], |n, item| {
                if let mailwire_pop3::client::BatchItem::Data(d) = item {
                    got[n as usize - 1].extend_from_slice(d);
                }
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(got, want);
            let mut top = Vec::new();
            c.top_to(1, 1, &mut top).await.unwrap();
            assert_eq!(top, b"From: a@example.com\r\nSubject: one\r\n\r\nHello\r\n");
            let uidl = c.uidl().await.unwrap();
            let seen: HashSet<String> = uidl[..2].iter().map(|u| u.id.to_string()).collect();
            let new = c.new_messages(&seen).await.unwrap();
            assert_eq!(new.len(), 1);
            assert_eq!(new[0].message, 3);
            c.quit().await.unwrap();
        });
    }
    assert_eq!(srv.drops.messages("alice").len(), 3);
}

#[test]
fn sasl_mechanisms_and_apop_against_our_server() {
    let srv = TestServer::start(ServerOptions::default());
    srv.rt.block_on(async {
        for method in [
            AuthMethod::Sasl(Mechanism::ScramSha256),
            AuthMethod::Sasl(Mechanism::ScramSha1),
            AuthMethod::Sasl(Mechanism::CramMd5),
            AuthMethod::Sasl(Mechanism::Plain),
            AuthMethod::Sasl(Mechanism::Login),
            AuthMethod::UserPass,
            AuthMethod::Apop,
        ] {
            let mut c = Client::connect(srv.config(false)).await.unwrap();
            c.login(&Login::password("alice", "secret").with_method(method))
                .await
                .unwrap_or_else(|e| panic!("{method:?}: {e}"));
            assert_eq!(c.stat().await.unwrap().0, 3, "{method:?}");
            c.quit().await.unwrap();
            let mut c = Client::connect(srv.config(true)).await.unwrap();
            let err = c
                .login(&Login::password("alice", "wrong").with_method(method))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::Server(s) if s.code() == Some(&ResponseCode::Auth)),
                "{method:?}: {err}"
            );
        }
    });
}

#[test]
fn dele_applies_only_at_quit_and_dropped_connections_delete_nothing() {
    let srv = TestServer::start(ServerOptions::default());
    srv.rt.block_on(async {
        let mut c = Client::connect(srv.config(true)).await.unwrap();
        c.login(&Login::password("alice", "secret")).await.unwrap();
        c.dele_batch(&[1, 3]).await.unwrap();
        assert_eq!(srv.drops.messages("alice").len(), 3);
        assert!(srv.drops.is_locked("alice"));
        // A second session is refused while the first holds the lock.
        let mut c2 = Client::connect(srv.config(true)).await.unwrap();
        let err = c2
            .login(&Login::password("alice", "secret"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Server(s) if s.code() == Some(&ResponseCode::InUse)),
            "{err}"
        );
        drop(c); // connection dropped without QUIT
    });
    // The server notices the close and releases the lock.
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.drops.is_locked("alice") {
        assert!(Instant::now() < deadline, "lock not released");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        srv.drops.messages("alice").len(),
        3,
        "a dropped connection deleted mail"
    );
    srv.rt.block_on(async {
        let mut c = Client::connect(srv.config(true)).await.unwrap();
        c.login(&Login::password("alice", "secret")).await.unwrap();
        c.dele(1).await.unwrap();
        c.dele(3).await.unwrap();
        let bye = c.quit().await.unwrap();
        assert!(bye.text().contains("2 messages deleted"), "{bye}");
    });
    // QUIT's +OK came after the deletions were made.
    assert_eq!(srv.drops.messages("alice"), vec![messages()[1].clone()]);
}

#[test]
fn the_store_adapter_serves_the_embedded_store() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = mailwire_store::Store::memory();
        store.add_user("alice", "secret").await.unwrap();
        for m in messages() {
            store.deliver("alice@example.com", m).await.unwrap();
        }
        let cert = SelfSigned::localhost().unwrap();
        let ca = tempfile::tempdir().unwrap();
        cert.write_to_dir(ca.path()).unwrap();
        let drops = StoreMaildrops::new(store.clone());
        let server = Server::new(
            ServerOptions::default(),
            drops,
            Arc::new(store.clone()),
            Some(cert.acceptor()),
        );
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (_stop, rx) = watch::channel(false);
        tokio::spawn(Arc::clone(&server).serve(l, Listener::Pop3s, rx, Duration::from_secs(1)));
        let config = ClientConfig::new("127.0.0.1", port, Security::Implicit)
            .with_ca_file(ca.path().join("cert.pem"));
        let mut c = Client::connect(config.clone()).await.unwrap();
        c.login(&Login::password("alice", "secret")).await.unwrap();
        let uidl = c.uidl().await.unwrap();
        assert_eq!(uidl.len(), 3);
        for (i, m) in messages().iter().enumerate() {
            assert_eq!(&c.retr(i as u32 + 1).await.unwrap(), m);
        }
        c.dele(2).await.unwrap();
        c.quit().await.unwrap();
        let mut c = Client::connect(config).await.unwrap();
        c.login(&Login::password("alice", "secret")).await.unwrap();
        let after = c.uidl().await.unwrap();
        assert_eq!(after.len(), 2);
        // UIDL ids are stable across sessions.
        assert_eq!(after[0].id, uidl[0].id);
        assert_eq!(after[1].id, uidl[2].id);
        c.quit().await.unwrap();
        assert!(server.maildrops().lock("alice").await.is_ok());
    });
}

#[test]
fn stls_command_injection_is_refused() {
    let srv = TestServer::start(ServerOptions::default());
    let (mut s, mut r) = raw(srv.pop3);
    s.write_all(b"STLS\r\nUSER alice\r\nPASS secret\r\n")
        .unwrap();
    let l = line(&mut r);
    assert!(l.starts_with("-ERR Commands pipelined after STLS"), "{l}");
    let mut rest = String::new();
    assert_eq!(r.read_to_string(&mut rest).unwrap_or(0), 0, "{rest}");
    // Bytes arriving after the +OK but before the ClientHello are TLS records to rustls: the
    // handshake fails and nothing is executed.
    let (mut s, mut r) = raw(srv.pop3);
    s.write_all(b"STLS\r\n").unwrap();
    assert!(line(&mut r).starts_with("+OK Begin TLS"));
    s.write_all(b"USER alice\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("+OK"), "{rest:?}");
}

#[test]
fn overlong_command_line_is_refused_and_bounded() {
    let srv = TestServer::start(ServerOptions::default());
    let (mut s, mut r) = raw(srv.pop3);
    s.write_all(format!("USER {}\r\n", "a".repeat(300)).as_bytes())
        .unwrap();
    assert_eq!(line(&mut r), "-ERR Line too long\r\n");
    // A megabyte without CRLF: refused as soon as the limit is crossed, then resynchronised.
    let mut big = vec![b'N'; 1 << 20];
    big.extend_from_slice(b"\r\nCAPA\r\n");
    s.write_all(&big).unwrap();
    assert_eq!(line(&mut r), "-ERR Line too long\r\n");
    assert_eq!(line(&mut r), "+OK Capability list follows\r\n");
}

#[test]
fn plaintext_login_is_refused_without_tls_and_client_fails_closed() {
    let srv = TestServer::start(ServerOptions::default());
    let (mut s, mut r) = raw(srv.pop3);
    s.write_all(b"USER alice\r\n").unwrap();
    assert!(line(&mut r).starts_with("-ERR [AUTH] Plaintext authentication requires TLS"));
    s.write_all(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n").unwrap();
    assert!(line(&mut r).starts_with("-ERR [AUTH]"));
    // The client, told to use USER/PASS in cleartext, refuses by itself.
    srv.rt.block_on(async {
        let config = srv.config(false).with_tls_policy(TlsPolicy::Disabled);
        let mut c = Client::connect(config).await.unwrap();
        assert!(!c.is_tls());
        let err = c
            .login(&Login::password("alice", "secret").with_method(AuthMethod::UserPass))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NoLoginMethod(_)), "{err}");
        // Auto picks a challenge-response mechanism instead.
        c.login(&Login::password("alice", "secret")).await.unwrap();
    });
}

/// A fake server on a thread: runs `script` on the accepted socket.
fn fake_server(script: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            script(s);
        }
    });
    port
}

fn read_line(s: &mut TcpStream) -> String {
    let mut v = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).unwrap_or(0) == 1 {
        v.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&v).into_owned()
}

#[test]
fn client_refuses_missing_stls_and_injected_responses() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A server without STLS: Required fails closed before any credential is sent.
    let port = fake_server(|mut s| {
        s.write_all(b"+OK hi\r\n").unwrap();
        assert_eq!(read_line(&mut s), "CAPA\r\n");
        s.write_all(b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n").unwrap();
        let next = read_line(&mut s);
        assert!(next.is_empty(), "client sent {next:?}");
    });
    let err = rt
        .block_on(Client::connect(ClientConfig::new(
            "127.0.0.1",
            port,
            Security::StartTls(TlsPolicy::Required),
        )))
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(mailwire_tls::Error::StartTlsUnavailable)),
        "{err}"
    );
    // A man in the middle appends a response to the STLS go-ahead.
    let port = fake_server(|mut s| {
        s.write_all(b"+OK hi\r\n").unwrap();
        read_line(&mut s);
        s.write_all(b"+OK\r\nSTLS\r\n.\r\n").unwrap();
        assert_eq!(read_line(&mut s), "STLS\r\n");
        s.write_all(b"+OK go ahead\r\n+OK 0 0\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    let err = rt
        .block_on(Client::connect(ClientConfig::new(
            "127.0.0.1",
            port,
            Security::StartTls(TlsPolicy::Required),
        )))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls(mailwire_tls::Error::BufferedAfterStartTls { .. })
        ),
        "{err}"
    );
}

#[test]
fn the_password_follows_only_an_accepted_user_even_with_pipelining() {
    // PIPELINING is advertised, yet PASS waits for USER's answer: a refused USER gets no
    // password (and Dovecot's login process delays a pipelined PASS by about 40 ms).
    let (tx, rx) = std::sync::mpsc::channel();
    let port = fake_server(move |mut s| {
        s.write_all(b"+OK hi\r\n").unwrap();
        read_line(&mut s); // CAPA
        s.write_all(b"+OK\r\nUSER\r\nPIPELINING\r\n.\r\n").unwrap();
        let user = read_line(&mut s);
        // Anything sent with USER, before its answer, is already here.
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut early = [0u8; 64];
        let n = s.read(&mut early).unwrap_or(0);
        s.write_all(b"-ERR no such user\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let after = read_line(&mut s);
        tx.send((user, early[..n].to_vec(), after)).unwrap();
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(async {
            let config =
                ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
            let mut c = Client::connect(config).await?;
            c.login(
                &Login::password("mallory", "secret")
                    .with_method(AuthMethod::UserPass)
                    .allow_plaintext_without_tls(true),
            )
            .await
        })
        .unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err}");
    let (user, early, after) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(user, "USER mallory\r\n");
    assert!(early.is_empty(), "sent before USER was answered: {early:?}");
    assert!(
        !after.contains("PASS"),
        "PASS sent after a refused USER: {after:?}"
    );
}

#[test]
fn a_server_that_stalls_mid_retr_never_hangs_the_client() {
    let port = fake_server(|mut s| {
        s.write_all(b"+OK hi\r\n").unwrap();
        read_line(&mut s); // CAPA
        s.write_all(b"+OK\r\nUSER\r\n.\r\n").unwrap();
        read_line(&mut s); // USER
        s.write_all(b"+OK\r\n").unwrap();
        read_line(&mut s); // PASS
        s.write_all(b"+OK\r\n").unwrap();
        read_line(&mut s); // CAPA
        s.write_all(b"+OK\r\n.\r\n").unwrap();
        read_line(&mut s); // RETR 1
        s.write_all(b"+OK\r\nSubject: half a message\r\n").unwrap();
        std::thread::sleep(Duration::from_secs(30));
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let err = rt
        .block_on(async {
            let config =
                ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled))
                    .with_timeout(Duration::from_secs(1));
            let mut c = Client::connect(config).await?;
            c.login(
                &Login::password("alice", "secret")
                    .with_method(AuthMethod::UserPass)
                    .allow_plaintext_without_tls(true),
            )
            .await?;
            let mut sink = Vec::new();
            c.retr_to(1, &mut sink).await
        })
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn connection_limit_and_idle_autologout() {
    let srv = TestServer::start(ServerOptions {
        max_connections: 1,
        idle_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    });
    let (_s, _r) = raw(srv.pop3);
    let s2 = TcpStream::connect(srv.pop3).unwrap();
    s2.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r2 = BufReader::new(s2);
    assert!(line(&mut r2).starts_with("-ERR [SYS/TEMP] Too many connections"));
    // The idle one is logged out silently.
    let (_s, mut r) = raw(srv.pop3s_plain_check());
    let mut rest = String::new();
    let started = Instant::now();
    let _ = r.read_to_string(&mut rest);
    assert!(rest.is_empty(), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

impl TestServer {
    /// The cleartext listener again, once the first connection is gone.
    fn pop3s_plain_check(&self) -> SocketAddr {
        std::thread::sleep(Duration::from_millis(800));
        self.pop3
    }
}

#[test]
fn graceful_shutdown_tells_idle_sessions_and_deletes_nothing() {
    let srv = TestServer::start(ServerOptions::default());
    let (mut s, mut r) = raw(srv.pop3);
    s.write_all(b"CAPA\r\n").unwrap();
    while line(&mut r) != ".\r\n" {}
    srv._stop.send(true).unwrap();
    let l = line(&mut r);
    assert!(l.starts_with("-ERR [SYS/TEMP] server shutting down"), "{l}");
    assert_eq!(srv.drops.messages("alice").len(), 3);
    // New connections are refused once the listener is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(srv.pop3).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads message `index` through a maildrop view, whole.
async fn read_all(
    view: &mut Box<dyn mailwire_pop3::server::MaildropView>,
    index: usize,
) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut r = view.read(index).await.unwrap();
    let mut v = Vec::new();
    r.read_to_end(&mut v).await.unwrap();
    v
}

#[test]
fn the_store_adapter_reads_ahead_in_order_and_answers_any_order() {
    use mailwire_pop3::server::MaildropProvider;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = mailwire_store::Store::maildir(dir.path()).unwrap();
        store.add_user("alice", "secret").await.unwrap();
        // 150 messages of different sizes, some larger than the read-ahead byte budget, so
        // batches end on both limits.
        let body = |i: usize| {
            let fill = if i % 50 == 7 { 1_100_000 } else { 100 + i * 37 };
            format!("Subject: {i}\r\n\r\n{}\r\n", "x".repeat(fill)).into_bytes()
        };
        for i in 0..150 {
            store.deliver("alice@example.com", body(i)).await.unwrap();
        }
        let drops = StoreMaildrops::new(store.clone());
        let mut view = drops.lock("alice").await.unwrap();
        // In order (read ahead in batches), then backwards, repeated and skipping.
        for i in 0..150 {
            assert_eq!(read_all(&mut view, i).await, body(i), "in order, {i}");
        }
        for i in [149, 3, 3, 4, 90, 2, 120, 121, 0] {
            assert_eq!(read_all(&mut view, i).await, body(i), "any order, {i}");
        }
        // A message that vanished from disk fails alone; the batch around it still serves.
        drop(view);
        let mut view = drops.lock("alice").await.unwrap();
        assert_eq!(read_all(&mut view, 0).await, body(0));
        let cur = dir.path().join("alice").join("cur");
        let new = dir.path().join("alice").join("new");
        let mut files: Vec<_> = [cur, new]
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| std::fs::read(p).is_ok_and(|b| b == body(40)))
            .collect();
        assert_eq!(files.len(), 1, "message 40 on disk");
        std::fs::remove_file(files.pop().unwrap()).unwrap();
        for i in 1..150 {
            if i == 40 {
                assert!(view.read(i).await.is_err());
            } else {
                assert_eq!(read_all(&mut view, i).await, body(i), "after the loss, {i}");
            }
        }
        view.commit_deletions(vec![]).await.unwrap();
    });
}
