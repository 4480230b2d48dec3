//! `mailwire fetch imap(s)://…` against mailwire's IMAP server (in this test process) and
//! Dovecot: a Maildir with the flags in the names, byte for byte; a second run fetches only
//! new mail; a new UIDVALIDITY fetches everything again; `--delete` expunges only what was
//! saved.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mailwire_imap::server::{Listener, Server, ServerOptions};
use mailwire_store::{Flag, FlagOp, Flags, Store};

fn messages() -> Vec<Vec<u8>> {
    vec![
        b"From: a@example.com\r\nSubject: one\r\n\r\nfirst\r\n".to_vec(),
        "Subject: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n"
            .as_bytes()
            .to_vec(),
        [
            b"Subject: big\r\n\r\n".as_slice(),
            &b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n".repeat(4000),
        ]
        .concat(),
    ]
}

struct Imap {
    rt: tokio::runtime::Runtime,
    store: Store,
    imaps: SocketAddr,
    dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Imap {
    fn start() -> Imap {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store = Store::memory();
        rt.block_on(async {
            store.add_user("alice", "secret").await.unwrap();
            for m in messages() {
                store.deliver("alice", m).await.unwrap();
            }
            let inbox = store.user("alice").unwrap().mailbox("INBOX").await.unwrap();
            inbox
                .store_flags(
                    &[1],
                    FlagOp::Add,
                    Flags::new().with(Flag::Seen).with(Flag::Flagged),
                    None,
                )
                .await
                .unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let cert = mailwire::tls::SelfSigned::localhost().unwrap();
        cert.write_to_dir(dir.path()).unwrap();
        let server = Server::new(
            ServerOptions::default(),
            store.clone(),
            Some(cert.acceptor()),
        );
        let l = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let imaps = l.local_addr().unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        rt.spawn(Arc::clone(&server).serve(l, Listener::Imaps, rx, Duration::from_secs(1)));
        Imap {
            rt,
            store,
            imaps,
            dir,
            _stop: stop,
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn exists(&self) -> u32 {
        self.rt.block_on(async {
            self.store
                .user("alice")
                .unwrap()
                .status("INBOX")
                .await
                .unwrap()
                .exists
        })
    }
}

fn fetch(url: &str, ca: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .args([
            "fetch",
            url,
            "--user",
            "alice",
            "--password",
            "secret",
            "--ca-file",
        ])
        .arg(ca)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The Maildir's messages as (info, bytes), in file-name order (the UID is in the name).
fn maildir(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let uid = |p: &PathBuf| -> u32 {
        let n = p.file_name().unwrap().to_str().unwrap();
        let after = n.split_once('_').unwrap().1;
        after.split_once('.').unwrap().0.parse().unwrap()
    };
    files.sort_by_key(uid);
    files
        .iter()
        .map(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            let info = n.rsplit_once(":2,").unwrap().1.to_owned();
            (info, std::fs::read(p).unwrap())
        })
        .collect()
}

#[test]
fn fetch_saves_a_maildir_then_only_new_mail_and_deletes_only_what_it_saved() {
    let srv = Imap::start();
    let out = tempfile::tempdir().unwrap();
    let url = format!("imaps://localhost:{}/INBOX", srv.imaps.port());
    let (code, log) = fetch(&url, &srv.ca(), out.path(), &[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("fetched 3 new message(s)"), "{log}");
    let got = maildir(out.path());
    let want: Vec<(String, Vec<u8>)> = ["FS", "", ""]
        .iter()
        .map(|s| s.to_string())
        .zip(messages())
        .collect();
    assert_eq!(got, want);
    assert!(
        std::fs::read_dir(out.path().join("tmp"))
            .unwrap()
            .next()
            .is_none()
    );
    // Fetched with PEEK: nothing changed on the server.
    assert_eq!(srv.exists(), 3);

    let (code, log) = fetch(&url, &srv.ca(), out.path(), &[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("fetched 0 new message(s)"), "{log}");

    srv.rt
        .block_on(
            srv.store
                .deliver("alice", &b"Subject: four\r\n\r\n4\r\n"[..]),
        )
        .unwrap();
    let (code, log) = fetch(&url, &srv.ca(), out.path(), &["--delete"]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("fetched 1 new message(s)") && log.contains("deleted 1 from the server"),
        "{log}"
    );
    assert_eq!(maildir(out.path()).len(), 4);
    assert_eq!(maildir(out.path())[3].1, b"Subject: four\r\n\r\n4\r\n");
    // Only the message saved in that run was expunged.
    assert_eq!(srv.exists(), 3);

    // A mailbox whose UIDVALIDITY changed (as after the server rebuilt it): the UIDs seen
    // before mean nothing, so everything is fetched again.
    let state = out.path().join(".mailwire-imap-state");
    let text = std::fs::read_to_string(&state).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    let mut w: Vec<&str> = last.split(' ').collect();
    let changed = (w[2].parse::<u64>().unwrap() + 1).to_string();
    w[2] = &changed;
    std::fs::write(&state, format!("{text}{}\n", w.join(" "))).unwrap();
    let (code, log) = fetch(&url, &srv.ca(), out.path(), &[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("fetched 3 new message(s)"), "{log}");
}

#[test]
fn fetch_fails_plainly() {
    let srv = Imap::start();
    let out = tempfile::tempdir().unwrap();
    let url = format!("imaps://localhost:{}/Nowhere", srv.imaps.port());
    let (code, log) = fetch(&url, &srv.ca(), out.path(), &[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("opening Nowhere"), "{log}");
    // An untrusted certificate is refused.
    let url = format!("imaps://localhost:{}/INBOX", srv.imaps.port());
    let (code, log) = fetch(&url, Path::new("/dev/null"), out.path(), &[]);
    assert_eq!(code, 1, "{log}");
    let (code, log) = fetch("ftp://x/", &srv.ca(), out.path(), &[]);
    assert_eq!(code, 2, "{log}");
}

#[test]
fn fetch_from_dovecot_with_starttls() {
    let dovecot = mailwire_testkit::Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    for m in messages() {
        dovecot.add_message("alice", &m).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let url = format!("imap://localhost:{}/INBOX", dovecot.imap().port());
    let (code, log) = fetch(&url, &dovecot.cert_pem_path(), out.path(), &[]);
    assert_eq!(code, 0, "{log}");
    let got: Vec<Vec<u8>> = maildir(out.path()).into_iter().map(|(_, b)| b).collect();
    assert_eq!(got, messages());
    let (code, log) = fetch(&url, &dovecot.cert_pem_path(), out.path(), &[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("fetched 0 new message(s)"), "{log}");
}

fn console(args: &[&str], stdin: &[u8]) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .arg("imap")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn console_with_piped_commands_tags_literals_and_exit_status() {
    let srv = Imap::start();
    let url = format!("imaps://localhost:{}", srv.imaps.port());
    let ca = srv.ca();
    let ca = ca.to_str().unwrap();
    let (code, out) = console(
        &[&url, "--ca-file", ca],
        b"LOGIN alice secret\nSELECT INBOX\nUID FETCH 1 (FLAGS)\nAPPEND Drafts {5}\nhello\nFROB\nSTATUS Drafts (MESSAGES)\nLOGOUT\n",
    );
    assert_eq!(code, 0, "{out}");
    for want in [
        "C: LOGIN alice ********",
        "S: * 3 EXISTS",
        "S: * 1 FETCH (UID 1 FLAGS (",
        "C: APPEND Drafts {5}",
        "OK [APPENDUID ",
        "# not sent:",
        "S: * STATUS Drafts (MESSAGES 1)",
        "S: * BYE",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
    assert!(!out.contains("secret"), "{out}");
    // The tags are the console's: A1, A2, ... in the tagged lines.
    assert!(out.contains("S: A2 OK"), "{out}");
    // The last command's status is the exit status.
    let (code, out) = console(&[&url, "--ca-file", ca], b"LOGIN alice wrong\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NO [AUTHENTICATIONFAILED]"), "{out}");
}

#[test]
fn console_in_tmux_logs_in_selects_and_idles_until_enter() {
    let srv = Imap::start();
    let work = tempfile::tempdir().unwrap();
    let command = format!(
        "{} imap imaps://localhost:{} --user alice --password secret --ca-file {}; sleep 30",
        env!("CARGO_BIN_EXE_mailwire"),
        srv.imaps.port(),
        srv.ca().display()
    );
    let tmux = mailwire_testkit::Tmux::start(work.path().join("tmux.sock"), &command);
    tmux.wait_for(
        &["# connected to localhost", "logged in", "imap>"],
        "the prompt",
    );
    tmux.send(&["SELECT INBOX", "Enter"]);
    tmux.wait_for(&["S: * 3 EXISTS", "OK [READ-WRITE]"], "SELECT");
    // Line editing: history brings the last command back.
    tmux.send(&["Up"]);
    tmux.wait_for(&["imap> SELECT INBOX"], "history");
    tmux.send(&["C-u", "IDLE", "Enter"]);
    tmux.wait_for(&["C: IDLE"], "IDLE");
    std::thread::sleep(Duration::from_millis(500));
    srv.rt
        .block_on(
            srv.store
                .deliver("alice", &b"Subject: live\r\n\r\nx\r\n"[..]),
        )
        .unwrap();
    tmux.wait_for(&["S: * 4 EXISTS"], "the delivery during IDLE");
    tmux.send(&["Enter"]);
    tmux.wait_for(&["OK IDLE"], "IDLE ended");
    tmux.send(&["LOGOUT", "Enter"]);
    tmux.wait_for(&["S: * BYE"], "LOGOUT");
}

/// `--delete` against a server without UIDPLUS (Twisted's IMAP4Server): a plain EXPUNGE
/// would also remove a message someone else marked `\Deleted`, so it is not sent then; the
/// saved message stays marked, the other one is still there, and the summary says why. With
/// no other message marked, the EXPUNGE goes out.
#[test]
fn fetch_delete_without_uidplus_never_expunges_what_it_did_not_save() {
    use mailwire_imap::client::{Client, ClientConfig, Login};
    use mailwire_imap::proto::{Flag, SearchKey, SequenceSet, StoreKind};
    use mailwire_tls::{Security, TlsPolicy};
    let twisted =
        mailwire_testkit::Twisted::start(false).expect("Twisted (tests/peers/install.sh)");
    let port = twisted.imap().port();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = || async {
        let cfg = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
        let login =
            Login::password("alice", "secret").with_mechanism(mailwire_sasl::Mechanism::CramMd5);
        Client::connect(cfg, &login)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", twisted.log()))
    };
    let append = |subject: &str| {
        rt.block_on(async {
            let c = client().await;
            let _ = c.create("Keep").await;
            c.append(
                "Keep",
                &[],
                format!("Subject: {subject}\r\n\r\nx\r\n").into_bytes(),
            )
            .await
            .unwrap();
            c.logout().await.unwrap();
        })
    };
    let out = tempfile::tempdir().unwrap();
    let url = format!("imap://127.0.0.1:{port}/Keep");
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .args(["fetch", &url, "--user", "alice", "--password", "secret"])
            .args(["--tls", "off", "--out"])
            .arg(out.path())
            .args(extra)
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.status.code(), Some(0), "{log}\n{}", twisted.log());
        log
    };
    append("one");
    append("two");
    let log = run(&[]);
    assert!(log.contains("fetched 2 new message(s)"), "{log}");
    // Another client marks message 1; a new message arrives; --delete saves only that one.
    append("three");
    rt.block_on(async {
        let c = client().await;
        c.select("Keep").await.unwrap();
        c.store(
            &SequenceSet::single(1).unwrap(),
            StoreKind::Add,
            &[Flag::Deleted],
            false,
            None,
        )
        .await
        .unwrap();
        c.logout().await.unwrap();
    });
    let log = run(&["--delete"]);
    assert!(log.contains("fetched 1 new message(s)"), "{log}");
    assert!(log.contains("not expunged"), "{log}");
    let (total, marked) = rt.block_on(async {
        let c = client().await;
        let s = c.select("Keep").await.unwrap();
        let marked = c.search(SearchKey::Deleted, false).await.unwrap();
        // Now no mark stands: the next --delete may expunge.
        c.store(
            &SequenceSet::range(1, 3).unwrap(),
            StoreKind::Remove,
            &[Flag::Deleted],
            false,
            None,
        )
        .await
        .unwrap();
        c.logout().await.unwrap();
        (s.exists, marked)
    });
    assert_eq!(total, 3, "nothing expunged");
    assert_eq!(
        marked,
        [1, 3],
        "the other client's mark and the saved message's"
    );
    append("four");
    let log = run(&["--delete"]);
    assert!(log.contains("deleted 1 from the server"), "{log}");
    let left = rt.block_on(async {
        let c = client().await;
        let s = c.select("Keep").await.unwrap();
        c.logout().await.unwrap();
        s.exists
    });
    // Only "four", the one saved by this run, went.
    assert_eq!(left, 3);
}

/// A TCP relay to `to` that notes the most `UID FETCH` commands the client had waiting at
/// once (sent, not yet completed), and slows the server's answers by `pace` per 4 KiB so a
/// person (or tmux) can watch the progress bar.
fn relay(to: SocketAddr, pace: Duration) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::collections::HashSet;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let most = Arc::new(AtomicUsize::new(0));
    let peak = most.clone();
    std::thread::spawn(move || {
        for client in l.incoming() {
            let Ok(client) = client else { return };
            let server = std::net::TcpStream::connect(to).unwrap();
            let waiting: Arc<Mutex<HashSet<String>>> = Arc::default();
            let (w1, peak1) = (waiting.clone(), peak.clone());
            let (mut to_server, from_client) =
                (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut r = BufReader::new(from_client);
                let mut line = Vec::new();
                while r.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    let text = String::from_utf8_lossy(&line);
                    let mut words = text.split(' ');
                    if let (Some(tag), Some(a), Some(b)) =
                        (words.next(), words.next(), words.next())
                        && a.eq_ignore_ascii_case("UID")
                        && b.eq_ignore_ascii_case("FETCH")
                    {
                        let mut w = w1.lock().unwrap();
                        w.insert(tag.to_owned());
                        peak1.fetch_max(w.len(), Ordering::SeqCst);
                    }
                    if to_server.write_all(&line).is_err() {
                        return;
                    }
                    line.clear();
                }
                let _ = to_server.shutdown(std::net::Shutdown::Write);
            });
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut partial = Vec::new();
                loop {
                    let n = match from_server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    partial.extend_from_slice(&buf[..n]);
                    while let Some(i) = partial.iter().position(|&c| c == b'\n') {
                        let line: Vec<u8> = partial.drain(..=i).collect();
                        let text = String::from_utf8_lossy(&line);
                        if let Some((tag, rest)) = text.split_once(' ')
                            && (rest.starts_with("OK")
                                || rest.starts_with("NO")
                                || rest.starts_with("BAD"))
                        {
                            waiting.lock().unwrap().remove(tag);
                        }
                    }
                    std::thread::sleep(pace);
                    if to_client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, most)
}

/// `mailwire fetch` on a terminal (tmux): the progress bar while it runs, then the summary;
/// its UID FETCH batches are pipelined (several waiting at once on the one connection, seen
/// by a relay in between), not one round trip each. Against Twisted's IMAP4Server.
#[test]
fn fetch_on_a_terminal_shows_progress_and_pipelines_its_batches() {
    use mailwire_imap::client::{Client, ClientConfig, Login};
    use mailwire_tls::{Security, TlsPolicy};
    let twisted =
        mailwire_testkit::Twisted::start(false).expect("Twisted (tests/peers/install.sh)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = 300;
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
        c.create("Bulk").await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..n {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let m = format!("Subject: bulk {i}\r\n\r\n{}\r\n", "y".repeat(2000));
                c.append("Bulk", &[], m.into_bytes()).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        c.logout().await.unwrap();
    });
    let (port, most) = relay(twisted.imap(), Duration::from_millis(20));
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let command = format!(
        "{} fetch imap://127.0.0.1:{port}/Bulk --user alice --password secret --tls off --out {}; sleep 30",
        env!("CARGO_BIN_EXE_mailwire"),
        out.display()
    );
    let tmux = mailwire_testkit::Tmux::start(work.path().join("tmux.sock"), &command);
    let pane = tmux.wait_for(&["fetch [", &format!("/{n} messages")], "the progress bar");
    assert!(!pane.contains("fetched"), "{pane}");
    tmux.wait_for(&[&format!("fetched {n} new message(s)")], "the summary");
    assert_eq!(std::fs::read_dir(out.join("cur")).unwrap().count(), n);
    let most = most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        most >= 2,
        "at most {most} UID FETCH waiting at once: not pipelined"
    );
}

/// The console against Twisted's IMAP4Server, which has no LITERAL+: the APPEND's literal
/// (sent only after the server's `+`, as the session does for a synchronising literal) is
/// stored and reads back octet for octet; the console's literal lines are joined by CRLF.
#[test]
fn console_appends_with_a_synchronising_literal() {
    let twisted =
        mailwire_testkit::Twisted::start(false).expect("Twisted (tests/peers/install.sh)");
    let url = format!("imap://127.0.0.1:{}", twisted.imap().port());
    let (code, out) = console(
        &[&url, "--tls", "off", "--user", "alice", "--password", "secret"],
        b"CREATE Lit\nAPPEND Lit () {20}\nSubject: lit\n\nbody\nSELECT Lit\nFETCH 1 (BODY.PEEK[])\nLOGOUT\n",
    );
    assert_eq!(code, 0, "{out}\n{}", twisted.log());
    for want in [
        "C: APPEND Lit () {20}",
        "OK APPEND",
        "S: * 1 FETCH (BODY[] {20}\n   Subject: lit\n   \n   body)",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
}
