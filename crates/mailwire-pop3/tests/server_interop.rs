//! mailwire's POP3 server driven by clients nobody here wrote: Python's poplib (USER/PASS
//! over TLS, APOP, STLS), curl (`pop3://` with STLS and `pop3s://`), fetchmail, getmail6 and
//! Twisted's AdvancedPOP3Client. In every case the bytes retrieved equal the bytes delivered.
//! A missing peer fails the test (install them with tests/run.sh); nothing is skipped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mailwire_pop3::server::{Listener, MemoryMaildrops, Server, ServerOptions, StoreMaildrops};
use mailwire_sasl::StaticAuthenticator;
use mailwire_testkit::{python, run_tool};
use tokio::net::TcpListener;
use tokio::sync::watch;

const T: Duration = Duration::from_secs(120);

/// Messages with the awkward parts: dots at line starts (first line too), a lone dot line,
/// 8-bit text, a long line, and one large enough to span many chunks.
fn messages() -> Vec<Vec<u8>> {
    vec![
        b".First line starts with a dot\r\nSubject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n".to_vec(),
        "From: a@example.com\r\nSubject: 8bit\r\n\r\nGr\u{fc}\u{df}e, \u{e9}t\u{e9}\r\n"
            .as_bytes()
            .to_vec(),
        [
            b"Subject: long line\r\n\r\n".as_slice(),
            &b"y".repeat(990),
            b"\r\n",
        ]
        .concat(),
        [
            b"Subject: big\r\n\r\n".as_slice(),
            &b".dotted line in a big message, repeated\r\n".repeat(12_000),
        ]
        .concat(),
    ]
}

struct TestServer {
    rt: tokio::runtime::Runtime,
    pop3: SocketAddr,
    pop3s: SocketAddr,
    /// The memory maildrops, or the store on a Maildir the server reads.
    drops: Drops,
    dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

enum Drops {
    Memory(MemoryMaildrops),
    Store(mailwire_store::Store),
}

impl TestServer {
    /// The in-memory maildrops, then `mailwire-store` on a Maildir: every peer test runs on
    /// both.
    fn both() -> [TestServer; 2] {
        [Self::start(false), Self::start(true)]
    }

    fn start(maildir: bool) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cert = mailwire_tls::SelfSigned::localhost().unwrap();
        let dir = tempfile::tempdir().unwrap();
        cert.write_to_dir(dir.path()).unwrap();
        let (stop, rx) = watch::channel(false);
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..2 {
            let l = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            addrs.push(l.local_addr().unwrap());
            listeners.push(l);
        }
        let kinds = [Listener::Pop3, Listener::Pop3s];
        let drops = if maildir {
            let store = mailwire_store::Store::maildir(dir.path().join("mail")).unwrap();
            rt.block_on(async {
                store.add_user("alice", "secret").await.unwrap();
                for m in messages() {
                    store.deliver("alice", m).await.unwrap();
                }
            });
            let server = Server::new(
                ServerOptions::default(),
                StoreMaildrops::new(store.clone()),
                Arc::new(store.clone()),
                Some(cert.acceptor()),
            );
            for (l, kind) in listeners.into_iter().zip(kinds) {
                rt.spawn(Arc::clone(&server).serve(l, kind, rx.clone(), Duration::from_secs(2)));
            }
            Drops::Store(store)
        } else {
            let drops = MemoryMaildrops::new();
            for m in messages() {
                drops.add_message("alice", m);
            }
            let auth = Arc::new(StaticAuthenticator::new().with_user("alice", "secret"));
            let server = Server::new(
                ServerOptions::default(),
                drops.clone(),
                auth,
                Some(cert.acceptor()),
            );
            for (l, kind) in listeners.into_iter().zip(kinds) {
                rt.spawn(Arc::clone(&server).serve(l, kind, rx.clone(), Duration::from_secs(2)));
            }
            Drops::Memory(drops)
        };
        Self {
            rt,
            pop3: addrs[0],
            pop3s: addrs[1],
            drops,
            dir,
            _stop: stop,
        }
    }

    /// How many messages alice's maildrop holds now.
    fn count(&self) -> usize {
        match &self.drops {
            Drops::Memory(d) => d.messages("alice").len(),
            Drops::Store(s) => {
                self.rt
                    .block_on(s.user("alice").unwrap().status("INBOX"))
                    .unwrap()
                    .exists as usize
            }
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

fn assert_messages(got: &[Vec<u8>], peer: &str) {
    let want = messages();
    assert_eq!(got.len(), want.len(), "{peer}: number of messages");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g == w,
            "{peer}: message {} differs: got {} bytes, want {}\n{:?}",
            i + 1,
            g.len(),
            w.len(),
            String::from_utf8_lossy(&g[..g.len().min(200)])
        );
    }
}

/// poplib returns lines without CRLF and already unstuffed.
const POPLIB_FETCH: &str = r#"
import poplib, ssl, sys, json, base64
def fetch(p):
    n = p.stat()[0]
    out = []
    for i in range(1, n + 1):
        resp, lines, octets = p.retr(i)
        out.append(base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode())
    print(json.dumps(out))
"#;

fn poplib(code: &str) -> Vec<Vec<u8>> {
    let out = python(&format!("{POPLIB_FETCH}\n{code}"), T).unwrap_or_else(|e| panic!("{e}"));
    let last = out.lines().last().unwrap_or_default();
    let list: Vec<String> = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {out}"));
    use base64::Engine;
    list.iter()
        .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap())
        .collect()
}

#[test]
fn python_poplib_user_pass_over_tls_apop_and_stls() {
    for srv in TestServer::both() {
        let ca = srv.ca().display().to_string();
        let got = poplib(&format!(
            "ctx = ssl.create_default_context(cafile={ca:?})\n\
         p = poplib.POP3_SSL('127.0.0.1', {}, context=ctx)\n\
         caps = p.capa()\n\
         assert 'PIPELINING' in caps and 'USER' in caps and 'RESP-CODES' in caps, caps\n\
         p.user('alice'); p.pass_('secret')\n\
         fetch(p)\n\
         p.quit()",
            srv.pop3s.port()
        ));
        assert_messages(&got, "poplib POP3_SSL USER/PASS");
        let got = poplib(&format!(
            "p = poplib.POP3('127.0.0.1', {})\n\
         assert 'USER' not in p.capa(), 'USER offered in cleartext'\n\
         p.apop('alice', 'secret')\n\
         fetch(p)\n\
         p.quit()",
            srv.pop3.port()
        ));
        assert_messages(&got, "poplib APOP");
        let got = poplib(&format!(
            "p = poplib.POP3('127.0.0.1', {})\n\
         assert 'STLS' in p.capa()\n\
         try:\n    p.user('alice'); raise SystemExit('USER accepted in cleartext')\n\
         except poplib.error_proto as e:\n    assert b'[AUTH]' in e.args[0], e\n\
         p.stls(context=ssl.create_default_context(cafile={ca:?}))\n\
         assert 'STLS' not in p.capa() and 'USER' in p.capa()\n\
         p.user('alice'); p.pass_('secret')\n\
         print(p.uidl()[1], file=sys.stderr)\n\
         fetch(p)\n\
         p.quit()",
            srv.pop3.port()
        ));
        assert_messages(&got, "poplib stls()");
        // A second poplib session while one holds the lock: [IN-USE].
        let out = python(
        &format!(
            "import poplib, ssl\n\
             ctx = ssl.create_default_context(cafile={ca:?})\n\
             a = poplib.POP3_SSL('127.0.0.1', {port}, context=ctx); a.user('alice'); a.pass_('secret')\n\
             b = poplib.POP3_SSL('127.0.0.1', {port}, context=ctx); b.user('alice')\n\
             try:\n    b.pass_('secret'); print('no lock')\n\
             except poplib.error_proto as e:\n    print(e.args[0].decode())\n\
             a.dele(1); a.quit()",
            port = srv.pop3s.port()
        ),
        T,
    )
    .unwrap();
        assert!(out.starts_with("-ERR [IN-USE]"), "{out}");
        assert_eq!(srv.count(), 3, "DELE 1 then QUIT removed one");
    }
}

fn curl(args: &[&str]) -> Vec<u8> {
    let out = run_tool("curl", args, None, T).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn curl_pop3_with_stls_and_pop3s() {
    for srv in TestServer::both() {
        let ca = srv.ca().display().to_string();
        for (url, extra) in [
            (
                format!("pop3://127.0.0.1:{}", srv.pop3.port()),
                "--ssl-reqd",
            ),
            (
                format!("pop3s://127.0.0.1:{}", srv.pop3s.port()),
                "--silent",
            ),
        ] {
            let mut got = Vec::new();
            for i in 1..=messages().len() {
                got.push(curl(&[
                    "--silent",
                    "--show-error",
                    extra,
                    "--cacert",
                    &ca,
                    "--user",
                    "alice:secret",
                    &format!("{url}/{i}"),
                ]));
            }
            assert_messages(&got, &format!("curl {url}"));
            let list = curl(&[
                "--silent",
                extra,
                "--cacert",
                &ca,
                "--user",
                "alice:secret",
                &format!("{url}/"),
            ]);
            let list = String::from_utf8_lossy(&list);
            assert!(
                list.starts_with("1 ") && list.lines().count() == 4,
                "{list}"
            );
        }
    }
}

#[test]
fn fetchmail_pop3s_user_pass_and_stls_cram_md5() {
    for srv in TestServer::both() {
        for (port, options) in [
            (srv.pop3s.port(), "ssl sslcertck".to_owned()),
            // Plain port with sslproto: fetchmail must upgrade with STLS.
            (srv.pop3.port(), "sslproto 'tls1.2+' sslcertck".to_owned()),
        ] {
            let work = tempfile::tempdir().unwrap();
            let out = work.path().join("out");
            std::fs::create_dir(&out).unwrap();
            let auth = if port == srv.pop3.port() {
                "cram-md5"
            } else {
                "password"
            };
            let rc = work.path().join("fetchmailrc");
            std::fs::write(
            &rc,
            format!(
                "set no bouncemail\n\
                 set invisible\n\
                 poll 127.0.0.1 service {port} protocol POP3 auth {auth} bad-header accept\n\
                 \tuser alice there with password secret is root here\n\
                 \toptions {options} sslcertfile {ca} sslcommonname localhost keep fetchall no stripcr\n\
                 \tmda \"/bin/sh -c 'cat > $(mktemp -p {out})'\"\n",
                ca = srv.ca().display(),
                out = out.display(),
            ),
        )
        .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
            let result = mailwire_testkit::run_command(
                std::process::Command::new("fetchmail")
                    .args(["-f", rc.to_str().unwrap(), "--nodetach", "--nosyslog", "-v"])
                    .env("FETCHMAILHOME", work.path())
                    .env("HOME", work.path()),
                None,
                T,
            )
            .unwrap();
            let log = format!(
                "{}{}",
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr)
            );
            assert!(result.status.success(), "fetchmail on {port}:\n{log}");
            if port == srv.pop3.port() {
                assert!(log.contains("STLS"), "no STLS:\n{log}");
                assert!(log.contains("AUTH CRAM-MD5"), "no CRAM-MD5:\n{log}");
            }
            // fetchmail hands messages to the MDA one by one: compare as sets.
            let mut got = read_sorted(&out);
            got.sort();
            let mut want = messages();
            want.sort();
            for g in &got {
                assert!(
                    want.contains(g),
                    "fetchmail port {port}: unexpected message {:?}\n{log}",
                    String::from_utf8_lossy(&g[..g.len().min(300)])
                );
            }
            assert_eq!(got.len(), want.len(), "{log}");
        }
    }
}

fn read_sorted(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn getmail6_pop3_ssl_retriever() {
    for srv in TestServer::both() {
        let work = tempfile::tempdir().unwrap();
        let maildir = work.path().join("Maildir");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let rc = work.path().join("getmailrc");
        std::fs::write(
        &rc,
        format!(
            "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\nport = {}\n\
             username = alice\npassword = secret\nca_certs = {}\n\
             [destination]\ntype = MDA_external\npath = /bin/sh\n\
             arguments = (\"-c\", \"cat > {}/new/$(date +%s%N)\")\nallow_root_commands = true\nunixfrom = false\n\
             [options]\nread_all = true\ndelete = false\nreceived = false\ndelivered_to = false\n\
             message_log_syslog = false\nverbose = 2\n",
            srv.pop3s.port(),
            srv.ca().display(),
            maildir.display()
        ),
    )
    .unwrap();
        let out = run_tool(
            "getmail",
            [
                format!("--getmaildir={}", work.path().display()),
                format!("--rcfile={}", rc.display()),
            ],
            None,
            T,
        )
        .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "getmail:\n{log}");
        // getmail names Maildir files by time and a counter: sort by its delivery order.
        let mut files: Vec<(std::time::SystemTime, String, Vec<u8>)> =
            std::fs::read_dir(maildir.join("new"))
                .unwrap()
                .map(|e| {
                    let p = e.unwrap().path();
                    let m = std::fs::metadata(&p).unwrap().modified().unwrap();
                    (m, p.display().to_string(), std::fs::read(&p).unwrap())
                })
                .collect();
        files.sort();
        let got: Vec<Vec<u8>> = files.into_iter().map(|f| f.2).collect();
        // getmail writes the message as retrieved, with LF line ends (Maildir convention) and a
        // Return-Path header it adds in front.
        let want: Vec<Vec<u8>> = messages();
        assert_eq!(got.len(), want.len(), "getmail:\n{log}");
        // getmail parses each message; the first one starts with a line that is not a header,
        // which its parser reads as an empty header section and writes back with a blank line
        // in front. That line is getmail's, not the server's.
        let mut got_sorted: Vec<Vec<u8>> = got
            .iter()
            .map(|g| {
                let g = strip_return_path(g).replace_crlf();
                match g.strip_prefix(b"\n.First line") {
                    Some(rest) => [b".First line".as_slice(), rest].concat(),
                    None => g,
                }
            })
            .collect();
        let mut want_sorted: Vec<Vec<u8>> = want.iter().map(|w| w.replace_crlf()).collect();
        got_sorted.sort();
        want_sorted.sort();
        for (g, w) in got_sorted.iter().zip(&want_sorted) {
            assert!(
                g == w,
                "getmail: a message differs\ngot  {:?}\nwant {:?}\n{log}",
                String::from_utf8_lossy(&g[..g.len().min(300)]),
                String::from_utf8_lossy(&w[..w.len().min(300)])
            );
        }
    }
}

fn strip_return_path(m: &[u8]) -> &[u8] {
    if m.starts_with(b"Return-Path:") {
        let end = m
            .iter()
            .position(|&b| b == b'\n')
            .map_or(m.len(), |i| i + 1);
        &m[end..]
    } else {
        m
    }
}

trait Lf {
    fn replace_crlf(&self) -> Vec<u8>;
}

impl Lf for [u8] {
    fn replace_crlf(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            if self[i] == b'\r' && self.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            out.push(self[i]);
            i += 1;
        }
        out
    }
}

impl Lf for Vec<u8> {
    fn replace_crlf(&self) -> Vec<u8> {
        self.as_slice().replace_crlf()
    }
}

#[test]
fn twisted_advanced_pop3_client_with_stls() {
    for srv in TestServer::both() {
        let code = format!(
            r#"
import base64, json, sys
from twisted.internet import reactor, defer, ssl, protocol, endpoints
from twisted.mail.pop3 import AdvancedPOP3Client as POP3Client
from twisted.internet.ssl import Certificate, optionsForClientTLS

ca = Certificate.loadPEM(open({ca:?}, 'rb').read())
tls = optionsForClientTLS(u'127.0.0.1', trustRoot=ca)
result = {{}}

@defer.inlineCallbacks
def run(proto):
    caps = yield proto.capabilities()
    result['caps'] = sorted(k.decode() for k in caps)
    yield proto.startTLS(tls)
    proto.allowInsecureLogin = False
    yield proto.login(b'alice', b'secret')
    sizes = yield proto.listSize()
    msgs = []
    for i in range(len(sizes)):
        lines = yield proto.retrieve(i)
        msgs.append(base64.b64encode(b''.join(l + b'\r\n' for l in lines)).decode())
    result['msgs'] = msgs
    yield proto.quit()

def main():
    ep = endpoints.TCP4ClientEndpoint(reactor, '127.0.0.1', {port})
    d = endpoints.connectProtocol(ep, POP3Client())
    d.addCallback(run)
    def done(r):
        if isinstance(r, Exception) or hasattr(r, 'getTraceback'):
            print(r.getTraceback() if hasattr(r, 'getTraceback') else r, file=sys.stderr)
            result['error'] = str(r)
        reactor.stop()
    d.addBoth(done)
reactor.callWhenRunning(main)
reactor.run()
print(json.dumps(result))
"#,
            ca = srv.ca().display().to_string(),
            port = srv.pop3.port()
        );
        let out = python(&code, T).unwrap_or_else(|e| panic!("{e}"));
        let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {out}"));
        assert!(v.get("error").is_none(), "{out}");
        let caps: Vec<String> = serde_json::from_value(v["caps"].clone()).unwrap();
        assert!(
            caps.contains(&"STLS".to_owned()) && caps.contains(&"PIPELINING".to_owned()),
            "{caps:?}"
        );
        use base64::Engine;
        let got: Vec<Vec<u8>> = v["msgs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                base64::engine::general_purpose::STANDARD
                    .decode(m.as_str().unwrap())
                    .unwrap()
            })
            .collect();
        assert_messages(&got, "Twisted AdvancedPOP3Client");
    }
}
