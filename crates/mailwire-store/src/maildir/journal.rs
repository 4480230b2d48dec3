//! The `mailwire-index` file of a Maildir folder: a snapshot followed by appended records.
//!
//! Each line is `RECORD \t CHECKSUM \n`, where CHECKSUM is the FNV-1a 32-bit hash of RECORD in
//! hex. A line that lacks its newline or whose checksum does not match ends the valid part of
//! the file (a torn append after a crash); it is cut off under the lock before the next append.
//!
//! ```text
//! H 1 <uidvalidity> <uidnext> <highestmodseq>               first line
//! A <uid> <modseq> <unix> <tzmin> <size> <sysflags> <keywords> <loc> <file base name>
//! F <uid> <modseq> <sysflags> <keywords> <loc>              flags changed
//! L <uid> <loc>                                             file moved (no flag change)
//! X <modseq> <uid>,<uid>,...                                expunged (commit point)
//! V <uidnext> <highestmodseq>                               counters raised
//! E <modseq>                                                 expunges up to it forgotten
//! ```
//! `E` is written in a snapshot whose expunge history was cut to its limit: VANISHED since an
//! older modseq is no longer exact.
//! `<sysflags>` is a bit set (1 Seen, 2 Answered, 4 Flagged, 8 Deleted, 16 Draft), `<keywords>`
//! is `-` or a comma-separated list, `<loc>` is `n` (in `new/`) or `c` (in `cur/`) followed,
//! when the file name has a `:2,` info part, by `,` and the info letters that are not IMAP
//! system flags (e.g. `P`, Dovecot keyword letters). Fields are %-escaped.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::flags::Flags;
use crate::types::InternalDate;

/// The index file name.
pub(crate) const INDEX: &str = "mailwire-index";

/// Where a message file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    /// File name without the `:2,...` info part.
    pub base: String,
    /// In `new/` (else `cur/`).
    pub new: bool,
    /// The name has a `:2,` info part.
    pub info: bool,
    /// Info letters that are not IMAP system flags, sorted.
    pub extra: String,
}

impl Loc {
    /// The path relative to the Maildir folder, given the message's flags.
    pub fn rel_path(&self, flags: &Flags) -> String {
        let sub = if self.new { "new" } else { "cur" };
        let mut letters: Vec<char> = flags
            .maildir_letters()
            .chars()
            .chain(self.extra.chars())
            .collect();
        letters.sort_unstable();
        letters.dedup();
        if !self.info && letters.is_empty() {
            format!("{sub}/{}", self.base)
        } else {
            let l: String = letters.into_iter().collect();
            format!("{sub}/{}:2,{l}", self.base)
        }
    }

    /// Parses a file name found in `new/` (`in_new`) or `cur/`: returns the location and the
    /// system flags its info letters name.
    pub fn from_file_name(name: &str, in_new: bool) -> (Loc, Flags) {
        let (base, info) = match name.rfind(":2,") {
            Some(p) => (&name[..p], Some(&name[p + 3..])),
            None => (name, None),
        };
        let letters = info.unwrap_or("");
        let flags = Flags::from_maildir_letters(letters);
        let mut extra: Vec<char> = letters.chars().filter(|c| !"DFRST".contains(*c)).collect();
        extra.sort_unstable();
        extra.dedup();
        (
            Loc {
                base: base.to_owned(),
                new: in_new,
                info: info.is_some(),
                extra: extra.into_iter().collect(),
            },
            flags,
        )
    }

    fn encode(&self) -> String {
        let mut s = String::from(if self.new { "n" } else { "c" });
        if self.info {
            s.push(',');
            s.push_str(&esc(&self.extra));
        }
        s
    }

    fn decode(loc: &str, base: String) -> Option<Loc> {
        let (kind, rest) = loc.split_at_checked(1)?;
        let new = match kind {
            "n" => true,
            "c" => false,
            _ => return None,
        };
        let (info, extra) = match rest.strip_prefix(',') {
            Some(e) => (true, unesc(e)?),
            None if rest.is_empty() => (false, String::new()),
            None => return None,
        };
        Some(Loc {
            base,
            new,
            info,
            extra,
        })
    }
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rec {
    Header {
        uidvalidity: u32,
        uidnext: u32,
        highest: u64,
    },
    Add {
        uid: u32,
        modseq: u64,
        date: InternalDate,
        size: u64,
        flags: Flags,
        loc: Loc,
    },
    Flags {
        uid: u32,
        modseq: u64,
        flags: Flags,
        loc: Loc,
    },
    Loc {
        uid: u32,
        loc: Loc,
    },
    Expunge {
        modseq: u64,
        uids: Vec<u32>,
    },
    Bump {
        uidnext: u32,
        highest: u64,
    },
    Forgotten {
        floor: u64,
    },
}

/// FNV-1a 32-bit (the checksum of index lines and cache records).
pub(crate) fn fnv(s: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in s {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// %-escapes bytes outside `!`..`~` and `%` `,`.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' && b != b',' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub(crate) fn unesc(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn kw_encode(f: &Flags) -> String {
    let v: Vec<String> = f.keywords().map(esc).collect();
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.join(",")
    }
}

fn kw_decode(s: &str) -> Option<BTreeSet<String>> {
    if s == "-" {
        return Some(BTreeSet::new());
    }
    s.split(',').map(unesc).collect()
}

impl Rec {
    /// The record as one checksummed line.
    pub fn line(&self) -> String {
        let body = match self {
            Rec::Header {
                uidvalidity,
                uidnext,
                highest,
            } => format!("H 1 {uidvalidity} {uidnext} {highest}"),
            Rec::Add {
                uid,
                modseq,
                date,
                size,
                flags,
                loc,
            } => format!(
                "A {uid} {modseq} {} {} {size} {} {} {} {}",
                date.timestamp,
                date.offset_minutes,
                flags.system_bits(),
                kw_encode(flags),
                loc.encode(),
                esc(&loc.base)
            ),
            Rec::Flags {
                uid,
                modseq,
                flags,
                loc,
            } => format!(
                "F {uid} {modseq} {} {} {} {}",
                flags.system_bits(),
                kw_encode(flags),
                loc.encode(),
                esc(&loc.base)
            ),
            Rec::Loc { uid, loc } => format!("L {uid} {} {}", loc.encode(), esc(&loc.base)),
            Rec::Expunge { modseq, uids } => {
                let list: Vec<String> = uids.iter().map(u32::to_string).collect();
                format!("X {modseq} {}", list.join(","))
            }
            Rec::Bump { uidnext, highest } => format!("V {uidnext} {highest}"),
            Rec::Forgotten { floor } => format!("E {floor}"),
        };
        format!("{body}\t{:08x}\n", fnv(body.as_bytes()))
    }

    fn parse_body(body: &str) -> Option<Rec> {
        let f: Vec<&str> = body.split(' ').collect();
        let n = |i: usize| -> Option<u64> { f.get(i)?.parse().ok() };
        let n32 = |i: usize| -> Option<u32> { f.get(i)?.parse().ok() };
        let flags = |bits: usize, kws: usize| -> Option<Flags> {
            let b: u8 = f.get(bits)?.parse().ok()?;
            Some(Flags::from_parts(b, kw_decode(f.get(kws)?)?))
        };
        match *f.first()? {
            "H" if f.len() == 5 && f[1] == "1" => Some(Rec::Header {
                uidvalidity: n32(2)?,
                uidnext: n32(3)?,
                highest: n(4)?,
            }),
            "A" if f.len() == 10 => Some(Rec::Add {
                uid: n32(1)?,
                modseq: n(2)?,
                date: InternalDate::from_unix(f[3].parse().ok()?, f[4].parse().ok()?),
                size: n(5)?,
                flags: flags(6, 7)?,
                loc: Loc::decode(f[8], unesc(f[9])?)?,
            }),
            "F" if f.len() == 7 => Some(Rec::Flags {
                uid: n32(1)?,
                modseq: n(2)?,
                flags: flags(3, 4)?,
                loc: Loc::decode(f[5], unesc(f[6])?)?,
            }),
            "L" if f.len() == 4 => Some(Rec::Loc {
                uid: n32(1)?,
                loc: Loc::decode(f[2], unesc(f[3])?)?,
            }),
            "X" if f.len() == 3 => Some(Rec::Expunge {
                modseq: n(1)?,
                uids: f[2]
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().ok())
                    .collect::<Option<_>>()?,
            }),
            "V" if f.len() == 3 => Some(Rec::Bump {
                uidnext: n32(1)?,
                highest: n(2)?,
            }),
            "E" if f.len() == 2 => Some(Rec::Forgotten { floor: n(1)? }),
            _ => None,
        }
    }
}

/// Parses as many valid records as `data` holds from its start. Returns the records and the
/// number of bytes they span (the rest is a torn or corrupt tail).
pub(crate) fn parse(data: &[u8]) -> (Vec<Rec>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &data[pos..pos + nl];
        let Ok(line) = std::str::from_utf8(line) else {
            break;
        };
        let Some((body, sum)) = line.rsplit_once('\t') else {
            break;
        };
        if u32::from_str_radix(sum, 16).ok() != Some(fnv(body.as_bytes())) || sum.len() != 8 {
            break;
        }
        let Some(rec) = Rec::parse_body(body) else {
            break;
        };
        out.push(rec);
        pos += nl + 1;
    }
    (out, pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Flag;

    #[test]
    fn roundtrip() {
        let loc = Loc {
            base: "123.M4P5.host name,S=10".into(),
            new: false,
            info: true,
            extra: "Pa".into(),
        };
        let flags = Flags::new()
            .with(Flag::Seen)
            .with(Flag::Keyword("$a,b%".into()));
        let recs = vec![
            Rec::Header {
                uidvalidity: 7,
                uidnext: 1,
                highest: 1,
            },
            Rec::Add {
                uid: 1,
                modseq: 2,
                date: InternalDate::from_unix(-5, -120),
                size: 10,
                flags: flags.clone(),
                loc: loc.clone(),
            },
            Rec::Flags {
                uid: 1,
                modseq: 3,
                flags: Flags::new(),
                loc: Loc {
                    info: false,
                    extra: String::new(),
                    new: true,
                    ..loc.clone()
                },
            },
            Rec::Loc {
                uid: 1,
                loc: loc.clone(),
            },
            Rec::Expunge {
                modseq: 4,
                uids: vec![1, 5],
            },
            Rec::Bump {
                uidnext: 9,
                highest: 10,
            },
            Rec::Forgotten { floor: 7 },
        ];
        let text: String = recs.iter().map(Rec::line).collect();
        let (back, len) = parse(text.as_bytes());
        assert_eq!(back, recs);
        assert_eq!(len, text.len());
        // torn tail
        let (back, len) = parse(&text.as_bytes()[..text.len() - 3]);
        assert_eq!(back.len(), recs.len() - 1);
        assert!(len < text.len());
        // corrupt byte
        let mut bad = text.clone().into_bytes();
        let p = text.find("A 1").unwrap() + 2;
        bad[p] = b'9';
        assert_eq!(parse(&bad).0.len(), 1);
    }

    #[test]
    fn file_names() {
        let (l, f) = Loc::from_file_name("abc:2,SPRa", false);
        assert_eq!(l.base, "abc");
        assert_eq!(l.extra, "Pa");
        assert_eq!(f.maildir_letters(), "RS");
        assert_eq!(l.rel_path(&f), "cur/abc:2,PRSa");
        let (l, f) = Loc::from_file_name("xyz", true);
        assert_eq!(l.rel_path(&f), "new/xyz");
    }
}
