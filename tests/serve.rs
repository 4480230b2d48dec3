//! `mailwire serve` through its command line: flags, ready file, config file, the store,
//! errors with non-zero exits, and a graceful SIGTERM that lets a transaction finish.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/serve.rs"]
mod common;
use common::Serve;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .arg("serve")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Smtp(BufReader<TcpStream>, TcpStream);

impl Smtp {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Self(BufReader::new(s.try_clone().unwrap()), s);
        assert!(c.reply().starts_with("220"));
        c
    }

    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            if self.0.read_line(&mut l).unwrap() == 0 {
                return all;
            }
            all.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.1.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }
}

fn new_files(maildir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(maildir.join("new"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn serves_smtp_and_lmtp_into_a_maildir_and_stops_on_sigterm() {
    let store = tempfile::tempdir().unwrap();
    let spec = format!("maildir:{}", store.path().display());
    let s = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--lmtp",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
        "--store",
        &spec,
    ]);
    assert!(
        Path::new(s.ready["ca"].as_str().unwrap()).exists(),
        "the generated certificate is there"
    );
    let mut c = Smtp::connect(s.port("smtp"));
    assert!(c.cmd("EHLO test").contains("STARTTLS"));
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(
        c.cmd("RCPT TO:<alice@any-domain.example>")
            .starts_with("250"),
        "LOGIN@any-domain"
    );
    assert!(
        c.cmd("RCPT TO:<nobody@example.com>")
            .starts_with("550 5.1.1")
    );
    assert!(c.cmd("DATA").starts_with("354"));
    let r = c.cmd("Subject: hi\r\n\r\nhello\r\n.");
    assert!(r.starts_with("250"), "{r}");
    // 250 came after the message was durable: it is on disk now.
    let files = new_files(&store.path().join("alice"));
    assert_eq!(files.len(), 1);
    let stored = std::fs::read(&files[0]).unwrap();
    assert!(stored.starts_with(b"Received: from test"));
    assert!(stored.ends_with(b"Subject: hi\r\n\r\nhello\r\n"));

    // A transaction in flight when SIGTERM arrives still completes.
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let pid = s.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let r = c.cmd("Subject: in flight\r\n\r\nbody\r\n.");
    assert!(r.starts_with("250"), "in-flight transaction lost: {r}");
    let r = c.reply();
    assert!(r.starts_with("421 4.3.2"), "{r}");
    assert_eq!(new_files(&store.path().join("alice")).len(), 2);
    let (code, took) = s.terminate();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(15));
}

/// One IMAP command over a plain socket: every line up to the tagged one.
fn imap_cmd(r: &mut BufReader<TcpStream>, w: &mut TcpStream, tag: &str, text: &str) -> String {
    w.write_all(format!("{tag} {text}\r\n").as_bytes()).unwrap();
    let mut all = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            return all;
        }
        all.push_str(&l);
        if l.starts_with(&format!("{tag} ")) {
            return all;
        }
    }
}

/// The IMAP limits of `[imap-limits]` in the config file reach the server.
#[test]
fn imap_limits_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("serve.toml");
    std::fs::write(
        &conf,
        "imap = \"127.0.0.1:0\"\nuser = [\"bob:pw\"]\nallow-insecure-auth = true\n\
         [imap-limits]\nmax-sessions-per-user = 1\nlogin-timeout-secs = 1\nauth-failure-delay-ms = 0\n",
    )
    .unwrap();
    let s = Serve::start(&["--config", conf.to_str().unwrap()]);
    let open = || {
        let w = TcpStream::connect(("127.0.0.1", s.port("imap"))).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(w.try_clone().unwrap());
        let mut greeting = String::new();
        r.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        (r, w)
    };
    let (mut r1, mut w1) = open();
    assert!(imap_cmd(&mut r1, &mut w1, "a", "LOGIN bob pw").contains("a OK"));
    let (mut r2, mut w2) = open();
    let second = imap_cmd(&mut r2, &mut w2, "a", "LOGIN bob pw");
    assert!(second.contains("a NO [LIMIT]"), "{second}");
    // Still not logged in: the one-second login timeout ends it.
    let t = Instant::now();
    let mut bye = String::new();
    r2.read_line(&mut bye).unwrap();
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert!(t.elapsed() < Duration::from_secs(10));
    // The logged-in session is not cut by it.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(imap_cmd(&mut r1, &mut w1, "b", "NOOP").contains("b OK"));
    assert_eq!(s.terminate().0, 0);
}

/// `[smtp-limits]` and `[pop3-limits]` from the config file: a third SMTP connection over
/// `max-connections = 2` is told `421 4.3.2` and closed, a second recipient over
/// `max-recipients = 1` is refused (the first still delivers), and a second POP3 connection
/// over `max-connections = 1` gets `-ERR [SYS/TEMP]`.
#[test]
fn smtp_and_pop3_limits_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("serve.toml");
    std::fs::write(
        &conf,
        "smtp = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\nuser = [\"bob:pw\", \"carol:pw\"]\n\
         allow-insecure-auth = true\n\
         [smtp-limits]\nmax-connections = 2\nmax-recipients = 1\nmax-command-line = 200\n\
         [pop3-limits]\nmax-connections = 1\n",
    )
    .unwrap();
    let s = Serve::start(&["--config", conf.to_str().unwrap()]);
    let mut a = Smtp::connect(s.port("smtp"));
    let _b = Smtp::connect(s.port("smtp"));
    // The third: one line, then the close.
    let third = TcpStream::connect(("127.0.0.1", s.port("smtp"))).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut all = String::new();
    BufReader::new(third).read_to_string(&mut all).unwrap();
    assert!(all.starts_with("421 4.3.2"), "{all}");
    assert_eq!(all.lines().count(), 1, "{all}");

    assert!(a.cmd("EHLO x").starts_with("250"));
    assert!(a.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(a.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
    let second = a.cmd("RCPT TO:<carol@example.com>");
    assert!(
        second.starts_with("452") || second.starts_with("5"),
        "{second}"
    );
    assert!(a.cmd("DATA").starts_with("354"));
    assert!(a.cmd("Subject: one\r\n\r\nhello\r\n.").starts_with("250"));
    let long = format!("NOOP {}", "x".repeat(300));
    let r = a.cmd(&long);
    assert!(r.starts_with("500"), "{r}");

    let p = TcpStream::connect(("127.0.0.1", s.port("pop3"))).unwrap();
    p.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut pr = BufReader::new(p.try_clone().unwrap());
    let mut greeting = String::new();
    pr.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    let q = TcpStream::connect(("127.0.0.1", s.port("pop3"))).unwrap();
    q.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut busy = String::new();
    BufReader::new(q).read_to_string(&mut busy).unwrap();
    assert!(busy.starts_with("-ERR [SYS/TEMP]"), "{busy}");
    // The admitted one works: bob has exactly the one message.
    let mut w = p;
    for line in ["USER bob", "PASS pw", "STAT"] {
        w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut l = String::new();
        pr.read_line(&mut l).unwrap();
        assert!(l.starts_with("+OK"), "{line}: {l}");
        if line == "STAT" {
            assert!(l.starts_with("+OK 1 "), "{l}");
        }
    }
    drop((a, w, pr));
    assert_eq!(s.terminate().0, 0);
}

/// `[quota]` and `[user-quota.LOGIN]` from the config file: SMTP answers 552 5.2.2 past it,
/// IMAP APPEND `NO [OVERQUOTA]`, and GETQUOTAROOT reports the usage (RFC 9208).
#[test]
fn quotas_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("serve.toml");
    std::fs::write(
        &conf,
        "smtp = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nuser = [\"bob:pw\", \"carol:pw\"]\n\
         allow-insecure-auth = true\n[quota]\nmessages = 2\n[user-quota.carol]\nstorage = 4096\n",
    )
    .unwrap();
    let s = Serve::start(&["--config", conf.to_str().unwrap()]);
    let mut c = Smtp::connect(s.port("smtp"));
    c.cmd("EHLO x");
    let mut send = |to: &str| {
        assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
        assert!(c.cmd(&format!("RCPT TO:<{to}>")).starts_with("250"));
        assert!(c.cmd("DATA").starts_with("354"));
        c.cmd("Subject: q\r\n\r\nhello\r\n.")
    };
    assert!(send("bob@example.com").starts_with("250"));
    assert!(send("bob@example.com").starts_with("250"));
    let r = send("bob@example.com");
    assert!(r.starts_with("552 5.2.2"), "{r}");
    // carol has her own quota: 4096 octets, any number of messages.
    for _ in 0..3 {
        let r = send("carol@example.com");
        assert!(r.starts_with("250"), "{r}");
    }

    let w = TcpStream::connect(("127.0.0.1", s.port("imap"))).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());
    let mut w = w;
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    assert!(greeting.contains(" QUOTA "), "{greeting}");
    assert!(imap_cmd(&mut r, &mut w, "a", "LOGIN bob pw").contains("a OK"));
    let q = imap_cmd(&mut r, &mut w, "b", "GETQUOTAROOT INBOX");
    assert!(q.contains("* QUOTAROOT INBOX \"\"\r\n"), "{q}");
    assert!(q.contains("* QUOTA \"\" (MESSAGE 2 2)\r\n"), "{q}");
    let a = imap_cmd(&mut r, &mut w, "c", "APPEND Drafts {3+}\r\nx\r\n");
    assert!(a.contains("c NO [OVERQUOTA]"), "{a}");
    let st = imap_cmd(&mut r, &mut w, "d", "STATUS Drafts (MESSAGES)");
    assert!(st.contains("MESSAGES 0"), "{st}");
    let n = imap_cmd(&mut r, &mut w, "e", "SETQUOTA \"\" (MESSAGE 100)");
    assert!(n.contains("e NO [NOPERM]"), "{n}");
    assert!(imap_cmd(&mut r, &mut w, "f", "LOGOUT").contains("f OK"));

    let w = TcpStream::connect(("127.0.0.1", s.port("imap"))).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());
    let mut w = w;
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    assert!(imap_cmd(&mut r, &mut w, "a", "LOGIN carol pw").contains("a OK"));
    let q = imap_cmd(&mut r, &mut w, "b", "GETQUOTA \"\"");
    // Three messages of some hundred octets each (with the Received line): STORAGE in KiB,
    // rounded up; the limit 4096 octets is 4.
    assert!(q.contains("* QUOTA \"\" (STORAGE 1 4)\r\n"), "{q}");
    let nq = imap_cmd(&mut r, &mut w, "c", "GETQUOTA other");
    assert!(nq.contains("c NO [NONEXISTENT]"), "{nq}");
    assert_eq!(s.terminate().0, 0);
}

#[test]
fn config_file_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("serve.toml");
    std::fs::write(
        &conf,
        "smtp = \"127.0.0.1:0\"\nuser = [\"bob:pw\"]\naccept-any-recipient = true\nexpunge-history = 1000\n",
    )
    .unwrap();
    let s = Serve::start(&[
        "--config",
        conf.to_str().unwrap(),
        "--submission",
        "127.0.0.1:0",
    ]);
    assert!(s.ready.get("smtp").is_some() && s.ready.get("submission").is_some());
    let mut c = Smtp::connect(s.port("smtp"));
    c.cmd("EHLO x");
    c.cmd("MAIL FROM:<a@example.com>");
    assert!(
        c.cmd("RCPT TO:<anyone@example.com>").starts_with("250"),
        "accept-any-recipient from the file"
    );
    // Submission wants AUTH first.
    let mut sub = Smtp::connect(s.port("submission"));
    sub.cmd("EHLO x");
    assert!(
        sub.cmd("MAIL FROM:<a@example.com>")
            .starts_with("530 5.7.0")
    );
    let _ = s.dir.path();
    assert_eq!(s.terminate().0, 0);
}

#[test]
fn clear_errors_and_non_zero_exits() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = run(&["--smtp", &addr]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot listen on") && err.contains(&addr),
        "{err}"
    );

    let (code, err) = run(&[
        "--smtp",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");

    let (code, err) = run(&["--smtp", "127.0.0.1:0", "--user", "alice"]);
    assert_eq!(code, 1);
    assert!(err.contains("LOGIN:PASSWORD"), "{err}");

    let (code, err) = run(&[
        "--smtp",
        "127.0.0.1:0",
        "--store",
        "maildir:/proc/mailwire-cannot-write-here",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("store"), "{err}");
}

#[test]
fn passwords_never_reach_the_logs() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .args([
            "serve",
            "--smtp",
            "127.0.0.1:0",
            "--user",
            "alice:s3cr3t-pw",
            "--ready-file",
        ])
        .arg(std::env::temp_dir().join(format!("mailwire-ready-{}.json", std::process::id())))
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut out).unwrap();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(!out.contains("s3cr3t-pw"), "{out}");
}

fn python(code: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", code])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed:\n{code}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn mail_sent_over_smtp_is_read_over_pop3() {
    let s = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--pop3s",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ]);
    let ca = s.ready["ca"].as_str().unwrap().to_owned();
    let (smtp, pop3, pop3s) = (s.port("smtp"), s.port("pop3"), s.port("pop3s"));
    let out = python(&format!(
        r#"
import smtplib, poplib, ssl
s = smtplib.SMTP('127.0.0.1', {smtp})
s.sendmail('a@example.com', ['alice@example.com'], b'Subject: over pop3\r\n\r\n.dot line\r\nbody\r\n')
s.quit()
ctx = ssl.create_default_context(cafile='{ca}')
p = poplib.POP3('localhost', {pop3})
p.stls(ctx)
p.user('alice'); p.pass_('secret')
resp, lines, octets = p.retr(1)
assert b'.dot line' in lines and b'Subject: over pop3' in lines, lines
p.dele(1)
p.quit()
p = poplib.POP3_SSL('localhost', {pop3s}, context=ctx)
p.user('alice'); p.pass_('secret')
assert p.stat()[0] == 0, p.stat()
p.quit()
print('ok')
"#
    ));
    assert!(out.contains("ok"));
    assert_eq!(s.terminate().0, 0);
}

#[test]
fn mail_sent_over_smtp_is_read_over_imap_and_seen_in_idle() {
    let s = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--imap",
        "127.0.0.1:0",
        "--imaps",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ]);
    let ca = s.ready["ca"].as_str().unwrap().to_owned();
    let (smtp, imap, imaps) = (s.port("smtp"), s.port("imap"), s.port("imaps"));
    let out = python(&format!(
        r#"
import smtplib, imaplib, ssl, threading, time
msg = b'Subject: over imap\r\n\r\n.dot line\r\nbody\r\n'
s = smtplib.SMTP('127.0.0.1', {smtp})
s.sendmail('a@example.com', ['alice@example.com'], msg)
ctx = ssl.create_default_context(cafile='{ca}')
m = imaplib.IMAP4('localhost', {imap})
assert 'LOGINDISABLED' in m.capabilities, m.capabilities
m.starttls(ssl_context=ctx)
m.login('alice', 'secret')
m.select('INBOX')
typ, data = m.fetch('1', '(BODY.PEEK[])')
assert data[0][1].endswith(msg) and data[0][1].startswith(b'Received: '), data
# IDLE over IMAPS sees the next SMTP delivery.
i = imaplib.IMAP4_SSL('localhost', {imaps}, ssl_context=ctx)
i.login('alice', 'secret'); i.select('INBOX')
tag = i._new_tag().decode()
i.send(('%s IDLE\r\n' % tag).encode())
assert i.readline().startswith(b'+'), 'no continuation'
t = time.time()
s.sendmail('a@example.com', ['alice@example.com'], b'Subject: two\r\n\r\nx\r\n')
line = i.readline()
assert line == b'* 2 EXISTS\r\n', line
print('idle', round(time.time() - t, 3))
i.send(b'DONE\r\n')
assert i.readline().startswith(tag.encode() + b' OK'), 'IDLE not ended'
s.quit(); m.logout(); i.logout()
print('ok')
"#
    ));
    assert!(out.contains("ok"), "{out}");
    let secs: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("idle "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs < 1.0, "IDLE saw the SMTP delivery after {secs}s");
    assert_eq!(s.terminate().0, 0);
}

#[test]
fn a_pop3_deletion_reaches_a_selected_imap_session() {
    let s = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--pop3s",
        "127.0.0.1:0",
        "--imaps",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ]);
    let ca = s.ready["ca"].as_str().unwrap().to_owned();
    let (smtp, pop3s, imaps) = (s.port("smtp"), s.port("pop3s"), s.port("imaps"));
    let out = python(&format!(
        r#"
import smtplib, imaplib, poplib, ssl
s = smtplib.SMTP('127.0.0.1', {smtp})
for i in range(3):
    s.sendmail('a@example.com', ['alice@example.com'], b'Subject: m%d\r\n\r\nx\r\n' % i)
s.quit()
ctx = ssl.create_default_context(cafile='{ca}')
m = imaplib.IMAP4_SSL('localhost', {imaps}, ssl_context=ctx)
m.login('alice', 'secret')
assert m.select('INBOX')[1] == [b'3']
p = poplib.POP3_SSL('localhost', {pop3s}, context=ctx)
p.user('alice'); p.pass_('secret')
p.dele(2)
p.quit()
m.noop()
assert m.response('EXPUNGE') == ('EXPUNGE', [b'2']), m.untagged_responses
typ, data = m.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
subjects = [d[1].strip() for d in data if isinstance(d, tuple)]
assert subjects == [b'Subject: m0', b'Subject: m2'], subjects
m.logout()
print('ok')
"#
    ));
    assert!(out.contains("ok"), "{out}");
    assert_eq!(s.terminate().0, 0);
}

#[test]
fn accept_any_auth_and_recipient_make_users_on_demand() {
    let s = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--accept-any-auth",
        "--accept-any-recipient",
        "--allow-insecure-auth",
    ]);
    let (smtp, pop3) = (s.port("smtp"), s.port("pop3"));
    let out = python(&format!(
        r#"
import smtplib, poplib
s = smtplib.SMTP('127.0.0.1', {smtp})
s.sendmail('a@example.com', ['newcomer@example.com'], b'Subject: hi\r\n\r\nwelcome\r\n')
s.quit()
p = poplib.POP3('127.0.0.1', {pop3})
p.user('newcomer'); p.pass_('any password at all')
assert p.stat()[0] == 1
p.quit()
p = poplib.POP3('127.0.0.1', {pop3})
p.user('stranger'); p.pass_('whatever')
assert p.stat()[0] == 0
p.quit()
print('ok')
"#
    ));
    assert!(out.contains("ok"));
    assert_eq!(s.terminate().0, 0);
}

#[test]
fn default_listeners_are_greenmail_ports() {
    let s = Serve::start(&["--user", "alice:secret"]);
    for (protocol, port) in [
        ("smtp", 3025),
        ("smtps", 3465),
        ("submission", 3587),
        ("pop3", 3110),
        ("pop3s", 3995),
        ("imap", 3143),
        ("imaps", 3993),
    ] {
        assert_eq!(s.port(protocol), port, "{protocol}");
    }
    assert!(s.ready.get("lmtp").is_none(), "LMTP is off unless named");
    assert_eq!(s.terminate().0, 0);
}

/// `[auth-throttle]`: failed logins from one address, over all its connections and all three
/// protocols, are answered later and later past `slow-after`, then every login from it is
/// refused (IMAP `NO [UNAVAILABLE]`, SMTP `454 4.7.0`, POP3 `-ERR [SYS/TEMP]`) even with the
/// right password, until `lockout-secs` have passed.
#[test]
fn failed_logins_from_one_address_are_slowed_then_refused_for_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("serve.toml");
    std::fs::write(
        &conf,
        "smtp = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\n\
         user = [\"bob:pw\"]\nallow-insecure-auth = true\n\
         [imap-limits]\nauth-failure-delay-ms = 0\nmax-auth-failures = 100\n\
         [pop3-limits]\nmax-auth-failures = 100\n\
         [auth-throttle]\nslow-after = 2\ndelay-step-ms = 400\nmax-delay-ms = 800\n\
         lockout-after = 5\nlockout-secs = 3\n",
    )
    .unwrap();
    let s = Serve::start(&["--config", conf.to_str().unwrap()]);
    let open_imap = || {
        let w = TcpStream::connect(("127.0.0.1", s.port("imap"))).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(w.try_clone().unwrap());
        let mut greeting = String::new();
        r.read_line(&mut greeting).unwrap();
        (r, w)
    };
    let (mut r, mut w) = open_imap();
    let mut took = Vec::new();
    for i in 0..4 {
        let t = Instant::now();
        let a = imap_cmd(&mut r, &mut w, &format!("f{i}"), "LOGIN bob wrong");
        took.push(t.elapsed());
        assert!(a.contains("NO [AUTHENTICATIONFAILED]"), "{a}");
    }
    // The first two come at once; the third waits 400 ms, the fourth 800 ms.
    assert!(took[2] >= Duration::from_millis(400), "{took:?}");
    assert!(took[3] >= Duration::from_millis(800), "{took:?}");
    // The fifth failure, from another connection (and another protocol), locks the address.
    let mut c = Smtp::connect(s.port("smtp"));
    c.cmd("EHLO x");
    let r5 = c.cmd("AUTH PLAIN AGJvYgB3cm9uZw==");
    assert!(r5.starts_with("535"), "{r5}");
    // Now even the right password is refused, on every protocol.
    let ok = imap_cmd(&mut r, &mut w, "g", "LOGIN bob pw");
    assert!(ok.contains("g NO [UNAVAILABLE]"), "{ok}");
    let r6 = c.cmd("AUTH PLAIN AGJvYgBwdw==");
    assert!(r6.starts_with("454 4.7.0"), "{r6}");
    let p = TcpStream::connect(("127.0.0.1", s.port("pop3"))).unwrap();
    p.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut pr = BufReader::new(p.try_clone().unwrap());
    let mut pw = p;
    let mut line = String::new();
    pr.read_line(&mut line).unwrap();
    pw.write_all(b"USER bob\r\nPASS pw\r\n").unwrap();
    line.clear();
    pr.read_line(&mut line).unwrap();
    line.clear();
    pr.read_line(&mut line).unwrap();
    assert!(line.starts_with("-ERR [SYS/TEMP]"), "{line}");
    // After the lockout, the right password works again.
    std::thread::sleep(Duration::from_millis(3200));
    let (mut r2, mut w2) = open_imap();
    let ok = imap_cmd(&mut r2, &mut w2, "h", "LOGIN bob pw");
    assert!(ok.contains("h OK"), "{ok}");
    drop((r, w, r2, w2, c, pr, pw));
    assert_eq!(s.terminate().0, 0);
}

/// The first SCRAM step costs as much for a user who does not exist as for one who does
/// (whose stored password must be run through PBKDF2): its timing does not tell which logins
/// exist. Medians of 9 over the wire, IMAP `AUTHENTICATE SCRAM-SHA-256` with an initial
/// response, cancelled after the server's first message.
#[test]
fn scram_answers_an_unknown_user_as_slowly_as_a_known_one() {
    use base64::Engine as _;
    let s = Serve::start(&[
        "--imap",
        "127.0.0.1:0",
        "--user",
        "bob:pw",
        "--allow-insecure-auth",
        "--http",
        "off",
    ]);
    let w = TcpStream::connect(("127.0.0.1", s.port("imap"))).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());
    let mut w = w;
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut first = |user: &str| -> Duration {
        let ir = base64::engine::general_purpose::STANDARD
            .encode(format!("n,,n={user},r=0123456789abcdefghij"));
        let t = Instant::now();
        w.write_all(format!("a AUTHENTICATE SCRAM-SHA-256 {ir}\r\n").as_bytes())
            .unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        let took = t.elapsed();
        assert!(line.starts_with("+ "), "{line}");
        w.write_all(b"*\r\n").unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("a "), "{line}");
        took
    };
    let mut median = |user: &str| {
        let mut v: Vec<Duration> = (0..9).map(|_| first(user)).collect();
        v.sort();
        v[4]
    };
    let known = median("bob");
    let unknown = median("nobody");
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    println!("SCRAM first step: known user {known:?}, unknown {unknown:?}");
    assert!(
        (0.33..3.0).contains(&ratio),
        "known {known:?}, unknown {unknown:?}"
    );
}

/// One SMTP transaction for two recipients where the second cannot take the message (its
/// quota): the copy already stored for the first is taken back, so the client's retry or
/// bounce never duplicates it; over LMTP each recipient has its own answer and the first
/// keeps its copy (RFC 2033 §4.2).
#[test]
fn a_message_is_stored_for_all_its_smtp_recipients_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("serve.toml");
    std::fs::write(
        &conf,
        "smtp = \"127.0.0.1:0\"\nlmtp = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\n\
         user = [\"bob:pw\", \"carol:pw\"]\nallow-insecure-auth = true\n\
         [user-quota.carol]\nstorage = 100\n",
    )
    .unwrap();
    let s = Serve::start(&["--config", conf.to_str().unwrap()]);
    let count = |user: &str| {
        let w = TcpStream::connect(("127.0.0.1", s.port("imap"))).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(w.try_clone().unwrap());
        let mut w = w;
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        imap_cmd(&mut r, &mut w, "a", &format!("LOGIN {user} pw"));
        let st = imap_cmd(&mut r, &mut w, "b", "STATUS INBOX (MESSAGES)");
        let at = st.find("(MESSAGES ").unwrap() + 10;
        st[at..].split(')').next().unwrap().parse::<u32>().unwrap()
    };
    let body = format!("Subject: both\r\n\r\n{}\r\n.", "x".repeat(500));
    for (mode, port) in [("smtp", s.port("smtp")), ("lmtp", s.port("lmtp"))] {
        let mut c = Smtp::connect(port);
        c.cmd(if mode == "smtp" { "EHLO x" } else { "LHLO x" });
        assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<carol@example.com>").starts_with("250"));
        assert!(c.cmd("DATA").starts_with("354"));
        let first = c.cmd(&body);
        if mode == "smtp" {
            assert!(first.starts_with("552 5.2.2"), "{first}");
            assert_eq!(count("bob"), 0, "bob kept a copy of a message SMTP refused");
        } else {
            // One reply per recipient, in order.
            assert!(first.starts_with("250"), "{first}");
            let second = c.reply();
            assert!(second.starts_with("552 5.2.2"), "{second}");
            assert_eq!(count("bob"), 1);
        }
    }
    assert_eq!(count("carol"), 0);
}

/// `mailwire store migrate postgres://…` against a real PostgreSQL: the password from
/// `PGPASSWORD` when the URL has none, the schema created once, then "already at version",
/// a wrong password and a non-PostgreSQL URL failing with a message.
#[test]
fn store_migrate_creates_the_postgres_schema() {
    let pg = mailwire_testkit::Postgres::start().expect("PostgreSQL (tests/peers/install.sh)");
    let bare = pg.url().replace("mailwire:secret@", "mailwire@");
    let run = |url: &str, password: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .args(["store", "migrate", url])
            .env("PGPASSWORD", password)
            .output()
            .unwrap();
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let (ok, out) = run(&bare, "secret");
    assert!(ok && out.contains("migrated from version 0 to 1"), "{out}");
    let (ok, out) = run(&pg.url(), "");
    assert!(ok && out.contains("already at version 1"), "{out}");
    let (ok, out) = run(&bare, "wrong");
    assert!(!ok && out.contains("PostgreSQL"), "{out}");
    let (ok, out) = run("maildir:/tmp/nowhere", "");
    assert!(!ok && out.contains("not a PostgreSQL URL"), "{out}");
    assert_eq!(
        pg.psql("select version from mailwire_schema")
            .unwrap()
            .trim(),
        "1"
    );
}
