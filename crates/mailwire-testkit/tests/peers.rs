//! Starts each real peer, talks to it over a plain `TcpStream`, and drops it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use mailwire_testkit::{
    Aiosmtpd, AiosmtpdOptions, Dovecot, Error, SinkCounters, SmtpSink, Twisted, pid_alive, python,
    run_tool,
};

const T: Duration = Duration::from_secs(10);

/// A line-oriented conversation over a plain TCP connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, T).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
    }

    /// Sends `command` and reads lines until one starts with `end` (e.g. a tag, or "250 ").
    fn ask(&mut self, command: &str, end: &str) -> String {
        self.send(command);
        self.until(end)
    }

    fn until(&mut self, end: &str) -> String {
        let mut all = String::new();
        loop {
            let line = self.line();
            assert!(!line.is_empty(), "connection closed; so far: {all}");
            all.push_str(&line);
            if line.starts_with(end) {
                return all;
            }
        }
    }
}

fn greeting(addr: SocketAddr) -> String {
    Conn::open(addr).line()
}

/// After the handle is gone: its process and its folder are gone too.
fn assert_gone(pid: u32, dir: PathBuf) {
    assert!(!pid_alive(pid), "pid {pid} still running after drop");
    assert!(!dir.exists(), "{} still there after drop", dir.display());
}

const MESSAGE: &str = "From: a@example.com\r\nTo: alice@example.com\r\nSubject: testkit\r\n\r\nhello\r\n.leading dot\r\n";
const STUFFED: &str = "From: a@example.com\r\nTo: alice@example.com\r\nSubject: testkit\r\n\r\nhello\r\n..leading dot\r\n.\r\n";

/// One SMTP (or LMTP) transaction to alice over a plain connection, then QUIT.
fn send_mail(addr: SocketAddr, hello: &str) {
    let mut c = Conn::open(addr);
    assert!(c.line().starts_with("220"));
    c.ask(&format!("{hello} client.example\r\n"), "250 ");
    assert!(
        c.ask("MAIL FROM:<a@example.com>\r\n", "")
            .starts_with("250")
    );
    assert!(
        c.ask("RCPT TO:<alice@example.com>\r\n", "")
            .starts_with("250")
    );
    assert!(c.ask("DATA\r\n", "").starts_with("354"));
    let done = c.ask(STUFFED, "");
    assert!(done.starts_with("250"), "{done}");
    assert!(c.ask("QUIT\r\n", "").starts_with("221"));
}

#[test]
fn dovecot_serves_imap_pop3_lmtp_and_stops_on_drop() {
    let dovecot = Dovecot::start().unwrap();
    assert!(greeting(dovecot.imap()).starts_with("* OK"));
    assert!(greeting(dovecot.pop3()).starts_with("+OK"));
    assert!(greeting(dovecot.lmtp()).starts_with("220"));
    for tls in [dovecot.imaps(), dovecot.pop3s()] {
        TcpStream::connect_timeout(&tls, T).unwrap();
    }
    assert!(dovecot.cert_pem_path().is_file());

    // LMTP in, IMAP and POP3 out.
    send_mail(dovecot.lmtp(), "LHLO");
    dovecot.add_message("alice", MESSAGE.as_bytes()).unwrap();
    let mut imap = Conn::open(dovecot.imap());
    imap.line();
    assert!(imap.ask("a LOGIN alice secret\r\n", "a ").contains("a OK"));
    let select = imap.ask("b SELECT INBOX\r\n", "b ");
    assert!(select.contains("* 2 EXISTS"), "{select}");
    let fetch = imap.ask("c FETCH 2 BODY.PEEK[]\r\n", "c ");
    assert!(fetch.contains(MESSAGE), "{fetch}");
    let mut pop = Conn::open(dovecot.pop3());
    pop.line();
    pop.ask("USER bob\r\n", "");
    assert!(pop.ask("PASS wrong\r\n", "").starts_with("-ERR"));
    assert!(dovecot.log().contains("Dovecot v"), "{}", dovecot.log());

    let (pid, dir) = (dovecot.pid(), dovecot.dir().to_path_buf());
    assert!(pid_alive(pid));
    drop(dovecot);
    assert_gone(pid, dir);
}

#[test]
fn dovecot_takes_extra_config() {
    let dovecot = Dovecot::start_with_config("login_greeting = testkit ready").unwrap();
    let line = greeting(dovecot.imap());
    assert!(line.contains("testkit ready"), "{line}");
    dovecot.stop().unwrap();
}

#[test]
fn smtp_sink_counts_smtp_and_lmtp() {
    let sink = SmtpSink::start(false).unwrap();
    assert_eq!(sink.counters(), SinkCounters::default());
    send_mail(sink.addr(), "EHLO");
    send_mail(sink.addr(), "EHLO");
    let c = sink.wait_for_messages(2, T).unwrap();
    assert_eq!(c.messages, 2);
    // smtp-sink counts a QUIT when it reads it, which may be just after the second message
    // was counted: wait for it too.
    let deadline = std::time::Instant::now() + T;
    let mut c = c;
    while c.quits < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        c = sink.counters();
    }
    assert_eq!(c.quits, 2);

    let lmtp = SmtpSink::start(true).unwrap();
    assert_ne!(lmtp.addr(), sink.addr());
    let mut c = Conn::open(lmtp.addr());
    assert!(c.line().starts_with("220"));
    // smtp-sink in LMTP mode refuses HELO/EHLO: only LHLO.
    assert!(!c.ask("EHLO x\r\n", "").starts_with("250"));
    drop(c);
    send_mail(lmtp.addr(), "LHLO");
    assert_eq!(lmtp.wait_for_messages(1, T).unwrap().messages, 1);

    let (pid, dir) = (sink.pid(), sink.dir().to_path_buf());
    drop(sink);
    assert_gone(pid, dir);
}

#[test]
fn aiosmtpd_keeps_messages_byte_for_byte() {
    let aio = Aiosmtpd::start(AiosmtpdOptions::default()).unwrap();
    assert!(greeting(aio.addr()).starts_with("220"));
    let mut c = Conn::open(aio.addr());
    c.line();
    let ehlo = c.ask("EHLO x\r\n", "250 ");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    drop(c);
    send_mail(aio.addr(), "EHLO");
    let messages = aio.wait_for_messages(1, T).unwrap();
    assert_eq!(messages, vec![MESSAGE.as_bytes().to_vec()]);
    let envelopes = aio.envelopes().unwrap();
    assert_eq!(envelopes[0].mail_from, "a@example.com");
    assert_eq!(envelopes[0].rcpt_to, ["alice@example.com"]);
    assert_eq!(envelopes[0].helo, "client.example");
    assert!(!envelopes[0].tls && envelopes[0].auth.is_none());

    let (pid, dir) = (aio.pid(), aio.dir().to_path_buf());
    drop(aio);
    assert_gone(pid, dir);
}

#[test]
fn aiosmtpd_auth_in_cleartext() {
    let aio = Aiosmtpd::start(AiosmtpdOptions {
        auth: true,
        auth_cleartext: true,
        auth_required: true,
        ..Default::default()
    })
    .unwrap();
    let mut c = Conn::open(aio.addr());
    c.line();
    let ehlo = c.ask("EHLO x\r\n", "250 ");
    assert!(ehlo.contains("AUTH LOGIN PLAIN"), "{ehlo}");
    assert!(
        c.ask("MAIL FROM:<a@example.com>\r\n", "")
            .starts_with("530")
    );
    // "\0alice\0wrong", then "\0alice\0secret".
    assert!(
        c.ask("AUTH PLAIN AGFsaWNlAHdyb25n\r\n", "")
            .starts_with("535")
    );
    assert!(
        c.ask("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "")
            .starts_with("235")
    );
    assert!(
        c.ask("MAIL FROM:<a@example.com>\r\n", "")
            .starts_with("250")
    );
    assert!(c.ask("RCPT TO:<x@example.com>\r\n", "").starts_with("250"));
    c.ask("DATA\r\n", "354");
    assert!(c.ask(STUFFED, "").starts_with("250"));
    let envelopes = aio.envelopes().unwrap();
    assert_eq!(envelopes[0].auth.as_deref(), Some("alice"));
}

#[test]
fn twisted_carries_smtp_mail_to_imap_and_pop3() {
    let twisted = Twisted::start(false).unwrap();
    assert!(twisted.cert_pem_path().is_none());
    assert!(greeting(twisted.imap()).starts_with("* OK"));
    assert!(greeting(twisted.pop3()).starts_with("+OK"));
    send_mail(twisted.smtp(), "EHLO");

    let mut imap = Conn::open(twisted.imap());
    imap.line();
    assert!(imap.ask("a LOGIN alice secret\r\n", "a ").contains("a OK"));
    let select = imap.ask("b SELECT INBOX\r\n", "b ");
    assert!(select.contains("* 1 EXISTS"), "{select}");
    let fetch = imap.ask("c FETCH 1 BODY.PEEK[]\r\n", "c ");
    assert!(fetch.contains(MESSAGE), "{fetch}");

    let mut pop = Conn::open(twisted.pop3());
    pop.line();
    pop.ask("USER alice\r\n", "");
    assert!(pop.ask("PASS secret\r\n", "").starts_with("+OK"));
    assert!(pop.ask("STAT\r\n", "").starts_with("+OK 1 "));
    let retr = pop.ask("RETR 1\r\n", ".\r\n");
    assert!(retr.contains("\r\n..leading dot\r\n"), "{retr}");

    let (pid, dir) = (twisted.pid(), twisted.dir().to_path_buf());
    drop(twisted);
    assert_gone(pid, dir);
}

#[test]
fn twisted_with_tls_wants_starttls_before_login() {
    let twisted = Twisted::start(true).unwrap();
    assert!(twisted.cert_pem_path().unwrap().is_file());
    let mut imap = Conn::open(twisted.imap());
    imap.line();
    let caps = imap.ask("a CAPABILITY\r\n", "a ");
    assert!(
        caps.contains("STARTTLS") && caps.contains("LOGINDISABLED"),
        "{caps}"
    );
    let mut smtp = Conn::open(twisted.smtp());
    smtp.line();
    assert!(smtp.ask("EHLO x\r\n", "250 ").contains("STARTTLS"));
}

#[test]
fn peers_started_in_parallel_get_distinct_ports() {
    let sinks: Vec<SmtpSink> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| SmtpSink::start(false).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = sinks.iter().map(|s| s.addr().port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    for sink in &sinks {
        assert!(greeting(sink.addr()).starts_with("220"));
    }
}

#[test]
fn reference_clients_run_with_a_time_limit() {
    let sink = SmtpSink::start(false).unwrap();
    let port = sink.addr().port().to_string();
    let swaks = run_tool(
        "swaks",
        [
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--from",
            "a@example.com",
            "--to",
            "alice@example.com",
        ],
        None,
        T,
    )
    .unwrap();
    assert!(
        swaks.status.success(),
        "{}",
        String::from_utf8_lossy(&swaks.stdout)
    );
    let curl = run_tool(
        "curl",
        [
            "-sSf",
            "-m",
            "10",
            &format!("smtp://127.0.0.1:{port}"),
            "--mail-from",
            "a@example.com",
            "--mail-rcpt",
            "alice@example.com",
            "-T",
            "-",
        ],
        Some(MESSAGE.as_bytes()),
        T,
    )
    .unwrap();
    assert!(
        curl.status.success(),
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let sent = python(
        &format!(
            "import smtplib; s = smtplib.SMTP('127.0.0.1', {port}); \
             print(s.sendmail('a@example.com', ['b@example.com'], b'Subject: x\\r\\n\\r\\ny\\r\\n')); s.quit()"
        ),
        T,
    )
    .unwrap();
    assert_eq!(sent.trim(), "{}");
    assert_eq!(sink.wait_for_messages(3, T).unwrap().messages, 3);

    let err = python("import sys; sys.exit('boom')", T).unwrap_err();
    assert!(matches!(err, Error::ToolFailed { .. }) && err.to_string().contains("boom"));
}

#[test]
fn not_installed_names_the_package() {
    let err = Error::NotInstalled {
        peer: "dovecot",
        install: "apt-get install -y dovecot-imapd",
        detail: "'dovecot' not found".into(),
    };
    let text = err.to_string();
    assert!(text.contains("apt-get install -y dovecot-imapd") && text.contains("install.sh"));
}

/// PostgreSQL: a fresh cluster answers SQL over TCP with the password (and only with it), only
/// on 127.0.0.1, and is gone after stop.
#[test]
fn postgres_cluster_answers_with_its_password_and_stops() {
    let pg = mailwire_testkit::Postgres::start().unwrap();
    assert_eq!(pg.psql("select 1 + 1").unwrap().trim(), "2");
    assert_eq!(
        pg.psql("show listen_addresses").unwrap().trim(),
        "127.0.0.1"
    );
    assert_eq!(pg.psql("show fsync").unwrap().trim(), "on");
    // A wrong password is refused.
    let port = pg.addr().port().to_string();
    let wrong = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "mailwire",
            "-d",
            "mailwire",
        ])
        .args(["-Atqc", "select 1"])
        .env("PGPASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let pid = pg.pid();
    assert!(mailwire_testkit::pid_alive(pid));
    pg.stop().unwrap();
    assert!(!mailwire_testkit::pid_alive(pid));
}
