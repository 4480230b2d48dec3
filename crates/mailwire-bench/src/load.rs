//! The load generator (`mailwire-load`): SMTP and LMTP deliverers, POP3 and IMAP readers and
//! IMAP IDLE watchers against one server, all at once, for a bounded time and count, on
//! mailwire's own clients (so every reply is parsed as a real client would).
//!
//! Every worker holds its connection open for the whole run (a reader logs in once and then
//! reads in a loop; a deliverer sends message after message on one connection), so the number
//! of workers is the number of connections held. Each message a server acknowledged goes into
//! the [`Report::ledger`] by its Message-ID; its octets are [`message`]`(id, size)`, so a
//! checker can compare what the store holds byte for byte.
//!
//! ```no_run
//! # async fn run() {
//! use std::time::Duration;
//! use mailwire_bench::load::{LoadConfig, Mix, run};
//! let config = LoadConfig {
//!     smtp: Some("127.0.0.1:3025".parse().unwrap()),
//!     imap: Some("127.0.0.1:3143".parse().unwrap()),
//!     users: vec![("alice".into(), "secret".into())],
//!     mix: Mix { smtp: 10, imap: 20, idle: 20, ..Mix::default() },
//!     duration: Duration::from_secs(10),
//!     ..LoadConfig::default()
//! };
//! let report = run(config).await;
//! println!("{}", report.to_json());
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwire_tls::{Security, TlsPolicy};

/// How many workers (connections) of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    /// SMTP deliverers, one connection each, message after message.
    pub smtp: usize,
    /// LMTP deliverers.
    pub lmtp: usize,
    /// POP3 readers: logged in once, then STAT, RETR of the newest message, NOOP, in a loop.
    pub pop3: usize,
    /// IMAP readers: logged in, INBOX selected, then a FETCH of the newest messages' bodies
    /// and a NOOP, in a loop.
    pub imap: usize,
    /// IMAP IDLE watchers: logged in, INBOX selected, idling until the end.
    pub idle: usize,
    /// IMAP appenders: logged in, then APPEND after APPEND into INBOX; each `OK` goes into
    /// the ledger (protocol `imap`). They log in again when the connection is lost.
    pub append: usize,
    /// POP3 deleters (logged in as the users after the POP3 readers'): log in, RETR and DELE
    /// the first message, QUIT; a deletion the server
    /// acknowledged at QUIT goes into [`Report::deleted`], one whose QUIT got no answer into
    /// [`Report::uncertain`]. Then again, on a new connection.
    pub pop3_delete: usize,
}

impl Mix {
    /// All workers.
    pub fn total(&self) -> usize {
        self.smtp + self.lmtp + self.pop3 + self.imap + self.idle + self.append + self.pop3_delete
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The SMTP listener (plain, no STARTTLS, no AUTH).
    pub smtp: Option<SocketAddr>,
    /// The LMTP listener.
    pub lmtp: Option<SocketAddr>,
    /// The POP3 listener (plain; USER/PASS).
    pub pop3: Option<SocketAddr>,
    /// The IMAP listener (plain; LOGIN).
    pub imap: Option<SocketAddr>,
    /// Logins and passwords. Reader `i` logs in as user `i % len` (POP3 locks a maildrop:
    /// give at least as many users as POP3 readers); deliveries go to `LOGIN@example.com`
    /// round robin.
    pub users: Vec<(String, String)>,
    /// The workers.
    pub mix: Mix,
    /// How long the run lasts (workers stop starting operations then). Default 10 s.
    pub duration: Duration,
    /// Stop delivering after this many acknowledged messages in all. Default: no limit.
    pub max_messages: Option<u64>,
    /// Octets per message. Default 2048.
    pub message_size: usize,
    /// Readers wait this long between operations. Default 50 ms.
    pub think: Duration,
    /// Deliverers and appenders wait this long between messages (a steady rate for a soak,
    /// instead of as fast as the server takes them). Default none.
    pub pace: Duration,
    /// Connections are opened over this long (evenly), not all in one instant. Default 1 s.
    pub ramp: Duration,
    /// The longest one operation may take before it counts as an error. Default 30 s.
    pub op_timeout: Duration,
    /// Marks this run's Message-IDs. Default: the process id and the time.
    pub run_id: String,
    /// Log in with SCRAM-SHA-256 (IMAP AUTHENTICATE, POP3 AUTH): every login then costs a
    /// PBKDF2 of 4096 rounds on both sides. Default `false`: IMAP `AUTHENTICATE PLAIN` and
    /// POP3 USER/PASS, so the load is on the protocols, not on password hashing.
    pub scram: bool,
}

impl Default for LoadConfig {
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self {
            smtp: None,
            lmtp: None,
            pop3: None,
            imap: None,
            users: Vec::new(),
            mix: Mix::default(),
            duration: Duration::from_secs(10),
            max_messages: None,
            message_size: 2048,
            think: Duration::from_millis(50),
            pace: Duration::ZERO,
            ramp: Duration::from_secs(1),
            op_timeout: Duration::from_secs(30),
            run_id: format!("{}.{now}", std::process::id()),
            scram: false,
        }
    }
}

/// The kinds of worker, as named in reports.
pub const KINDS: [&str; 7] = ["smtp", "lmtp", "pop3", "imap", "idle", "append", "dele"];

/// One acknowledged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Its Message-ID, without angle brackets.
    pub message_id: String,
    /// `smtp`, `lmtp` or `imap` (APPEND).
    pub protocol: &'static str,
    /// The recipient's login.
    pub user: String,
    /// Its size in octets ([`message`] rebuilds it).
    pub size: usize,
}

/// What one kind of worker did.
#[derive(Debug, Clone, Default)]
pub struct KindReport {
    /// Connections that logged in (or, for SMTP and LMTP, got their greeting).
    pub connected: u64,
    /// Connections that could not be opened or logged in.
    pub connect_failures: u64,
    /// Operations that succeeded (a message sent, a read cycle, an IDLE event).
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The first few error messages.
    pub first_errors: Vec<String>,
    /// Operation latencies in microseconds, sorted (after [`run`]). For IDLE watchers: the
    /// time from DONE to the end of IDLE.
    pub latencies: Vec<u64>,
}

impl KindReport {
    /// The `q` quantile (0 to 1) of the latencies, in microseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.latencies.is_empty() {
            return 0;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(e.to_string());
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per kind (see [`KINDS`]).
    pub kinds: BTreeMap<&'static str, KindReport>,
    /// Every message a server acknowledged.
    pub ledger: Vec<Ack>,
    /// The Message-IDs of messages POP3 deleters removed, acknowledged by `+OK` to QUIT.
    pub deleted: Vec<String>,
    /// The Message-IDs marked with DELE whose QUIT got no answer (the connection was lost):
    /// they may or may not be gone.
    pub uncertain: Vec<String>,
    /// How long the run took, connections closed.
    pub elapsed: Duration,
    /// The most connections that were open at once.
    pub peak_connections: usize,
}

impl Report {
    /// All errors and connection failures.
    pub fn failures(&self) -> u64 {
        self.kinds
            .values()
            .map(|k| k.errors + k.connect_failures)
            .sum()
    }

    /// The report as one JSON object: per kind the counts, the rate (ops/s) and p50, p99 and
    /// max latency in milliseconds; the number of messages acknowledged.
    pub fn to_json(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut kinds = serde_json::Map::new();
        for (name, k) in &self.kinds {
            kinds.insert(
                (*name).to_owned(),
                serde_json::json!({
                    "connected": k.connected,
                    "connect_failures": k.connect_failures,
                    "ops": k.ops,
                    "errors": k.errors,
                    "first_errors": k.first_errors,
                    "rate_per_s": (k.ops as f64 / secs * 10.0).round() / 10.0,
                    "p50_ms": k.quantile(0.5) as f64 / 1000.0,
                    "p99_ms": k.quantile(0.99) as f64 / 1000.0,
                    "max_ms": k.latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
                }),
            );
        }
        serde_json::json!({
            "elapsed_s": (secs * 1000.0).round() / 1000.0,
            "peak_connections": self.peak_connections,
            "acknowledged": self.ledger.len(),
            "deleted": self.deleted.len(),
            "uncertain": self.uncertain.len(),
            "failures": self.failures(),
            "kinds": kinds,
        })
        .to_string()
    }
}

/// The octets of the message with `message_id` (without angle brackets), about `size` long:
/// deterministic, CRLF lines, some starting with a dot.
pub fn message(message_id: &str, user: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: load@example.org\r\nTo: {user}@example.com\r\nSubject: load {message_id}\r\n\
         Message-ID: <{message_id}>\r\n\r\n"
    )
    .into_bytes();
    let mut n = 0u32;
    while m.len() + 2 < size {
        n += 1;
        let line = if n.is_multiple_of(17) {
            format!(".line {n} of {message_id}")
        } else {
            format!("line {n} of {message_id} abcdefghijklmnopqrstuvwxyz0123456789")
        };
        m.extend_from_slice(line.as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m
}

struct Shared {
    config: LoadConfig,
    deadline: Instant,
    report: Mutex<Report>,
    acked: std::sync::atomic::AtomicU64,
    open: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn done(&self) -> bool {
        Instant::now() >= self.deadline
            || self
                .config
                .max_messages
                .is_some_and(|max| self.acked.load(std::sync::atomic::Ordering::Relaxed) >= max)
    }

    fn with<R>(&self, kind: &'static str, f: impl FnOnce(&mut KindReport) -> R) -> R {
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        f(r.kinds.entry(kind).or_default())
    }

    fn opened(&self) {
        let n = self.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.peak_connections = r.peak_connections.max(n);
    }

    fn closed(&self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn user(&self, i: usize) -> (String, String) {
        self.config.users[i % self.config.users.len()].clone()
    }

    async fn timed<T, E: std::fmt::Display>(
        &self,
        kind: &'static str,
        op: impl std::future::Future<Output = Result<T, E>>,
    ) -> Option<T> {
        let t = Instant::now();
        match tokio::time::timeout(self.config.op_timeout, op).await {
            Ok(Ok(v)) => {
                let us = t.elapsed().as_micros() as u64;
                self.with(kind, |k| {
                    k.ops += 1;
                    k.latencies.push(us);
                });
                Some(v)
            }
            Ok(Err(e)) => {
                self.with(kind, |k| k.error(e));
                None
            }
            Err(_) => {
                self.with(kind, |k| k.error("timed out"));
                None
            }
        }
    }
}

/// Runs the load and returns what happened. Workers of a kind whose address is not given are
/// not started. Every connection is closed before this returns.
pub async fn run(config: LoadConfig) -> Report {
    assert!(
        !config.users.is_empty() || config.mix.total() == 0,
        "the load needs at least one user"
    );
    let start = Instant::now();
    let shared = Arc::new(Shared {
        deadline: start + config.duration,
        config,
        report: Mutex::new(Report::default()),
        acked: Default::default(),
        open: Default::default(),
    });
    let c = &shared.config;
    let mut plan: Vec<(&'static str, usize)> = Vec::new();
    for (kind, n, addr) in [
        ("smtp", c.mix.smtp, c.smtp),
        ("lmtp", c.mix.lmtp, c.lmtp),
        ("pop3", c.mix.pop3, c.pop3),
        ("imap", c.mix.imap, c.imap),
        ("idle", c.mix.idle, c.imap),
        ("append", c.mix.append, c.imap),
        ("dele", c.mix.pop3_delete, c.pop3),
    ] {
        if addr.is_some() {
            plan.extend((0..n).map(|i| (kind, i)));
        }
    }
    // Interleave the kinds so the ramp opens a mix, not one protocol after another.
    plan.sort_by_key(|&(kind, i)| (i, kind));
    let step = c
        .ramp
        .checked_div(plan.len().max(1) as u32)
        .unwrap_or_default();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, (kind, i)) in plan.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let delay = step * n as u32;
        tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            match kind {
                "smtp" | "lmtp" => deliverer(&shared, kind, i).await,
                "pop3" => pop3_reader(&shared, i).await,
                "imap" => imap_reader(&shared, i).await,
                "append" => appender(&shared, i).await,
                "dele" => pop3_deleter(&shared, i).await,
                _ => imap_idler(&shared, i).await,
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut report = std::mem::take(&mut *shared.report.lock().unwrap_or_else(|e| e.into_inner()));
    for k in report.kinds.values_mut() {
        k.latencies.sort_unstable();
    }
    report.elapsed = start.elapsed();
    report
}

async fn deliverer(shared: &Shared, kind: &'static str, worker: usize) {
    use mailwire_smtp::client::{Client, ClientOptions};
    use mailwire_smtp::proto::Envelope;
    let c = &shared.config;
    let addr = if kind == "smtp" { c.smtp } else { c.lmtp }.expect("planned with an address");
    let mut n = 0u64;
    while !shared.done() {
        let options = ClientOptions::new(addr.ip().to_string(), addr.port())
            .tls_policy(TlsPolicy::Disabled)
            .lmtp(kind == "lmtp");
        let mut client =
            match tokio::time::timeout(c.op_timeout, Client::connect_with(options)).await {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => {
                    shared.with(kind, |k| {
                        k.connect_failures += 1;
                        k.error(format!("connect: {e}"));
                    });
                    tokio::time::sleep(c.think).await;
                    continue;
                }
                Err(_) => {
                    shared.with(kind, |k| {
                        k.connect_failures += 1;
                        k.error("connect: timed out");
                    });
                    continue;
                }
            };
        shared.opened();
        shared.with(kind, |k| k.connected += 1);
        while !shared.done() {
            n += 1;
            let (user, _) = shared.user(worker + n as usize);
            let id = format!("{}.{kind}.{worker}.{n}@load.mailwire", c.run_id);
            let body = message(&id, &user, c.message_size);
            let size = body.len();
            let Ok(to) = format!("{user}@example.com").parse() else {
                shared.with(kind, |k| k.error(format!("bad address for {user}")));
                break;
            };
            let Ok(from) = "load@example.org".parse() else {
                break;
            };
            let envelope = Envelope::new(from, [to]);
            let sent = shared
                .timed(kind, async {
                    let report = client
                        .send(envelope, body)
                        .await
                        .map_err(|e| e.to_string())?;
                    // Acknowledged: every recipient, and the data (SMTP's final reply).
                    if let Some(r) = report.final_reply.as_ref().filter(|r| !r.is_positive()) {
                        return Err(format!("data refused: {r}"));
                    }
                    match report.recipients.iter().find(|(_, r)| !r.is_positive()) {
                        Some((rcpt, reply)) => Err(format!("{rcpt} refused: {reply}")),
                        None => Ok(()),
                    }
                })
                .await;
            match sent {
                Some(()) => {
                    ack(
                        shared,
                        Ack {
                            message_id: id,
                            protocol: kind,
                            user,
                            size,
                        },
                    );
                    if !c.pace.is_zero() {
                        tokio::time::sleep(c.pace).await;
                    }
                }
                // The connection may be gone: open another.
                None => break,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), client.quit()).await;
        shared.closed();
    }
}

async fn pop3_reader(shared: &Shared, worker: usize) {
    use mailwire_pop3::client::{AuthMethod, Client, ClientConfig, Login};
    let c = &shared.config;
    let addr = c.pop3.expect("planned with an address");
    let (user, password) = shared.user(worker);
    let config = ClientConfig::new(
        addr.ip().to_string(),
        addr.port(),
        Security::StartTls(TlsPolicy::Disabled),
    );
    let method = if c.scram {
        AuthMethod::Sasl(mailwire_sasl::Mechanism::ScramSha256)
    } else {
        AuthMethod::UserPass
    };
    let login = Login::password(user, password)
        .with_method(method)
        .allow_plaintext_without_tls(true);
    let connect = async {
        let mut client = Client::connect(config).await?;
        client.login(&login).await?;
        Ok::<_, mailwire_pop3::client::Error>(client)
    };
    let mut client = match tokio::time::timeout(c.op_timeout, connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            shared.with("pop3", |k| {
                k.connect_failures += 1;
                k.error(format!("connect: {e}"));
            });
            return;
        }
        Err(_) => {
            shared.with("pop3", |k| {
                k.connect_failures += 1;
                k.error("connect: timed out");
            });
            return;
        }
    };
    shared.opened();
    shared.with("pop3", |k| k.connected += 1);
    while !shared.done() {
        let ok = shared
            .timed("pop3", async {
                let (count, _) = client.stat().await?;
                if count > 0 {
                    client.retr(count).await?;
                }
                client.noop().await
            })
            .await;
        if ok.is_none() {
            break;
        }
        tokio::time::sleep(c.think).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), client.quit()).await;
    shared.closed();
}

async fn imap_login(
    shared: &Shared,
    kind: &'static str,
    worker: usize,
) -> Option<mailwire_imap::client::Client> {
    use mailwire_imap::client::{Client, ClientConfig, Login};
    let c = &shared.config;
    let addr = c.imap.expect("planned with an address");
    let (user, password) = shared.user(worker);
    let config = ClientConfig::new(
        addr.ip().to_string(),
        addr.port(),
        Security::StartTls(TlsPolicy::Disabled),
    );
    let mechanism = if c.scram {
        mailwire_sasl::Mechanism::ScramSha256
    } else {
        mailwire_sasl::Mechanism::Plain
    };
    let login = Login::password(user, password)
        .with_mechanism(mechanism)
        .allow_plaintext_without_tls(true);
    let connect = async {
        let client = Client::connect(config, &login).await?;
        client.select("INBOX").await?;
        Ok::<_, mailwire_imap::client::Error>(client)
    };
    match tokio::time::timeout(c.op_timeout, connect).await {
        Ok(Ok(client)) => {
            shared.opened();
            shared.with(kind, |k| k.connected += 1);
            Some(client)
        }
        Ok(Err(e)) => {
            shared.with(kind, |k| {
                k.connect_failures += 1;
                k.error(format!("connect: {e}"));
            });
            None
        }
        Err(_) => {
            shared.with(kind, |k| {
                k.connect_failures += 1;
                k.error("connect: timed out");
            });
            None
        }
    }
}

fn ack(shared: &Shared, a: Ack) {
    shared
        .acked
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shared
        .report
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ledger
        .push(a);
}

async fn appender(shared: &Shared, worker: usize) {
    let c = &shared.config;
    let mut n = 0u64;
    while !shared.done() {
        let Some(client) = imap_login(shared, "append", worker).await else {
            tokio::time::sleep(c.think).await;
            continue;
        };
        let (user, _) = shared.user(worker);
        while !shared.done() {
            n += 1;
            let id = format!("{}.append.{worker}.{n}@load.mailwire", c.run_id);
            let body = message(&id, &user, c.message_size);
            let size = body.len();
            let done = shared
                .timed("append", client.append("INBOX", &[], body))
                .await;
            match done {
                Some(_) => {
                    ack(
                        shared,
                        Ack {
                            message_id: id,
                            protocol: "imap",
                            user: user.clone(),
                            size,
                        },
                    );
                    if !c.pace.is_zero() {
                        tokio::time::sleep(c.pace).await;
                    }
                }
                None => break,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), client.logout()).await;
        shared.closed();
    }
}

/// The Message-ID (without brackets) in a message's header.
fn message_id_of(m: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(m);
    let head = text.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("message-id").then(|| {
            value
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

async fn pop3_deleter(shared: &Shared, worker: usize) {
    use mailwire_pop3::client::{AuthMethod, Client, ClientConfig, Login};
    let c = &shared.config;
    let addr = c.pop3.expect("planned with an address");
    // After the readers' users: a POP3 maildrop is locked by one session at a time.
    let (user, password) = shared.user(c.mix.pop3 + worker);
    let login = Login::password(user, password)
        .with_method(AuthMethod::UserPass)
        .allow_plaintext_without_tls(true);
    while !shared.done() {
        let config = ClientConfig::new(
            addr.ip().to_string(),
            addr.port(),
            Security::StartTls(TlsPolicy::Disabled),
        );
        let connect = async {
            let mut client = Client::connect(config).await?;
            client.login(&login).await?;
            Ok::<_, mailwire_pop3::client::Error>(client)
        };
        let mut client = match tokio::time::timeout(c.op_timeout, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                shared.with("dele", |k| {
                    k.connect_failures += 1;
                    k.error(format!("connect: {e}"));
                });
                tokio::time::sleep(c.think).await;
                continue;
            }
            Err(_) => {
                shared.with("dele", |k| {
                    k.connect_failures += 1;
                    k.error("connect: timed out");
                });
                continue;
            }
        };
        shared.opened();
        shared.with("dele", |k| k.connected += 1);
        // One message marked per session: the deletion happens at QUIT.
        let marked = shared
            .timed("dele", async {
                let (count, _) = client.stat().await?;
                if count == 0 {
                    return Ok(None);
                }
                let m = client.retr(1).await?;
                client.dele(1).await?;
                Ok::<_, mailwire_pop3::client::Error>(message_id_of(&m))
            })
            .await;
        let quit = tokio::time::timeout(c.op_timeout, client.quit()).await;
        shared.closed();
        if let Some(Some(id)) = marked {
            let mut r = shared.report.lock().unwrap_or_else(|e| e.into_inner());
            match quit {
                Ok(Ok(_)) => r.deleted.push(id),
                _ => r.uncertain.push(id),
            }
        } else {
            tokio::time::sleep(c.think).await;
        }
    }
}

async fn imap_reader(shared: &Shared, worker: usize) {
    let Some(client) = imap_login(shared, "imap", worker).await else {
        return;
    };
    while !shared.done() {
        let ok = shared
            .timed("imap", async {
                // The newest message, when there is one. Another session (a POP3 deleter)
                // may have expunged it meanwhile: NO [EXPUNGEISSUED] is then the right
                // answer (RFC 9051 §7.1), and the NOOP after it brings the news.
                if client.view().exists > 0 {
                    match client.command("FETCH * (UID FLAGS BODY.PEEK[])").await {
                        Err(mailwire_imap::client::Error::No(t))
                            if t.code == Some(mailwire_imap::proto::Code::ExpungeIssued) => {}
                        other => {
                            other?;
                        }
                    }
                }
                client.command("NOOP").await
            })
            .await;
        if ok.is_none() {
            break;
        }
        tokio::time::sleep(shared.config.think).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), client.logout()).await;
    shared.closed();
}

async fn imap_idler(shared: &Shared, worker: usize) {
    let Some(client) = imap_login(shared, "idle", worker).await else {
        return;
    };
    let mut events = client.events();
    let idle = match tokio::time::timeout(shared.config.op_timeout, client.idle()).await {
        Ok(Ok(idle)) => idle,
        Ok(Err(e)) => {
            shared.with("idle", |k| k.error(format!("IDLE: {e}")));
            shared.closed();
            return;
        }
        Err(_) => {
            shared.with("idle", |k| k.error("IDLE: timed out"));
            shared.closed();
            return;
        }
    };
    loop {
        let left = shared.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.done() {
            break;
        }
        match tokio::time::timeout(left.min(Duration::from_millis(500)), events.recv()).await {
            // Each change the server pushes while idling counts as one operation (no
            // latency: when the change was made is not known here).
            Ok(Ok(_)) => shared.with("idle", |k| k.ops += 1),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) => {
                shared.with("idle", |k| k.error("the connection closed while idling"));
                break;
            }
            Err(_) => {}
        }
    }
    let ended = shared
        .timed("idle", async { idle.done().await.map(drop) })
        .await;
    if ended.is_some() {
        let _ = tokio::time::timeout(Duration::from_secs(5), client.logout()).await;
    }
    shared.closed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_deterministic_crlf_and_sized() {
        let a = message("x.1@load", "alice", 2048);
        assert_eq!(a, message("x.1@load", "alice", 2048));
        assert!(a.len() <= 2048 && a.len() > 1900, "{}", a.len());
        assert!(a.ends_with(b"\r\n"));
        assert!(
            a.windows(2)
                .enumerate()
                .all(|(i, w)| w[1] != b'\n' || w[0] == b'\r' || i == 0)
        );
        assert!(
            a.windows(3).any(|w| w == b"\n.l"),
            "a line starts with a dot"
        );
    }

    #[test]
    fn quantiles() {
        let k = KindReport {
            latencies: (1..=100).collect(),
            ..KindReport::default()
        };
        assert_eq!(k.quantile(0.5), 51);
        assert_eq!(k.quantile(0.99), 99);
        assert_eq!(k.quantile(1.0), 100);
        assert_eq!(KindReport::default().quantile(0.99), 0);
    }
}
