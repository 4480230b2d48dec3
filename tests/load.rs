//! `mailwire serve` under load from the load generator (`mailwire_bench::load`, also the
//! `mailwire-load` binary): many connections of every protocol at once, bounded in count and
//! time, on 127.0.0.1. Nothing refused below the configured limits, nothing acknowledged is
//! missing from the store, and the server's descriptors and memory come back down afterwards.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use mailwire_bench::load::{LoadConfig, Mix, message, run};

#[path = "common/serve.rs"]
mod common;
use common::Serve;

/// A config file with `n` users `u0`…`u{n-1}` (password `pw`) and IMAP limits that let the
/// test's connections (all from 127.0.0.1) in.
fn config(dir: &std::path::Path, users: usize) -> std::path::PathBuf {
    let list: Vec<String> = (0..users).map(|i| format!("\"u{i}:pw\"")).collect();
    let text = format!(
        "users = [{}]\n\n[imap-limits]\nmax-connections = 8192\nmax-connections-per-address = 8192\n",
        list.join(", ")
    );
    let path = dir.join("load.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The server's open descriptors, resident memory (KiB) and threads, from /proc.
fn usage(pid: u32) -> (usize, u64, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (fds, field("VmRSS:"), field("Threads:"))
}

/// Every stored message's Message-ID, through the HTTP API (paged, 1000 at a time).
fn stored_ids(http: &str) -> Vec<(String, u64, String)> {
    let mut out = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let url = match before {
            Some(b) => format!("http://{http}/api/v1/messages?limit=1000&before={b}"),
            None => format!("http://{http}/api/v1/messages?limit=1000"),
        };
        let body = Command::new("curl").args(["-sf", &url]).output().unwrap();
        assert!(body.status.success(), "{url}");
        let page: serde_json::Value = serde_json::from_slice(&body.stdout).unwrap();
        for m in page["messages"].as_array().unwrap() {
            out.push((
                m["message_id"].as_str().unwrap_or_default().to_owned(),
                m["id"].as_u64().unwrap(),
                m["user"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        match page["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => return out,
        }
    }
}

/// 2 000 connections at once across SMTP, LMTP, POP3, IMAP and IMAP IDLE for a bounded time:
/// none refused or dropped, p99 latencies reported, every acknowledged message stored (a
/// sample compared byte for byte), and afterwards the server's descriptors back where they
/// started and its memory near it.
#[test]
fn two_thousand_connections_of_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let users = 250;
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--lmtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--imap",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--allow-insecure-auth",
        "--config",
        config(dir.path(), users).to_str().unwrap(),
    ]);
    let pid = srv.child.id();
    let addr = |p: &str| srv.ready[p].as_str().unwrap().parse().unwrap();
    let load = LoadConfig {
        smtp: Some(addr("smtp")),
        lmtp: Some(addr("lmtp")),
        pop3: Some(addr("pop3")),
        imap: Some(addr("imap")),
        users: (0..users)
            .map(|i| (format!("u{i}"), "pw".to_owned()))
            .collect(),
        // SMTP and LMTP share the SMTP server's 256 connections, POP3 has 256.
        mix: Mix {
            smtp: 150,
            lmtp: 50,
            pop3: 200,
            imap: 600,
            idle: 1000,
            ..Mix::default()
        },
        duration: Duration::from_secs(12),
        max_messages: Some(20_000),
        message_size: 2048,
        think: Duration::from_millis(200),
        ramp: Duration::from_secs(4),
        op_timeout: Duration::from_secs(30),
        ..LoadConfig::default()
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = usage(pid);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime.block_on(run(load.clone()));
    println!("load report: {}", report.to_json());
    println!("server before (fds, RSS KiB, threads): {before:?}");
    assert_eq!(report.failures(), 0, "{}", report.to_json());
    assert_eq!(
        report.peak_connections,
        load.mix.total(),
        "every connection held at once"
    );
    for (kind, k) in &report.kinds {
        assert!(k.ops > 0, "{kind} did something: {}", report.to_json());
    }
    assert!(!report.ledger.is_empty());

    // Every acknowledged message is stored, nothing else is; a sample byte for byte.
    let http = srv.ready["http"].as_str().unwrap().to_owned();
    let stored = stored_ids(&http);
    let ids: HashSet<&str> = stored.iter().map(|(m, _, _)| m.as_str()).collect();
    let missing: Vec<&str> = report
        .ledger
        .iter()
        .map(|a| a.message_id.as_str())
        .filter(|m| !ids.contains(m))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged, not stored: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        stored.len(),
        report.ledger.len(),
        "stored only what was acknowledged"
    );
    let by_id: std::collections::HashMap<&str, u64> =
        stored.iter().map(|(m, id, _)| (m.as_str(), *id)).collect();
    for ack in report
        .ledger
        .iter()
        .step_by(report.ledger.len().div_ceil(40))
    {
        let id = by_id[ack.message_id.as_str()];
        let raw = Command::new("curl")
            .args(["-sf", &format!("http://{http}/api/v1/messages/{id}/raw")])
            .output()
            .unwrap();
        let want = message(&ack.message_id, &ack.user, load.message_size);
        assert!(
            raw.stdout.ends_with(&want),
            "{} differs from what was sent",
            ack.message_id
        );
    }

    // Back down: the connections' descriptors are closed, memory is near where it was.
    let mut after = usage(pid);
    for _ in 0..50 {
        if after.0 <= before.0 + 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = usage(pid);
    }
    println!("server after (fds, RSS KiB, threads): {after:?}");
    assert!(
        after.0 <= before.0 + 2,
        "descriptors {before:?} -> {after:?}"
    );
    assert!(after.2 <= before.2 + 4, "threads {before:?} -> {after:?}");
    // The index of the HTTP API grows with the messages (about 2 KiB each); beyond that the
    // memory the connections used is given back or reused, not kept per connection.
    let allowed = 96 * 1024 + report.ledger.len() as u64 * 4;
    assert!(
        after.1 <= before.1 + allowed,
        "RSS {} KiB -> {} KiB (allowed +{allowed} KiB)",
        before.1,
        after.1
    );
}

/// Each user's INBOX as (UIDVALIDITY, UID → Message-ID), read over IMAP.
fn inboxes(imap: u16, users: usize) -> Vec<(u32, std::collections::BTreeMap<u32, String>)> {
    use mailwire::imap::client::{Client, ClientConfig, Login};
    use mailwire::imap::proto::{Data, MessageData};
    use mailwire::tls::{Security, TlsPolicy};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..users {
            let cfg = ClientConfig::new("127.0.0.1", imap, Security::StartTls(TlsPolicy::Disabled));
            let login = Login::password(format!("u{i}"), "pw").allow_plaintext_without_tls(true);
            let c = Client::connect(cfg, &login).await.unwrap();
            let s = c.examine("INBOX").await.unwrap();
            let mut map = std::collections::BTreeMap::new();
            if s.exists > 0 {
                let r = c
                    .command("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                    .await
                    .unwrap();
                for d in r.data {
                    let Data::Fetch { items, .. } = d else {
                        continue;
                    };
                    let mut uid = 0;
                    let mut id = String::new();
                    for item in items.iter() {
                        match item {
                            MessageData::Uid(u) => uid = u.get(),
                            MessageData::BodySection { data, .. } => {
                                let text = data
                                    .as_ref()
                                    .map(|d| String::from_utf8_lossy(d.as_bytes()).into_owned())
                                    .unwrap_or_default();
                                id = text
                                    .split_once(':')
                                    .map(|(_, v)| v.trim().trim_matches(['<', '>']).to_owned())
                                    .unwrap_or_default();
                            }
                            _ => {}
                        }
                    }
                    map.insert(uid, id);
                }
            }
            c.logout().await.unwrap();
            out.push((s.uidvalidity.unwrap(), map));
        }
        out
    })
}

/// `kill -9` of `mailwire serve --store maildir:DIR` in the middle of mixed load (SMTP and
/// LMTP deliveries, IMAP APPENDs, POP3 deletions, IMAP readers), three times over the same
/// directory: afterwards every message any server acknowledged (250, APPEND OK) is there
/// byte for byte unless a POP3 QUIT that got `+OK` deleted it, no message whose deletion was
/// acknowledged came back, the store opens each time, UIDVALIDITY stays and no UID is ever
/// given to another message.
#[test]
fn kill_9_under_load_on_maildir_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let users = 12;
    let cfg = config(dir.path(), users);
    let store = dir.path().join("mail");
    let store_arg = format!("maildir:{}", store.display());
    let args = [
        "--smtp",
        "127.0.0.1:0",
        "--lmtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--imap",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--allow-insecure-auth",
        "--store",
        &store_arg,
        "--config",
        cfg.to_str().unwrap(),
    ];
    let mut acked = Vec::new();
    let mut deleted = HashSet::new();
    let mut uncertain = HashSet::new();
    // (user, UID) → Message-ID, as seen after each restart.
    let mut seen: std::collections::HashMap<(usize, u32), String> = Default::default();
    let mut validity: Option<Vec<u32>> = None;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let check = |srv: &Serve,
                 seen: &mut std::collections::HashMap<(usize, u32), String>,
                 validity: &mut Option<Vec<u32>>| {
        let now = inboxes(srv.port("imap"), users);
        let v: Vec<u32> = now.iter().map(|(v, _)| *v).collect();
        if let Some(before) = validity.as_ref() {
            assert_eq!(before, &v, "UIDVALIDITY changed after a kill");
        }
        *validity = Some(v);
        for (u, (_, map)) in now.iter().enumerate() {
            for (uid, id) in map {
                if let Some(old) = seen.insert((u, *uid), id.clone()) {
                    assert_eq!(&old, id, "u{u}: UID {uid} now names another message");
                }
            }
        }
    };
    for round in 0..3u64 {
        let mut srv = Serve::start(&args);
        check(&srv, &mut seen, &mut validity);
        let addr = |p: &str| srv.ready[p].as_str().unwrap().parse().unwrap();
        let load = LoadConfig {
            smtp: Some(addr("smtp")),
            lmtp: Some(addr("lmtp")),
            pop3: Some(addr("pop3")),
            imap: Some(addr("imap")),
            users: (0..users)
                .map(|i| (format!("u{i}"), "pw".to_owned()))
                .collect(),
            mix: Mix {
                smtp: 24,
                lmtp: 8,
                imap: 8,
                append: 8,
                pop3_delete: 4,
                ..Mix::default()
            },
            duration: Duration::from_secs(4),
            message_size: 3000,
            think: Duration::from_millis(50),
            ramp: Duration::from_millis(300),
            op_timeout: Duration::from_secs(10),
            run_id: format!("kill{round}"),
            ..LoadConfig::default()
        };
        let running = runtime.spawn(run(load));
        // The kill lands at a different point of the load each round.
        std::thread::sleep(Duration::from_millis(1500 + 400 * round));
        srv.child.kill().unwrap();
        srv.child.wait().unwrap();
        let report = runtime.block_on(running).unwrap();
        println!("round {round}: {}", report.to_json());
        assert!(
            report.ledger.len() > 20,
            "round {round}: too little was acknowledged to prove anything: {}",
            report.to_json()
        );
        assert!(
            report.ledger.iter().any(|a| a.protocol == "imap"),
            "no APPEND acknowledged: {}",
            report.to_json()
        );
        acked.extend(report.ledger);
        deleted.extend(report.deleted);
        uncertain.extend(report.uncertain);
    }
    let srv = Serve::start(&args);
    check(&srv, &mut seen, &mut validity);
    let http = srv.ready["http"].as_str().unwrap().to_owned();
    let stored = stored_ids(&http);
    let by_id: std::collections::HashMap<&str, u64> =
        stored.iter().map(|(m, id, _)| (m.as_str(), *id)).collect();
    assert!(!deleted.is_empty(), "no POP3 deletion acknowledged at QUIT");
    for id in &deleted {
        assert!(
            !by_id.contains_key(id.as_str()),
            "{id}: deleted at an acknowledged QUIT, and back after the kill"
        );
    }
    let mut compared = 0;
    for (n, ack) in acked.iter().enumerate() {
        if deleted.contains(&ack.message_id) || uncertain.contains(&ack.message_id) {
            continue;
        }
        let Some(id) = by_id.get(ack.message_id.as_str()) else {
            panic!(
                "{} ({}) was acknowledged and is not in the store after kill -9",
                ack.message_id, ack.protocol
            );
        };
        // Every one is there; one in ten, and the last ones of each round, byte for byte.
        let last = acked.get(n + 1).is_none_or(|next| {
            next.message_id.split('.').next() != ack.message_id.split('.').next()
        });
        if n % 10 != 0 && !last {
            continue;
        }
        let raw = Command::new("curl")
            .args(["-sf", &format!("http://{http}/api/v1/messages/{id}/raw")])
            .output()
            .unwrap();
        let want = message(&ack.message_id, &ack.user, 3000);
        assert!(
            raw.stdout.ends_with(&want),
            "{} differs from what was sent",
            ack.message_id
        );
        compared += 1;
    }
    println!(
        "kill -9 x3: {} acknowledged, all present, {} compared byte for byte; {} deleted at QUIT, {} uncertain, {} stored, lost 0",
        acked.len(),
        compared,
        deleted.len(),
        uncertain.len(),
        stored.len()
    );
}

/// Opens `n` connections to `port` at most 256 at a time, each taken through `script` (lines
/// to send, each followed by the prefix its answer must start with); returns them held open.
async fn hold(
    port: u16,
    n: usize,
    script: std::sync::Arc<dyn Fn(usize) -> Vec<(String, &'static str)> + Send + Sync>,
    greeting: &'static str,
) -> Vec<tokio::net::TcpStream> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (gate, script) = (gate.clone(), script.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert!(line.starts_with(greeting), "connection {i}: {line}");
            for (send, want) in script(i) {
                r.get_mut().write_all(send.as_bytes()).await.unwrap();
                loop {
                    line.clear();
                    assert!(r.read_line(&mut line).await.unwrap() > 0, "closed");
                    // Multi-line and untagged lines until the one the step waits for.
                    if line.starts_with(want) {
                        break;
                    }
                }
            }
            r.into_inner()
        });
    }
    let mut held = Vec::with_capacity(n);
    while let Some(s) = tasks.join_next().await {
        held.push(s.unwrap());
    }
    held
}

/// 10 000 logged-in IMAP connections in IDLE, then 10 000 SMTP connections after EHLO, held
/// by one server at once per protocol: all admitted and answered, and the server's memory
/// per connection (resident set growth / connections) within 32 KiB for each.
#[test]
fn ten_thousand_idle_imap_and_smtp_connections() {
    let dir = tempfile::tempdir().unwrap();
    let users = 100;
    let list: Vec<String> = (0..users).map(|i| format!("\"u{i}:pw\"")).collect();
    let conf = dir.path().join("idle.toml");
    std::fs::write(
        &conf,
        format!(
            "users = [{}]\n[imap-limits]\nmax-connections = 10500\n\
             max-connections-per-address = 10500\n[smtp-limits]\nmax-connections = 10500\n",
            list.join(", ")
        ),
    )
    .unwrap();
    let n = 10_000;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut figures = Vec::new();
    for (protocol, greeting) in [("imap", "* OK"), ("smtp", "220")] {
        // A fresh server for each, so one's freed memory does not hide the other's.
        let flag = format!("--{protocol}");
        let srv = Serve::start(&[
            &flag,
            "127.0.0.1:0",
            "--http",
            "off",
            "--allow-insecure-auth",
            "--config",
            conf.to_str().unwrap(),
        ]);
        let pid = srv.child.id();
        std::thread::sleep(Duration::from_millis(500));
        let before = usage(pid);
        let script: std::sync::Arc<dyn Fn(usize) -> Vec<(String, &'static str)> + Send + Sync> =
            if protocol == "imap" {
                std::sync::Arc::new(move |i| {
                    vec![
                        (format!("a LOGIN u{} pw\r\n", i % users), "a OK"),
                        ("b SELECT INBOX\r\n".to_owned(), "b OK"),
                        ("c IDLE\r\n".to_owned(), "+"),
                    ]
                })
            } else {
                std::sync::Arc::new(|i| vec![(format!("EHLO client{i}\r\n"), "250 ")])
            };
        let t = std::time::Instant::now();
        let held = runtime.block_on(hold(srv.port(protocol), n, script, greeting));
        let opened = t.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        let during = usage(pid);
        assert_eq!(held.len(), n);
        assert!(
            during.0 >= before.0 + n,
            "{protocol}: {before:?} -> {during:?}"
        );
        let per = (during.1.saturating_sub(before.1)) as f64 / n as f64;
        println!(
            "{n} idle {protocol} connections: opened in {opened:?}, server RSS {} -> {} KiB, \
             {per:.1} KiB per connection, {} threads",
            before.1, during.1, during.2
        );
        figures.push((protocol, per));
        drop(held);
        // Let them go before the next protocol (the test process holds one end of each).
        for _ in 0..100 {
            if usage(pid).0 <= before.0 + 10 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            usage(pid).0 <= before.0 + 10,
            "{protocol}: descriptors not released"
        );
        drop(srv);
    }
    for (protocol, per) in figures {
        assert!(per <= 32.0, "{protocol}: {per:.1} KiB per idle connection");
    }
}

/// A connection that trickles `line` one octet every `every` after the greeting; returns how
/// long until the server closed it (or `None` if it was still open after `limit`).
async fn trickle(
    port: u16,
    line: &'static [u8],
    every: Duration,
    limit: Duration,
) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut r, mut w) = s.into_split();
    let t = std::time::Instant::now();
    let closed = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return std::time::Instant::now(),
                Ok(_) => {}
            }
        }
    });
    let writer = tokio::spawn(async move {
        for &b in line.iter().cycle() {
            if w.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    let end = tokio::time::timeout(limit, closed).await;
    writer.abort();
    end.ok().map(|e| e.unwrap().duration_since(t))
}

/// Slow and hostile clients against `mailwire serve` while ordinary load runs beside them:
/// 1 000 connections trickling a command an octet every 2 s (SMTP, IMAP, POP3) are each cut
/// off by `command-timeout-secs`/`min-input-rate`; IMAP clients that pipeline FETCHes and
/// never read are cut off by `write-timeout-secs`, the server holding only a bounded amount
/// for them; clients that hang up in the middle of DATA or of an APPEND literal leave
/// nothing stored. The ordinary load meanwhile has no failure; its p99 beside the baseline
/// is printed.
#[test]
fn slow_and_hostile_clients_are_cut_off_while_others_are_served() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let users = 20;
    let mut list: Vec<String> = (0..users).map(|i| format!("\"u{i}:pw\"")).collect();
    list.push("\"victim:pw\"".to_owned());
    let slow = "command-timeout-secs = 3\nmin-input-rate = 100\nwrite-timeout-secs = 3\n";
    let conf = dir.path().join("hostile.toml");
    std::fs::write(
        &conf,
        format!(
            "users = [{}]\n[imap-limits]\nmax-connections = 4000\nmax-connections-per-address = 4000\n{slow}\
             [smtp-limits]\nmax-connections = 2000\n{slow}[pop3-limits]\nmax-connections = 2000\n{slow}",
            list.join(", ")
        ),
    )
    .unwrap();
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--imap",
        "127.0.0.1:0",
        "--http",
        "off",
        "--allow-insecure-auth",
        "--config",
        conf.to_str().unwrap(),
    ]);
    let pid = srv.child.id();
    let (smtp, imap, pop3) = (srv.port("smtp"), srv.port("imap"), srv.port("pop3"));
    let addr = |p: &str| srv.ready[p].as_str().unwrap().parse().unwrap();
    let load = LoadConfig {
        smtp: Some(addr("smtp")),
        pop3: Some(addr("pop3")),
        imap: Some(addr("imap")),
        users: (0..users)
            .map(|i| (format!("u{i}"), "pw".to_owned()))
            .collect(),
        mix: Mix {
            smtp: 8,
            pop3: 4,
            imap: 8,
            ..Mix::default()
        },
        duration: Duration::from_secs(4),
        think: Duration::from_millis(20),
        ramp: Duration::from_millis(200),
        op_timeout: Duration::from_secs(10),
        ..LoadConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The victim's mailbox: one 200 KB message for the non-readers to FETCH.
    let big = message("big@hostile", "victim", 200_000);
    rt.block_on(async {
        let s = tokio::net::TcpStream::connect(("127.0.0.1", imap))
            .await
            .unwrap();
        let mut r = BufReader::new(s);
        let mut l = String::new();
        r.read_line(&mut l).await.unwrap();
        r.get_mut()
            .write_all(b"a LOGIN victim pw\r\n")
            .await
            .unwrap();
        l.clear();
        r.read_line(&mut l).await.unwrap();
        assert!(l.starts_with("a OK"), "{l}");
        r.get_mut()
            .write_all(format!("b APPEND INBOX {{{}+}}\r\n", big.len()).as_bytes())
            .await
            .unwrap();
        r.get_mut().write_all(&big).await.unwrap();
        r.get_mut().write_all(b"\r\n").await.unwrap();
        l.clear();
        r.read_line(&mut l).await.unwrap();
        assert!(l.starts_with("b OK"), "{l}");
    });
    let victim_count = || {
        rt.block_on(async {
            let s = tokio::net::TcpStream::connect(("127.0.0.1", imap))
                .await
                .unwrap();
            let mut r = BufReader::new(s);
            let mut l = String::new();
            r.read_line(&mut l).await.unwrap();
            r.get_mut()
                .write_all(b"a LOGIN victim pw\r\nb STATUS INBOX (MESSAGES)\r\nc LOGOUT\r\n")
                .await
                .unwrap();
            let mut all = String::new();
            r.read_to_string(&mut all).await.unwrap();
            let at = all.find("(MESSAGES ").expect("STATUS") + 10;
            all[at..].split(')').next().unwrap().parse::<u32>().unwrap()
        })
    };
    assert_eq!(victim_count(), 1);

    let baseline = rt.block_on(run(load.clone()));
    assert_eq!(baseline.failures(), 0, "{}", baseline.to_json());
    let before = usage(pid);

    let hostile = rt.spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        // 1 000 slowloris connections.
        for i in 0..1000 {
            let (port, line): (u16, &'static [u8]) = match i % 5 {
                0 | 1 => (smtp, b"MAIL FROM:<slow@example.org> SIZE=1"),
                2 | 3 => (imap, b"a LOGIN victim pw-never-ending"),
                _ => (pop3, b"USER victim-never-ending"),
            };
            tasks.spawn(async move {
                (
                    "slow",
                    trickle(port, line, Duration::from_secs(2), Duration::from_secs(20)).await,
                )
            });
        }
        // 20 IMAP clients that pipeline FETCHes of the 200 KB message and never read.
        for _ in 0..20 {
            tasks.spawn(async move {
                let s = tokio::net::TcpStream::connect(("127.0.0.1", imap))
                    .await
                    .unwrap();
                let t = std::time::Instant::now();
                let mut r = BufReader::new(s);
                let mut l = String::new();
                r.read_line(&mut l).await.unwrap();
                r.get_mut()
                    .write_all(b"a LOGIN victim pw\r\nb SELECT INBOX\r\n")
                    .await
                    .unwrap();
                let burst = b"f FETCH 1 BODY.PEEK[]\r\n".repeat(300);
                let _ = tokio::time::timeout(Duration::from_secs(5), r.get_mut().write_all(&burst))
                    .await;
                // Not reading for 8 s; then what was sent before the cut-off, and the end.
                tokio::time::sleep(Duration::from_secs(8)).await;
                let mut sink = Vec::new();
                let read =
                    tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut sink)).await;
                let ended = read.is_ok().then(|| t.elapsed());
                assert!(
                    sink.len() < 300 * 200_000 / 4,
                    "{} octets: the server kept writing to a client that did not read",
                    sink.len()
                );
                ("nonreader", ended)
            });
        }
        // 20 SMTP clients that hang up in DATA, 20 IMAP clients in an APPEND literal.
        for i in 0..40 {
            tasks.spawn(async move {
                let t = std::time::Instant::now();
                if i % 2 == 0 {
                    let s = tokio::net::TcpStream::connect(("127.0.0.1", smtp))
                        .await
                        .unwrap();
                    let mut r = BufReader::new(s);
                    let mut l = String::new();
                    r.read_line(&mut l).await.unwrap();
                    for cmd in [
                        "EHLO x\r\n",
                        "MAIL FROM:<a@example.org>\r\n",
                        "RCPT TO:<victim@example.com>\r\n",
                        "DATA\r\n",
                    ] {
                        r.get_mut().write_all(cmd.as_bytes()).await.unwrap();
                        loop {
                            l.clear();
                            r.read_line(&mut l).await.unwrap();
                            if l.as_bytes().get(3) != Some(&b'-') {
                                break;
                            }
                        }
                    }
                    assert!(l.starts_with("354"), "{l}");
                    r.get_mut()
                        .write_all(&message("cut@data", "victim", 10_000))
                        .await
                        .unwrap();
                } else {
                    let s = tokio::net::TcpStream::connect(("127.0.0.1", imap))
                        .await
                        .unwrap();
                    let mut r = BufReader::new(s);
                    let mut l = String::new();
                    r.read_line(&mut l).await.unwrap();
                    r.get_mut()
                        .write_all(b"a LOGIN victim pw\r\nb APPEND INBOX {100000}\r\n")
                        .await
                        .unwrap();
                    loop {
                        l.clear();
                        r.read_line(&mut l).await.unwrap();
                        if l.starts_with('+') {
                            break;
                        }
                    }
                    r.get_mut().write_all(&[b'z'; 50_000]).await.unwrap();
                }
                // Hung up here.
                ("hangup", Some(t.elapsed()))
            });
        }
        let mut out: Vec<(&'static str, Option<Duration>)> = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap());
        }
        out
    });
    std::thread::sleep(Duration::from_secs(2));
    let during = rt.block_on(run(load.clone()));
    let mid = usage(pid);
    let results = rt.block_on(hostile).unwrap();
    println!("baseline load: {}", baseline.to_json());
    println!("load beside the hostile clients: {}", during.to_json());
    assert_eq!(during.failures(), 0, "{}", during.to_json());
    for kind in ["smtp", "imap", "pop3"] {
        let (a, b) = (&baseline.kinds[kind], &during.kinds[kind]);
        println!(
            "{kind}: p99 {:.1} ms alone, {:.1} ms beside 1 000 slow clients ({:.2}x); {} vs {} ops",
            a.quantile(0.99) as f64 / 1000.0,
            b.quantile(0.99) as f64 / 1000.0,
            b.quantile(0.99) as f64 / a.quantile(0.99).max(1) as f64,
            a.ops,
            b.ops
        );
    }
    let slow: Vec<Option<Duration>> = results
        .iter()
        .filter(|r| r.0 == "slow")
        .map(|r| r.1)
        .collect();
    assert_eq!(slow.len(), 1000);
    let still_open = slow.iter().filter(|d| d.is_none()).count();
    assert_eq!(
        still_open, 0,
        "{still_open} slow connections were never cut off"
    );
    let longest = slow.iter().flatten().max().unwrap();
    println!(
        "1 000 slow connections all cut off, the last after {longest:?}; server during: {mid:?} (fds, RSS KiB, threads), before: {before:?}"
    );
    let nonreaders: Vec<Option<Duration>> = results
        .iter()
        .filter(|r| r.0 == "nonreader")
        .map(|r| r.1)
        .collect();
    assert!(
        nonreaders.iter().all(Option::is_some),
        "a non-reading client was never cut off: {nonreaders:?}"
    );
    // Memory for the slow and the non-reading clients is bounded (not 300 x 200 KB each).
    assert!(mid.1 < before.1 + 200 * 1024, "RSS {before:?} -> {mid:?}");
    // Nothing of the hung-up DATA and APPENDs was stored.
    assert_eq!(
        victim_count(),
        1,
        "a message cut off in DATA or in its literal was stored"
    );
    // And the server goes on.
    let after = rt.block_on(run(LoadConfig {
        duration: Duration::from_secs(1),
        ..load
    }));
    assert_eq!(after.failures(), 0, "{}", after.to_json());
}

/// A soak: every protocol at a steady pace (SMTP and LMTP deliveries, IMAP APPENDs, POP3
/// deletions, POP3 and IMAP readers, IDLE watchers) for `MAILWIRE_SOAK_SECS` seconds (60 in
/// the ordinary run; `MAILWIRE_SOAK_SECS=1800 cargo test --test load soak -- --nocapture`
/// for the long one), in slices of 10 s with fresh connections each: no failure in any
/// slice, descriptors and threads flat, memory growing with what is stored and not with
/// time. Each slice's rates and p99 are printed.
#[test]
fn soak_every_protocol_at_a_steady_pace() {
    let secs: u64 = std::env::var("MAILWIRE_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let users = 40;
    let store = format!("maildir:{}", dir.path().join("mail").display());
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--lmtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--imap",
        "127.0.0.1:0",
        "--http",
        "off",
        "--allow-insecure-auth",
        "--store",
        &store,
        "--config",
        config(dir.path(), users).to_str().unwrap(),
    ]);
    let pid = srv.child.id();
    let addr = |p: &str| srv.ready[p].as_str().unwrap().parse().unwrap();
    let load = LoadConfig {
        smtp: Some(addr("smtp")),
        lmtp: Some(addr("lmtp")),
        pop3: Some(addr("pop3")),
        imap: Some(addr("imap")),
        users: (0..users)
            .map(|i| (format!("u{i}"), "pw".to_owned()))
            .collect(),
        // POP3 readers log in as u0..u3, deleters as u4..u7 (a maildrop is locked per
        // session); everything else round robin.
        mix: Mix {
            smtp: 8,
            lmtp: 4,
            pop3: 4,
            imap: 8,
            idle: 16,
            append: 4,
            pop3_delete: 4,
        },
        duration: Duration::from_secs(10),
        message_size: 4096,
        think: Duration::from_millis(100),
        pace: Duration::from_millis(100),
        ramp: Duration::from_millis(500),
        op_timeout: Duration::from_secs(20),
        ..LoadConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let slices = secs.div_ceil(10).max(1);
    let mut first = None;
    let mut stored_octets = 0u64;
    let mut deleted = 0usize;
    let started = std::time::Instant::now();
    for slice in 0..slices {
        let report = runtime.block_on(run(LoadConfig {
            run_id: format!("soak{slice}.{}", std::process::id()),
            ..load.clone()
        }));
        stored_octets += report.ledger.iter().map(|a| a.size as u64).sum::<u64>();
        deleted += report.deleted.len();
        let now = usage(pid);
        let p99: Vec<String> = report
            .kinds
            .iter()
            .map(|(k, r)| format!("{k} {:.1}", r.quantile(0.99) as f64 / 1000.0))
            .collect();
        println!(
            "soak slice {slice} at {:?}: {} acknowledged, {} deleted, failures {}, p99 ms [{}], server (fds, RSS KiB, threads) {now:?}",
            started.elapsed(),
            report.ledger.len(),
            report.deleted.len(),
            report.failures(),
            p99.join(", ")
        );
        assert_eq!(report.failures(), 0, "slice {slice}: {}", report.to_json());
        let base = *first.get_or_insert(now);
        assert!(now.0 <= base.0 + 8, "descriptors {base:?} -> {now:?}");
        // Threads: the runtime's blocking pool (Maildir writes and fsyncs) grows and shrinks
        // with the load; bounded, not growing with time.
        assert!(now.2 <= 64, "threads {base:?} -> {now:?}");
        // Memory: what the store indexes grows with the messages (bounded by their size
        // here); nothing else may grow from slice to slice.
        let allowed = 48 * 1024 + stored_octets / 1024;
        assert!(
            now.1 <= base.1 + allowed,
            "slice {slice}: RSS {} KiB -> {} KiB (allowed +{allowed} KiB)",
            base.1,
            now.1
        );
    }
    println!(
        "soak of {:?}: {} KiB of messages acknowledged, {deleted} deleted at QUIT, no failure",
        started.elapsed(),
        stored_octets / 1024
    );
}

/// Unmounts on drop (lazily, so a failing test never leaves the mount busy).
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// SMTP lines until the final one of a reply.
fn smtp_reply(r: &mut impl std::io::BufRead) -> String {
    let mut all = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            return all;
        }
        all.push_str(&l);
        if l.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

/// A full disk. The test mounts a 3 MiB tmpfs (it needs root, as CI has: `mount -t tmpfs`)
/// and runs `serve --store maildir:` on it. SMTP deliveries go on until the disk is full,
/// then get `452 4.3.1`; IMAP APPEND gets a `NO` with a temporary code; everything that was
/// acknowledged is stored and nothing else; once the filesystem is grown, delivery and APPEND
/// work again and the store opens cleanly after a restart.
#[test]
fn disk_full_is_a_temporary_failure_and_loses_nothing() {
    use std::io::{BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("mount (util-linux)");
    assert!(
        mounted.success(),
        "this test mounts a 3 MiB tmpfs for the store: it needs root (mount -t tmpfs)"
    );
    let _unmount = Mount(mnt.clone());
    let store = format!("maildir:{}", mnt.join("mail").display());
    let args = [
        "--smtp",
        "127.0.0.1:0",
        "--imap",
        "127.0.0.1:0",
        "--http",
        "off",
        "--user",
        "bob:pw",
        "--allow-insecure-auth",
        "--store",
        &store,
    ];
    let srv = Serve::start(&args);
    let s = std::net::TcpStream::connect(("127.0.0.1", srv.port("smtp"))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let cmd = |w: &mut std::net::TcpStream, r: &mut BufReader<std::net::TcpStream>, line: &str| {
        w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        smtp_reply(r)
    };
    assert!(smtp_reply(&mut r).starts_with("220"));
    cmd(&mut w, &mut r, "EHLO x");
    let mut acked = Vec::new();
    let mut full = None;
    for n in 0..200 {
        let id = format!("full.{n}@disk");
        assert!(cmd(&mut w, &mut r, "MAIL FROM:<a@example.com>").starts_with("250"));
        assert!(cmd(&mut w, &mut r, "RCPT TO:<bob@example.com>").starts_with("250"));
        assert!(cmd(&mut w, &mut r, "DATA").starts_with("354"));
        let m = message(&id, "bob", 100_000);
        w.write_all(&m).unwrap();
        let reply = cmd(&mut w, &mut r, ".");
        if reply.starts_with("250") {
            acked.push(id);
        } else {
            full = Some(reply);
            break;
        }
    }
    let full = full.expect("3 MiB never filled up");
    assert!(full.starts_with("452 4.3.1"), "{full}");
    assert!(
        acked.len() >= 5,
        "only {} stored before the disk was full",
        acked.len()
    );
    // Still full: a second try is refused the same way, and the session goes on.
    assert!(cmd(&mut w, &mut r, "MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(cmd(&mut w, &mut r, "RCPT TO:<bob@example.com>").starts_with("250"));
    assert!(cmd(&mut w, &mut r, "DATA").starts_with("354"));
    w.write_all(&message("again@disk", "bob", 100_000)).unwrap();
    let again = cmd(&mut w, &mut r, ".");
    assert!(again.starts_with("452 4.3.1"), "{again}");

    let imap = |port: u16, script: &str| -> String {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut w = s.try_clone().unwrap();
        w.write_all(script.as_bytes()).unwrap();
        let mut all = String::new();
        BufReader::new(s).read_to_string(&mut all).unwrap();
        all
    };
    let append = format!(
        "a LOGIN bob pw\r\nb APPEND INBOX {{{n}+}}\r\n{}\r\nc LOGOUT\r\n",
        String::from_utf8(message("append@disk", "bob", 100_000)).unwrap(),
        n = message("append@disk", "bob", 100_000).len()
    );
    let refused = imap(srv.port("imap"), &append);
    let line = refused.lines().find(|l| l.starts_with("b ")).unwrap_or("");
    assert!(
        line.starts_with("b NO [UNAVAILABLE]") || line.starts_with("b NO [OVERQUOTA]"),
        "{refused}"
    );
    // What is stored is exactly what was acknowledged.
    let ids = |port: u16| -> Vec<String> {
        let all = imap(
            port,
            "a LOGIN bob pw\r\nb EXAMINE INBOX\r\nc FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\nd LOGOUT\r\n",
        );
        let mut v: Vec<String> = all
            .lines()
            .filter_map(|l| l.strip_prefix("Message-ID: <"))
            .map(|l| l.trim_end_matches('>').to_owned())
            .collect();
        v.sort();
        v
    };
    let mut want = acked.clone();
    want.sort();
    assert_eq!(ids(srv.port("imap")), want);

    // Space returns: delivery and APPEND work again.
    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(grown.success());
    assert!(cmd(&mut w, &mut r, "MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(cmd(&mut w, &mut r, "RCPT TO:<bob@example.com>").starts_with("250"));
    assert!(cmd(&mut w, &mut r, "DATA").starts_with("354"));
    w.write_all(&message("after@disk", "bob", 100_000)).unwrap();
    let ok = cmd(&mut w, &mut r, ".");
    assert!(ok.starts_with("250"), "{ok}");
    acked.push("after@disk".to_owned());
    let appended = imap(srv.port("imap"), &append);
    assert!(appended.contains("b OK"), "{appended}");
    acked.push("append@disk".to_owned());
    drop((r, w));
    drop(srv);
    // The store opens cleanly after a restart, with everything acknowledged in it.
    let srv = Serve::start(&args);
    let mut want = acked;
    want.sort();
    assert_eq!(ids(srv.port("imap")), want);
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of the line (utime, stime) are 11 and 12 after the command name.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Too few file descriptors: `serve` under `prlimit --nofile=64`, then 150 connections at
/// once. It serves those it has descriptors for, leaves the rest waiting in the listen queue
/// (accept is retried every 50 ms, not in a spin: its CPU time and its log stay small), does
/// not die, and once the clients go it serves new ones again: a message delivered and read
/// back.
#[test]
fn too_few_descriptors_sheds_load_without_spinning_and_recovers() {
    use std::io::{BufRead, BufReader, Write};
    let srv = Serve::start_with_nofile(
        &[
            "--smtp",
            "127.0.0.1:0",
            "--imap",
            "127.0.0.1:0",
            "--http",
            "off",
            "--user",
            "bob:pw",
            "--allow-insecure-auth",
        ],
        "warn",
        64,
    );
    let pid = srv.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 64 ")),
        "{limits}"
    );
    let smtp = srv.port("smtp");
    let mut held = Vec::new();
    for _ in 0..150 {
        let s = std::net::TcpStream::connect(("127.0.0.1", smtp)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        held.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = cpu_secs(pid);
    std::thread::sleep(Duration::from_secs(3));
    let spent = cpu_secs(pid) - cpu0;
    let mut greeted = 0;
    for s in &held {
        let mut l = String::new();
        if BufReader::new(s).read_line(&mut l).is_ok() && l.starts_with("220") {
            greeted += 1;
        }
    }
    println!(
        "nofile 64: {greeted} of 150 greeted, {spent:.2} CPU s in 3 s while out of descriptors"
    );
    assert!(greeted > 10 && greeted < 150, "{greeted} greeted");
    assert!(spent < 1.0, "the accept loop spun: {spent:.2} CPU s in 3 s");
    assert!(srv.child.id() == pid);
    let log = srv.log.as_ref().unwrap().lock().unwrap().clone();
    let failures = log.matches("accept failed").count();
    assert!(
        (1..=3).contains(&failures),
        "{failures} accept-failure lines in about 4 s: a log flood\n{log}"
    );
    drop(held);
    // Recovered: a new client is served, a message goes in and is read back over IMAP.
    std::thread::sleep(Duration::from_millis(500));
    let s = std::net::TcpStream::connect(("127.0.0.1", smtp)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    assert!(smtp_reply(&mut r).starts_with("220"));
    for (line, want) in [
        ("EHLO x", "250"),
        ("MAIL FROM:<a@example.com>", "250"),
        ("RCPT TO:<bob@example.com>", "250"),
        ("DATA", "354"),
        ("Subject: after\r\n\r\nrecovered\r\n.", "250"),
    ] {
        w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let reply = smtp_reply(&mut r);
        assert!(reply.starts_with(want), "{line}: {reply}");
    }
    let s = std::net::TcpStream::connect(("127.0.0.1", srv.port("imap"))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(b"a LOGIN bob pw\r\nb STATUS INBOX (MESSAGES)\r\nc LOGOUT\r\n")
        .unwrap();
    let mut all = String::new();
    std::io::Read::read_to_string(&mut BufReader::new(s), &mut all).unwrap();
    assert!(all.contains("(MESSAGES 1)"), "{all}");
}
