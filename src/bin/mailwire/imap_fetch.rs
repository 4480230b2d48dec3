//! `mailwire fetch imap://HOST[:PORT]/MAILBOX` and `imaps://…`: every message not fetched
//! before into a Maildir at `--out DIR` (`cur/`, the IMAP flags in the file names: `S` for
//! `\Seen`, `R` `\Answered`, `F` `\Flagged`, `T` `\Deleted`, `D` `\Draft`), with a progress
//! bar on a terminal and a summary line; `--delete` expunges from the server only what is
//! durable on disk (fsynced, renamed, directory fsynced).
//!
//! The messages are fetched with `UID FETCH set (UID FLAGS BODY.PEEK[])`, `BATCH` UIDs per
//! command, several commands in flight on the one connection: never one round trip per
//! message. A state file in DIR (`.mailwire-imap-state`) remembers, per server, user and
//! mailbox, the UIDVALIDITY and the highest UID saved, so a second run fetches only what is
//! new (and everything again if the UIDVALIDITY changed).
//!
//! Exit status: 0 on success, 1 when the session failed, 2 for a usage error.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mailwire_imap::client::{Client, ClientConfig, ImapUrl, Login};
use mailwire_imap::proto::{
    Data, Flag, FlagFetch, MessageData, SearchKey, SeqNum, SeqRange, SequenceSet,
};

use super::{FetchArgs, client_runtime, fetch_outcome, fetch_password, fetch_usage, sync_dir};

/// The state file, one `HOST USER UIDVALIDITY LASTUID MAILBOX` line per run; the last line
/// of a host, user and mailbox wins.
const STATE_FILE: &str = ".mailwire-imap-state";

/// UIDs per FETCH command.
const BATCH: usize = 100;

/// FETCH commands in flight at once.
const WINDOW: usize = 4;

/// Runs `mailwire fetch imap(s)://…`.
pub(crate) fn run(args: &FetchArgs) -> ExitCode {
    let url = match ImapUrl::parse(&args.url) {
        Ok(u) => u,
        Err(e) => return fetch_usage(e),
    };
    let mut config = ClientConfig::new(url.host.clone(), url.port, url.security);
    args.tls
        .apply(&mut config.endpoint, args.ca_file.as_deref());
    let password = match fetch_password(args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let login = Login::password(&args.user, password)
        .allow_plaintext_without_tls(args.tls.allows_plaintext());
    let mailbox = url.mailbox.clone().unwrap_or_else(|| "INBOX".to_owned());
    match client_runtime("fetch") {
        Ok(rt) => fetch_outcome(rt.block_on(fetch(config, login, &mailbox, args))),
        Err(code) => code,
    }
}

/// The Maildir info letters of IMAP flags, in ASCII order (Maildir's rule).
fn info(flags: &[FlagFetch]) -> String {
    let mut letters: Vec<char> = flags
        .iter()
        .filter_map(|f| match f {
            FlagFetch::Flag(Flag::Seen) => Some('S'),
            FlagFetch::Flag(Flag::Answered) => Some('R'),
            FlagFetch::Flag(Flag::Flagged) => Some('F'),
            FlagFetch::Flag(Flag::Deleted) => Some('T'),
            FlagFetch::Flag(Flag::Draft) => Some('D'),
            _ => None,
        })
        .collect();
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// A sequence set of UIDs (ascending runs as ranges).
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        while i + 1 < uids.len() && uids[i + 1] == uids[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if uids[i] == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{}", uids[i]));
        }
        i += 1;
    }
    out
}

async fn fetch(
    config: ClientConfig,
    login: Login,
    mailbox: &str,
    args: &FetchArgs,
) -> anyhow::Result<String> {
    let dir = &args.out;
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    // imap:// and imaps:// on one host are the same mailboxes.
    let key = format!("{} {}", config.host, args.user);
    let state_path = dir.join(STATE_FILE);
    let known = load_state(&state_path, &key, mailbox)?;

    let client = Client::connect(config, &login)
        .await
        .with_context(|| format!("connecting to {}", args.url))?;
    let selected = if args.delete {
        client.select(mailbox).await
    } else {
        client.examine(mailbox).await
    }
    .with_context(|| format!("opening {mailbox}"))?;
    let uidvalidity = selected.uidvalidity.unwrap_or(0);
    let after = match known {
        Some((v, last)) if v == uidvalidity => last,
        _ => 0,
    };
    let mut uids: Vec<u32> = Vec::new();
    if selected.exists > 0 {
        let from = SeqNum::Value(
            std::num::NonZeroU32::new(after.saturating_add(1))
                .context("no UID after 4294967295")?,
        );
        let range = SequenceSet::Set(vec![SeqRange::Range(from, SeqNum::Largest)]);
        uids = client
            .search(SearchKey::Uid(range), true)
            .await
            .context("UID SEARCH")?;
    }
    // `n:*` names the last message even when its UID is below n (RFC 9051 §6.4.8).
    uids.retain(|&u| u > after);
    uids.sort_unstable();
    uids.dedup();

    let bar = ProgressBar::new(uids.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} messages {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("fetch");
    bar.enable_steady_tick(Duration::from_millis(200));

    let mut state = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&state_path)
        .with_context(|| format!("opening {}", state_path.display()))?;
    let mut saved: Vec<u32> = Vec::new();
    let mut octets = 0u64;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let batches: Vec<Vec<u32>> = uids.chunks(BATCH).map(<[u32]>::to_vec).collect();
    for window in batches.chunks(WINDOW) {
        // These commands go out together; their answers come back in order.
        let replies = futures_join(&client, window).await;
        for r in replies {
            let r = r.context("UID FETCH")?;
            for d in &r.data {
                let Data::Fetch { items, .. } = d else {
                    continue;
                };
                let mut uid = None;
                let mut flags: &[FlagFetch] = &[];
                let mut body = None;
                for i in items.as_slice() {
                    match i {
                        MessageData::Uid(u) => uid = Some(u.get()),
                        MessageData::Flags(f) => flags = f,
                        MessageData::BodySection { data, .. } => {
                            body = data.as_ref().map(|b| b.as_bytes());
                        }
                        _ => {}
                    }
                }
                let (Some(uid), Some(body)) = (uid, body) else {
                    continue;
                };
                let name = format!("{stamp}.{uidvalidity}_{uid}.mailwire");
                let tmp = dir.join("tmp").join(&name);
                let mut f = File::create(&tmp)?;
                f.write_all(body)?;
                // Durable before anything depends on it.
                f.sync_all()?;
                drop(f);
                let path = dir.join("cur").join(format!("{name}:2,{}", info(flags)));
                std::fs::rename(&tmp, &path)?;
                octets += body.len() as u64;
                saved.push(uid);
                bar.inc(1);
            }
        }
        sync_dir(&dir.join("cur"))?;
        if let Some(&last) = saved.iter().max() {
            writeln!(state, "{key} {uidvalidity} {last} {mailbox}")?;
            state.sync_data()?;
        }
    }
    bar.finish_and_clear();
    let mut deleted = 0;
    let mut kept_marked = None;
    if args.delete && !saved.is_empty() {
        saved.sort_unstable();
        let set = uid_set(&saved);
        client
            .command(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"))
            .await
            .context("UID STORE \\Deleted")?;
        if client.has_capability(&mailwire_imap::proto::Capability::UidPlus) {
            client
                .command(&format!("UID EXPUNGE {set}"))
                .await
                .context("UID EXPUNGE")?;
            deleted = saved.len();
        } else {
            // A plain EXPUNGE removes every \Deleted message, not only these: it is sent
            // only when no other message is marked (RFC 4315 §1 is why UID EXPUNGE exists).
            let marked = client
                .search(mailwire_imap::proto::SearchKey::Deleted, true)
                .await
                .context("UID SEARCH DELETED")?;
            let others = marked
                .iter()
                .filter(|u| saved.binary_search(u).is_err())
                .count();
            if others == 0 {
                client.command("EXPUNGE").await.context("EXPUNGE")?;
                deleted = saved.len();
            } else {
                kept_marked = Some(others);
            }
        }
    }
    client.logout().await.context("LOGOUT")?;
    if saved.len() != uids.len() {
        bail!(
            "the server sent {} of the {} new message(s)",
            saved.len(),
            uids.len()
        );
    }
    Ok(format!(
        "fetched {} new message(s), {octets} bytes, from {mailbox} into {}{}",
        saved.len(),
        dir.display(),
        match kept_marked {
            Some(others) => format!(
                "; marked {} \\Deleted on the server but not expunged: {others} other \
                 message(s) there are marked \\Deleted too and the server has no UIDPLUS",
                saved.len()
            ),
            None if deleted > 0 => format!("; deleted {deleted} from the server"),
            None => String::new(),
        }
    ))
}

/// Sends one `UID FETCH` per batch at once and waits for all of them, in order.
async fn futures_join(
    client: &Client,
    batches: &[Vec<u32>],
) -> Vec<Result<mailwire_imap::client::Reply, mailwire_imap::client::Error>> {
    let tasks: Vec<_> = batches
        .iter()
        .map(|b| {
            let c = client.clone();
            let cmd = format!("UID FETCH {} (UID FLAGS BODY.PEEK[])", uid_set(b));
            tokio::spawn(async move { c.command(&cmd).await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap_or(Err(mailwire_imap::client::Error::Closed)));
    }
    out
}

/// The UIDVALIDITY and last UID saved for `key` (`HOST USER`) and `mailbox`.
fn load_state(path: &Path, key: &str, mailbox: &str) -> anyhow::Result<Option<(u32, u32)>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut found = None;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let mut w = line.splitn(5, ' ');
        if let (Some(h), Some(u), Some(v), Some(last), Some(m)) =
            (w.next(), w.next(), w.next(), w.next(), w.next())
            && format!("{h} {u}") == key
            && m == mailbox
            && let (Ok(v), Ok(last)) = (v.parse(), last.parse())
        {
            found = Some((v, last));
        }
    }
    Ok(found)
}
