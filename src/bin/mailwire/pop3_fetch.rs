//! `mailwire fetch pop3://…` and `pop3s://…`: every message not fetched before into one
//! `.eml` file each, with a progress bar; `--delete` removes a message from the server only
//! once its file is durable (fsynced, renamed, directory fsynced).
//!
//! A state file in the output folder (`.mailwire-pop3-uidl`) lists the UIDL ids already
//! fetched from that server and user, so a second run fetches only new mail.
//!
//! Exit status: 0 on success, 1 when the session failed, 2 for a usage error.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mailwire::pop3::client::{BatchItem, Client, ClientConfig, Login};

use super::{FetchArgs, client_runtime, fetch_outcome, fetch_password, fetch_usage, sync_dir};

/// The state file, one `HOST USER UIDL` line per fetched message.
const STATE_FILE: &str = ".mailwire-pop3-uidl";

/// Runs `mailwire fetch pop3(s)://…`.
pub(crate) fn run(args: &FetchArgs) -> ExitCode {
    let mut config = match ClientConfig::from_url(&args.url) {
        Ok(c) => c,
        Err(e) => return fetch_usage(e),
    };
    args.tls
        .apply(&mut config.endpoint, args.ca_file.as_deref());
    let password = match fetch_password(args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let login = Login::password(&args.user, password)
        .allow_plaintext_without_tls(args.tls.allows_plaintext());
    match client_runtime("fetch") {
        Ok(rt) => fetch_outcome(rt.block_on(fetch(config, login, args))),
        Err(code) => code,
    }
}

/// One fetched message, durable on disk: its number, to delete it.
struct Saved {
    number: u32,
}

async fn fetch(config: ClientConfig, login: Login, args: &FetchArgs) -> anyhow::Result<String> {
    let dir = &args.out;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // pop3:// and pop3s:// on one host are the same maildrops.
    let server_key = config.host.clone();
    let state_path = dir.join(STATE_FILE);
    let seen = load_state(&state_path, &server_key, &args.user)?;

    let mut client = Client::connect(config)
        .await
        .with_context(|| format!("connecting to {}", args.url))?;
    client.login(&login).await.context("logging in")?;
    let sizes: Vec<(u32, u64)> = client
        .list()
        .await
        .context("LIST")?
        .into_iter()
        .map(|l| (l.message, l.size))
        .collect();
    let wanted: Vec<(u32, String)> = if client.capabilities().uidl {
        client
            .new_messages(&seen)
            .await
            .context("UIDL")?
            .into_iter()
            .map(|u| (u.message, u.id.to_string()))
            .collect()
    } else {
        // Without UIDL there is no way to tell old mail from new: fetch everything, and
        // name files by number.
        sizes.iter().map(|&(n, _)| (n, format!("msg{n}"))).collect()
    };
    let total_bytes: u64 = wanted
        .iter()
        .filter_map(|(n, _)| sizes.iter().find(|(m, _)| m == n).map(|(_, s)| *s))
        .sum();

    let bars = MultiProgress::new();
    let messages = bars.add(ProgressBar::new(wanted.len() as u64));
    messages.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} messages")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    messages.set_prefix("fetch");
    let bytes = bars.add(ProgressBar::new(total_bytes));
    bytes.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bytes.set_prefix("bytes");
    bytes.enable_steady_tick(Duration::from_millis(200));

    let mut state = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&state_path)
        .with_context(|| format!("opening {}", state_path.display()))?;
    let numbers: Vec<u32> = wanted.iter().map(|(n, _)| *n).collect();
    let uid_of = |n: u32| {
        wanted
            .iter()
            .find(|(m, _)| *m == n)
            .map(|(_, u)| u.clone())
            .unwrap_or_default()
    };
    let mut saved: Vec<Saved> = Vec::new();
    let mut refused = 0usize;
    let mut current: Option<(File, PathBuf)> = None;
    let mut fetched_bytes = 0u64;
    client
        .retr_batch(&numbers, |n, item| {
            match item {
                BatchItem::Start => {
                    let tmp = dir.join(format!(".tmp-{}.eml", file_stem(&uid_of(n))));
                    current = Some((File::create(&tmp)?, tmp));
                }
                BatchItem::Data(d) => {
                    if let Some((f, _)) = &mut current {
                        f.write_all(d)?;
                    }
                    bytes.inc(d.len() as u64);
                }
                BatchItem::End(size) => {
                    let uid = uid_of(n);
                    if let Some((f, tmp)) = current.take() {
                        // Durable before anything else depends on it.
                        f.sync_all()?;
                        drop(f);
                        let mut path = dir.join(format!("{}.eml", file_stem(&uid)));
                        if path.exists() {
                            // Two ids that differ only in unsafe characters.
                            path = dir.join(format!("{}-{n}.eml", file_stem(&uid)));
                        }
                        std::fs::rename(&tmp, &path)?;
                        sync_dir(dir)?;
                        writeln!(state, "{server_key} {} {uid}", args.user)?;
                        state.sync_data()?;
                        fetched_bytes += size;
                        saved.push(Saved { number: n });
                    }
                    messages.inc(1);
                }
                BatchItem::Refused(status) => {
                    bars.suspend(|| eprintln!("message {n}: {status}"));
                    refused += 1;
                    messages.inc(1);
                }
            }
            Ok(())
        })
        .await
        .context("RETR")?;
    messages.finish();
    bytes.finish();
    let mut deleted = 0;
    if args.delete && !saved.is_empty() {
        let numbers: Vec<u32> = saved.iter().map(|s| s.number).collect();
        client.dele_batch(&numbers).await.context("DELE")?;
        deleted = numbers.len();
    }
    let bye = client.quit().await.context("QUIT")?;
    if !bye.is_ok() {
        bail!("the server did not confirm QUIT: {bye}");
    }
    Ok(format!(
        "fetched {} new message(s), {fetched_bytes} bytes, into {}{}{}",
        saved.len(),
        dir.display(),
        if deleted > 0 {
            format!("; deleted {deleted} from the server")
        } else {
            String::new()
        },
        if refused > 0 {
            format!("; {refused} refused by the server")
        } else {
            String::new()
        }
    ))
}

fn load_state(path: &Path, server: &str, user: &str) -> anyhow::Result<HashSet<String>> {
    let mut seen = HashSet::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seen),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let mut words = line.splitn(3, ' ');
        if let (Some(s), Some(u), Some(id)) = (words.next(), words.next(), words.next())
            && s == server
            && u == user
        {
            seen.insert(id.to_owned());
        }
    }
    Ok(seen)
}

/// A file name from a UIDL id (printable ASCII): characters unsafe in file names replaced.
fn file_stem(uid: &str) -> String {
    let stem = uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned();
    if stem.is_empty() {
        "msg".to_owned()
    } else {
        stem
    }
}
