//! Interop with Dovecot (tests/peers/dovecot.sh through mailwire-testkit). These tests fail,
//! never skip, when Dovecot is missing.
//!
//! 1. A Maildir written by mailwire (messages and flags, some in a subfolder) opens in Dovecot
//!    with the same messages and flags, checked over IMAP with Python's imaplib.
//! 2. Mail delivered by Dovecot's LMTP opens in mailwire's maildir backend with the same bytes
//!    (and flags Dovecot set over IMAP).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use mailwire_store::{Flag, FlagOp, Flags, Store};
use mailwire_testkit::Dovecot;

fn start_dovecot() -> Dovecot {
    Dovecot::start()
        .unwrap_or_else(|e| panic!("Dovecot is required for these tests and did not start: {e}"))
}

/// `chown -R` to the owner of `like` (Dovecot touches mail as that user).
fn chown_like(path: &Path, like: &Path) {
    let md = std::fs::metadata(like).unwrap();
    fn walk(p: &Path, uid: u32, gid: u32) {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), uid, gid);
            }
        }
    }
    walk(path, md.uid(), md.gid());
}

const IMAP_DUMP: &str = r#"
import base64, imaplib, json, re, sys
port, ops = int(sys.argv[1]), json.loads(sys.argv[2])
m = imaplib.IMAP4("127.0.0.1", port)
m.login("alice", "secret")
out = {"list": [], "boxes": {}}
typ, data = m.list('""', '"*"')
for line in data:
    out["list"].append(line.decode().rsplit(' "/" ', 1)[-1].strip('"'))
for op in ops.get("store", []):
    m.select('"%s"' % op[0])
    m.uid("STORE", "1:*", "+FLAGS.SILENT", op[1])
for box in ops.get("dump", []):
    typ, _ = m.select('"%s"' % box, readonly=True)
    assert typ == "OK", box
    typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    msgs = []
    for item in data:
        if isinstance(item, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
            msgs.append([sorted(f for f in flags if f != "\\Recent"), base64.b64encode(item[1]).decode()])
    out["boxes"][box] = msgs
m.logout()
print(json.dumps(out))
"#;

fn b64decode(s: &str) -> Vec<u8> {
    let t: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let mut out = Vec::new();
    for chunk in t.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}

/// Runs the imaplib script: `store` = [(mailbox, flag list)], `dump` = mailboxes to fetch.
fn imap(dovecot: &Dovecot, ops: serde_json::Value) -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            IMAP_DUMP,
            &dovecot.imap().port().to_string(),
            &ops.to_string(),
        ])
        .output()
        .expect("python3 is needed for the Dovecot interop tests");
    assert!(
        out.status.success(),
        "imaplib failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dovecot.log()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (sorted flags, bytes) of each message Dovecot shows in `box_`, sorted.
fn dovecot_box(dump: &serde_json::Value, box_: &str) -> Vec<(Vec<String>, Vec<u8>)> {
    let mut v: Vec<(Vec<String>, Vec<u8>)> = dump["boxes"][box_]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let flags = m[0]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            (flags, b64decode(m[1].as_str().unwrap()))
        })
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

async fn mailwire_box(store: &Store, box_: &str) -> Vec<(Vec<String>, Vec<u8>)> {
    let m = store.user("alice").unwrap().mailbox(box_).await.unwrap();
    let mut v = Vec::new();
    for meta in m.messages().await.unwrap() {
        let mut flags = meta.flags.to_strings();
        flags.sort();
        v.push((flags, m.fetch(meta.uid).await.unwrap().to_vec()));
    }
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_opens_a_maildir_written_by_mailwire() {
    let dovecot = start_dovecot();
    let mail = dovecot.dir().join("mail");
    let store = Store::maildir(&mail).unwrap();
    let u = store.add_user("alice", "pw").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    let f = |s: &[&str]| Flags::parse(s).unwrap();
    inbox
        .append(&b"Subject: plain\r\n\r\none\r\n"[..], Flags::new(), None)
        .await
        .unwrap();
    inbox
        .append(
            &b"Subject: seen+flagged\r\n\r\ntwo\r\n"[..],
            f(&["\\Seen", "\\Flagged"]),
            None,
        )
        .await
        .unwrap();
    inbox
        .append(
            &b"Subject: answered draft\r\n\r\nthree\r\n"[..],
            f(&["\\Answered", "\\Draft"]),
            None,
        )
        .await
        .unwrap();
    store
        .deliver(
            "alice@example.org",
            &b"Subject: delivered\r\n\r\n.dot line\r\n\xe9 8bit\r\n"[..],
        )
        .await
        .unwrap();
    inbox
        .store_flags(&[1], FlagOp::Add, Flags::new().with(Flag::Seen), None)
        .await
        .unwrap();
    u.create_mailbox("Work/Sub").await.unwrap();
    let sub = u.mailbox("Work/Sub").await.unwrap();
    sub.append(
        &b"Subject: in sub\r\n\r\nfour\r\n"[..],
        f(&["\\Seen"]),
        None,
    )
    .await
    .unwrap();
    sub.append(
        &b"Subject: deleted in sub\r\n\r\nfive\r\n"[..],
        f(&["\\Deleted"]),
        None,
    )
    .await
    .unwrap();
    chown_like(&mail.join("alice"), &mail);

    let dump = imap(&dovecot, serde_json::json!({"dump": ["INBOX", "Work/Sub"]}));
    let listed: Vec<&str> = dump["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for n in [
        "INBOX", "Work/Sub", "Sent", "Drafts", "Trash", "Junk", "Archive",
    ] {
        assert!(listed.contains(&n), "Dovecot lists {n}: {listed:?}");
    }
    for b in ["INBOX", "Work/Sub"] {
        let theirs = dovecot_box(&dump, b);
        let ours = mailwire_box(&store, b).await;
        assert_eq!(theirs.len(), ours.len(), "{b}");
        assert_eq!(
            theirs, ours,
            "{b}: Dovecot sees the same messages and flags"
        );
    }

    // Dovecot changes flags: mailwire sees them.
    imap(
        &dovecot,
        serde_json::json!({"store": [["Work/Sub", "(\\Answered)"]]}),
    );
    let ours = mailwire_box(&store, "Work/Sub").await;
    assert!(
        ours.iter()
            .all(|(flags, _)| flags.contains(&"\\Answered".to_owned())),
        "{ours:?}"
    );
}

fn reply(r: &mut impl BufRead) -> (u16, String) {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "LMTP server closed");
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return (line[..3].parse().unwrap(), all);
        }
    }
}

/// A minimal LMTP client: one message to one recipient.
fn lmtp_send(addr: SocketAddr, rcpt: &str, data: &[u8]) {
    let s = TcpStream::connect(addr).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    assert_eq!(reply(&mut r).0, 220);
    let cmd = |w: &mut TcpStream, r: &mut BufReader<TcpStream>, c: &str, want: u16| {
        w.write_all(c.as_bytes()).unwrap();
        let (code, text) = reply(r);
        assert_eq!(code, want, "{c} -> {text}");
    };
    cmd(&mut w, &mut r, "LHLO mailwire.test\r\n", 250);
    cmd(&mut w, &mut r, "MAIL FROM:<sender@example.com>\r\n", 250);
    cmd(&mut w, &mut r, &format!("RCPT TO:<{rcpt}>\r\n"), 250);
    cmd(&mut w, &mut r, "DATA\r\n", 354);
    let mut stuffed = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    stuffed.extend_from_slice(b".\r\n");
    cmd(&mut w, &mut r, std::str::from_utf8(&stuffed).unwrap(), 250);
    cmd(&mut w, &mut r, "QUIT\r\n", 221);
}

fn files_of(maildir: &Path) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(maildir.join(sub)).unwrap().flatten() {
            v.push(std::fs::read(e.path()).unwrap());
        }
    }
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailwire_opens_mail_delivered_by_dovecot_lmtp() {
    let dovecot = start_dovecot();
    let bodies: Vec<Vec<u8>> = vec![
        b"From: a@example.com\r\nSubject: one\r\n\r\nfirst\r\n".to_vec(),
        b"From: b@example.com\r\nSubject: two\r\n\r\n.leading dot\r\n..two dots\r\n".to_vec(),
        format!(
            "Subject: three\r\nContent-Type: text/plain\r\n\r\n{}\r\n",
            "x".repeat(20_000)
        )
        .into_bytes(),
    ];
    for b in &bodies {
        lmtp_send(dovecot.lmtp(), "alice@example.org", b);
    }
    // An IMAP session lets Dovecot sync the folder (moving new/ to cur/ is its right).
    imap(&dovecot, serde_json::json!({"dump": ["INBOX"]}));
    let on_disk = files_of(&dovecot.maildir("alice"));
    assert_eq!(on_disk.len(), 3, "{}", dovecot.log());

    let store = Store::maildir(dovecot.dir().join("mail")).unwrap();
    store.add_user("alice", "pw").await.unwrap();
    let inbox = store.user("alice").unwrap().mailbox("INBOX").await.unwrap();
    let metas = inbox.messages().await.unwrap();
    assert_eq!(metas.len(), 3);
    let mut ours = Vec::new();
    for m in &metas {
        let data = inbox.fetch(m.uid).await.unwrap().to_vec();
        assert_eq!(m.size, data.len() as u64);
        ours.push(data);
    }
    ours.sort();
    // Dovecot writes lines ending in LF alone; mailwire serves them with CRLF (RFC 5322
    // §2.3), as Dovecot's own IMAP and POP3 servers do, and RFC822.SIZE counts that.
    let mut want: Vec<Vec<u8>> = on_disk.iter().map(|d| lf_to_crlf(d)).collect();
    want.sort();
    assert!(
        ours == want,
        "mailwire reads the bytes Dovecot wrote, with CRLF line ends"
    );
    assert!(
        on_disk.iter().any(|d| !d.contains(&b'\r')),
        "Dovecot wrote LF files"
    );
    // Dovecot keeps mail with LF line ends on disk (mail_save_crlf = no) and adds
    // Return-Path, Delivered-To and Received: compare what was sent with LF line ends.
    let lf = |b: &[u8]| -> Vec<u8> { b.iter().copied().filter(|&c| c != b'\r').collect() };
    for b in &bodies {
        assert!(
            ours.iter().any(|o| lf(o).ends_with(&lf(b))),
            "a delivered message ends with what was sent"
        );
    }
    // Flags set by Dovecot over IMAP are seen by mailwire.
    imap(
        &dovecot,
        serde_json::json!({"store": [["INBOX", "(\\Flagged \\Seen)"]]}),
    );
    let metas = inbox.messages().await.unwrap();
    assert!(
        metas
            .iter()
            .all(|m| m.flags.is_seen() && m.flags.contains(&Flag::Flagged)),
        "{metas:?}"
    );
    let mime = inbox.mime(metas[0].uid).await.unwrap();
    let raw = inbox.fetch(metas[0].uid).await.unwrap();
    assert!(mime.root.header_value(&raw, "subject").is_some());
}

/// `data` with every LF that has no CR before it made CRLF.
fn lf_to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}
