//! SEARCH on the server side (RFC 9051 §6.4.4, RFC 3501 §6.4.4, the CONDSTORE `MODSEQ` key
//! of RFC 7162 §3.1.5): evaluating the keys against one message.
//!
//! String keys match case-insensitively (ASCII and, for UTF-8 text, by Unicode lower case) as
//! substrings. HEADER, FROM, TO, CC, BCC and SUBJECT look at the unfolded raw field values;
//! BODY looks at every text part's body with its transfer encoding (base64,
//! quoted-printable) removed; TEXT at the header and the body. Date keys compare dates in
//! the time zone the date was given in (RFC 9051 §6.4.4: "disregarding time and timezone").

use mailwire_store::MimeIndex;

use super::MessageInfo;
use super::fetch::{decode_base64, decode_qp};
use crate::proto::types::datetime::Date;
use crate::proto::types::flag::Flag;
use crate::proto::types::search::SearchKey;

/// What the evaluation of a message may look at.
pub struct Candidate<'a> {
    /// Its sequence number.
    pub seq: u32,
    /// Its metadata.
    pub info: &'a MessageInfo,
    /// The raw octets and MIME index, when a key needs them.
    pub content: Option<(&'a [u8], &'a MimeIndex)>,
    /// The number of messages (`*` in sequence sets).
    pub exists: u32,
    /// The largest UID (`*` in UID sets).
    pub max_uid: u32,
    /// The saved result (`$`, RFC 5182), as UIDs.
    pub saved: &'a [u32],
    /// Seconds since the epoch now (OLDER, YOUNGER; RFC 5032).
    pub now: i64,
}

/// Whether a key needs the message content.
pub fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_) => true,
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::And(ks) => ks.iter().any(needs_content),
        _ => false,
    }
}

/// Whether a key uses the MODSEQ criterion (the result then carries `(MODSEQ n)`).
pub fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(ks) => ks.iter().any(uses_modseq),
        _ => false,
    }
}

fn has(info: &MessageInfo, f: &Flag) -> bool {
    info.flags.contains(f)
}

fn lower(s: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(s) {
        Ok(t) => t.to_lowercase().into_bytes(),
        Err(_) => s.to_ascii_lowercase(),
    }
}

/// Case-insensitive substring test; an empty needle matches everything.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    let h = lower(hay);
    let n = lower(needle);
    memchr::memmem::find(&h, &n).is_some()
}

fn unfold(v: &[u8]) -> Vec<u8> {
    v.iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect()
}

fn header_match(raw: &[u8], mime: &MimeIndex, name: &[u8], needle: &[u8]) -> bool {
    mime.root
        .fields
        .iter()
        .filter(|f| f.name(raw).trim_ascii().eq_ignore_ascii_case(name))
        .any(|f| contains(&unfold(f.value(raw)), needle))
}

fn body_match(raw: &[u8], mime: &MimeIndex, needle: &[u8]) -> bool {
    let mut parts = vec![&mime.root];
    parts.extend(mime.root.descendants());
    parts.into_iter().any(|p| {
        if p.is_multipart() || p.message.is_some() {
            return false;
        }
        let body = raw.get(p.body.clone()).unwrap_or_default();
        let enc = p.encoding.as_deref().unwrap_or("7bit").trim();
        if enc.eq_ignore_ascii_case("base64") {
            contains(&decode_base64(body), needle)
        } else if enc.eq_ignore_ascii_case("quoted-printable") {
            contains(&decode_qp(body), needle)
        } else {
            contains(body, needle)
        }
    })
}

pub use mailwire_codec::calendar::days_from_civil;

fn day(d: &Date) -> i64 {
    days_from_civil(
        i64::from(d.year()),
        u32::from(d.month()),
        u32::from(d.day()),
    )
}

fn internal_day(info: &MessageInfo) -> i64 {
    day(&info.internal_date.date())
}

/// The day of the Date: header (in its own zone), when it can be read.
fn sent_day(raw: &[u8], mime: &MimeIndex) -> Option<i64> {
    let v = mime.root.header_value(raw, "date")?;
    let t = String::from_utf8_lossy(&unfold(v)).trim().to_owned();
    // [day-of-week ","] day month year ...
    let t = t.split_once(',').map_or(t.as_str(), |(_, r)| r).trim();
    let mut it = t.split_ascii_whitespace();
    let d: u32 = it.next()?.parse().ok()?;
    let m = it.next()?.to_ascii_lowercase();
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let m = months.iter().position(|x| m.starts_with(x))? as u32 + 1;
    let mut y: i64 = it.next()?.parse().ok()?;
    if y < 50 {
        y += 2000;
    } else if y < 1000 {
        y += 1900;
    }
    Some(days_from_civil(y, m, d))
}

/// Evaluates `key` against a message.
pub fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    let info = c.info;
    let content = c.content;
    let text = |f: &dyn Fn(&[u8], &MimeIndex) -> bool| content.is_some_and(|(r, m)| f(r, m));
    match key {
        SearchKey::All => true,
        SearchKey::Answered => has(info, &Flag::Answered),
        SearchKey::Deleted => has(info, &Flag::Deleted),
        SearchKey::Draft => has(info, &Flag::Draft),
        SearchKey::Flagged => has(info, &Flag::Flagged),
        SearchKey::Seen => has(info, &Flag::Seen),
        SearchKey::Unanswered => !has(info, &Flag::Answered),
        SearchKey::Undeleted => !has(info, &Flag::Deleted),
        SearchKey::Undraft => !has(info, &Flag::Draft),
        SearchKey::Unflagged => !has(info, &Flag::Flagged),
        SearchKey::Unseen => !has(info, &Flag::Seen),
        // No \Recent in this server (RFC 9051 removed it): NEW is UNSEEN RECENT, so nothing.
        SearchKey::Recent | SearchKey::New => false,
        SearchKey::Old => true,
        SearchKey::Keyword(k) => info
            .flags
            .iter()
            .any(|f| matches!(f, Flag::Keyword(a) if a.as_str().eq_ignore_ascii_case(k.as_str()))),
        SearchKey::Unkeyword(k) => !info
            .flags
            .iter()
            .any(|f| matches!(f, Flag::Keyword(a) if a.as_str().eq_ignore_ascii_case(k.as_str()))),
        SearchKey::Larger(n) => info.size > *n,
        SearchKey::Smaller(n) => info.size < *n,
        SearchKey::Before(d) => internal_day(info) < day(d),
        SearchKey::On(d) => internal_day(info) == day(d),
        SearchKey::Since(d) => internal_day(info) >= day(d),
        SearchKey::SentBefore(d) => text(&|r, m| sent_day(r, m).is_some_and(|x| x < day(d))),
        SearchKey::SentOn(d) => text(&|r, m| sent_day(r, m) == Some(day(d))),
        SearchKey::SentSince(d) => text(&|r, m| sent_day(r, m).is_some_and(|x| x >= day(d))),
        SearchKey::Older(secs) => c.now - info.internal_timestamp >= i64::from(*secs),
        SearchKey::Younger(secs) => c.now - info.internal_timestamp <= i64::from(*secs),
        SearchKey::From(s) => text(&|r, m| header_match(r, m, b"from", s.as_bytes())),
        SearchKey::To(s) => text(&|r, m| header_match(r, m, b"to", s.as_bytes())),
        SearchKey::Cc(s) => text(&|r, m| header_match(r, m, b"cc", s.as_bytes())),
        SearchKey::Bcc(s) => text(&|r, m| header_match(r, m, b"bcc", s.as_bytes())),
        SearchKey::Subject(s) => text(&|r, m| header_match(r, m, b"subject", s.as_bytes())),
        SearchKey::Header(name, s) => text(&|r, m| {
            if s.as_bytes().is_empty() {
                // An empty string matches every message that has the field.
                m.root
                    .fields
                    .iter()
                    .any(|f| f.name(r).trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
            } else {
                header_match(r, m, name.as_bytes(), s.as_bytes())
            }
        }),
        SearchKey::Body(s) => text(&|r, m| body_match(r, m, s.as_bytes())),
        SearchKey::Text(s) => text(&|r, m| {
            contains(&unfold(&r[m.root.header.clone()]), s.as_bytes())
                || body_match(r, m, s.as_bytes())
        }),
        SearchKey::Uid(set) => match set {
            crate::proto::SequenceSet::Saved => c.saved.contains(&info.uid),
            set => set.contains(info.uid, c.max_uid),
        },
        SearchKey::SequenceSet(set) => match set {
            crate::proto::SequenceSet::Saved => c.saved.contains(&info.uid),
            set => set.contains(c.seq, c.exists),
        },
        SearchKey::Not(k) => !matches(k, c),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::And(ks) => ks.iter().all(|k| matches(k, c)),
        SearchKey::ModSeq { modseq, .. } => info.modseq >= *modseq,
        // OBJECTID is not offered.
        SearchKey::EmailId(_) | SearchKey::ThreadId(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::core::AString;
    use crate::proto::types::datetime::DateTime;

    fn info(flags: Vec<Flag>) -> MessageInfo {
        MessageInfo {
            uid: 5,
            modseq: 9,
            flags,
            internal_date: DateTime::new(Date::new(2024, 3, 10).unwrap(), 23, 0, 0, 0).unwrap(),
            internal_timestamp: 1_710_111_600,
            size: 100,
        }
    }

    #[test]
    fn keys() {
        let raw = b"From: Zo\xc3\xab <z@x.test>\r\nSubject: Hello\r\n World\r\nDate: Sun, 10 Mar 2024 10:00:00 +0000\r\n\
Content-Transfer-Encoding: base64\r\n\r\nU2VjcmV0IHBocmFzZQ==\r\n";
        let idx = MimeIndex::parse(raw);
        let i = info(vec![Flag::Seen]);
        let c = Candidate {
            seq: 2,
            info: &i,
            content: Some((raw, &idx)),
            exists: 3,
            max_uid: 8,
            saved: &[5],
            now: 1_710_111_700,
        };
        let a = |s: &str| AString::new(s).unwrap();
        let d = |y, m, dd| Date::new(y, m, dd).unwrap();
        assert!(matches(&SearchKey::Seen, &c));
        assert!(!matches(&SearchKey::Unseen, &c));
        assert!(matches(&SearchKey::Subject(a("hello world")), &c));
        assert!(matches(&SearchKey::From(a("ZOË")), &c));
        assert!(matches(&SearchKey::Body(a("secret PHRASE")), &c));
        assert!(!matches(&SearchKey::Body(a("hello")), &c));
        assert!(matches(&SearchKey::Text(a("hello")), &c));
        assert!(matches(&SearchKey::Header(a("date"), a("")), &c));
        assert!(!matches(&SearchKey::Header(a("cc"), a("")), &c));
        assert!(matches(&SearchKey::On(d(2024, 3, 10)), &c));
        assert!(matches(&SearchKey::SentOn(d(2024, 3, 10)), &c));
        assert!(matches(&SearchKey::Before(d(2024, 3, 11)), &c));
        assert!(!matches(&SearchKey::Since(d(2024, 3, 11)), &c));
        assert!(matches(&SearchKey::Larger(99), &c));
        assert!(matches(&SearchKey::Younger(200), &c));
        assert!(!matches(&SearchKey::Older(200), &c));
        assert!(matches(
            &SearchKey::SequenceSet(crate::proto::SequenceSet::range(2, 3).unwrap()),
            &c
        ));
        assert!(matches(
            &SearchKey::Uid(crate::proto::SequenceSet::Saved),
            &c
        ));
        assert!(matches(
            &SearchKey::ModSeq {
                entry: None,
                modseq: 9
            },
            &c
        ));
        assert!(needs_content(&SearchKey::Not(Box::new(SearchKey::Body(
            a("x")
        )))));
        assert!(!needs_content(&SearchKey::Not(Box::new(SearchKey::Seen))));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
