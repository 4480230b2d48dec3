//! `mailwire-load`: the load generator of [`mailwire_bench::load`] on the command line. It
//! talks to 127.0.0.1 only, for a bounded time and count, and prints one JSON report.
//!
//! ```text
//! mailwire-load --ready-file ready.json --user alice:secret --user bob:secret \
//!     --mix smtp=20,lmtp=5,pop3=2,imap=50,idle=100,append=5,dele=2 --duration 30s --ledger acks.jsonl
//! ```

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mailwire_bench::load::{LoadConfig, Mix, run};

/// Load a mail server on 127.0.0.1 with SMTP and LMTP deliveries, POP3 and IMAP readers and
/// IMAP IDLE watchers at once; print a JSON report (rates, p50/p99/max latency, errors).
#[derive(Debug, Parser)]
#[command(name = "mailwire-load", version)]
struct Args {
    /// Take the addresses from `mailwire serve --ready-file` (its smtp, lmtp, pop3, imap).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// The SMTP listener.
    #[arg(long)]
    smtp: Option<SocketAddr>,
    /// The LMTP listener.
    #[arg(long)]
    lmtp: Option<SocketAddr>,
    /// The POP3 listener.
    #[arg(long)]
    pop3: Option<SocketAddr>,
    /// The IMAP listener.
    #[arg(long)]
    imap: Option<SocketAddr>,
    /// LOGIN:PASSWORD, repeatable; readers spread over them, deliveries go to LOGIN@example.com.
    #[arg(long = "user", value_name = "LOGIN:PASSWORD", required = true)]
    users: Vec<String>,
    /// Workers (connections) per kind: smtp=N,lmtp=N,pop3=N,imap=N,idle=N.
    #[arg(long, default_value = "smtp=4,imap=4,idle=4")]
    mix: String,
    /// How long to run: 30s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = duration)]
    duration: Duration,
    /// Stop delivering after this many acknowledged messages.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Octets per message.
    #[arg(long, default_value_t = 2048)]
    size: usize,
    /// Readers' pause between operations.
    #[arg(long, default_value = "50ms", value_parser = duration)]
    think: Duration,
    /// Spread the connections' start over this long.
    #[arg(long, default_value = "1s", value_parser = duration)]
    ramp: Duration,
    /// Write every acknowledged message as a JSON line (message_id, protocol, user, size).
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Log in with SCRAM-SHA-256 instead of PLAIN (IMAP) and USER/PASS (POP3).
    #[arg(long)]
    scram: bool,
}

fn duration(t: &str) -> Result<Duration, String> {
    let (n, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{t:?}: like 30s, 500ms or 2m"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{t:?}: like 30s, 500ms or 2m")),
    }
}

fn mix(text: &str) -> Result<Mix, String> {
    let mut m = Mix::default();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (kind, n) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: KIND=N"))?;
        let n: usize = n.parse().map_err(|_| format!("{part:?}: N is a number"))?;
        match kind {
            "smtp" => m.smtp = n,
            "lmtp" => m.lmtp = n,
            "pop3" => m.pop3 = n,
            "imap" => m.imap = n,
            "idle" => m.idle = n,
            "append" => m.append = n,
            "dele" => m.pop3_delete = n,
            _ => {
                return Err(format!(
                    "{kind:?}: one of smtp, lmtp, pop3, imap, idle, append, dele"
                ));
            }
        }
    }
    Ok(m)
}

fn loopback(a: Option<SocketAddr>, what: &str) -> Result<Option<SocketAddr>, String> {
    match a {
        Some(a) if !a.ip().is_loopback() => Err(format!(
            "{what} {a}: mailwire-load talks to loopback addresses only"
        )),
        a => Ok(a),
    }
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailwire-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<(), String> {
    let args = Args::parse();
    let mut config = LoadConfig {
        smtp: args.smtp,
        lmtp: args.lmtp,
        pop3: args.pop3,
        imap: args.imap,
        mix: mix(&args.mix)?,
        duration: args.duration,
        max_messages: args.max_messages,
        message_size: args.size,
        think: args.think,
        ramp: args.ramp,
        scram: args.scram,
        ..LoadConfig::default()
    };
    if let Some(path) = &args.ready_file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let ready: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let addr = |key: &str| ready[key].as_str().and_then(|a| a.parse().ok());
        config.smtp = config.smtp.or(addr("smtp"));
        config.lmtp = config.lmtp.or(addr("lmtp"));
        config.pop3 = config.pop3.or(addr("pop3"));
        config.imap = config.imap.or(addr("imap"));
    }
    config.smtp = loopback(config.smtp, "--smtp")?;
    config.lmtp = loopback(config.lmtp, "--lmtp")?;
    config.pop3 = loopback(config.pop3, "--pop3")?;
    config.imap = loopback(config.imap, "--imap")?;
    for u in &args.users {
        let (login, password) = u
            .split_once(':')
            .ok_or_else(|| format!("--user {u:?}: LOGIN:PASSWORD"))?;
        config.users.push((login.to_owned(), password.to_owned()));
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let report = runtime.block_on(run(config));
    if let Some(path) = &args.ledger {
        let mut out = String::new();
        for a in &report.ledger {
            out.push_str(
                &serde_json::json!({
                    "message_id": a.message_id,
                    "protocol": a.protocol,
                    "user": a.user,
                    "size": a.size,
                })
                .to_string(),
            );
            out.push('\n');
        }
        // POP3 deletions acknowledged at QUIT, and those whose QUIT got no answer.
        for (key, ids) in [
            ("deleted", &report.deleted),
            ("uncertain", &report.uncertain),
        ] {
            for id in ids {
                out.push_str(&serde_json::json!({ key: id }).to_string());
                out.push('\n');
            }
        }
        std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("{}", report.to_json());
    Ok(())
}
