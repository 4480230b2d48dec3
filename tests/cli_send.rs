//! `mailwire send` end to end, against a scripted SMTP server on a raw TCP listener.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

/// What the fake server saw.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<String>,
    message: Vec<u8>,
}

/// A one-connection SMTP server: `ehlo` is its EHLO reply; RCPT to `nobody@…` gets 550.
fn fake_server(ehlo: &'static str) -> (u16, thread::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let mut seen = Seen::default();
        let (stream, _) = listener.accept().unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        w.write_all(b"220 fake ESMTP\r\n").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return seen;
            }
            seen.commands.push(line.trim_end().to_owned());
            let reply: &[u8] = if line.starts_with("EHLO") {
                ehlo.as_bytes()
            } else if line.starts_with("RCPT TO:<nobody") {
                b"550 5.1.1 no such user\r\n"
            } else if line.starts_with("DATA") {
                w.write_all(b"354 go ahead\r\n").unwrap();
                let mut data = Vec::new();
                while !data.ends_with(b"\r\n.\r\n") {
                    let mut b = [0u8];
                    if r.read(&mut b).unwrap_or(0) == 0 {
                        return seen;
                    }
                    data.push(b[0]);
                }
                data.truncate(data.len() - 3);
                seen.message = data;
                b"250 2.0.0 queued as 42\r\n"
            } else if line.starts_with("QUIT") {
                w.write_all(b"221 bye\r\n").unwrap();
                return seen;
            } else {
                b"250 ok\r\n"
            };
            w.write_all(reply).unwrap();
        }
    });
    (port, handle)
}

fn send(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .arg("send")
        .args(args)
        .env_remove("MAILWIRE_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const EHLO: &str = "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

#[test]
fn sends_from_stdin_adding_date_and_message_id() {
    let (port, server) = fake_server(EHLO);
    let url = format!("smtp://127.0.0.1:{port}");
    let (code, stdout, stderr) = send(
        &[
            "--server",
            &url,
            "--tls",
            "off",
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "c@example.org",
        ],
        b"Subject: hello\n\nbody line\n.dot line\n",
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("accepted <b@example.org>: 250 2.0.0 queued as 42"),
        "{stdout}"
    );
    assert!(stdout.contains("accepted <c@example.org>"), "{stdout}");
    let seen = server.join().unwrap();
    let text = String::from_utf8(seen.message).unwrap();
    assert!(text.starts_with("Date: "), "{text}");
    assert!(text.contains(" +0000\r\nMessage-ID: <"), "{text}");
    assert!(
        text.contains("@example.org>\r\nSubject: hello\r\n\r\nbody line\r\n..dot line\r\n"),
        "{text}"
    );
    assert!(seen.commands.iter().any(|c| c == "RCPT TO:<c@example.org>"));
}

#[test]
fn a_refused_recipient_makes_the_exit_status_1() {
    let (port, server) = fake_server(EHLO);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    std::fs::write(
        &file,
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n",
    )
    .unwrap();
    let url = format!("smtp://127.0.0.1:{port}");
    let (code, stdout, stderr) = send(
        &[
            "--server",
            &url,
            "--tls",
            "off",
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "nobody@example.org",
            file.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("accepted <b@example.org>"), "{stdout}");
    assert!(
        stdout.contains("refused <nobody@example.org>: 550 5.1.1 no such user"),
        "{stdout}"
    );
    let seen = server.join().unwrap();
    // Headers present already: nothing added.
    assert!(seen.message.starts_with(b"Date: Mon, 1 Jan 2024"));
}

#[test]
fn tls_is_required_by_default() {
    let (port, server) = fake_server(EHLO);
    let url = format!("smtp://127.0.0.1:{port}");
    let (code, stdout, stderr) = send(
        &[
            "--server",
            &url,
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
        ],
        b"Subject: x\r\n\r\nsecret\r\n",
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("STARTTLS"), "{stderr}");
    drop(server);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--server", "http://x", "--from", "a@b.c", "--to", "d@e.f"][..],
        &[
            "--server",
            "smtp://x",
            "--from",
            "not an address",
            "--to",
            "d@e.f",
        ],
        &[
            "--server", "smtp://x", "--from", "a@b.c", "--to", "d@e.f", "--user", "u",
        ],
    ] {
        let (code, _, stderr) = send(args, b"");
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
}

/// aiosmtpd that takes 2 recipients per transaction (`452 4.5.3` past them): `mailwire send`
/// to 5 recipients sends 3 transactions, reports every recipient accepted, says why on stderr,
/// and exits 0.
#[test]
fn a_recipient_limit_is_met_with_more_transactions() {
    let aio = mailwire_testkit::Aiosmtpd::start(mailwire_testkit::AiosmtpdOptions {
        max_recipients: Some(2),
        ..Default::default()
    })
    .expect("aiosmtpd (tests/peers/install.sh)");
    let url = format!("smtp://127.0.0.1:{}", aio.addr().port());
    let to: Vec<String> = (1..=5).map(|i| format!("r{i}@example.org")).collect();
    let mut args = vec![
        "--server",
        &url,
        "--tls",
        "off",
        "--from",
        "a@example.org",
        "--to",
    ];
    args.extend(to.iter().map(String::as_str));
    let (code, stdout, stderr) = send(&args, b"Subject: five\r\n\r\nhello\r\n");
    assert_eq!(code, 0, "{stdout}{stderr}");
    for t in &to {
        assert!(stdout.contains(&format!("accepted <{t}>: 250")), "{stdout}");
    }
    assert!(stderr.contains("sent in 3 transactions"), "{stderr}");
    aio.wait_for_messages(3, std::time::Duration::from_secs(20))
        .unwrap();
    let rcpts: Vec<usize> = aio
        .envelopes()
        .unwrap()
        .iter()
        .map(|e| e.rcpt_to.len())
        .collect();
    assert_eq!(rcpts, [2, 2, 1]);
}
