//! Crash safety of the maildir backend: a child process (this test binary, re-executed with
//! `MAILWIRE_CRASH_DIR` set, running only `crash_child`) appends, flags and expunges in a loop
//! and prints each operation after the store acknowledged it; the parent kills it with SIGKILL
//! at a random moment, 30 times. After each kill the store is reopened: every acknowledged
//! message is there, intact, with its acknowledged UID and flags; expunged ones are gone; no
//! partial message is visible; UIDVALIDITY never changes and UIDs are never reused.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwire_store::{Flag, FlagOp, Flags, Store};

const ENV: &str = "MAILWIRE_CRASH_DIR";
const ROUNDS: usize = 30;

fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A self-checking message: its header states the body's length and digest.
fn make_message(seed: u64) -> Vec<u8> {
    let len = (seed.wrapping_mul(2_654_435_761) % 70_000) as usize;
    let body: Vec<u8> = (0..len)
        .map(|i| b"abcdefghij\r\n"[(i + seed as usize) % 12])
        .collect();
    let mut m = format!(
        "X-Crash-Len: {}\r\nX-Crash-Sum: {:016x}\r\nSubject: {seed}\r\n\r\n",
        body.len(),
        fnv64(&body)
    )
    .into_bytes();
    m.extend_from_slice(&body);
    m
}

/// Checks a message found in the store is complete.
fn check_complete(m: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(m);
    let sep = text.find("\r\n\r\n").ok_or("no header end")?;
    let header = &text[..sep];
    let body = &m[sep + 4..];
    let field = |name: &str| {
        header
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .ok_or(format!("no {name}"))
    };
    let len: usize = field("X-Crash-Len:")?.parse().map_err(|_| "bad len")?;
    let sum = u64::from_str_radix(field("X-Crash-Sum:")?, 16).map_err(|_| "bad sum")?;
    if body.len() != len || fnv64(body) != sum {
        return Err(format!("partial message: {} of {len} bytes", body.len()));
    }
    Ok(())
}

/// The child: loops until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::maildir(&dir).unwrap();
        let user = match store.add_user("alice", "pw").await {
            Ok(u) => u,
            Err(e) => panic!("{e}"),
        };
        let seed0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let mut out = std::io::stdout();
        let mut mine: Vec<(String, u32)> = Vec::new();
        for i in 0u64.. {
            let seed = seed0.wrapping_add(i.wrapping_mul(7919));
            let mbox = if i % 3 == 0 { "Sub" } else { "INBOX" };
            let data = make_message(seed);
            let flags = if i % 4 == 0 {
                Flags::new().with(Flag::Flagged)
            } else {
                Flags::new()
            };
            let r = user
                .append(mbox, data.clone(), flags.clone(), None)
                .await
                .unwrap();
            writeln!(
                out,
                "ACK {mbox} {} {} {:016x} {} {}",
                r.uidvalidity,
                r.uid,
                fnv64(&data),
                data.len(),
                flags.maildir_letters()
            )
            .unwrap();
            out.flush().unwrap();
            mine.push((mbox.to_owned(), r.uid));
            if i % 5 == 4 {
                let (mb, uid) = mine[(seed as usize) % mine.len()].clone();
                let m = user.mailbox(&mb).await.unwrap();
                m.store_flags(&[uid], FlagOp::Add, Flags::new().with(Flag::Seen), None)
                    .await
                    .unwrap();
                writeln!(out, "SEEN {mb} {uid}").unwrap();
                out.flush().unwrap();
            }
            if i % 7 == 6 {
                let (mb, uid) = mine.remove((seed as usize / 3) % mine.len());
                // Announced first: if the kill comes after the expunge commits but before
                // GONE is printed, the message is legitimately gone.
                writeln!(out, "EXPUNGING {mb} {uid}").unwrap();
                out.flush().unwrap();
                let m = user.mailbox(&mb).await.unwrap();
                m.store_flags(&[uid], FlagOp::Add, Flags::new().with(Flag::Deleted), None)
                    .await
                    .unwrap();
                let gone = m.expunge_uids(&[uid]).await.unwrap();
                assert_eq!(gone, [uid]);
                writeln!(out, "GONE {mb} {uid}").unwrap();
                out.flush().unwrap();
            }
        }
    });
}

#[derive(Debug, Clone)]
struct Acked {
    digest: u64,
    len: usize,
    flags: String,
    seen: bool,
}

#[test]
fn sigkill_never_loses_acknowledged_mail() {
    let dir = tempfile::tempdir().unwrap();
    // Sub must exist before the child appends to it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Store::maildir(dir.path()).unwrap();
        let u = s.add_user("alice", "pw").await.unwrap();
        u.create_mailbox("Sub").await.unwrap();
    });
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<(String, u32), Acked> = BTreeMap::new();
    let mut gone: BTreeSet<(String, u32)> = BTreeSet::new();
    // Expunges in flight at a kill: either outcome is right.
    let mut maybe_gone: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut uidvalidity: BTreeMap<String, u32> = BTreeMap::new();
    let mut max_uid: BTreeMap<String, u32> = BTreeMap::new();
    let mut rng = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut r = BufReader::new(stdout);
            let mut buf = String::new();
            // Only complete lines count: a line cut by the kill was never fully acknowledged.
            while r.read_line(&mut buf).unwrap_or(0) > 0 {
                if buf.ends_with('\n') {
                    lines.push(buf.trim_end().to_owned());
                }
                buf.clear();
            }
            lines
        });
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let wait = 150 + (rng >> 33) % 450;
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let mut round_acks = 0;
        for l in &lines {
            // libtest may print "test crash_child ... " before the first line.
            let Some(start) = ["ACK ", "SEEN ", "GONE ", "EXPUNGING "]
                .iter()
                .filter_map(|k| l.find(k))
                .min()
            else {
                continue;
            };
            let f: Vec<&str> = l[start..].split(' ').collect();
            match f[0] {
                "ACK" => {
                    let mb = f[1].to_owned();
                    let uv: u32 = f[2].parse().unwrap();
                    let uid: u32 = f[3].parse().unwrap();
                    if let Some(old) = uidvalidity.insert(mb.clone(), uv) {
                        assert_eq!(old, uv, "UIDVALIDITY of {mb} changed");
                    }
                    let m = max_uid.entry(mb.clone()).or_insert(0);
                    assert!(uid > *m, "UID {uid} of {mb} reused (max so far {m})");
                    *m = uid;
                    acked.insert(
                        (mb, uid),
                        Acked {
                            digest: u64::from_str_radix(f[4], 16).unwrap(),
                            len: f[5].parse().unwrap(),
                            flags: f.get(6).copied().unwrap_or("").to_owned(),
                            seen: false,
                        },
                    );
                    round_acks += 1;
                }
                "SEEN" => {
                    let k = (f[1].to_owned(), f[2].parse().unwrap());
                    acked
                        .get_mut(&k)
                        .unwrap_or_else(|| panic!("SEEN of an unknown message: {l}"))
                        .seen = true;
                }
                "EXPUNGING" => {
                    let k: (String, u32) = (f[1].to_owned(), f[2].parse().unwrap());
                    acked.remove(&k);
                    maybe_gone.insert(k);
                }
                "GONE" => {
                    let k = (f[1].to_owned(), f[2].parse().unwrap());
                    acked.remove(&k);
                    gone.insert(k);
                }
                _ => {}
            }
        }
        total_acks += round_acks;

        // Reopen, as a restarted server would, and check everything.
        rt.block_on(async {
            let s = Store::maildir(dir.path()).unwrap();
            let u = s.add_user("alice", "pw").await.unwrap();
            for mb in ["INBOX", "Sub"] {
                let m = u.mailbox(mb).await.unwrap();
                let st = m.select().await.unwrap();
                if let Some(uv) = uidvalidity.get(mb) {
                    assert_eq!(
                        st.uidvalidity, *uv,
                        "round {round}: UIDVALIDITY of {mb} changed"
                    );
                }
                if let Some(max) = max_uid.get(mb) {
                    assert!(st.uidnext > *max, "round {round}: UIDNEXT went back");
                }
                let metas = m.messages().await.unwrap();
                let present: BTreeMap<u32, Flags> =
                    metas.iter().map(|x| (x.uid, x.flags.clone())).collect();
                for ((amb, uid), a) in acked.iter().filter(|((x, _), _)| x == mb) {
                    let flags = present.get(uid).unwrap_or_else(|| {
                        panic!("round {round}: acknowledged {amb} UID {uid} lost")
                    });
                    let data = m.fetch(*uid).await.unwrap();
                    assert_eq!(data.len(), a.len, "round {round}: {amb} UID {uid} size");
                    assert_eq!(
                        fnv64(&data),
                        a.digest,
                        "round {round}: {amb} UID {uid} corrupt"
                    );
                    if a.flags.contains('F') {
                        assert!(
                            flags.contains(&Flag::Flagged),
                            "round {round}: {amb} {uid} lost \\Flagged"
                        );
                    }
                    if a.seen {
                        assert!(flags.is_seen(), "round {round}: {amb} {uid} lost \\Seen");
                    }
                }
                for (_, uid) in gone.iter().filter(|(x, _)| x == mb) {
                    assert!(
                        !present.contains_key(uid),
                        "round {round}: expunged {mb} UID {uid} came back"
                    );
                }
                // No partial message is visible, acknowledged or not.
                for meta in &metas {
                    let data = m.fetch(meta.uid).await.unwrap();
                    check_complete(&data)
                        .unwrap_or_else(|e| panic!("round {round}: {mb} UID {}: {e}", meta.uid));
                    assert_eq!(data.len() as u64, meta.size);
                }
            }
        });
    }
    eprintln!("{ROUNDS} kills, {total_acks} acknowledged appends checked");
    assert!(
        total_acks > ROUNDS,
        "the child hardly ran: {total_acks} appends"
    );
}
