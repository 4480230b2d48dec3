//! mailwire's IMAP server against the mail programs people point at an IMAP server, each run
//! for real against an in-process server on 127.0.0.1 with its state in temporary folders:
//!
//! - **mbsync** (isync): a two-way sync over IMAPS (all folders, Create Both, Expunge Both)
//!   into a local Maildir; the local files equal the delivered messages; a second run changes
//!   nothing on either side; then a flag set on each side, a local deletion, a local new
//!   message and a local new folder all reach the other side, and a further run is again a
//!   no-op.
//! - **fetchmail**: IMAP with STARTTLS and `keep` (the server marks the messages `\Seen`),
//!   then IMAPS without `keep` (the server deletes and expunges them).
//! - **getmail6**: `SimpleIMAPSSLRetriever` into a Maildir destination.
//! - **offlineimap3**: a one-shot sync from IMAPS into a Maildir, then a local flag change
//!   synced back.
//! - **neomutt** in a private tmux server: the index lists the messages, Enter shows the
//!   first one's body, quitting leaves exactly that message `\Seen`.
//! - **Twisted's IMAP4Client**: CRAM-MD5 on the cleartext port, `fetchSpecific` (peek) and
//!   `fetchMessage` (RFC822, which sets `\Seen`).
//! - **Dovecot and the maildir store**: Dovecot serves a Maildir++ tree the server wrote
//!   (delivered and APPENDed messages, flags, a subfolder) with the same bytes, flags and
//!   INTERNALDATEs; and the server serves a tree Dovecot wrote, the same way, keeping the
//!   Dovecot keyword letters of a file when it renames it for a flag change.
//!
//! Messages are compared byte for byte with what was delivered; where a client rewrites a
//! message on its way to disk (LF line ends in a Maildir, a header of its own), the test
//! undoes exactly that and nothing else. A missing peer fails the test with the package to
//! install (tests/peers/install.sh installs them all); nothing is skipped.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/imap_server.rs"]
mod imap_server;

use imap_server::{TestServer, messages, py};
use mailwire_store::{Flags, ListEntry, MailboxStatus, MessageMeta, Store};
use mailwire_testkit::{Dovecot, python, run_command, run_tool};

/// Time allowed for one run of a peer.
const T: Duration = Duration::from_secs(60);

/// A mailbox as [`TestServer::state`] sees it: its LIST entry and, if selectable, its status
/// and messages.
type MailboxState = (ListEntry, Option<(MailboxStatus, Vec<MessageMeta>)>);

impl TestServer {
    /// INBOX as the store has it: (UID, flags, bytes).
    fn inbox(&self) -> Vec<(u32, Vec<String>, Vec<u8>)> {
        self.rt.block_on(async {
            let inbox = self
                .store
                .user("alice")
                .unwrap()
                .mailbox("INBOX")
                .await
                .unwrap();
            let mut out = Vec::new();
            for m in inbox.messages().await.unwrap() {
                let data = inbox.fetch(m.uid).await.unwrap().to_vec();
                out.push((m.uid, m.flags.to_strings(), data));
            }
            out
        })
    }

    /// Everything a sync client could change: the mailbox list, and per selectable mailbox
    /// its status (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, ...) and its messages' metadata.
    fn state(&self) -> Vec<MailboxState> {
        self.rt.block_on(async {
            let user = self.store.user("alice").unwrap();
            let mut out = Vec::new();
            for entry in user.mailboxes().await.unwrap() {
                let detail = if entry.selectable {
                    let name = entry.name.as_str();
                    let status = user.status(name).await.unwrap();
                    let msgs = user.mailbox(name).await.unwrap().messages().await.unwrap();
                    Some((status, msgs))
                } else {
                    None
                };
                out.push((entry, detail));
            }
            out
        })
    }
}

/// Runs a peer, fails the test (with its output) unless it exits 0, and returns its output.
fn run_ok(command: &mut Command) -> String {
    let out = run_command(command, None, T).unwrap_or_else(|e| panic!("{e}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?} failed:\n{log}");
    log
}

/// Fails with the install hint unless `cmd` can be started.
fn require(cmd: &str, arg: &str) {
    if let Err(e) = run_tool(cmd, [arg], None, T) {
        panic!("{e}");
    }
}

fn lf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len());
    let mut i = 0;
    while i < m.len() {
        if m[i..].starts_with(b"\r\n") {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(m[i]);
            i += 1;
        }
    }
    out
}

fn crlf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + m.len() / 20);
    for &b in m {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// mbsync writes an `X-TUID: <12 characters>` line as the last header field of every message
/// it propagates (either way): removes exactly that line, failing if it is not there.
fn strip_tuid(m: &[u8]) -> Vec<u8> {
    let (end, eol): (usize, &[u8]) = match (find(m, b"\r\n\r\n"), find(m, b"\n\n")) {
        (Some(c), Some(l)) if c < l => (c + 2, b"\r\n"),
        (Some(c), None) => (c + 2, b"\r\n"),
        (_, Some(l)) => (l + 1, b"\n"),
        _ => panic!("no header end in {:?}", String::from_utf8_lossy(m)),
    };
    let line_len = b"X-TUID: ".len() + 12 + eol.len();
    assert!(
        end >= line_len,
        "no X-TUID in {:?}",
        String::from_utf8_lossy(m)
    );
    let start = end - line_len;
    let line = &m[start..end];
    assert!(
        line.starts_with(b"X-TUID: ")
            && line.ends_with(eol)
            && (start == 0 || m[..start].ends_with(eol)),
        "the last header field is not X-TUID: {:?}",
        String::from_utf8_lossy(&m[..end])
    );
    [&m[..start], &m[end..]].concat()
}

/// Every file under `root` (relative path, contents).
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Copies the tree `from` to `to`, keeping modification times (a Maildir's INTERNALDATEs)
/// and giving everything to `owner` if set.
fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) {
    std::fs::create_dir_all(to).unwrap();
    if let Some((u, g)) = owner {
        std::os::unix::fs::chown(to, Some(u), Some(g)).unwrap();
    }
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest, owner);
        } else {
            std::fs::copy(&p, &dest).unwrap();
            let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
            if let Some((u, g)) = owner {
                std::os::unix::fs::chown(&dest, Some(u), Some(g)).unwrap();
            }
        }
    }
}

/// The messages of one Maildir folder (`cur/` and `new/`) by the UID a sync client wrote into
/// the file name (`,U=<uid>`): (info flags after `:2,`, contents).
fn maildir_by_uid(folder: &Path) -> BTreeMap<u32, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for sub in ["cur", "new"] {
        let Ok(rd) = std::fs::read_dir(folder.join(sub)) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            let (base, info) = name.split_once(":2,").unwrap_or((&name, ""));
            let uid = base
                .split(',')
                .find_map(|f| f.strip_prefix("U="))
                .unwrap_or_else(|| panic!("no UID in {}", p.display()))
                .parse()
                .unwrap();
            let prev = out.insert(uid, (info.to_owned(), std::fs::read(&p).unwrap()));
            assert!(
                prev.is_none(),
                "two files with UID {uid} in {}",
                folder.display()
            );
        }
    }
    out
}

/// The file of UID `uid` in a Maildir folder.
fn file_of_uid(folder: &Path, uid: u32) -> PathBuf {
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(folder.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap();
            let base = name.split_once(":2,").map_or(name, |x| x.0);
            if base.split(',').any(|f| f == format!("U={uid}")) {
                return p;
            }
        }
    }
    panic!("no file with UID {uid} in {}", folder.display());
}

/// The contents of every file in the Maildir folders `cur/` and `new/` of `folder`, sorted.
fn maildir_contents(folder: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = ["cur", "new"]
        .iter()
        .filter_map(|s| std::fs::read_dir(folder.join(s)).ok())
        .flatten()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn mbsync_two_way_sync_flags_expunge_and_folders() {
    let srv = TestServer::maildir();
    srv.rt.block_on(async {
        let user = srv.store.user("alice").unwrap();
        user.append(
            "Archive",
            &b"Subject: archived\r\n\r\nold\r\n"[..],
            Flags::parse(&["\\Seen"]).unwrap(),
            None,
        )
        .await
        .unwrap();
    });
    let work = tempfile::tempdir().unwrap();
    let inbox = work.path().join("inbox");
    let folders = work.path().join("folders");
    std::fs::create_dir(&folders).unwrap();
    let rc = work.path().join("mbsyncrc");
    write_private(
        &rc,
        &format!(
            "IMAPAccount mailwire\nHost 127.0.0.1\nPort {port}\nUser alice\nPass secret\n\
             SSLType IMAPS\nCertificateFile {ca}\n\n\
             IMAPStore far\nAccount mailwire\n\n\
             MaildirStore near\nPath {folders}/\nInbox {inbox}\nSubFolders Verbatim\n\n\
             Channel all\nFar :far:\nNear :near:\nPatterns *\nCreate Both\nExpunge Both\n\
             Sync All\nSyncState *\n",
            port = srv.imaps.port(),
            ca = srv.ca().display(),
            folders = folders.display(),
            inbox = inbox.display(),
        ),
    );
    let mbsync = || {
        run_ok(
            Command::new("mbsync")
                .args(["-V", "-c"])
                .arg(&rc)
                .arg("-a")
                .env("HOME", work.path()),
        )
    };

    // 1. The first sync pulls everything; the local files are the delivered messages with
    //    LF line ends (mbsync's Maildir convention) and mbsync's X-TUID field.
    let log = mbsync();
    let local = maildir_by_uid(&inbox);
    assert_eq!(
        local.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3],
        "{log}"
    );
    for (uid, want) in (1..).zip(messages()) {
        let (info, data) = &local[&uid];
        assert_eq!(info, "", "UID {uid} has no flags on the server");
        assert!(
            strip_tuid(data) == lf(&want),
            "UID {uid} differs: {:?}",
            String::from_utf8_lossy(&data[..data.len().min(300)])
        );
    }
    let archive = maildir_by_uid(&folders.join("Archive"));
    assert_eq!(archive.len(), 1, "{log}");
    assert_eq!(archive[&1].0, "S");
    assert_eq!(strip_tuid(&archive[&1].1), b"Subject: archived\n\nold\n");
    for name in ["Sent", "Drafts", "Trash", "Junk"] {
        assert!(
            folders.join(name).join("cur").is_dir(),
            "{name} not created"
        );
    }

    // 2. A second run changes nothing, on either side.
    let (local_before, server_before) = (tree(work.path()), srv.state());
    let log = mbsync();
    assert!(
        tree(work.path()) == local_before,
        "the second mbsync run changed local files\n{log}"
    );
    assert_eq!(
        srv.state(),
        server_before,
        "the second mbsync run changed the server\n{log}"
    );

    // 3. Changes on both sides: \Flagged on the server; locally UID 2 read, UID 3 deleted,
    //    a new message and a new folder.
    py(
        &srv,
        "m = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); m.login('alice', 'secret')\n\
         m.select('INBOX')\n\
         typ, data = m.uid('STORE', '1', '+FLAGS', '(\\\\Flagged)')\n\
         assert typ == 'OK', data\n\
         m.logout()",
    );
    let two = file_of_uid(&inbox, 2);
    let base = two.file_name().unwrap().to_str().unwrap();
    let base = base.split_once(":2,").map_or(base, |x| x.0);
    std::fs::rename(&two, inbox.join("cur").join(format!("{base}:2,S"))).unwrap();
    std::fs::remove_file(file_of_uid(&inbox, 3)).unwrap();
    let local_new = b"From: me@example.com\nSubject: written locally\n\nnew here\n";
    std::fs::write(inbox.join("new").join("1700000000.local1.host"), local_new).unwrap();
    let projects = folders.join("Projects");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(projects.join(sub)).unwrap();
    }
    let project_msg = b"Subject: plan\n\nstep one\n";
    std::fs::write(
        projects.join("cur").join("1700000001.local2.host:2,F"),
        project_msg,
    )
    .unwrap();
    let log = mbsync();

    // The server: UID 1 \Flagged, UID 2 \Seen, UID 3 expunged, the new message appended
    // (CRLF line ends, mbsync's X-TUID field) and the new folder created.
    let server = srv.inbox();
    let summary: Vec<(u32, Vec<String>)> = server.iter().map(|m| (m.0, m.1.clone())).collect();
    assert_eq!(
        summary,
        [
            (1, vec!["\\Flagged".to_owned()]),
            (2, vec!["\\Seen".to_owned()]),
            (4, vec![])
        ],
        "{log}"
    );
    assert_eq!(server[0].2, messages()[0]);
    assert_eq!(server[1].2, messages()[1]);
    assert_eq!(strip_tuid(&server[2].2), crlf(local_new));
    srv.rt.block_on(async {
        let user = srv.store.user("alice").unwrap();
        let mbox = user.mailbox("Projects").await.unwrap();
        let msgs = mbox.messages().await.unwrap();
        assert_eq!(msgs.len(), 1, "{log}");
        assert_eq!(msgs[0].flags.to_strings(), ["\\Flagged"]);
        let data = mbox.fetch(msgs[0].uid).await.unwrap();
        assert_eq!(strip_tuid(&data), crlf(project_msg));
    });
    // Locally: UID 1 got the server's flag, UID 4 is the message written here.
    let local = maildir_by_uid(&inbox);
    assert_eq!(
        local.keys().copied().collect::<Vec<_>>(),
        [1, 2, 4],
        "{log}"
    );
    assert_eq!(local[&1].0, "F", "{log}");
    assert_eq!(local[&2].0, "S");

    // 4. And again, a further run is a no-op.
    let (local_before, server_before) = (tree(work.path()), srv.state());
    let log = mbsync();
    assert!(
        tree(work.path()) == local_before,
        "a no-op mbsync run changed local files\n{log}"
    );
    assert_eq!(
        srv.state(),
        server_before,
        "a no-op mbsync run changed the server\n{log}"
    );
}

#[test]
fn fetchmail_imap_starttls_keep_then_imaps_delete() {
    // On the memory store and on Maildir.
    for srv in [TestServer::memory(), TestServer::maildir()] {
        let work = tempfile::tempdir().unwrap();
        let fetch = |port: u16, options: &str| {
            let out = work.path().join(format!("out-{port}"));
            std::fs::create_dir(&out).unwrap();
            let rc = work.path().join("fetchmailrc");
            // `invisible`: no Received field of fetchmail's own; `no stripcr`: keep the CRs;
            // `no rewrite`: leave the addresses alone. The MDA writes each message to a file.
            write_private(
                &rc,
                &format!(
                    "set no bouncemail\nset invisible\n\
                 poll 127.0.0.1 service {port} protocol IMAP auth password\n\
                 \tuser alice there with password secret is root here\n\
                 \toptions {options} sslcertck sslcertfile {ca} sslcommonname localhost no stripcr no rewrite\n\
                 \tmda \"/bin/sh -c 'cat > $(mktemp -p {out})'\"\n",
                    ca = srv.ca().display(),
                    out = out.display(),
                ),
            );
            let log = run_ok(
                Command::new("fetchmail")
                    .arg("-f")
                    .arg(&rc)
                    .args(["--nodetach", "--nosyslog", "-v"])
                    .env("FETCHMAILHOME", work.path())
                    .env("HOME", work.path()),
            );
            let got: Vec<Vec<u8>> = std::fs::read_dir(&out)
                .unwrap()
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .collect();
            (sorted(got), log)
        };

        // Cleartext port: fetchmail upgrades with STARTTLS (the server says LOGINDISABLED before).
        let (got, log) = fetch(srv.imap.port(), "sslproto 'tls1.2+' keep");
        assert!(log.contains("STARTTLS"), "no STARTTLS:\n{log}");
        assert!(
            got == sorted(messages()),
            "fetchmail (STARTTLS) got other bytes:\n{log}"
        );
        let inbox = srv.inbox();
        assert_eq!(inbox.len(), 3, "keep: the messages stay\n{log}");
        for (uid, flags, data) in &inbox {
            assert_eq!(
                flags,
                &["\\Seen"],
                "UID {uid}: fetchmail marks what it fetched seen"
            );
            assert_eq!(data, &messages()[*uid as usize - 1]);
        }

        // IMAPS without keep: fetched again (fetchall: they are seen now), then deleted and expunged.
        let (got, log) = fetch(srv.imaps.port(), "ssl fetchall");
        assert!(
            got == sorted(messages()),
            "fetchmail (IMAPS) got other bytes:\n{log}"
        );
        assert!(log.contains("EXPUNGE"), "{log}");
        assert_eq!(
            srv.inbox(),
            [],
            "fetchmail deleted and expunged everything\n{log}"
        );
    }
}

#[test]
fn getmail6_imap_ssl_retriever_into_maildir() {
    // On the memory store and on Maildir.
    for srv in [TestServer::memory(), TestServer::maildir()] {
        let work = tempfile::tempdir().unwrap();
        let maildir = work.path().join("Maildir");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        // getmail refuses to deliver to a Maildir as root: it switches to `user` for that, who must
        // be able to reach and write the Maildir.
        let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        let user_line = if as_root {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
            run_ok(Command::new("chown").args(["-R", "nobody"]).arg(&maildir));
            "user = nobody\n"
        } else {
            ""
        };
        let rc = work.path().join("getmailrc");
        write_private(
            &rc,
            &format!(
                "[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = 127.0.0.1\nport = {port}\n\
             username = alice\npassword = secret\nca_certs = {ca}\nmailboxes = (\"INBOX\",)\n\
             record_mailbox = false\n\
             [destination]\ntype = Maildir\npath = {maildir}/\n{user_line}\
             [options]\nread_all = true\ndelete = false\nreceived = false\ndelivered_to = false\n\
             message_log_syslog = false\nverbose = 2\n",
                port = srv.imaps.port(),
                ca = srv.ca().display(),
                maildir = maildir.display(),
            ),
        );
        let log = run_ok(
            Command::new("getmail")
                .arg(format!("--getmaildir={}", work.path().display()))
                .arg(format!("--rcfile={}", rc.display())),
        );
        // getmail writes LF line ends and a `Return-Path: <sender>` field of its own on top (the
        // sender of a message fetched over IMAP is unknown to it).
        let want: Vec<Vec<u8>> = messages()
            .iter()
            .map(|m| [b"Return-Path: <unknown>\n".as_slice(), &lf(m)].concat())
            .collect();
        assert!(
            maildir_contents(&maildir) == sorted(want),
            "getmail delivered other bytes:\n{log}"
        );
        // It fetched with BODY.PEEK[] and deletes nothing.
        for (uid, flags, _) in srv.inbox() {
            assert_eq!(flags, Vec::<String>::new(), "UID {uid}\n{log}");
        }
    }
}

#[test]
fn offlineimap3_one_shot_sync_into_maildir() {
    offlineimap3_sync(false);
}

/// offlineimap's `usecompression`: imaplib2 sends `COMPRESS DEFLATE` after login (RFC 4978)
/// and the whole sync runs compressed.
#[test]
fn offlineimap3_sync_with_compress_deflate() {
    offlineimap3_sync(true);
}

fn offlineimap3_sync(compress: bool) {
    // imaplib2 (offlineimap's IMAP library) polls the socket while its decompressor still
    // holds output (`unconsumed_tail`): a read of compressed data that inflates to more than
    // its 32 KiB read size stalls it at the end of a response, whatever the server. The
    // compressed run therefore uses mail that compresses like ordinary text: the two small
    // messages and 20 KiB of varied text, rather than the 240 KB of one repeated line.
    let msgs = if compress {
        let mut seed = 12345u32;
        let text: String = (0..20_000)
            .map(|i| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 70 == 69 {
                    '\n'
                } else {
                    char::from(b'a' + (seed >> 16) as u8 % 26)
                }
            })
            .collect();
        let text = text.replace('\n', "\r\n");
        let mut m = messages()[..2].to_vec();
        m.push(format!("Subject: varied\r\n\r\n{text}\r\n").into_bytes());
        m
    } else {
        messages()
    };
    let srv = TestServer::start(
        tempfile::tempdir().unwrap(),
        mailwire_store::Store::memory(),
    );
    srv.rt.block_on(async {
        for m in &msgs {
            srv.store
                .deliver("alice@example.com", m.clone())
                .await
                .unwrap();
        }
    });
    let work = tempfile::tempdir().unwrap();
    let mail = work.path().join("mail");
    let rc = work.path().join("offlineimaprc");
    // remotehost is `localhost`, not 127.0.0.1: offlineimap checks the certificate's DNS names
    // and common name only, never its IP address SAN. localhost resolves to 127.0.0.1 here.
    write_private(
        &rc,
        &format!(
            "[general]\naccounts = mailwire\nmetadata = {meta}\n\n\
             [Account mailwire]\nlocalrepository = local\nremoterepository = remote\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {mail}\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = localhost\nremoteport = {port}\n\
             remoteuser = alice\nremotepass = secret\nssl = yes\nsslcacertfile = {ca}\n\
             usecompression = {z}\n",
            z = if compress { "yes" } else { "no" },
            meta = work.path().join("meta").display(),
            mail = mail.display(),
            port = srv.imaps.port(),
            ca = srv.ca().display(),
        ),
    );
    let offlineimap = || {
        let ui: &[&str] = if compress {
            &["-o", "-u", "basic", "-d", "imap", "-c"]
        } else {
            &["-o", "-u", "quiet", "-c"]
        };
        run_ok(
            Command::new("offlineimap")
                .args(ui)
                .arg(&rc)
                .env("HOME", work.path()),
        )
    };
    let log = offlineimap();
    if compress {
        assert!(
            log.contains("COMPRESS DEFLATE") && log.contains("OK DEFLATE active"),
            "offlineimap did not compress:\n{log}"
        );
    }
    let local = maildir_by_uid(&mail.join("INBOX"));
    assert_eq!(
        local.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3],
        "{log}"
    );
    for (uid, want) in (1..).zip(msgs) {
        let (info, data) = &local[&uid];
        assert_eq!(info, "", "UID {uid}");
        // offlineimap stores LF line ends, nothing else changed.
        assert!(
            *data == lf(&want),
            "UID {uid} differs: {:?}",
            String::from_utf8_lossy(&data[..data.len().min(300)])
        );
    }
    for name in ["Archive", "Sent", "Drafts", "Trash", "Junk"] {
        assert!(
            mail.join(name).join("cur").is_dir(),
            "{name} missing\n{log}"
        );
    }
    for (uid, flags, _) in srv.inbox() {
        assert_eq!(flags, Vec::<String>::new(), "UID {uid}: fetched with PEEK");
    }

    // Reading message 1 locally reaches the server on the next run.
    let one = file_of_uid(&mail.join("INBOX"), 1);
    let name = one.file_name().unwrap().to_str().unwrap();
    let base = name.split_once(":2,").map_or(name, |x| x.0);
    std::fs::rename(&one, mail.join("INBOX/cur").join(format!("{base}:2,S"))).unwrap();
    let log = offlineimap();
    let flags: Vec<Vec<String>> = srv.inbox().into_iter().map(|m| m.1).collect();
    assert_eq!(
        flags,
        [vec!["\\Seen".to_owned()], vec![], vec![]],
        "offlineimap did not sync the local \\Seen\n{log}"
    );
}

#[test]
fn neomutt_in_tmux_lists_and_shows_a_message() {
    require("tmux", "-V");
    require("neomutt", "-v");
    let srv = TestServer::memory();
    let work = tempfile::tempdir().unwrap();
    let rc = work.path().join("muttrc");
    write_private(
        &rc,
        &format!(
            "set folder = \"imaps://alice@127.0.0.1:{port}/\"\n\
             set spoolfile = \"+INBOX\"\nset imap_pass = \"secret\"\n\
             set ssl_ca_certificates_file = \"{ca}\"\nset certificate_file = \"{dir}/certificates\"\n\
             set ssl_starttls = yes\nset ssl_force_tls = yes\n\
             set header_cache = \"\"\nset message_cachedir = \"\"\n\
             set imap_check_subscribed = no\nset mail_check_stats = no\n\
             set sort = unsorted\nset mark_old = no\nset move = no\nset quit = yes\n\
             set record = \"\"\nset help = no\nset wait_key = no\nset timeout = 5\n",
            port = srv.imaps.port(),
            ca = srv.ca().display(),
            dir = work.path().display(),
        ),
    );
    let command = format!(
        "env HOME={home} TERM=screen neomutt -n -F {rc}",
        home = work.path().display(),
        rc = rc.display()
    );
    let tmux = mailwire_testkit::Tmux::start(work.path().join("tmux.sock"), &command);
    let index = tmux.wait_for(&["first", "8bit", "big", "Ann"], "the index");
    let first_line = index.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(first_line.contains("first"), "cursor line: {index}");
    tmux.send(&["Enter"]);
    tmux.wait_for(
        &[
            "Subject: first",
            "From: Ann <ann@example.com>",
            "Hello there",
        ],
        "the pager",
    );
    tmux.send(&["q"]);
    tmux.wait_for(&["8bit", "big"], "back in the index");
    tmux.send(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tmux.running() {
        assert!(
            Instant::now() < deadline,
            "neomutt did not quit:\n{}",
            tmux.pane()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reading message 1 marked it \Seen (synced when neomutt closed the mailbox); no other
    // change.
    let flags: Vec<Vec<String>> = srv.inbox().into_iter().map(|m| m.1).collect();
    assert_eq!(flags, [vec!["\\Seen".to_owned()], vec![], vec![]]);
}

const TWISTED_CLIENT: &str = r#"
import sys, base64
from twisted.internet import reactor, protocol, defer
from twisted.mail import imap4

def raw(v):
    return v if isinstance(v, bytes) else v.encode('latin-1')

class Client(imap4.IMAP4Client):
    def serverGreeting(self, caps):
        self.registerAuthenticator(imap4.CramMD5ClientAuthenticator(b'alice'))
        d = self.session(caps)
        d.addErrback(fail)
        d.addBoth(lambda _: reactor.stop())

    @defer.inlineCallbacks
    def session(self, caps):
        # Cleartext port: no LOGIN before TLS, but CRAM-MD5 (the store has the plain secret).
        assert b'LOGINDISABLED' in caps and b'CRAM-MD5' in caps.get(b'AUTH', []), caps
        yield self.authenticate(b'secret')
        sel = yield self.select('INBOX')
        assert sel['EXISTS'] == 3 and sel['READ-WRITE'], sel
        spec = yield self.fetchSpecific('1:*', peek=True)
        for n in sorted(spec):
            print('peek', base64.b64encode(raw(spec[n][0][2])).decode())
        flags = yield self.fetchFlags('1:*')
        assert all('\\Seen' not in f['FLAGS'] for f in flags.values()), flags
        full = yield self.fetchMessage('1:*')
        for n in sorted(full):
            print('rfc822', base64.b64encode(raw(full[n]['RFC822'])).decode())
        flags = yield self.fetchFlags('1:*')
        assert all('\\Seen' in f['FLAGS'] for f in flags.values()), flags
        yield self.logout()

failed = []
def fail(f):
    f.printTraceback(file=sys.stderr)
    failed.append(f)

factory = protocol.ClientFactory()
factory.protocol = Client
reactor.connectTCP('127.0.0.1', PORT, factory)
reactor.callLater(30, lambda: (failed.append('timeout'), reactor.stop()))
reactor.run()
sys.exit(1 if failed else 0)
"#;

#[test]
fn twisted_imap4client_cram_md5_fetch_specific_and_message() {
    // On the memory store and on Maildir.
    for srv in [TestServer::memory(), TestServer::maildir()] {
        let code = format!("PORT = {}\n{TWISTED_CLIENT}", srv.imap.port());
        let out = python(&code, T).unwrap_or_else(|e| panic!("{e}"));
        use base64::Engine;
        let decode = |kind: &str| -> Vec<Vec<u8>> {
            out.lines()
                .filter_map(|l| l.strip_prefix(kind))
                .map(|b| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .unwrap()
                })
                .collect()
        };
        assert!(decode("peek ") == messages(), "fetchSpecific:\n{out}");
        assert!(decode("rfc822 ") == messages(), "fetchMessage:\n{out}");
        for (uid, flags, _) in srv.inbox() {
            assert_eq!(flags, ["\\Seen"], "UID {uid}");
        }
    }
}

/// One message as seen over IMAP or in the store: (mailbox, system flags sorted (no
/// `\Recent`), INTERNALDATE as Unix seconds, bytes).
type Msg = (String, Vec<String>, i64, Vec<u8>);

/// Reads `boxes` over IMAP with imaplib: `connect` is the Python expression that opens the
/// connection; logs in as alice.
fn imap_dump(connect: &str, boxes: &[&str]) -> Vec<Msg> {
    let code = format!(
        "import imaplib, ssl, time, base64\n\
         m = {connect}\n\
         m.login('alice', 'secret')\n\
         for box in {boxes:?}:\n    \
             typ, data = m.select(box, readonly=True)\n    \
             assert typ == 'OK', (box, data)\n    \
             if data == [b'0']: continue\n    \
             typ, data = m.fetch('1:*', '(UID FLAGS INTERNALDATE BODY.PEEK[])')\n    \
             for item in data:\n        \
                 if not isinstance(item, tuple): continue\n        \
                 flags = sorted(f.decode() for f in imaplib.ParseFlags(item[0]) if f != b'\\\\Recent')\n        \
                 when = int(time.mktime(imaplib.Internaldate2tuple(item[0])))\n        \
                 print(box, ' '.join(flags), when, base64.b64encode(item[1]).decode(), sep='\\t')\n\
         m.logout()\n"
    );
    let out = python(&code, T).unwrap_or_else(|e| panic!("{e}"));
    use base64::Engine;
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let flags = f[1].split_whitespace().map(str::to_owned).collect();
            let data = base64::engine::general_purpose::STANDARD
                .decode(f[3])
                .unwrap();
            (f[0].to_owned(), flags, f[2].parse().unwrap(), data)
        })
        .collect()
}

/// The same, from mailwire's store.
fn store_dump(srv: &TestServer, boxes: &[&str]) -> Vec<Msg> {
    srv.rt.block_on(async {
        let user = srv.store.user("alice").unwrap();
        let mut out = Vec::new();
        for b in boxes {
            let mbox = user.mailbox(b).await.unwrap();
            for m in mbox.messages().await.unwrap() {
                let mut flags = m.flags.to_strings();
                flags.sort();
                let data = mbox.fetch(m.uid).await.unwrap().to_vec();
                out.push(((*b).to_owned(), flags, m.internal_date.timestamp, data));
            }
        }
        out
    })
}

#[test]
fn dovecot_reads_a_maildir_mailwire_wrote() {
    let srv = TestServer::maildir();
    py(
        &srv,
        "m = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); m.login('alice', 'secret')\n\
         m.select('INBOX')\n\
         assert m.store('1', '+FLAGS', '(\\\\Seen)')[0] == 'OK'\n\
         assert m.store('3', '+FLAGS', '(\\\\Answered \\\\Flagged)')[0] == 'OK'\n\
         typ, data = m.append('INBOX', '(\\\\Flagged)', '\"01-Jan-2024 10:00:00 +0100\"', b'Subject: appended\\r\\n\\r\\nby imaplib\\r\\n')\n\
         assert typ == 'OK', data\n\
         assert m.create('Work/Sub')[0] == 'OK'\n\
         typ, data = m.append('Work/Sub', '(\\\\Seen \\\\Draft)', '\"02-Feb-2024 03:04:05 +0000\"', b'Subject: in a subfolder\\r\\n\\r\\nnested\\r\\n')\n\
         assert typ == 'OK', data\n\
         m.logout()",
    );
    let boxes = ["INBOX", "Work/Sub"];
    let mut want = store_dump(&srv, &boxes);
    assert_eq!(want.len(), 5);
    assert_eq!(want[0].1, ["\\Seen"]);
    assert_eq!(want[3].2, 1_704_099_600, "APPEND's INTERNALDATE");

    let dovecot = Dovecot::start().unwrap_or_else(|e| panic!("{e}"));
    // Dovecot reads and writes mail as the owner of its mail folder (nobody, as root).
    let meta = std::fs::metadata(dovecot.dir().join("mail")).unwrap();
    copy_tree(
        &srv.user_dir(),
        &dovecot.maildir("alice"),
        Some((meta.uid(), meta.gid())),
    );
    let mut got = imap_dump(
        &format!("imaplib.IMAP4('127.0.0.1', {})", dovecot.imap().port()),
        &boxes,
    );
    // The UIDs Dovecot gives files it has not seen before are its business: compare each
    // mailbox as a set.
    let by_box_and_bytes = |a: &Msg, b: &Msg| (&a.0, &a.3).cmp(&(&b.0, &b.3));
    got.sort_by(by_box_and_bytes);
    want.sort_by(by_box_and_bytes);
    assert!(
        got == want,
        "Dovecot sees other messages, flags or dates:\n got {:?}\nwant {:?}\n{}",
        summary(&got),
        summary(&want),
        dovecot.log()
    );
}

#[test]
fn mailwire_serves_a_maildir_dovecot_wrote() {
    let dovecot = Dovecot::start().unwrap_or_else(|e| panic!("{e}"));
    // The messages go to Python as files (the big one would not fit in an argument).
    let files = tempfile::tempdir().unwrap();
    let paths: Vec<String> = messages()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = files.path().join(format!("m{i}"));
            std::fs::write(&p, m).unwrap();
            p.display().to_string()
        })
        .collect();
    let code = format!(
        "import imaplib\n\
         m = imaplib.IMAP4('127.0.0.1', {port}); m.login('alice', 'secret')\n\
         for flags, date, path in [('(\\\\Seen \\\\Flagged)', '02-Jan-2024 10:00:00 +0000', {m0:?}),\n\
                                   (None, '03-Jan-2024 10:00:00 +0000', {m1:?}),\n\
                                   ('(\\\\Answered \\\\Draft $Label1)', '04-Jan-2024 10:00:00 +0000', {m2:?})]:\n    \
             typ, resp = m.append('INBOX', flags, '\"' + date + '\"', open(path, 'rb').read())\n    \
             assert typ == 'OK', resp\n\
         assert m.create('Work/Sub')[0] == 'OK'\n\
         typ, resp = m.append('Work/Sub', '(\\\\Seen)', '\"05-Jan-2024 10:00:00 +0000\"', b'Subject: d4\\r\\n\\r\\nfour\\r\\n')\n\
         assert typ == 'OK', resp\n\
         m.logout()\n",
        port = dovecot.imap().port(),
        m0 = paths[0],
        m1 = paths[1],
        m2 = paths[2],
    );
    python(&code, T).unwrap_or_else(|e| panic!("{e}"));
    let boxes = ["INBOX", "Work/Sub"];
    let from_dovecot = imap_dump(
        &format!("imaplib.IMAP4('127.0.0.1', {})", dovecot.imap().port()),
        &boxes,
    );
    assert_eq!(from_dovecot.len(), 4, "{}", dovecot.log());
    assert_eq!(from_dovecot[2].1, ["$Label1", "\\Answered", "\\Draft"]);

    // Dovecot's tree becomes alice's folder of a fresh mailwire maildir store.
    let dir = tempfile::tempdir().unwrap();
    let user_dir = dir.path().join("store").join("alice");
    copy_tree(&dovecot.maildir("alice"), &user_dir, None);
    drop(dovecot);
    let store = Store::maildir(dir.path().join("store")).unwrap();
    let srv = TestServer::start(dir, store);
    let got = imap_dump(
        &format!(
            "imaplib.IMAP4_SSL('127.0.0.1', {}, ssl_context=ssl.create_default_context(cafile={:?}))",
            srv.imaps.port(),
            srv.ca().display().to_string()
        ),
        &boxes,
    );
    // Keywords live in Dovecot's dovecot-keywords file (the letter `a` in the file name),
    // which mailwire does not read (documented): compare the system flags.
    let want: Vec<Msg> = from_dovecot
        .iter()
        .map(|(b, f, d, data)| {
            let sys = f.iter().filter(|x| x.starts_with('\\')).cloned().collect();
            (b.clone(), sys, *d, data.clone())
        })
        .collect();
    // A flag change renames the file and keeps Dovecot's keyword letter, in the order the
    // Maildir spec wants (ASCII).
    py(
        &srv,
        "m = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); m.login('alice', 'secret')\n\
         m.select('INBOX')\n\
         typ, data = m.store('3', '+FLAGS', '(\\\\Seen)')\n\
         assert typ == 'OK', data\n\
         m.logout()",
    );
    let infos: Vec<String> = std::fs::read_dir(user_dir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.split_once(":2,").map(|x| x.1.to_owned()))
        .collect();
    assert!(
        infos.contains(&"DRSa".to_owned()),
        "info suffixes after the STORE: {infos:?}"
    );
    // Dovecot keeps its files with LF line ends (`,S=` is the file's size, `,W=` the size with
    // CRLF), as mutt, mbsync, getmail and offlineimap do: an IMAP server must send them with
    // CRLF and count RFC822.SIZE that way, as Dovecot does (RFC 9051 §2.3.4: the size of the
    // message in RFC 5322 form, whose lines end in CRLF).
    assert!(
        got == want,
        "mailwire serves other messages, flags or dates than Dovecot wrote:\n got {:?}\nwant {:?}",
        summary(&got),
        summary(&want)
    );
    assert_eq!(
        got.iter().map(|g| g.3.clone()).take(3).collect::<Vec<_>>(),
        messages()
    );
}

/// Messages without their bytes, for failure messages.
fn summary(msgs: &[Msg]) -> Vec<(String, Vec<String>, i64, usize)> {
    msgs.iter()
        .map(|(b, f, d, data)| (b.clone(), f.clone(), *d, data.len()))
        .collect()
}
