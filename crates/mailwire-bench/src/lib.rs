#![forbid(unsafe_code)]
//! Benchmarks of mailwire against peer crates, and the inputs they share.
//!
//! The criterion benchmarks live in `benches/`; each measures mailwire and a peer on the same
//! input in the same run, so the reported numbers are ratios, not absolute claims:
//!
//! | bench | what | peer |
//! |---|---|---|
//! | `codec` | SMTP DATA receiver, line framer (MB/s, 1460- and 1-byte chunks) | smtp-proto `DataReceiver` |
//! | `imap_codec` | IMAP response and command decoding, command encoding (MB/s); response decoding through `ImapFramer` in 1-, 16- and 1460-byte chunks | imap-codec, imap-proto |
//! | `imap_server` | IMAP servers with the same Rust load client ([`imap_load`]): UID FETCH of bodies (MB/s), FETCH ENVELOPE BODYSTRUCTURE (responses/s, cold and warm), durable APPEND from 4 sessions, memory per idle IDLE connection | Dovecot |
//!
//! Run them with `cargo bench -p mailwire-bench`. This library only builds the inputs:
//!
//! ```
//! let wire = mailwire_bench::stuffed_message(64 * 1024, 0.05);
//! assert!(wire.ends_with(b"\r\n.\r\n"));
//! ```

/// A dot-stuffed message of about `size` octets, terminator included, in which a fraction
/// `dot_ratio` of the lines start with a dot. Deterministic.
pub fn stuffed_message(size: usize, dot_ratio: f64) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 128);
    body.extend_from_slice(b"From: a@example.com\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n");
    let every = if dot_ratio > 0.0 {
        (1.0 / dot_ratio).round() as usize
    } else {
        usize::MAX
    };
    let mut seed: u32 = 0x1234_5678;
    let mut n = 0usize;
    while body.len() < size {
        // A cheap xorshift: line lengths between 20 and 78 octets.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let len = 20 + (seed % 59) as usize;
        if n % every == every - 1 {
            body.push(b'.');
        }
        body.extend((0..len).map(|i| b'a' + ((i as u32 + seed) % 26) as u8));
        body.extend_from_slice(b"\r\n");
        n += 1;
    }
    mailwire_codec::dot_stuff(&body, false)
}

/// A stream of about `size` octets of pipelined SMTP command lines.
pub fn command_stream(size: usize) -> Vec<u8> {
    let cmds: [&[u8]; 4] = [
        b"MAIL FROM:<sender@example.com> SIZE=10240 BODY=8BITMIME\r\n",
        b"RCPT TO:<recipient.number.one@example.org> NOTIFY=SUCCESS,FAILURE\r\n",
        b"RCPT TO:<two@example.net>\r\n",
        b"NOOP\r\n",
    ];
    let mut out = Vec::with_capacity(size + 128);
    let mut i = 0;
    while out.len() < size {
        out.extend_from_slice(cmds[i % cmds.len()]);
        i += 1;
    }
    out
}

/// A benchmark setting from the environment (`MAILWIRE_BENCH_MESSAGES=500`, say), or `default`
/// when it is unset or not a number.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

mod imap;
/// A message of about `size` octets (the benchmarks use 10 KiB): a reply (In-Reply-To, References, Cc), multipart/mixed with a text part
/// and a base64 attachment; `i` in the subject and ids.
pub fn sample_message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <sender{i}@example.org>\r\n\
         From: \"Sender {i}\" <sender{i}@example.org>\r\n\
         To: Alice <alice@example.net>, bob@example.net\r\n\
         Cc: \"List\" <list@lists.example.com>\r\n\
         Subject: Re: bench message {i}\r\n\
         Date: Mon, 7 Dec 2026 10:{:02}:{:02} +0100\r\n\
         Message-ID: <{i}.bench@example.org>\r\n\
         In-Reply-To: <{}.bench@example.org>\r\n\
         References: <1.bench@example.org> <{}.bench@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n\
         --b{i}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        i % 60,
        (i * 7) % 60,
        i.saturating_sub(1),
        i.saturating_sub(1),
    )
    .into_bytes();
    let mut n = 0;
    while m.len() < size / 2 {
        m.extend_from_slice(
            format!("line {n:04} of message {i:05}, some text to fill it up\r\n").as_bytes(),
        );
        n += 1;
    }
    m.extend_from_slice(
        format!(
            "--b{i}\r\nContent-Type: application/octet-stream; name=\"data{i}.bin\"\r\n\
             Content-Disposition: attachment; filename=\"data{i}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        )
        .as_bytes(),
    );
    while m.len() < size - 16 {
        m.extend_from_slice(b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w\r\n");
    }
    m.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    m
}

/// Postfix's `smtp-source` load generator (Debian package postfix); panics when it is missing,
/// naming the package.
pub fn smtp_source() -> &'static str {
    ["/usr/sbin/smtp-source", "/usr/lib/postfix/sbin/smtp-source"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("smtp-source is required (Debian package postfix; tests/peers/install.sh)")
}

pub mod imap_load;
pub mod load;
pub use imap::{
    imap_command_mix, imap_fetch_envelope, imap_fetch_literal, imap_list, imap_message_text,
    imap_response_mix,
};

#[cfg(test)]
mod tests {
    #[test]
    fn inputs_are_well_formed() {
        let wire = super::stuffed_message(100_000, 0.05);
        let dots = wire.windows(3).filter(|w| w == b"\n..").count();
        let lines = wire.windows(2).filter(|w| w == b"\r\n").count();
        assert!(
            dots * 100 / lines >= 4 && dots * 100 / lines <= 6,
            "{dots} of {lines}"
        );
        let cmds = super::command_stream(10_000);
        assert!(cmds.ends_with(b"\r\n") && cmds.len() >= 10_000);
    }
}
