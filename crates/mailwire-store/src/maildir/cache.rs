//! The `mailwire-cache` file of a Maildir folder: derived data a protocol layer asked the store
//! to keep ([`Mailbox::keep_derived`](crate::Mailbox::keep_derived): the IMAP server's rendered
//! ENVELOPE and BODYSTRUCTURE), so that a restarted server answers without reading and
//! parsing every message again — what Dovecot's `dovecot.index.cache` is for.
//!
//! It is a cache: written without fsync, never the only copy of anything. Each record is
//!
//! ```text
//! uidvalidity u32 | uid u32 | length u32 | CRC-32 of the data | data      (integers little-endian)
//! ```
//!
//! appended in one write. Reading stops at the first record that is torn or fails its
//! checksum; records of another UIDVALIDITY or of expunged messages are skipped, and the file
//! is rewritten without them when they outnumber the live ones.
//!
//! The checksum is CRC-32 (crc32fast, SIMD) rather than the journal's FNV-1a: the whole file
//! is checked when a restarted server first needs it, and FNV's byte-at-a-time multiply made
//! that most of the first FETCH. A file written with FNV sums fails its first record and is
//! rebuilt, as a torn one is.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use bytes::Bytes;

/// The record checksum.
fn sum(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The cache file name.
pub(crate) const CACHE: &str = "mailwire-cache";

/// Records above this many, more dead than live, get the file rewritten.
const COMPACT_MIN: usize = 256;

/// The most a single record may hold (a larger one is not cached).
const MAX_RECORD: usize = 1 << 20;

fn encode(out: &mut Vec<u8>, uidvalidity: u32, uid: u32, data: &[u8]) {
    out.extend_from_slice(&uidvalidity.to_le_bytes());
    out.extend_from_slice(&uid.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&sum(data).to_le_bytes());
    out.extend_from_slice(data);
}

/// Appends records for `items` (one write).
pub(crate) fn append(dir: &Path, uidvalidity: u32, items: &[(u32, Bytes)]) -> io::Result<()> {
    let mut buf = Vec::new();
    for (uid, d) in items {
        if d.len() <= MAX_RECORD {
            encode(&mut buf, uidvalidity, *uid, d);
        }
    }
    if buf.is_empty() {
        return Ok(());
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(CACHE))?
        .write_all(&buf)
}

/// Every valid record of `uidvalidity` whose UID `live` accepts, the last one of each UID
/// winning. Rewrites the file when dead records outnumber the live ones.
pub(crate) fn load(
    dir: &Path,
    uidvalidity: u32,
    live: impl Fn(u32) -> bool,
) -> io::Result<Vec<(u32, Bytes)>> {
    let path = dir.join(CACHE);
    let data = match fs::read(&path) {
        Ok(d) => Bytes::from(d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<(u32, Bytes)> = Vec::new();
    let mut records = 0usize;
    let mut at = 0usize;
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(data.get(i..i + 4)?.try_into().ok()?))
    };
    while let (Some(uv), Some(uid), Some(len), Some(sum)) =
        (u32_at(at), u32_at(at + 4), u32_at(at + 8), u32_at(at + 12))
    {
        let (start, len) = (at + 16, len as usize);
        let Some(body) = data.get(start..start + len) else {
            break;
        };
        if len > MAX_RECORD || self::sum(body) != sum {
            break;
        }
        records += 1;
        if uv == uidvalidity && live(uid) {
            out.push((uid, data.slice(start..start + len)));
        }
        at = start + len;
    }
    // The last record of a UID wins.
    let mut seen = HashSet::new();
    out.reverse();
    out.retain(|(uid, _)| seen.insert(*uid));
    out.reverse();
    let torn = at != data.len();
    if torn || (records > COMPACT_MIN && records > 2 * out.len()) {
        let mut buf = Vec::new();
        for (uid, d) in &out {
            encode(&mut buf, uidvalidity, *uid, d);
        }
        let tmp = dir.join(format!("{CACHE}.tmp"));
        fs::write(&tmp, &buf)?;
        fs::rename(&tmp, &path)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        append(
            d,
            7,
            &[
                (1, Bytes::from_static(b"one")),
                (2, Bytes::from_static(b"two")),
            ],
        )
        .unwrap();
        append(d, 8, &[(3, Bytes::from_static(b"other uidvalidity"))]).unwrap();
        append(d, 7, &[(1, Bytes::from_static(b"one again"))]).unwrap();
        let got = load(d, 7, |_| true).unwrap();
        assert_eq!(
            got,
            vec![
                (2, Bytes::from_static(b"two")),
                (1, Bytes::from_static(b"one again"))
            ]
        );
        // Expunged UIDs are left out.
        assert_eq!(load(d, 7, |u| u != 2).unwrap().len(), 1);
        // A torn tail ends the file and is cut off.
        let p = d.join(CACHE);
        let mut raw = fs::read(&p).unwrap();
        raw.extend_from_slice(&[7, 0, 0, 0, 9, 0]);
        fs::write(&p, &raw).unwrap();
        assert_eq!(load(d, 7, |_| true).unwrap().len(), 2);
        assert!(fs::read(&p).unwrap().len() < raw.len());
        // A corrupted record (checksum) ends the valid part there.
        let mut raw = fs::read(&p).unwrap();
        raw[17] ^= 0xff;
        fs::write(&p, &raw).unwrap();
        assert!(load(d, 7, |_| true).unwrap().is_empty());
    }
}
