//! The blocking POP3 client (`mailwire::pop3::blocking`) against mailwire's POP3 server.

use std::sync::Arc;
use std::time::Duration;

use mailwire::pop3::blocking::{Client, Error};
use mailwire::pop3::client::{ClientConfig, Login};
use mailwire::pop3::server::{Listener, MemoryMaildrops, Server, ServerOptions};
use mailwire::tls::Security;

#[test]
fn blocking_client_streams_messages_into_a_writer() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cert = mailwire::tls::SelfSigned::localhost().unwrap();
    let dir = tempfile::tempdir().unwrap();
    cert.write_to_dir(dir.path()).unwrap();
    let drops = MemoryMaildrops::new();
    let big = [
        b"Subject: big\r\n\r\n".as_slice(),
        &b".0123456789abcdef\r\n".repeat(50_000),
    ]
    .concat();
    drops.add_message("alice", big.clone());
    drops.add_message("alice", b"Subject: small\r\n\r\nhi\r\n".to_vec());
    let auth = Arc::new(mailwire::sasl::StaticAuthenticator::new().with_user("alice", "secret"));
    let server = Server::new(
        ServerOptions::default(),
        drops.clone(),
        auth,
        Some(cert.acceptor()),
    );
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = l.local_addr().unwrap().port();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    rt.spawn(server.serve(l, Listener::Pop3s, rx, Duration::from_secs(1)));

    let config = ClientConfig::new("127.0.0.1", port, Security::Implicit)
        .with_ca_file(dir.path().join("cert.pem"));
    let mut client = Client::connect_with(config).unwrap();
    assert!(client.is_tls());
    assert!(client.capabilities().unwrap().pipelining);
    client.login(Login::password("alice", "secret")).unwrap();
    assert_eq!(client.stat().unwrap(), (2, (big.len() + 22) as u64));
    let mut file = Vec::new();
    assert_eq!(client.retr_to(1, &mut file).unwrap(), big.len() as u64);
    assert_eq!(file, big);
    assert_eq!(client.retr(2).unwrap(), b"Subject: small\r\n\r\nhi\r\n");
    assert_eq!(client.uidl().unwrap().len(), 2);
    // A writer that fails: the error is the writer's.
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    assert!(matches!(client.retr_to(2, &mut Full), Err(Error::Write(_))));
    drop(client);
    // The server releases the maildrop once it sees the connection go.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while drops.is_locked("alice") {
        assert!(
            std::time::Instant::now() < deadline,
            "maildrop still locked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut client = Client::connect_with(
        ClientConfig::new("127.0.0.1", port, Security::Implicit)
            .with_ca_file(dir.path().join("cert.pem")),
    )
    .unwrap();
    client.login(Login::password("alice", "secret")).unwrap();
    client.dele(2).unwrap();
    assert!(client.quit().unwrap().is_ok());
    assert_eq!(drops.messages("alice").len(), 1);
}
