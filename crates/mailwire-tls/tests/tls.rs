//! Integration tests: real handshakes over loopback TCP, STARTTLS upgrades,
//! PEM loading and policy defaults.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mailwire_tls::{
    ClientConfigBuilder, Error, PemItem, PemOrigin, Roots, Security, SelfSigned, Service,
    StartTlsDecision, TlsAcceptor, TlsConnector, TlsPolicy, accept, check_nothing_buffered,
    client_config, connect, server_config_from_pem, server_config_from_pem_files, server_name,
    upgrade_client, upgrade_server,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(10);

/// A fresh, empty directory under the system temp dir; removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mailwire-tls-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

/// Reads until `buf` holds a CRLF-terminated line and at least `min_total`
/// bytes; returns the line (without CRLF) and the leftover bytes, as a line
/// framer's buffer would hold them.
async fn read_line<R: AsyncRead + Unpin>(r: &mut R, min_total: usize) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n")
            && buf.len() >= min_total
        {
            let line = String::from_utf8(buf[..pos].to_vec()).unwrap();
            return (line, buf[pos + 2..].to_vec());
        }
        let mut chunk = [0u8; 256];
        let n = r.read(&mut chunk).await.unwrap();
        assert!(n > 0, "peer closed before a full line");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn implicit_tls_handshake_and_round_trip_over_tcp() {
    let cert = SelfSigned::localhost().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = cert.acceptor();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = accept(tcp, &acceptor, T).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf).await.unwrap();
        tls.write_all(b"echo: ").await.unwrap();
        tls.write_all(&buf[..n]).await.unwrap();
        tls.shutdown().await.unwrap();
    });

    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connect(tcp, &cert.connector(), server_name("localhost").unwrap(), T)
        .await
        .unwrap();
    tls.write_all(b"hello over TLS").await.unwrap();
    let mut reply = Vec::new();
    tls.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"echo: hello over TLS");
    server.await.unwrap();
}

#[tokio::test]
async fn ip_literal_server_name_matches_ip_san() {
    let cert = SelfSigned::localhost().unwrap();
    let (client, server) = tcp_pair().await;
    let acceptor = cert.acceptor();
    let server = tokio::spawn(async move {
        let mut tls = accept(server, &acceptor, T).await.unwrap();
        tls.write_all(b"ok").await.unwrap();
        tls.shutdown().await.unwrap();
    });
    let mut tls = connect(
        client,
        &cert.connector(),
        server_name("127.0.0.1").unwrap(),
        T,
    )
    .await
    .unwrap();
    let mut reply = Vec::new();
    tls.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"ok");
    server.await.unwrap();
}

#[tokio::test]
async fn host_name_mismatch_is_rejected() {
    let cert = SelfSigned::localhost().unwrap();
    let (client, server) = tcp_pair().await;
    let acceptor = cert.acceptor();
    let server = tokio::spawn(async move { accept(server, &acceptor, T).await });
    let err = connect(
        client,
        &cert.connector(),
        server_name("example.com").unwrap(),
        T,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Handshake(_)), "{err:?}");
    assert!(
        matches!(
            err.rustls_error(),
            Some(mailwire_tls::rustls::Error::InvalidCertificate(
                mailwire_tls::rustls::CertificateError::NotValidForName
                    | mailwire_tls::rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn untrusted_certificate_is_rejected_by_webpki_roots() {
    let cert = SelfSigned::localhost().unwrap();
    let (client, server) = tcp_pair().await;
    let acceptor = cert.acceptor();
    let server = tokio::spawn(async move { accept(server, &acceptor, T).await });
    let connector = TlsConnector::from(client_config(Roots::WebPki, None).unwrap());
    let err = connect(client, &connector, server_name("localhost").unwrap(), T)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.rustls_error(),
            Some(mailwire_tls::rustls::Error::InvalidCertificate(_))
        ),
        "{err:?}"
    );
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn starttls_exchange_over_a_socket_then_handshake() {
    let cert = SelfSigned::localhost().unwrap();
    let (mut client, mut server) = tcp_pair().await;
    let acceptor = cert.acceptor();
    let server = tokio::spawn(async move {
        server.write_all(b"220 mx ESMTP\r\n").await.unwrap();
        let (line, leftover) = read_line(&mut server, 0).await;
        assert_eq!(line, "STARTTLS");
        server
            .write_all(b"220 Ready to start TLS\r\n")
            .await
            .unwrap();
        let mut tls = upgrade_server(server, &acceptor, &leftover, T)
            .await
            .unwrap();
        let (line, _) = read_line(&mut tls, 0).await;
        assert_eq!(line, "EHLO client");
        tls.write_all(b"250 secure hello\r\n").await.unwrap();
        tls.shutdown().await.unwrap();
    });

    let (greeting, _) = read_line(&mut client, 0).await;
    assert_eq!(greeting, "220 mx ESMTP");
    client.write_all(b"STARTTLS\r\n").await.unwrap();
    let (go_ahead, leftover) = read_line(&mut client, 0).await;
    assert_eq!(go_ahead, "220 Ready to start TLS");
    let mut tls = upgrade_client(
        client,
        &cert.connector(),
        server_name("localhost").unwrap(),
        &leftover,
        T,
    )
    .await
    .unwrap();
    tls.write_all(b"EHLO client\r\n").await.unwrap();
    let (reply, _) = read_line(&mut tls, 0).await;
    assert_eq!(reply, "250 secure hello");
    server.await.unwrap();
}

#[tokio::test]
async fn server_upgrade_rejects_command_pipelined_after_starttls() {
    let cert = SelfSigned::localhost().unwrap();
    let (mut client, mut server) = tcp_pair().await;
    let acceptor = cert.acceptor();
    let injected = b"STARTTLS\r\nRCPT TO:<attacker@example.com>\r\n";
    client.write_all(injected).await.unwrap();
    let (line, leftover) = read_line(&mut server, injected.len()).await;
    assert_eq!(line, "STARTTLS");
    let err = upgrade_server(server, &acceptor, &leftover, T)
        .await
        .unwrap_err();
    let expected = b"RCPT TO:<attacker@example.com>\r\n".len();
    assert!(
        matches!(err, Error::BufferedAfterStartTls { bytes } if bytes == expected),
        "{err:?}"
    );
    assert!(err.to_string().contains("CVE-2011-0411"));
    // The stream was dropped: the client sees the connection closed.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn client_upgrade_rejects_response_injected_after_go_ahead() {
    let cert = SelfSigned::localhost().unwrap();
    let (mut client, mut server) = tcp_pair().await;
    let injected = b"220 Ready to start TLS\r\n250 fake reply\r\n";
    server.write_all(injected).await.unwrap();
    let (line, leftover) = read_line(&mut client, injected.len()).await;
    assert_eq!(line, "220 Ready to start TLS");
    let err = upgrade_client(
        client,
        &cert.connector(),
        server_name("localhost").unwrap(),
        &leftover,
        T,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::BufferedAfterStartTls { bytes: 16 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn upgrade_helpers_check_buffer_before_any_io() {
    let cert = SelfSigned::localhost().unwrap();
    // A duplex pipe whose far end never speaks: a handshake would hang, so
    // an immediate error proves the check happens first.
    let (near, _far) = tokio::io::duplex(1024);
    let err = upgrade_server(near, &cert.acceptor(), b"X", T)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BufferedAfterStartTls { bytes: 1 }));
    let (near, _far) = tokio::io::duplex(1024);
    let err = upgrade_client(
        near,
        &cert.connector(),
        server_name("localhost").unwrap(),
        b"\r\n",
        T,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::BufferedAfterStartTls { bytes: 2 }));
    assert!(check_nothing_buffered(b"").is_ok());
}

#[tokio::test]
async fn handshake_times_out() {
    let cert = SelfSigned::localhost().unwrap();
    let (near, _far) = tokio::io::duplex(1024);
    let timeout = Duration::from_millis(100);
    let err = upgrade_server(near, &cert.acceptor(), b"", timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::HandshakeTimeout { timeout: t } if t == timeout),
        "{err:?}"
    );
}

#[tokio::test]
async fn configs_loaded_from_written_pem_files_handshake() {
    let dir = TempDir::new();
    let cert = SelfSigned::localhost().unwrap();
    let files = cert.write_to_dir(dir.0.join("tls")).unwrap();
    assert_eq!(files.cert, dir.0.join("tls/cert.pem"));
    assert_eq!(files.key, dir.0.join("tls/key.pem"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let server = server_config_from_pem_files(&files.cert, &files.key).unwrap();
    let client = ClientConfigBuilder::new()
        .roots(Roots::OnlyExtra)
        .extra_ca_file(&files.cert)
        .build()
        .unwrap();
    let (c, s) = tcp_pair().await;
    let acceptor = TlsAcceptor::from(server);
    let server = tokio::spawn(async move {
        let mut tls = accept(s, &acceptor, T).await.unwrap();
        tls.write_all(b"from files").await.unwrap();
        tls.shutdown().await.unwrap();
    });
    let mut tls = connect(
        c,
        &TlsConnector::from(client),
        server_name("localhost").unwrap(),
        T,
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"from files");
    server.await.unwrap();
}

#[test]
fn rewriting_key_file_tightens_permissions() {
    let dir = TempDir::new();
    let key = dir.0.join("key.pem");
    std::fs::write(&key, "old").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let cert = SelfSigned::localhost().unwrap();
    cert.write_to_dir(&dir.0).unwrap();
    assert_eq!(std::fs::read_to_string(&key).unwrap(), cert.key_pem);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn missing_file_error_names_the_path() {
    let dir = TempDir::new();
    let missing = dir.0.join("does-not-exist.pem");
    let key = dir.0.join("key.pem");
    let err = server_config_from_pem_files(&missing, &key).unwrap_err();
    match &err {
        Error::ReadFile { item, path, source } => {
            assert_eq!(*item, PemItem::CertificateChain);
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("certificate chain"), "{msg}");

    // Certificate present, key missing: the key's path is named.
    let cert = SelfSigned::localhost().unwrap();
    let files = cert.write_to_dir(&dir.0).unwrap();
    std::fs::remove_file(&files.key).unwrap();
    let err = server_config_from_pem_files(&files.cert, &files.key).unwrap_err();
    assert!(
        matches!(&err, Error::ReadFile { item: PemItem::PrivateKey, path, .. } if path == &files.key),
        "{err:?}"
    );

    // A missing extra CA file for a client.
    let err = client_config(Roots::WebPki, Some(&missing)).unwrap_err();
    assert!(
        matches!(&err, Error::ReadFile { item: PemItem::CaCertificates, path, .. } if path == &missing),
        "{err:?}"
    );
}

#[test]
fn garbage_content_gives_clear_errors() {
    let dir = TempDir::new();
    let cert = SelfSigned::localhost().unwrap();
    let files = cert.write_to_dir(&dir.0).unwrap();

    // Not PEM at all.
    let garbage = dir.0.join("garbage.pem");
    std::fs::write(&garbage, b"this is not a certificate\n\x00\xff").unwrap();
    let err = server_config_from_pem_files(&garbage, &files.key).unwrap_err();
    assert!(
        matches!(&err, Error::NoPemItems { item: PemItem::CertificateChain, origin: PemOrigin::File(p) } if p == &garbage),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&garbage.display().to_string()), "{msg}");
    assert!(msg.contains("BEGIN CERTIFICATE"), "{msg}");

    // A certificate where the key should be.
    let err = server_config_from_pem_files(&files.cert, &files.cert).unwrap_err();
    assert!(
        matches!(&err, Error::NoPemItems { item: PemItem::PrivateKey, origin: PemOrigin::File(p) } if p == &files.cert),
        "{err:?}"
    );

    // A PEM block with a corrupt body.
    let corrupt = dir.0.join("corrupt.pem");
    std::fs::write(
        &corrupt,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = server_config_from_pem_files(&corrupt, &files.key).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidPem { item: PemItem::CertificateChain, origin: PemOrigin::File(p), .. } if p == &corrupt),
        "{err:?}"
    );
    assert!(err.to_string().contains(&corrupt.display().to_string()));

    // In-memory garbage.
    let err = server_config_from_pem(b"garbage", cert.key_pem.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoPemItems {
                origin: PemOrigin::Memory,
                ..
            }
        ),
        "{err:?}"
    );
    let err = ClientConfigBuilder::new()
        .extra_ca_pem(&b"garbage"[..])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoPemItems {
                item: PemItem::CaCertificates,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn key_not_matching_certificate_is_rejected() {
    let a = SelfSigned::localhost().unwrap();
    let b = SelfSigned::localhost().unwrap();
    let err = server_config_from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::CertifiedKey { .. }), "{err:?}");
}

#[test]
fn client_configs_build() {
    client_config(Roots::WebPki, None).unwrap();
    let err = ClientConfigBuilder::new()
        .roots(Roots::OnlyExtra)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::NoRootCertificates));
    // System roots depend on the machine: either they load or the error
    // says why.
    match client_config(Roots::System, None) {
        Ok(_) | Err(Error::SystemRoots { .. }) => {}
        Err(other) => panic!("unexpected {other:?}"),
    }
}

#[test]
fn server_names_accept_hosts_and_ip_literals() {
    use mailwire_tls::rustls_pki_types::ServerName;
    assert!(matches!(
        server_name("localhost").unwrap(),
        ServerName::DnsName(_)
    ));
    assert!(matches!(
        server_name("mail.example.org").unwrap(),
        ServerName::DnsName(_)
    ));
    assert!(matches!(
        server_name("127.0.0.1").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        server_name("[::1]").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        server_name("::1").unwrap(),
        ServerName::IpAddress(_)
    ));
    let err = server_name("not a host!").unwrap_err();
    assert!(matches!(err, Error::InvalidServerName { ref name } if name == "not a host!"));
}

#[test]
fn policy_defaults_and_decisions() {
    assert_eq!(TlsPolicy::default(), TlsPolicy::Required);
    assert_eq!(Security::default(), Security::Implicit);
    assert_eq!(
        TlsPolicy::Required.decide(true).unwrap(),
        StartTlsDecision::Upgrade
    );
    assert!(matches!(
        TlsPolicy::Required.decide(false),
        Err(Error::StartTlsUnavailable)
    ));
    assert_eq!(
        TlsPolicy::Opportunistic.decide(false).unwrap(),
        StartTlsDecision::Plaintext
    );
    assert_eq!(
        TlsPolicy::Opportunistic.decide(true).unwrap(),
        StartTlsDecision::Upgrade
    );
    assert_eq!(
        TlsPolicy::Disabled.decide(true).unwrap(),
        StartTlsDecision::Plaintext
    );
    assert!(!TlsPolicy::Required.allows_plaintext());
    assert!(TlsPolicy::Opportunistic.allows_plaintext());
    let starttls = Security::StartTls(TlsPolicy::default());
    assert_eq!(Security::Implicit.default_port(Service::Submission), 465);
    assert_eq!(Security::Implicit.default_port(Service::Imap), 993);
    assert_eq!(Security::Implicit.default_port(Service::Pop3), 995);
    assert_eq!(starttls.default_port(Service::Submission), 587);
    assert_eq!(starttls.default_port(Service::Imap), 143);
    assert_eq!(starttls.default_port(Service::Pop3), 110);
    assert!(starttls.is_starttls() && !Security::Implicit.is_starttls());
}

#[test]
fn self_signed_debug_redacts_the_key() {
    let cert = SelfSigned::localhost().unwrap();
    let dbg = format!("{cert:?}");
    assert!(!dbg.contains("PRIVATE KEY"));
    assert!(dbg.contains("redacted"));
    assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(cert.key_pem.contains("PRIVATE KEY"));
}
