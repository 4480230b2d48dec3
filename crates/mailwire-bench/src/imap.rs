//! Inputs of the IMAP benchmarks (`benches/imap_codec.rs`).

/// One untagged FETCH response with UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE and a
/// multipart BODYSTRUCTURE with extension data, as Dovecot writes them (about 1.3 KB).
pub fn imap_fetch_envelope(seq: u32) -> Vec<u8> {
    format!(
        "* {seq} FETCH (UID {uid} FLAGS (\\Seen $Label{l}) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
RFC822.SIZE {size} ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"Re: IMAP4rev2 WG mtg summary and minutes #{seq}\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\") (\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL \
\"<B27397-0100000@cac.washington.edu>\" \"<B27397-{seq}@cac.washington.edu>\") \
BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL NIL \"quoted-printable\" 2311 48 NIL NIL NIL NIL)\
(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 9023 131 NIL NIL NIL NIL) \"alternative\" \
(\"boundary\" \"----=_Part_1_{seq}\") NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"minutes.pdf\") NIL NIL \"base64\" 183012 NIL \
(\"attachment\" (\"filename\" \"minutes.pdf\" \"size\" \"133722\")) NIL NIL) \"mixed\" (\"boundary\" \"----=_Part_0_{seq}\") NIL (\"en\") NIL))\r\n",
        uid = 1000 + seq,
        l = seq % 7,
        size = 4286 + seq,
    )
    .into_bytes()
}

/// One LIST response with attributes and a quoted name.
pub fn imap_list(n: u32) -> Vec<u8> {
    format!(
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Archive/{}/Project {n} notes\"\r\n",
        2000 + n % 25
    )
    .into_bytes()
}

/// `size` octets of CRLF-terminated text (a message body).
pub fn imap_message_text(size: usize) -> Vec<u8> {
    let line =
        b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n";
    let mut out = Vec::with_capacity(size + line.len());
    while out.len() < size {
        out.extend_from_slice(line);
    }
    out.truncate(size);
    out
}

/// One FETCH response carrying a message of `size` octets as a literal.
pub fn imap_fetch_literal(seq: u32, size: usize) -> Vec<u8> {
    let mut out = format!("* {seq} FETCH (UID {} BODY[] {{{size}}}\r\n", 5000 + seq).into_bytes();
    out.extend_from_slice(&imap_message_text(size));
    out.extend_from_slice(b" FLAGS (\\Seen))\r\n");
    out
}

/// The response mix of the IMAP decoding benchmark: 200 FETCH ENVELOPE/BODYSTRUCTURE, 100 LIST,
/// 4 FETCH BODY[] with 64 KiB literals, interleaved; returned as separate messages.
pub fn imap_response_mix() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in 0..200u32 {
        out.push(imap_fetch_envelope(k + 1));
        if k % 2 == 0 {
            out.push(imap_list(k));
            out.push(imap_list(k + 1));
        }
        if k % 50 == 49 {
            out.push(imap_fetch_literal(k + 1, 64 * 1024));
        }
    }
    out
}

/// The command mix of the IMAP command benchmarks (what imaplib, imapclient and Thunderbird
/// send), each a complete message; APPEND carries a 10 KiB literal.
pub fn imap_command_mix() -> Vec<Vec<u8>> {
    let base: [&[u8]; 12] = [
        b"a1 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)\r\n",
        b"a2 UID FETCH 4123 (BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID References)] BODY.PEEK[1.2]<0.2048>)\r\n",
        b"a3 UID SEARCH CHARSET UTF-8 OR (FROM \"gray\" SINCE 1-Feb-1994) (NOT SEEN UNDELETED LARGER 10000)\r\n",
        b"a4 UID STORE 1:20,31,40:* +FLAGS.SILENT (\\Seen $Forwarded)\r\n",
        b"a5 SELECT \"Archive/2024/Project notes\" (CONDSTORE)\r\n",
        // imap-codec 2.0.0-alpha.10 has no LIST-STATUS nor multiple patterns: a plain LIST.
        b"a6 LIST \"\" \"Archive/2024/*\"\r\n",
        b"a7 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)\r\n",
        b"a8 LOGIN \"alice@example.org\" \"correct horse battery staple\"\r\n",
        b"a9 UID MOVE 17:42 Trash\r\n",
        b"a10 FETCH 1:100 (FLAGS) (CHANGEDSINCE 12345)\r\n",
        b"a11 NOOP\r\n",
        b"a12 IDLE\r\n",
    ];
    let mut out: Vec<Vec<u8>> = Vec::new();
    for _ in 0..40 {
        out.extend(base.iter().map(|c| c.to_vec()));
    }
    let mut append =
        b"a13 APPEND Sent (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {10240}\r\n".to_vec();
    append.extend_from_slice(&imap_message_text(10240));
    append.extend_from_slice(b"\r\n");
    for _ in 0..4 {
        out.push(append.clone());
    }
    out
}
