//! `search-key` (RFC 9051 §9, RFC 3501 §9), with MODSEQ (RFC 7162), EMAILID/THREADID (RFC
//! 8474) and OLDER/YOUNGER (RFC 5032).

use nom::Err;

use super::core::{
    PResult, astring, atom, atom_bytes, byte, date, fail, number, number64, paren_list, peek,
    sequence_set, sp, string, too_deep,
};
use crate::proto::types::core::{ObjectId, Vec1, is_objectid_char};
use crate::proto::types::search::{EntryType, SearchKey};

/// `search-key`, at most `depth` levels of `NOT`/`OR`/parentheses deep.
pub(crate) fn search_key(i: &[u8], depth: usize) -> PResult<'_, SearchKey> {
    let b = peek(i)?;
    if b == b'(' {
        if depth == 0 {
            return too_deep(i);
        }
        let (i, keys) = paren_list(i, false, |i| search_key(i, depth - 1))?;
        return match Vec1::try_from(keys) {
            Ok(k) => Ok((i, SearchKey::And(k))),
            Err(_) => fail(i, "search key"),
        };
    }
    if b.is_ascii_digit() || b == b'*' || b == b'$' {
        let (i, s) = sequence_set(i)?;
        return Ok((i, SearchKey::SequenceSet(s)));
    }
    let start = i;
    let (i, name) = atom_bytes(i)?;
    let upper = upper(name);
    let word = &upper[..name.len().min(upper.len())];
    macro_rules! arg {
        ($p:expr, $k:expr) => {{
            let (i, ()) = sp(i)?;
            let (i, v) = $p(i)?;
            Ok((i, $k(v)))
        }};
    }
    match word {
        b"ALL" => Ok((i, SearchKey::All)),
        b"ANSWERED" => Ok((i, SearchKey::Answered)),
        b"BCC" => arg!(astring, SearchKey::Bcc),
        b"BEFORE" => arg!(date, SearchKey::Before),
        b"BODY" => arg!(astring, SearchKey::Body),
        b"CC" => arg!(astring, SearchKey::Cc),
        b"DELETED" => Ok((i, SearchKey::Deleted)),
        b"DRAFT" => Ok((i, SearchKey::Draft)),
        b"FLAGGED" => Ok((i, SearchKey::Flagged)),
        b"FROM" => arg!(astring, SearchKey::From),
        b"HEADER" => {
            let (i, ()) = sp(i)?;
            let (i, f) = astring(i)?;
            let (i, ()) = sp(i)?;
            let (i, v) = astring(i)?;
            Ok((i, SearchKey::Header(f, v)))
        }
        b"KEYWORD" => arg!(atom, SearchKey::Keyword),
        b"LARGER" => arg!(number64, SearchKey::Larger),
        b"NEW" => Ok((i, SearchKey::New)),
        b"NOT" => {
            if depth == 0 {
                return too_deep(i);
            }
            let (i, ()) = sp(i)?;
            let (i, k) = search_key(i, depth - 1)?;
            Ok((i, SearchKey::Not(Box::new(k))))
        }
        b"OLD" => Ok((i, SearchKey::Old)),
        b"ON" => arg!(date, SearchKey::On),
        b"OR" => {
            if depth == 0 {
                return too_deep(i);
            }
            let (i, ()) = sp(i)?;
            let (i, a) = search_key(i, depth - 1)?;
            let (i, ()) = sp(i)?;
            let (i, b) = search_key(i, depth - 1)?;
            Ok((i, SearchKey::Or(Box::new(a), Box::new(b))))
        }
        b"RECENT" => Ok((i, SearchKey::Recent)),
        b"SEEN" => Ok((i, SearchKey::Seen)),
        b"SENTBEFORE" => arg!(date, SearchKey::SentBefore),
        b"SENTON" => arg!(date, SearchKey::SentOn),
        b"SENTSINCE" => arg!(date, SearchKey::SentSince),
        b"SINCE" => arg!(date, SearchKey::Since),
        b"SMALLER" => arg!(number64, SearchKey::Smaller),
        b"SUBJECT" => arg!(astring, SearchKey::Subject),
        b"TEXT" => arg!(astring, SearchKey::Text),
        b"TO" => arg!(astring, SearchKey::To),
        b"UID" => arg!(sequence_set, SearchKey::Uid),
        b"UNANSWERED" => Ok((i, SearchKey::Unanswered)),
        b"UNDELETED" => Ok((i, SearchKey::Undeleted)),
        b"UNDRAFT" => Ok((i, SearchKey::Undraft)),
        b"UNFLAGGED" => Ok((i, SearchKey::Unflagged)),
        b"UNKEYWORD" => arg!(atom, SearchKey::Unkeyword),
        b"UNSEEN" => Ok((i, SearchKey::Unseen)),
        b"OLDER" => arg!(number, SearchKey::Older),
        b"YOUNGER" => arg!(number, SearchKey::Younger),
        b"EMAILID" => arg!(objectid, SearchKey::EmailId),
        b"THREADID" => arg!(objectid, SearchKey::ThreadId),
        b"MODSEQ" => {
            let (i, ()) = sp(i)?;
            let (i, entry) = if matches!(peek(i)?, b'"' | b'{') {
                let (i, name) = string(i)?;
                let (i, ()) = sp(i)?;
                let (i, t) = entry_type(i)?;
                let (i, ()) = sp(i)?;
                (i, Some((name, t)))
            } else {
                (i, None)
            };
            let (i, modseq) = number64(i)?;
            Ok((i, SearchKey::ModSeq { entry, modseq }))
        }
        _ => fail(start, "search key"),
    }
}

fn entry_type(i: &[u8]) -> PResult<'_, EntryType> {
    let (rest, a) = atom_bytes(i)?;
    if a.eq_ignore_ascii_case(b"priv") {
        Ok((rest, EntryType::Private))
    } else if a.eq_ignore_ascii_case(b"shared") {
        Ok((rest, EntryType::Shared))
    } else if a.eq_ignore_ascii_case(b"all") {
        Ok((rest, EntryType::All))
    } else {
        fail(i, "entry-type-req")
    }
}

/// `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`; also accepted in parentheses.
pub(crate) fn objectid(i: &[u8]) -> PResult<'_, ObjectId> {
    match i.iter().position(|&b| !is_objectid_char(b)) {
        Some(0) => fail(i, "objectid"),
        Some(n) if n <= 255 => Ok((&i[n..], ObjectId::unvalidated(&i[..n]))),
        Some(_) => fail(i, "objectid of at most 255 characters"),
        None => Err(Err::Incomplete(nom::Needed::Unknown)),
    }
}

/// `"(" objectid ")"`
pub(crate) fn paren_objectid(i: &[u8]) -> PResult<'_, ObjectId> {
    let (i, ()) = byte(i, b'(', "(")?;
    let (i, id) = objectid(i)?;
    let (i, ()) = byte(i, b')', ")")?;
    Ok((i, id))
}

/// Upper-cases a keyword into a small buffer (longer words never match a keyword).
pub(crate) fn upper(word: &[u8]) -> [u8; 24] {
    let mut buf = [0u8; 24];
    for (d, s) in buf.iter_mut().zip(word) {
        *d = s.to_ascii_uppercase();
    }
    if word.len() > 24 {
        buf = [0; 24];
    }
    buf
}
