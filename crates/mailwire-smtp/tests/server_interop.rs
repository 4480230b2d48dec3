//! The SMTP server over real sockets, driven by software nobody here wrote: swaks, Python's
//! smtplib, Postfix's smtp-source and Twisted's ESMTP client; plus raw-socket security tests.
//! A missing peer fails the test (install them with tests/run.sh); nothing is skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_sasl::StaticAuthenticator;
use mailwire_smtp::proto::{Envelope, Reply, ServerConfig};
use mailwire_smtp::server::{
    AcceptAll, ConnectionInfo, DeliverySink, Listener, Server, ServerOptions,
};
use mailwire_smtp::store::StoreSink;
use tokio::net::TcpListener;
use tokio::sync::watch;

type Delivered = Vec<(Envelope, Vec<u8>)>;

/// The store's name for a recipient (`local@domain`, as the store sink resolves it).
fn key(r: &mailwire_smtp::proto::Recipient) -> String {
    match r.path.address() {
        Some(a) => format!("{}@{}", a.local_part_unquoted(), a.domain()),
        None => "postmaster".to_owned(),
    }
}

/// Keeps every delivered message; with a store, also delivers it there (a Maildir), and the
/// replies are the store's.
#[derive(Clone, Default)]
struct Sink(
    Arc<Mutex<Delivered>>,
    Option<(mailwire_store::Store, StoreSink)>,
);

impl DeliverySink for Sink {
    async fn deliver(
        &self,
        info: &ConnectionInfo,
        envelope: &Envelope,
        message: Vec<u8>,
    ) -> Vec<Reply> {
        let n = envelope.recipients.len();
        self.0
            .lock()
            .unwrap()
            .push((envelope.clone(), message.clone()));
        if let Some((store, sink)) = &self.1 {
            for r in &envelope.recipients {
                store.create_user_if_missing(&key(r)).await.unwrap();
            }
            return sink.deliver(info, envelope, message).await;
        }
        vec![Reply::new(250, None, "stored"); n.max(1)]
    }
}

struct TestServer {
    rt: tokio::runtime::Runtime,
    addrs: Vec<(Listener, SocketAddr)>,
    sink: Sink,
    ca: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

impl TestServer {
    /// With the recording sink alone, then delivering into `mailwire-store` on a Maildir too:
    /// the peer tests run on both.
    fn both(options: ServerOptions) -> [TestServer; 2] {
        [Self::start(options.clone()), Self::start_on(options, true)]
    }

    fn start(options: ServerOptions) -> Self {
        Self::start_on(options, false)
    }

    fn start_on(options: ServerOptions, maildir: bool) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cert = mailwire_tls::SelfSigned::localhost().unwrap();
        let ca = tempfile::tempdir().unwrap();
        cert.write_to_dir(ca.path()).unwrap();
        let auth = Arc::new(StaticAuthenticator::new().with_user("alice", "secret"));
        let sink = if maildir {
            let store = mailwire_store::Store::maildir(ca.path().join("mail")).unwrap();
            Sink(Arc::default(), Some((store.clone(), StoreSink::new(store))))
        } else {
            Sink::default()
        };
        let server = Server::new(
            options,
            AcceptAll,
            sink.clone(),
            auth,
            Some(cert.acceptor()),
        );
        let (stop, rx) = watch::channel(false);
        let mut addrs = Vec::new();
        for kind in [
            Listener::Smtp,
            Listener::Smtps,
            Listener::Submission,
            Listener::Lmtp,
        ] {
            let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            addrs.push((kind, listener.local_addr().unwrap()));
            rt.spawn(Arc::clone(&server).serve(listener, kind, rx.clone(), Duration::from_secs(5)));
        }
        Self {
            rt,
            addrs,
            sink,
            ca,
            _stop: stop,
        }
    }

    fn addr(&self, kind: Listener) -> SocketAddr {
        self.addrs.iter().find(|(k, _)| *k == kind).unwrap().1
    }

    fn ca_file(&self) -> String {
        self.ca.path().join("cert.pem").display().to_string()
    }

    /// What was delivered; on a Maildir, checked against what the store holds for each
    /// recipient, octet for octet.
    fn messages(&self) -> Delivered {
        let got = self.sink.0.lock().unwrap().clone();
        if let Some((store, _)) = &self.sink.1 {
            self.rt.block_on(async {
                let mut want: std::collections::BTreeMap<String, Vec<Vec<u8>>> = Default::default();
                for (env, data) in &got {
                    for r in &env.recipients {
                        want.entry(key(r)).or_default().push(data.clone());
                    }
                }
                for (rcpt, mut msgs) in want {
                    // Created by its local part (create_user_if_missing).
                    let login = rcpt.split('@').next().unwrap().to_lowercase();
                    let inbox = store.user(&login).unwrap().mailbox("INBOX").await.unwrap();
                    let mut stored = Vec::new();
                    for m in inbox.messages().await.unwrap() {
                        stored.push(inbox.fetch(m.uid).await.unwrap().to_vec());
                    }
                    stored.sort();
                    msgs.sort();
                    assert!(stored == msgs, "{rcpt}: the Maildir holds other messages");
                }
            });
        }
        got
    }
}

fn tool(program: &str, args: &[&str], stdin: Option<&[u8]>) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is required (install it with tests/run.sh): {e}"));
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{program} {args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn python(code: &str) -> String {
    let (ok, out) = tool("python3", &["-c", code], None);
    assert!(ok, "python failed:\n{code}\n---\n{out}");
    out
}

fn swaks(args: &[&str]) -> String {
    let (ok, out) = tool("swaks", args, None);
    assert!(ok, "swaks {args:?} failed:\n{out}");
    out
}

#[test]
fn swaks_cleartext_starttls_implicit_tls_auth_pipelining() {
    // Recorded, and stored on a Maildir.
    for s in TestServer::both(ServerOptions::default()) {
        let smtp = s.addr(Listener::Smtp).port().to_string();
        let smtps = s.addr(Listener::Smtps).port().to_string();
        let base = [
            "--server",
            "127.0.0.1",
            "--from",
            "sender@example.com",
            "--to",
            "alice@example.com",
        ];
        swaks(&[&base[..], &["--port", &smtp]].concat());
        swaks(&[&base[..], &["--port", &smtp, "-tls", "--pipeline"]].concat());
        swaks(&[&base[..], &["--port", &smtps, "--tlsc"]].concat());
        let out = swaks(
            &[
                &base[..],
                &[
                    "--port", &smtp, "-tls", "-a", "PLAIN", "-au", "alice", "-ap", "secret",
                ],
            ]
            .concat(),
        );
        assert!(out.contains("235 2.7.0"), "{out}");
        let out = swaks(
            &[
                &base[..],
                &[
                    "--port", &smtp, "-tls", "-a", "LOGIN", "-au", "alice", "-ap", "secret",
                ],
            ]
            .concat(),
        );
        assert!(out.contains("235 2.7.0"), "{out}");
        let out = swaks(
            &[
                &base[..],
                &[
                    "--port", &smtp, "-a", "CRAM-MD5", "-au", "alice", "-ap", "secret",
                ],
            ]
            .concat(),
        );
        assert!(out.contains("235 2.7.0"), "CRAM-MD5 in cleartext: {out}");
        // PLAIN is not even offered in cleartext, so swaks cannot try it…
        let (ok, out) = tool(
            "swaks",
            &[
                &base[..],
                &[
                    "--port", &smtp, "-a", "PLAIN", "-au", "alice", "-ap", "secret",
                ],
            ]
            .concat(),
            None,
        );
        assert!(!ok && out.contains("requested type not available"), "{out}");
        // …and a client that sends it anyway gets 538.
        let mut c = Raw::connect(s.addr(Listener::Smtp));
        c.send(b"EHLO x\r\n");
        assert!(!c.reply().contains("PLAIN"));
        c.send(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
        let r = c.reply();
        assert!(r.starts_with("538 5.7.11"), "{r}");
        let msgs = s.messages();
        assert_eq!(msgs.len(), 6);
        for (env, msg) in &msgs {
            assert_eq!(env.recipients.len(), 1);
            assert!(
                msg.starts_with(b"Received: from "),
                "{}",
                String::from_utf8_lossy(msg)
            );
        }
        // The TLS ones are recorded as such.
        assert!(
            msgs.iter()
                .any(|(_, m)| m.windows(12).any(|w| w == b"with ESMTPSA"))
        );
        assert!(
            msgs.iter()
                .any(|(_, m)| m.windows(11).any(|w| w == b"with ESMTPS"))
        );
    }
}

#[test]
fn python_smtplib_cram_md5_smtputf8_and_raw_bdat() {
    // Recorded, and stored on a Maildir.
    for s in TestServer::both(ServerOptions::default()) {
        let port = s.addr(Listener::Smtp).port();
        python(&format!(
            r#"
import smtplib
s = smtplib.SMTP('127.0.0.1', {port})
s.ehlo()
assert s.has_extn('smtputf8') and s.has_extn('chunking')
s.login('alice', 'secret')   # picks CRAM-MD5: PLAIN/LOGIN are not offered in cleartext
assert s.auth_login is not None
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'José <jose@exämple.com>'
m['To'] = 'alice@example.com'
m['Subject'] = 'ünïcödé'
m.set_content('Grüße\n.leading dot\n')
s.send_message(m, mail_options=['SMTPUTF8'])
s.quit()
"#
        ));
        python(&format!(
            r#"
import socket
c = socket.create_connection(('127.0.0.1', {port}))
f = c.makefile('rb')
def reply():
    lines = []
    while True:
        l = f.readline()
        lines.append(l)
        if l[3:4] == b' ': return b''.join(lines)
reply()
c.sendall(b'EHLO x\r\nMAIL FROM:<a@example.com> BODY=BINARYMIME\r\nRCPT TO:<alice@example.com>\r\nBDAT 8\r\nabc\r\n.\r\nBDAT 4 LAST\r\n\x00\x01\r\n')
for want in (b'250', b'250', b'250', b'250', b'250'):
    r = reply()
    assert r.startswith(want), r
c.sendall(b'QUIT\r\n'); assert reply().startswith(b'221')
"#
        ));
        let msgs = s.messages();
        assert_eq!(msgs.len(), 2);
        let body = &msgs[0].1;
        assert!(msgs[0].0.params.smtputf8);
        assert!(String::from_utf8_lossy(body).contains("jose@exämple.com"));
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("\r\n.leading dot\r\n")
                || text.contains("Content-Transfer-Encoding: base64"),
            "{text}"
        );
        assert!(
            msgs[1].1.ends_with(b"abc\r\n.\r\n\x00\x01\r\n"),
            "BDAT data is kept byte for byte"
        );
    }
}

#[test]
fn postfix_smtp_source_4_sessions_500_messages() {
    // Recorded, and stored on a Maildir.
    for s in TestServer::both(ServerOptions::default()) {
        let target = format!("127.0.0.1:{}", s.addr(Listener::Smtp).port());
        let smtp_source = ["/usr/sbin/smtp-source", "/usr/lib/postfix/sbin/smtp-source"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("smtp-source is required (Debian package postfix; tests/run.sh installs it)");
        let (ok, out) = tool(
            smtp_source,
            &[
                "-s",
                "4",
                "-m",
                "2000",
                "-l",
                "10240",
                "-f",
                "a@example.com",
                "-t",
                "alice@example.com",
                &target,
            ],
            None,
        );
        assert!(ok, "{out}");
        let msgs = s.messages();
        assert_eq!(msgs.len(), 2000, "every message stored");
        assert!(msgs.iter().all(|(_, m)| m.len() > 10240));
    }
}

#[test]
fn twisted_esmtp_sender_requires_tls_and_authenticates() {
    // Recorded, and stored on a Maildir.
    for s in TestServer::both(ServerOptions::default()) {
        let port = s.addr(Listener::Submission).port();
        // Twisted's sender turns \n into CRLF itself.
        let out = twisted_send(
            &s,
            port,
            r"b'From: a@example.com\nTo: alice@example.com\nSubject: twisted\n\nhello from twisted\n'",
            true,
        );
        assert!(out.contains("'ok'"), "{out}");
        let msgs = s.messages();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].1.windows(18).any(|w| w == b"hello from twisted"));
        assert!(
            msgs[0].1.windows(14).any(|w| w == b"with ESMTPSA i"),
            "{}",
            String::from_utf8_lossy(&msgs[0].1)
        );
    }
}

/// Twisted's ESMTPSender turns every LF into CRLF, so a CRLF message goes out with CR CR LF.
/// Submission, after AUTH, repairs it (RFC 6409 §8) into the message that was meant; the MX
/// port still refuses bare line endings.
#[test]
fn twisted_crlf_message_is_repaired_on_submission_and_refused_on_the_mx_port() {
    // Recorded, and stored on a Maildir.
    for s in TestServer::both(ServerOptions::default()) {
        let msg = r"b'From: a@example.com\r\nTo: alice@example.com\r\nSubject: crlf\r\n\r\nline one\r\n.dot line\r\nlast\r\n'";
        let out = twisted_send(&s, s.addr(Listener::Submission).port(), msg, true);
        assert!(out.contains("'ok'"), "{out}");
        let msgs = s.messages();
        assert_eq!(msgs.len(), 1);
        let stored = &msgs[0].1;
        let text = String::from_utf8_lossy(stored);
        assert!(
            text.ends_with("Subject: crlf\r\n\r\nline one\r\n.dot line\r\nlast\r\n"),
            "{text}"
        );
        let bare = (0..stored.len()).any(|i| match stored[i] {
            b'\r' => stored.get(i + 1) != Some(&b'\n'),
            b'\n' => i == 0 || stored[i - 1] != b'\r',
            _ => false,
        });
        assert!(!bare, "no bare CR or LF is stored: {text:?}");
        let out = twisted_send(&s, s.addr(Listener::Smtp).port(), msg, false);
        assert!(
            out.contains("'err'") && out.contains("bare CR or LF"),
            "{out}"
        );
        assert_eq!(s.messages().len(), 1, "nothing stored from the MX port");
    }
}

/// Sends `msg` (a Python bytes literal) with Twisted's ESMTPSender over STARTTLS, with
/// alice's credentials when `auth`; prints Twisted's result.
fn twisted_send(s: &TestServer, port: u16, msg: &str, auth: bool) -> String {
    let ca = s.ca_file();
    let (user, pass) = if auth {
        ("b'alice'", "b'secret'")
    } else {
        ("None", "None")
    };
    let auth = if auth { "True" } else { "False" };
    python(&format!(
        r#"
from io import BytesIO
from twisted.internet import reactor, defer, ssl
from twisted.mail.smtp import ESMTPSenderFactory
pem = open('{ca}').read()
ctx = ssl.optionsForClientTLS('localhost', trustRoot=ssl.Certificate.loadPEM(pem))
result = {{}}
d = defer.Deferred()
f = ESMTPSenderFactory({user}, {pass}, 'a@example.com', ['alice@example.com'], BytesIO({msg}), d,
                       contextFactory=ctx, requireAuthentication={auth}, requireTransportSecurity=True,
                       retries=0)
def ok(r): result['ok'] = r; reactor.stop()
def err(e): result['err'] = e; reactor.stop()
d.addCallbacks(ok, err)
reactor.connectTCP('127.0.0.1', {port}, f)
reactor.callLater(30, reactor.stop)
reactor.run()
print(result)
"#
    ))
}

/// A raw client: sends bytes, reads replies.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut r = Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert!(r.reply().starts_with("220"));
        r
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// One complete (possibly multi-line) reply, or "" at EOF.
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                return all;
            }
        }
    }

    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}

#[test]
fn starttls_command_injection_closes_the_connection() {
    let s = TestServer::start(ServerOptions::default());
    let mut c = Raw::connect(s.addr(Listener::Smtp));
    c.send(b"EHLO x\r\n");
    assert!(c.reply().contains("STARTTLS"));
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.com>\r\n");
    let r = c.reply();
    assert!(r.starts_with("421"), "{r}");
    assert!(c.closed());
}

#[test]
fn limits_over_the_wire() {
    let s = TestServer::start(ServerOptions::default());
    let mut c = Raw::connect(s.addr(Listener::Smtp));
    // A 100 KB command line: an error, and the session goes on.
    let mut long = b"NOOP ".to_vec();
    long.extend(vec![b'x'; 100_000]);
    long.extend_from_slice(b"\r\nNOOP\r\n");
    c.send(&long);
    assert!(c.reply().starts_with("500 "));
    assert!(c.reply().starts_with("250"));
    // 10 000 RCPTs: the limit reply.
    let mut cmds = b"EHLO x\r\nMAIL FROM:<a@example.com>\r\n".to_vec();
    for i in 0..10_000 {
        cmds.extend_from_slice(format!("RCPT TO:<r{i}@example.com>\r\n").as_bytes());
    }
    let mut writer = c.writer.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&cmds).unwrap());
    assert!(c.reply().starts_with("250"));
    assert!(c.reply().starts_with("250"));
    let mut codes = std::collections::HashMap::new();
    for _ in 0..10_000 {
        *codes.entry(c.reply()[..3].to_owned()).or_insert(0) += 1;
    }
    sender.join().unwrap();
    assert_eq!(codes.get("250"), Some(&100));
    assert_eq!(codes.get("452"), Some(&9_900));
}

#[test]
fn a_gigabyte_of_data_without_size_gets_552_with_bounded_memory() {
    let options = ServerOptions {
        session: ServerConfig {
            max_message_size: 10 << 20,
            max_text_line: None,
            ..ServerConfig::default()
        },
        ..ServerOptions::default()
    };
    let s = TestServer::start(options);
    let mut c = Raw::connect(s.addr(Listener::Smtp));
    c.send(b"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
    for _ in 0..3 {
        c.reply();
    }
    assert!(c.reply().starts_with("354"));
    let before = peak_rss_kib();
    let block = [
        b"0123456789abcdef".repeat(63),
        b"0123456789abcd\r\n".to_vec(),
    ]
    .concat();
    let block = block.repeat(64); // 64 KiB
    for _ in 0..(1 << 14) {
        c.send(&block); // 1 GiB in all
    }
    c.send(b".\r\nNOOP\r\n");
    let r = c.reply();
    assert!(r.starts_with("552 5.3.4"), "{r}");
    assert!(c.reply().starts_with("250"));
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(
        grown < 200 * 1024,
        "peak memory grew by {grown} KiB while receiving 1 GiB"
    );
    assert!(s.messages().is_empty());
    drop(s.rt);
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[test]
fn lmtp_over_the_wire() {
    let s = TestServer::start(ServerOptions::default());
    let port = s.addr(Listener::Lmtp).port();
    python(&format!(
        r#"
import smtplib
l = smtplib.LMTP('127.0.0.1', {port})
refused = l.sendmail('a@example.com', ['alice@example.com', 'bob@example.com'], b'Subject: lmtp\r\n\r\nhi\r\n')
assert refused == {{}}, refused
l.quit()
"#
    ));
    let msgs = s.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0.recipients.len(), 2);
}

/// mailwire's client against mailwire's server with PIPELINING and its default limit of 100
/// recipients per message: 250 recipients take 3 pipelined transactions (100, 100, 50), the
/// `452 4.5.3` replies are never the final word, and the sink sees each envelope whole.
#[test]
fn recipient_limit_over_the_wire_with_the_client() {
    use mailwire_smtp::client::{Client, ClientOptions};
    let s = TestServer::start(ServerOptions::default());
    let addr = s.addr(Listener::Smtp);
    let to: Vec<String> = (0..250).map(|i| format!("r{i}@example.com")).collect();
    let report = s.rt.block_on(async {
        let options = ClientOptions::new("127.0.0.1", addr.port())
            .tls_policy(mailwire_tls::TlsPolicy::Disabled);
        let mut c = Client::connect_with(options).await.unwrap();
        let envelope = Envelope::new(
            "a@example.com".parse().unwrap(),
            to.iter().map(|t| t.parse().unwrap()),
        );
        let r = c
            .send(envelope, b"Subject: 250\r\n\r\nhi\r\n".to_vec())
            .await
            .unwrap();
        c.quit().await.unwrap();
        r
    });
    assert!(report.is_delivered_to_all(), "{report:?}");
    assert_eq!(report.transactions, 3);
    let got: Vec<usize> = s
        .messages()
        .iter()
        .map(|(e, _)| e.recipients.len())
        .collect();
    assert_eq!(got, [100, 100, 50]);
    let delivered: Vec<String> = s
        .messages()
        .iter()
        .flat_map(|(e, _)| e.recipients.iter().map(|r| r.path.to_string()))
        .collect();
    let wanted: Vec<String> = to.iter().map(|t| format!("<{t}>")).collect();
    assert_eq!(delivered, wanted);
}
