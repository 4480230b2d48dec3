//! Modified UTF-7 (RFC 3501 §5.1.3), the mailbox-name encoding of IMAP without UTF8=ACCEPT
//! and of Maildir++ folder names: printable US-ASCII stands for itself (`&` as `&-`),
//! everything else is UTF-16 in modified base64 (`+,` for `+/`, no padding) between `&` and
//! `-`. One implementation for the IMAP types and the store.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a Unicode name in modified UTF-7.
///
/// ```
/// use mailwire_codec::encode_utf7;
/// // RFC 3501 §5.1.3's example.
/// assert_eq!(encode_utf7("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
/// ```
pub fn encode_utf7(name: &str) -> String {
    encode_utf7_with(name, |_| false)
}

/// [`encode_utf7`], with the printable characters for which `shift` is true base64-encoded
/// too (a Maildir++ folder name encodes `.`, its hierarchy separator). The result still
/// decodes with [`decode_utf7_lenient`]; it is not canonical for [`decode_utf7`].
pub fn encode_utf7_with(name: &str, shift: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) && !shift(c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Writes the UTF-16 units in `pending` as one `&…-` run.
fn flush(pending: &mut Vec<u16>, out: &mut String) {
    if pending.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out.push('-');
    pending.clear();
}

/// Decodes modified UTF-7 as RFC 3501 §5.1.3 defines it; `None` for anything a conforming
/// encoder never writes: octets outside printable US-ASCII, an unterminated or malformed
/// base64 run, non-zero padding bits, an unpaired surrogate, printable US-ASCII inside a run,
/// or a null shift (`-&`: two runs back to back).
///
/// ```
/// use mailwire_codec::decode_utf7;
/// assert_eq!(decode_utf7(b"Entw&APw-rfe").as_deref(), Some("Entwürfe"));
/// assert_eq!(decode_utf7(b"&AGE-"), None); // "a" in base64
/// ```
pub fn decode_utf7(name: &[u8]) -> Option<String> {
    decode(name, true)
}

/// Decodes modified UTF-7 as other software writes it (Maildir++ folder names made by other
/// servers): printable US-ASCII inside a run and null shifts are accepted; everything else
/// [`decode_utf7`] refuses is still refused.
pub fn decode_utf7_lenient(name: &[u8]) -> Option<String> {
    decode(name, false)
}

fn decode(bytes: &[u8], strict: bool) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    let mut last_run_end = usize::MAX;
    while i < bytes.len() {
        let c = bytes[i];
        if !(0x20..=0x7e).contains(&c) {
            return None;
        }
        if c != b'&' {
            out.push(c as char);
            i += 1;
            continue;
        }
        let start = i + 1;
        let end = start + bytes[start..].iter().position(|&b| b == b'-')?;
        if end == start {
            out.push('&');
            i = end + 1;
            continue;
        }
        if strict && last_run_end == i {
            return None;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units = Vec::new();
        for &b in &bytes[start..end] {
            let v = B64.iter().position(|&x| x == b)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
                bits &= (1 << nbits) - 1;
            }
        }
        if nbits >= 6 || bits != 0 || units.is_empty() {
            return None;
        }
        let decoded = String::from_utf16(&units).ok()?;
        if strict && decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return None;
        }
        out.push_str(&decoded);
        i = end + 1;
        last_run_end = i;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_and_round_trips() {
        let name = "~peter/mail/台北/日本語";
        assert_eq!(encode_utf7(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(
            decode_utf7(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some(name)
        );
        for s in ["Entwürfe", "台北", "a&b", "😀x", "plain", "", "&&", "é&é"] {
            let e = encode_utf7(s);
            assert_eq!(decode_utf7(e.as_bytes()).as_deref(), Some(s), "{e}");
            assert_eq!(decode_utf7_lenient(e.as_bytes()).as_deref(), Some(s), "{e}");
        }
        assert_eq!(encode_utf7("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode_utf7("a&b"), "a&-b");
        assert_eq!(encode_utf7("😀"), "&2D3eAA-");
        assert_eq!(decode_utf7(b"&2D3eAA-").as_deref(), Some("😀"));
    }

    #[test]
    fn strict_refuses_what_no_encoder_writes() {
        for bad in [
            &b"&"[..],
            b"&Jjo",
            b"&Jjo!",
            b"&AGE-",
            b"&U,BTFw-&ZeVnLIqe-",
            b"&Jj-",
            b"&2D0-",
            "é".as_bytes(),
            b"a\x7fb",
        ] {
            assert_eq!(decode_utf7(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        // Lenient: ASCII in a run and null shifts pass; broken base64 does not.
        assert_eq!(decode_utf7_lenient(b"&AGE-").as_deref(), Some("a"));
        assert_eq!(
            decode_utf7_lenient(b"&U,BTFw-&ZeVnLIqe-").as_deref(),
            Some("台北日本語")
        );
        assert_eq!(decode_utf7_lenient(b"&Jjo"), None);
        assert_eq!(decode_utf7_lenient(b"&2D0-"), None);
    }

    #[test]
    fn shifted_characters() {
        let e = encode_utf7_with("a.b/c", |c| c == '.');
        assert!(!e.contains('.'), "{e}");
        assert_eq!(decode_utf7_lenient(e.as_bytes()).as_deref(), Some("a.b/c"));
        assert_eq!(
            decode_utf7(e.as_bytes()),
            None,
            "ASCII in a run is not canonical"
        );
    }
}
