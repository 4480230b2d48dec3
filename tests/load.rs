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
