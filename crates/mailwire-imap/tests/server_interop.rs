//! mailwire's IMAP server driven by clients nobody here wrote: Python's imaplib (LOGIN over
//! IMAPS, STARTTLS, CRAM-MD5, APPEND, FETCH, STORE, SEARCH, COPY, EXPUNGE), imapclient (IDLE,
//! CONDSTORE, MOVE, ESEARCH, folders) and curl (`imap://` with STARTTLS, `imaps://`); the mail
//! programs (mbsync, fetchmail, getmail6, offlineimap3, neomutt, Twisted) are in
//! `server_peers.rs`. Messages read back are compared byte for byte with what was delivered. A missing
//! peer fails the test (install them with tests/run.sh); nothing is skipped.

use std::time::Duration;

#[path = "common/imap_server.rs"]
mod imap_server;

use imap_server::{TestServer, messages, py};
use mailwire_testkit::run_tool;

const T: Duration = Duration::from_secs(120);

fn decode_lines(out: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| base64::engine::general_purpose::STANDARD.decode(l).unwrap())
        .collect()
}

#[test]
fn imaplib_login_over_imaps_fetch_store_search_copy_expunge_append() {
    let srv = TestServer::memory();
    let out = py(
        &srv,
        "m = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx)\n\
         assert 'IMAP4REV1' in m.capabilities and 'AUTH=PLAIN' in m.capabilities, m.capabilities\n\
         assert 'LOGINDISABLED' not in m.capabilities\n\
         m.login('alice', 'secret')\n\
         typ, boxes = m.list()\n\
         assert typ == 'OK' and any(b'\"INBOX\"' in b or b' INBOX' in b for b in boxes), boxes\n\
         assert any(b'\\\\Sent' in b for b in boxes), boxes\n\
         typ, data = m.select('INBOX')\n\
         assert data == [b'3'], data\n\
         typ, data = m.fetch('1:*', '(BODY.PEEK[])')\n\
         for item in data:\n    \
             if isinstance(item, tuple): print(base64.b64encode(item[1]).decode())\n\
         typ, data = m.search(None, 'UNSEEN')\n\
         assert data == [b'1 2 3'], data\n\
         typ, data = m.search(None, 'SUBJECT', 'first')\n\
         assert data == [b'1'], data\n\
         typ, data = m.search(None, 'BODY', 'ABCABC')\n\
         assert data == [b'3'], data\n\
         typ, data = m.fetch('1', '(BODY[TEXT])')\n\
         assert data[0][1] == b'Hello there\\r\\n', data\n\
         typ, data = m.fetch('1', '(FLAGS)')\n\
         assert b'\\\\Seen' in data[0], data\n\
         typ, data = m.store('2', '+FLAGS', '(\\\\Deleted $Junk)')\n\
         assert b'\\\\Deleted' in data[0] and b'$Junk' in data[0], data\n\
         typ, data = m.copy('1', 'Archive')\n\
         assert typ == 'OK', data\n\
         typ, data = m.expunge()\n\
         assert data == [b'2'], data\n\
         typ, data = m.uid('FETCH', '1:*', '(UID RFC822.SIZE)')\n\
         assert len(data) == 2 and b'UID 1 ' in data[0] and b'UID 3 ' in data[1], data\n\
         typ, data = m.append('INBOX', '(\\\\Flagged)', None, b'Subject: appended\\r\\n\\r\\nbody\\r\\n')\n\
         assert typ == 'OK' and b'APPENDUID' in data[0], data\n\
         typ, data = m.noop()\n\
         typ, data = m.search(None, 'FLAGGED')\n\
         assert data == [b'3'], data\n\
         typ, data = m.status('Archive', '(MESSAGES UIDNEXT)')\n\
         assert b'MESSAGES 1' in data[0], data\n\
         m.close(); m.logout()",
    );
    let got = decode_lines(&out);
    assert_eq!(got, messages(), "BODY.PEEK[] returns the bytes delivered");
    // The store agrees: \Seen set by the non-PEEK fetch, message 2 gone, Archive has a copy.
    srv.rt.block_on(async {
        let u = srv.store.user("alice").unwrap();
        let inbox = u.mailbox("INBOX").await.unwrap();
        let uids: Vec<u32> = inbox
            .messages()
            .await
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect();
        assert_eq!(uids, [1, 3, 4]);
        assert!(inbox.message(1).await.unwrap().flags.is_seen());
        let archive = u.mailbox("Archive").await.unwrap();
        assert_eq!(archive.fetch(1).await.unwrap(), messages()[0]);
    });
}

#[test]
fn imaplib_starttls_logindisabled_and_cram_md5() {
    let srv = TestServer::memory();
    py(
        &srv,
        "m = imaplib.IMAP4('127.0.0.1', PLAIN)\n\
         assert 'LOGINDISABLED' in m.capabilities and 'STARTTLS' in m.capabilities, m.capabilities\n\
         assert 'AUTH=PLAIN' not in m.capabilities\n\
         try:\n    m.login('alice', 'secret'); raise SystemExit('LOGIN accepted in cleartext')\n\
         except imaplib.IMAP4.error as e:\n    assert 'PRIVACYREQUIRED' in str(e) or 'TLS' in str(e), e\n\
         m.starttls(ssl_context=ctx)\n\
         assert 'LOGINDISABLED' not in m.capabilities and 'STARTTLS' not in m.capabilities, m.capabilities\n\
         m.login('alice', 'secret')\n\
         m.select('INBOX', readonly=True)\n\
         typ, data = m.fetch('1', '(RFC822)')\n\
         typ2, data2 = m.fetch('1', '(FLAGS)')\n\
         assert b'Seen' not in data2[0], data2\n\
         m.logout()\n\
         m = imaplib.IMAP4('127.0.0.1', PLAIN)\n\
         assert 'AUTH=CRAM-MD5' in m.capabilities, m.capabilities\n\
         try:\n    m.login_cram_md5('alice', 'wrong'); raise SystemExit('bad CRAM-MD5 accepted')\n\
         except imaplib.IMAP4.error as e:\n    assert 'AUTHENTICATIONFAILED' in str(e), e\n\
         m.login_cram_md5('alice', 'secret')\n\
         typ, data = m.select('INBOX')\n\
         assert data == [b'3'], data\n\
         m.logout()",
    );
}

#[test]
fn imapclient_idle_sees_a_delivery_condstore_move_esearch_and_folders() {
    let srv = TestServer::memory();
    let store = srv.store.clone();
    // Deliver while the client is in IDLE.
    let handle = srv.rt.spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        store
            .deliver("alice", &b"Subject: during idle\r\n\r\nx\r\n"[..])
            .await
            .unwrap();
    });
    let out = py(
        &srv,
        "import imapclient, time\n\
         c = imapclient.IMAPClient('127.0.0.1', port=TLS, ssl=True, ssl_context=ctx)\n\
         c.login('alice', 'secret')\n\
         c.enable('CONDSTORE')\n\
         c.select_folder('INBOX')\n\
         c.idle()\n\
         t = time.time()\n\
         r = c.idle_check(timeout=10)\n\
         c.idle_done()\n\
         assert (4, b'EXISTS') in r, r\n\
         print('idle', round(time.time() - t, 2))\n\
         f = c.fetch([1], ['MODSEQ', 'FLAGS'])\n\
         assert b'MODSEQ' in f[1], f\n\
         ms = max(v[b'MODSEQ'][0] for v in c.fetch([1, 2, 3, 4], ['MODSEQ']).values())\n\
         c.add_flags([2], [b'\\\\Flagged'])\n\
         changed = c.fetch([1, 2, 3, 4], ['FLAGS'], modifiers=['CHANGEDSINCE %d' % ms])\n\
         assert list(changed) == [2], changed\n\
         c.create_folder('Work/2024')\n\
         assert c.folder_exists('Work/2024')\n\
         names = [f[2] for f in c.list_folders()]\n\
         assert 'Work' in names and 'Work/2024' in names, names\n\
         c.rename_folder('Work/2024', 'Work/2025')\n\
         c.subscribe_folder('Work/2025')\n\
         assert 'Work/2025' in [f[2] for f in c.list_sub_folders()]\n\
         c.move([1], 'Work/2025')\n\
         assert c.search('ALL') == [2, 3, 4], c.search('ALL')  # UIDs\n\
         r = c._imap._simple_command('SEARCH', 'RETURN', '(MIN MAX COUNT)', 'ALL')\n\
         typ, data = c._imap._untagged_response('OK', [None], 'ESEARCH')\n\
         assert b'MIN 1 MAX 3 COUNT 3' in data[0], data\n\
         c.select_folder('Work/2025')\n\
         assert c.search('ALL') == [1]\n\
         c.delete_folder('Work/2025')\n\
         c.logout()",
    );
    srv.rt.block_on(handle).unwrap();
    let secs: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("idle "))
        .expect("idle timing printed")
        .parse()
        .unwrap();
    assert!(secs < 5.0, "IDLE saw the delivery after {secs}s");
}

#[test]
fn two_sessions_see_each_others_expunges_and_flags() {
    let srv = TestServer::memory();
    py(
        &srv,
        "a = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); a.login('alice', 'secret'); a.select('INBOX')\n\
         b = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); b.login('alice', 'secret'); b.select('INBOX')\n\
         a.store('1', '+FLAGS', '(\\\\Deleted)'); a.expunge()\n\
         # b fetches by sequence number: no EXPUNGE during FETCH, its numbers stay valid.\n\
         typ, data = b.fetch('1', '(UID)')\n\
         assert 'EXPUNGE' not in b.untagged_responses, b.untagged_responses\n\
         typ, data = b.noop()\n\
         assert b.response('EXPUNGE') == ('EXPUNGE', [b'1']), b.untagged_responses\n\
         typ, data = b.search(None, 'ALL')\n\
         assert data == [b'1 2'], data\n\
         a.store('1', '+FLAGS', '(\\\\Flagged)')\n\
         typ, data = b.noop()\n\
         typ, data = b.fetch('1', '(FLAGS)')\n\
         assert b'Flagged' in data[0], data\n\
         a.logout(); b.logout()",
    );
}

/// imaplib has no QRESYNC methods; its raw command path sends the RFC 7162 forms and its
/// response parser collects VANISHED like any untagged data.
#[test]
fn imaplib_quick_resync_after_another_session_expunged() {
    let srv = TestServer::memory();
    py(
        &srv,
        "a = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); a.login('alice', 'secret')\n\
         typ, data = a._simple_command('ENABLE', 'QRESYNC')\n\
         assert typ == 'OK' and a.untagged_responses.pop('ENABLED') == [b'QRESYNC'], a.untagged_responses\n\
         a.select('INBOX')\n\
         v = int(a.untagged_responses['UIDVALIDITY'][0])\n\
         hm = int(a.untagged_responses['HIGHESTMODSEQ'][0])\n\
         a.close()\n\
         b = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); b.login('alice', 'secret'); b.select('INBOX')\n\
         b.uid('STORE', '1', '+FLAGS', '(\\\\Deleted)'); b.expunge(); b.uid('STORE', '3', '+FLAGS', '(\\\\Flagged)'); b.logout()\n\
         a.untagged_responses.clear()\n\
         typ, data = a._simple_command('SELECT', 'INBOX', '(QRESYNC (%d %d))' % (v, hm))\n\
         assert typ == 'OK', (typ, data)\n\
         assert a.untagged_responses['VANISHED'] == [b'(EARLIER) 1'], a.untagged_responses\n\
         assert a.untagged_responses['EXISTS'] == [b'2'], a.untagged_responses\n\
         f = a.untagged_responses['FETCH']\n\
         assert len(f) == 1 and f[0].startswith(b'2 (UID 3 FLAGS (\\\\Flagged) MODSEQ ('), f\n\
         a.logout()",
    );
}

/// imaplib's GETQUOTAROOT/GETQUOTA (RFC 9208) against the store's quota and usage, and an
/// APPEND past it refused with OVERQUOTA.
#[test]
fn imaplib_getquotaroot_and_an_append_over_quota() {
    let srv = TestServer::memory();
    let total: usize = messages().iter().map(Vec::len).sum();
    srv.store
        .set_quota(
            "alice",
            mailwire_store::Quota {
                storage: Some(total as u64 + 10),
                messages: Some(100),
            },
        )
        .unwrap();
    let kib = total.div_ceil(1024);
    let limit = (total + 10) / 1024;
    py(
        &srv,
        &format!(
            "m = imaplib.IMAP4_SSL('127.0.0.1', TLS, ssl_context=ctx); m.login('alice', 'secret')\n\
             typ, data = m.getquotaroot('INBOX')\n\
             assert typ == 'OK' and data == [[b'INBOX \"\"'], [b'\"\" (STORAGE {kib} {limit} MESSAGE 3 100)']], data\n\
             typ, data = m.getquota('\"\"')\n\
             assert data == [b'\"\" (STORAGE {kib} {limit} MESSAGE 3 100)'], data\n\
             typ, data = m.append('INBOX', None, None, b'Subject: x\\r\\n\\r\\n' + b'y' * 100)\n\
             assert typ == 'NO' and b'OVERQUOTA' in data[0], (typ, data)\n\
             typ, data = m.append('INBOX', None, None, b'S: x\\r\\n\\r\\n')\n\
             assert typ == 'OK', (typ, data)\n\
             m.logout()"
        ),
    );
}

/// imapclient's sort() and thread() (RFC 5256) parse what the server sends; imaplib's too.
#[test]
fn imapclient_sort_and_thread() {
    let srv = TestServer::memory();
    srv.rt.block_on(async {
        for m in [
            "Subject: Re: first\r\nMessage-ID: <r1@x>\r\nReferences: <nope@x>\r\nDate: Wed, 3 Jun 2026 10:00:00 +0000\r\n\r\nx\r\n",
            "Subject: Fwd: 8bit\r\nDate: Wed, 3 Jun 2026 11:00:00 +0000\r\n\r\ny\r\n",
        ] {
            srv.store.deliver("alice", m.as_bytes().to_vec()).await.unwrap();
        }
    });
    py(
        &srv,
        "import imapclient\n\
         c = imapclient.IMAPClient('127.0.0.1', port=TLS, ssl=True, ssl_context=ctx)\n\
         c.login('alice', 'secret')\n\
         assert c.has_capability('SORT') and c.has_capability('THREAD=REFERENCES'), c.capabilities()\n\
         c.select_folder('INBOX')\n\
         # Subjects: first, 8bit, big, Re: first, Fwd: 8bit.\n\
         assert c.sort(['SUBJECT']) == [2, 5, 3, 1, 4], c.sort(['SUBJECT'])\n\
         assert c.sort(['REVERSE', 'SIZE'])[0] == 3, c.sort(['REVERSE', 'SIZE'])\n\
         # The reply's parent is missing: it joins 'first' by subject, as the forward joins '8bit'.\n\
         t = c.thread('REFERENCES')\n\
         assert sorted(map(tuple, t)) == [(1, 4), (2, 5), (3,)], t\n\
         o = c.thread('ORDEREDSUBJECT')\n\
         assert len(o) == 3, o\n\
         typ, data = c._imap.sort('(REVERSE ARRIVAL)', 'UTF-8', 'ALL')\n\
         assert typ == 'OK' and data == [b'1 2 3 4 5'], data\n\
         c.logout()",
    );
}

/// COMPRESS=DEFLATE (RFC 4978) from Python's zlib over TLS: raw DEFLATE both ways, every
/// message fetched compressed comes back byte for byte.
#[test]
fn compress_deflate_with_python_zlib() {
    let srv = TestServer::memory();
    let out = py(
        &srv,
        "import socket, zlib, re\n\
         s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', TLS)), server_hostname='localhost')\n\
         f = s.makefile('rb')\n\
         f.readline()\n\
         s.sendall(b'a LOGIN alice secret\\r\\n')\n\
         l = f.readline(); assert l.startswith(b'a OK') and b'COMPRESS=DEFLATE' in l, l\n\
         s.sendall(b'b COMPRESS DEFLATE\\r\\n')\n\
         l = f.readline(); assert l == b'b OK DEFLATE active\\r\\n', l\n\
         c = zlib.compressobj(6, zlib.DEFLATED, -15); d = zlib.decompressobj(-15)\n\
         def send(line):\n    s.sendall(c.compress(line) + c.flush(zlib.Z_SYNC_FLUSH))\n\
         buf = bytearray()\n\
         def until(tag):\n    \
             while True:\n        \
                 m = re.search(rb'(^|\\n)' + tag + rb' [^\\r]*\\r\\n', buf)\n        \
                 if m: r = bytes(buf[:m.end()]); del buf[:m.end()]; return r\n        \
                 chunk = s.recv(65536)\n        \
                 assert chunk, 'closed'\n        \
                 buf.extend(d.decompress(chunk))\n\
         send(b'c CAPABILITY\\r\\n')\n\
         r = until(b'c'); assert b'COMPRESS=DEFLATE' not in r and r.endswith(b'c OK CAPABILITY completed\\r\\n'), r\n\
         send(b'd SELECT INBOX\\r\\n'); until(b'd')\n\
         # Two commands in one compressed write: pipelining inside the stream.\n\
         send(b'e UID FETCH 1:* (BODY.PEEK[])\\r\\nf NOOP\\r\\n')\n\
         r = until(b'f')\n\
         assert b'e OK' in r, r[-200:]\n\
         for m in re.finditer(rb'BODY\\[\\] \\{(\\d+)\\}\\r\\n', r):\n    \
             n = int(m.group(1)); print(base64.b64encode(r[m.end():m.end() + n]).decode())\n\
         send(b'g COMPRESS DEFLATE\\r\\n'); r = until(b'g'); assert r.startswith(b'g BAD'), r\n\
         send(b'h LOGOUT\\r\\n'); r = until(b'h'); assert b'* BYE' in r, r",
    );
    assert_eq!(decode_lines(&out), messages());
}

#[test]
fn curl_imap_starttls_and_imaps() {
    let srv = TestServer::memory();
    let ca = srv.ca().display().to_string();
    for (url, extra) in [
        (
            format!("imaps://127.0.0.1:{}/INBOX;UID=1", srv.imaps.port()),
            None,
        ),
        (
            format!("imap://127.0.0.1:{}/INBOX;UID=2", srv.imap.port()),
            Some("--ssl-reqd"),
        ),
    ] {
        let mut args = vec![
            "-s",
            "--show-error",
            "--cacert",
            &ca,
            "-u",
            "alice:secret",
            &url,
        ];
        args.extend(extra);
        let out = run_tool("curl", &args, None, T).unwrap();
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let uid: usize = url.rsplit('=').next().unwrap().parse().unwrap();
        assert_eq!(out.stdout, messages()[uid - 1], "{url}");
    }
    // CRAM-MD5 by curl's login options.
    let url = format!("imaps://127.0.0.1:{}/INBOX;UID=3", srv.imaps.port());
    let out = run_tool(
        "curl",
        [
            "-s",
            "--show-error",
            "--cacert",
            &ca,
            "--login-options",
            "AUTH=CRAM-MD5",
            "-u",
            "alice:secret",
            &url,
        ],
        None,
        T,
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, messages()[2]);
}
