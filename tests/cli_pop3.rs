//! `mailwire fetch pop3(s)://…` and the `mailwire pop3` console, against mailwire's POP3
//! server running in this test process.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mailwire::pop3::server::{Listener, MemoryMaildrops, Server, ServerOptions};

struct Pop3 {
    _rt: tokio::runtime::Runtime,
    pop3: SocketAddr,
    pop3s: SocketAddr,
    drops: MemoryMaildrops,
    dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn start() -> Pop3 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cert = mailwire::tls::SelfSigned::localhost().unwrap();
    let dir = tempfile::tempdir().unwrap();
    cert.write_to_dir(dir.path()).unwrap();
    let drops = MemoryMaildrops::new();
    let auth = Arc::new(mailwire::sasl::StaticAuthenticator::new().with_user("alice", "secret"));
    let server = Server::new(
        ServerOptions::default(),
        drops.clone(),
        auth,
        Some(cert.acceptor()),
    );
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut addrs = Vec::new();
    for kind in [Listener::Pop3, Listener::Pop3s] {
        let l = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        addrs.push(l.local_addr().unwrap());
        rt.spawn(Arc::clone(&server).serve(l, kind, rx.clone(), Duration::from_secs(1)));
    }
    Pop3 {
        _rt: rt,
        pop3: addrs[0],
        pop3s: addrs[1],
        drops,
        dir,
        _stop: stop,
    }
}

fn mailwire(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .args(args)
        .env("MAILWIRE_PASSWORD", "secret")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mailwire binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn eml_files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn fetch_writes_one_eml_per_message_then_only_new_mail_and_deletes_after_saving() {
    let srv = start();
    let m1 = b"Subject: one\r\n\r\n.leading dot\r\n".to_vec();
    let m2 = [
        b"Subject: two\r\n\r\n".as_slice(),
        &b"x".repeat(100_000),
        b"\r\n",
    ]
    .concat();
    srv.drops.add_message("alice", m1.clone());
    srv.drops.add_message("alice", m2.clone());
    let out = tempfile::tempdir().unwrap();
    let ca = srv.dir.path().join("cert.pem");
    let url = format!("pop3s://127.0.0.1:{}", srv.pop3s.port());
    let args = [
        "fetch",
        &url,
        "--user",
        "alice",
        "--ca-file",
        ca.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    let (code, _, stderr) = mailwire(&args, b"");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("fetched 2 new message(s)"), "{stderr}");
    let mut files = eml_files(out.path());
    files.sort();
    let mut want = vec![m1.clone(), m2.clone()];
    want.sort();
    assert_eq!(files, want, "bytes on disk equal bytes delivered");
    // Second run: nothing new.
    let (code, _, stderr) = mailwire(&args, b"");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("fetched 0 new message(s)"), "{stderr}");
    // A new message, over pop3:// with STLS, and --delete.
    let m3 = b"Subject: three\r\n\r\nhi\r\n".to_vec();
    srv.drops.add_message("alice", m3.clone());
    let url = format!("pop3://127.0.0.1:{}", srv.pop3.port());
    let mut args2 = args.to_vec();
    args2[1] = &url;
    args2.push("--delete");
    let (code, _, stderr) = mailwire(&args2, b"");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("fetched 1 new message(s)"), "{stderr}");
    assert!(stderr.contains("deleted 1 from the server"), "{stderr}");
    assert_eq!(eml_files(out.path()).len(), 3);
    assert!(eml_files(out.path()).contains(&m3));
    let left: Vec<Vec<u8>> = srv
        .drops
        .messages("alice")
        .iter()
        .map(|b| b.to_vec())
        .collect();
    assert_eq!(left, vec![m1, m2]);
}

#[test]
fn fetch_fails_plainly() {
    let srv = start();
    let out = tempfile::tempdir().unwrap();
    // Wrong CA: the certificate is not trusted, nothing is fetched.
    let url = format!("pop3s://127.0.0.1:{}", srv.pop3s.port());
    let (code, _, stderr) = mailwire(
        &[
            "fetch",
            &url,
            "--user",
            "alice",
            "--out",
            out.path().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    let (code, _, stderr) = mailwire(
        &[
            "fetch",
            "pop3://127.0.0.1:1",
            "--user",
            "alice",
            "--out",
            out.path().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("not built yet"), "{stderr}");
}

#[test]
fn console_shows_the_protocol_and_handles_stls_and_auth() {
    let srv = start();
    srv.drops
        .add_message("alice", b"Subject: hi\r\n\r\nhello\r\n".to_vec());
    let ca = srv.dir.path().join("cert.pem");
    let url = format!("pop3://127.0.0.1:{}", srv.pop3.port());
    let (code, stdout, stderr) = mailwire(
        &[
            "pop3",
            &url,
            "--tls",
            "off",
            "--user",
            "alice",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        b"CAPA\nFROB\nSTLS\nAUTH SCRAM-SHA-256\nSTAT\nRETR 1\nPASS hunter2\nQUIT\n",
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for want in [
        "S: +OK localhost POP3 mailwire ready <",
        "C: CAPA",
        "S: STLS",
        "# not sent: unknown command",
        "C: STLS",
        "S: +OK Begin TLS negotiation",
        "# TLS established",
        "C: AUTH SCRAM-SHA-256 ********",
        "# logged in",
        "S: +OK 1 22",
        "# logged in\nC: STAT",
        "S: hello",
        "C: PASS ********",
        "S: -ERR PASS not allowed in the TRANSACTION state",
        "C: QUIT",
        "S: +OK localhost POP3 server signing off",
    ] {
        assert!(stdout.contains(want), "{want:?} missing:\n{stdout}");
    }
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("secret"),
        "{stdout}"
    );
}

#[test]
fn parse_pop3_transcripts() {
    let (code, stdout, stderr) = mailwire(
        &["parse", "pop3-command"],
        b"CAPA\r\nUSER alice\r\nPASS secret\r\nAUTH CRAM-MD5\r\ndGltIGI5MTNh\r\nRETR 1\r\nQUIT\r\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("7 messages parsed"), "{stderr}");
    assert!(
        stdout.contains("Retr(1)") && !stdout.contains("secret"),
        "{stdout}"
    );
    let (code, _, stderr) = mailwire(&["parse", "pop3-command"], b"STAT\r\nRETR one\r\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("byte offset 6"), "{stderr}");
    let (code, stdout, stderr) = mailwire(
        &["parse", "pop3-response"],
        b"+OK ready\r\n+OK\r\n..x\r\n.\r\n-ERR [IN-USE] locked\r\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("body:    4 octets") && stdout.contains("InUse"),
        "{stdout}"
    );
}
