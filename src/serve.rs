//! `mailwire serve`: SMTP, Submission, LMTP, POP3 and IMAP listeners over one embedded store,
//! as a library so programs and tests can run a test mail server in-process.
//!
//! ```no_run
//! use mailwire::serve::{ServeConfig, Server};
//!
//! # async fn run() -> Result<(), mailwire::serve::ServeError> {
//! let mut config = ServeConfig::default();
//! config.smtp = Some("127.0.0.1:0".into());
//! config.users = vec!["alice:secret".into()];
//! let server = Server::start(config).await?;
//! println!("SMTP on {}", server.addresses()["smtp"]);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mailwire_imap::server::Listener as ImapListener;
use mailwire_pop3::server::Listener as Pop3Listener;
use mailwire_smtp::server::{Listener as SmtpListener, ServerOptions as SmtpOptions};
use mailwire_smtp::store::{StorePolicy, StoreSink};
use mailwire_store::Store;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A protocol `serve` listens for. Each has a name (the flag, the config key, the key in
/// [`Server::addresses`] and the ready file) and, except LMTP, a default address: the standard
/// port + 3000, GreenMail's convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// SMTP with STARTTLS (`--smtp`, default 127.0.0.1:3025).
    Smtp,
    /// SMTP over implicit TLS (`--smtps`, default 127.0.0.1:3465).
    Smtps,
    /// Submission, AUTH required (`--submission`, default 127.0.0.1:3587).
    Submission,
    /// LMTP (`--lmtp`, no default: it starts only when named).
    Lmtp,
    /// POP3 with STLS (`--pop3`, default 127.0.0.1:3110).
    Pop3,
    /// POP3 over implicit TLS (`--pop3s`, default 127.0.0.1:3995).
    Pop3s,
    /// IMAP with STARTTLS (`--imap`, default 127.0.0.1:3143).
    Imap,
    /// IMAP over implicit TLS (`--imaps`, default 127.0.0.1:3993).
    Imaps,
}

/// Which server a [`Protocol`] is served by.
enum Served {
    Smtp(SmtpListener),
    Pop3(Pop3Listener),
    Imap(ImapListener),
}

impl Protocol {
    /// Every protocol, in the order listeners are started and reported.
    pub const ALL: [Protocol; 8] = [
        Self::Smtp,
        Self::Smtps,
        Self::Submission,
        Self::Lmtp,
        Self::Pop3,
        Self::Pop3s,
        Self::Imap,
        Self::Imaps,
    ];

    /// The name: `smtp`, `smtps`, `submission`, `lmtp`, `pop3`, `pop3s`, `imap`, `imaps`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Smtps => "smtps",
            Self::Submission => "submission",
            Self::Lmtp => "lmtp",
            Self::Pop3 => "pop3",
            Self::Pop3s => "pop3s",
            Self::Imap => "imap",
            Self::Imaps => "imaps",
        }
    }

    /// The address it listens on when no listener is named.
    pub fn default_address(self) -> Option<&'static str> {
        Some(match self {
            Self::Smtp => "127.0.0.1:3025",
            Self::Smtps => "127.0.0.1:3465",
            Self::Submission => "127.0.0.1:3587",
            Self::Lmtp => return None,
            Self::Pop3 => "127.0.0.1:3110",
            Self::Pop3s => "127.0.0.1:3995",
            Self::Imap => "127.0.0.1:3143",
            Self::Imaps => "127.0.0.1:3993",
        })
    }

    fn served(self) -> Served {
        match self {
            Self::Smtp => Served::Smtp(SmtpListener::Smtp),
            Self::Smtps => Served::Smtp(SmtpListener::Smtps),
            Self::Submission => Served::Smtp(SmtpListener::Submission),
            Self::Lmtp => Served::Smtp(SmtpListener::Lmtp),
            Self::Pop3 => Served::Pop3(Pop3Listener::Pop3),
            Self::Pop3s => Served::Pop3(Pop3Listener::Pop3s),
            Self::Imap => Served::Imap(ImapListener::Imap),
            Self::Imaps => Served::Imap(ImapListener::Imaps),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Protocol {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self, ServeError> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ServeError::Config(format!("unknown protocol {s:?}")))
    }
}

/// The settings of `mailwire serve`. The same keys work in the `--config` TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeConfig {
    /// SMTP listener address (STARTTLS).
    pub smtp: Option<String>,
    /// SMTPS listener address (implicit TLS).
    pub smtps: Option<String>,
    /// Submission listener address (AUTH required).
    pub submission: Option<String>,
    /// LMTP listener address.
    pub lmtp: Option<String>,
    /// IMAP listener address (STARTTLS).
    pub imap: Option<String>,
    /// IMAPS listener address.
    pub imaps: Option<String>,
    /// POP3 listener address (STLS).
    pub pop3: Option<String>,
    /// POP3S listener address.
    pub pop3s: Option<String>,
    /// Users as `LOGIN:PASSWORD`.
    #[serde(rename = "user", alias = "users")]
    pub users: Vec<String>,
    /// Accept every password.
    pub accept_any_auth: bool,
    /// Create users for unknown recipients.
    pub accept_any_recipient: bool,
    /// Allow PLAIN/LOGIN/USER/IMAP LOGIN without TLS.
    pub allow_insecure_auth: bool,
    /// Certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// `memory` or `maildir:DIR`; default memory.
    pub store: Option<String>,
    /// Where to write the JSON of bound addresses.
    pub ready_file: Option<PathBuf>,
    /// Largest message accepted over SMTP, in octets (default 35 MiB).
    pub max_message_size: Option<u64>,
    /// Seconds allowed for transactions in flight after SIGINT/SIGTERM (default 10).
    pub shutdown_grace_secs: Option<u64>,
    /// Expunges each mailbox remembers for QRESYNC (default
    /// [`DEFAULT_EXPUNGE_HISTORY`](mailwire_store::DEFAULT_EXPUNGE_HISTORY)).
    pub expunge_history: Option<usize>,
    /// The IMAP server's limits (`[imap-limits]` in the file); unset ones keep their
    /// defaults.
    pub imap_limits: ImapLimits,
    /// The SMTP server's limits, for SMTP, SMTPS, Submission and LMTP alike
    /// (`[smtp-limits]`); unset ones keep their defaults.
    pub smtp_limits: SmtpLimits,
    /// The POP3 server's limits (`[pop3-limits]`); unset ones keep their defaults.
    pub pop3_limits: Pop3Limits,
    /// Every user's quota (`[quota]`: `storage` in octets, `messages`); none by default.
    /// Deliveries past it get `552 5.2.2`, APPEND `NO [OVERQUOTA]`; IMAP GETQUOTA shows it.
    pub quota: QuotaConfig,
    /// The login throttle shared by SMTP, POP3 and IMAP (`[auth-throttle]`): failures per
    /// client address slow its next answers, then refuse it for a while.
    pub auth_throttle: AuthThrottleConfig,
    /// One user's quota instead (`[user-quota.LOGIN]`, the same keys).
    pub user_quota: std::collections::BTreeMap<String, QuotaConfig>,
    /// The HTTP API and web page: an address, or `off`. By default on at
    /// [`DEFAULT_HTTP`] when no listener at all is named, and off otherwise (like every
    /// other listener).
    pub http: Option<String>,
    /// `USER:PASSWORD` (Basic) or a token (Bearer) the HTTP API requires; needed when it
    /// listens anywhere but loopback.
    pub http_auth: Option<String>,
    /// Exit (successfully, with a summary) once this many messages have been stored.
    pub exit_after: Option<u64>,
    /// Print one JSON line per stored message on stdout.
    pub print: bool,
    /// Faults to inject from the start (`[[fault]]` in the file); the HTTP API adds and
    /// clears them at run time.
    pub fault: Vec<crate::http::FaultRule>,
}

/// Where the HTTP API listens when nothing is named.
pub const DEFAULT_HTTP: &str = "127.0.0.1:3080";

/// A quota in the `--config` file (RFC 9208 STORAGE and MESSAGE).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct QuotaConfig {
    /// The most octets (the sum of message sizes) a user's mailboxes hold.
    pub storage: Option<u64>,
    /// The most messages.
    pub messages: Option<u64>,
}

impl From<QuotaConfig> for mailwire_store::Quota {
    fn from(q: QuotaConfig) -> Self {
        mailwire_store::Quota {
            storage: q.storage,
            messages: q.messages,
        }
    }
}

/// The IMAP server's named limits, as `[imap-limits]` in the `--config` file (each one is
/// documented with its default on [`mailwire_imap::server::ServerOptions`] and
/// [`mailwire_imap::proto::server::ServerConfig`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImapLimits {
    /// Idle seconds allowed before login.
    pub login_timeout_secs: Option<u64>,
    /// Idle seconds allowed after login (autologout; RFC 9051 §5.4 asks for at least 1800).
    pub idle_timeout_secs: Option<u64>,
    /// Milliseconds a failed authentication waits before its `NO`.
    pub auth_failure_delay_ms: Option<u64>,
    /// Failed authentications before `BYE`.
    pub max_auth_failures: Option<u32>,
    /// Commands answered `BAD` before `BYE`.
    pub max_bad_commands: Option<u32>,
    /// Connections per listener.
    pub max_connections: Option<usize>,
    /// Connections per listener from one client address.
    pub max_connections_per_address: Option<usize>,
    /// Sessions logged in at once as one user.
    pub max_sessions_per_user: Option<usize>,
    /// The longest command line, in octets.
    pub max_line_len: Option<usize>,
    /// The largest literal before login, in octets.
    pub max_literal_before_auth: Option<u64>,
    /// How deeply lists and SEARCH keys may nest.
    pub max_depth: Option<usize>,
    /// Response octets buffered before pipelined reading pauses.
    pub max_output: Option<usize>,
    /// Seconds one write to the client may take (a client that stops reading is cut off).
    pub write_timeout_secs: Option<u64>,
    /// Seconds a started command may stay unanswered before it must arrive at
    /// `min-input-rate` (slow clients).
    pub command_timeout_secs: Option<u64>,
    /// Octets per second a slow command must average.
    pub min_input_rate: Option<u64>,
}

impl ImapLimits {
    /// Applies the limits that are set to `o`.
    pub fn apply(&self, o: &mut mailwire_imap::server::ServerOptions) {
        slow_client_limits(
            [self.write_timeout_secs, self.command_timeout_secs],
            self.min_input_rate,
            [&mut o.write_timeout, &mut o.command_timeout],
            &mut o.min_input_rate,
        );
        let secs = std::time::Duration::from_secs;
        if let Some(v) = self.login_timeout_secs {
            o.session.login_timeout = secs(v);
        }
        if let Some(v) = self.idle_timeout_secs {
            o.idle_timeout = secs(v);
        }
        if let Some(v) = self.auth_failure_delay_ms {
            o.session.auth_failure_delay = std::time::Duration::from_millis(v);
        }
        macro_rules! set {
            ($($f:ident => $($path:ident).+),*) => { $( if let Some(v) = self.$f { o.$($path).+ = v; } )* };
        }
        set!(
            max_auth_failures => session.max_auth_failures,
            max_bad_commands => session.max_bad_commands,
            max_connections => max_connections,
            max_connections_per_address => max_connections_per_address,
            max_sessions_per_user => max_sessions_per_user,
            max_line_len => session.max_line_len,
            max_literal_before_auth => session.max_literal_before_auth,
            max_depth => session.max_depth,
            max_output => session.max_output
        );
    }
}

/// `[auth-throttle]` in the `--config` file (defaults on
/// [`mailwire_net::AuthThrottleOptions`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthThrottleConfig {
    /// `false` turns the throttle off. Default on.
    pub enabled: Option<bool>,
    /// Seconds an address's failures are remembered after its last one.
    pub window_secs: Option<u64>,
    /// Failures answered at once.
    pub slow_after: Option<u32>,
    /// Milliseconds added to the wait per failure past `slow-after`.
    pub delay_step_ms: Option<u64>,
    /// The longest wait before a failure is answered, in milliseconds.
    pub max_delay_ms: Option<u64>,
    /// Failures after which the address is refused (0: never).
    pub lockout_after: Option<u32>,
    /// Seconds a refused address stays refused.
    pub lockout_secs: Option<u64>,
}

impl AuthThrottleConfig {
    /// The throttle these settings describe, `None` when turned off.
    pub fn throttle(&self) -> Option<std::sync::Arc<mailwire_net::AuthThrottle>> {
        if self.enabled == Some(false) {
            return None;
        }
        let mut o = mailwire_net::AuthThrottleOptions::default();
        let secs = std::time::Duration::from_secs;
        let ms = std::time::Duration::from_millis;
        if let Some(v) = self.window_secs {
            o.window = secs(v);
        }
        if let Some(v) = self.slow_after {
            o.slow_after = v;
        }
        if let Some(v) = self.delay_step_ms {
            o.delay_step = ms(v);
        }
        if let Some(v) = self.max_delay_ms {
            o.max_delay = ms(v);
        }
        if let Some(v) = self.lockout_after {
            o.lockout_after = v;
        }
        if let Some(v) = self.lockout_secs {
            o.lockout = secs(v);
        }
        Some(std::sync::Arc::new(mailwire_net::AuthThrottle::new(o)))
    }
}

/// The settings every server's limits share: the write and command timeouts (seconds) and
/// the slow-client input rate, applied where set.
fn slow_client_limits(
    secs: [Option<u64>; 2],
    rate: Option<u64>,
    timeouts: [&mut std::time::Duration; 2],
    min_input_rate: &mut u64,
) {
    for (v, t) in secs.into_iter().zip(timeouts) {
        if let Some(v) = v {
            *t = std::time::Duration::from_secs(v);
        }
    }
    if let Some(v) = rate {
        *min_input_rate = v;
    }
}

/// The SMTP server's named limits, as `[smtp-limits]` in the `--config` file (defaults on
/// [`mailwire_smtp::server::ServerOptions`] and [`mailwire_smtp::proto::ServerConfig`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SmtpLimits {
    /// Idle seconds allowed while waiting for a command.
    pub idle_timeout_secs: Option<u64>,
    /// Connections served at once on each listener (SMTP, SMTPS, Submission, LMTP); one
    /// more is answered `421 4.3.2` and closed.
    pub max_connections: Option<usize>,
    /// Recipients per message.
    pub max_recipients: Option<usize>,
    /// Errors before `421` and close.
    pub max_errors: Option<u32>,
    /// Commands per connection.
    pub max_commands: Option<u64>,
    /// The longest command line, in octets.
    pub max_command_line: Option<usize>,
    /// Output buffered before pipelined reading pauses.
    pub max_pending_output: Option<usize>,
    /// Seconds one write to the client may take (a client that stops reading is cut off).
    pub write_timeout_secs: Option<u64>,
    /// Seconds a started command may stay unanswered before it must arrive at
    /// `min-input-rate` (slow clients).
    pub command_timeout_secs: Option<u64>,
    /// Octets per second a slow command must average.
    pub min_input_rate: Option<u64>,
}

impl SmtpLimits {
    /// Applies the limits that are set to `o`.
    pub fn apply(&self, o: &mut mailwire_smtp::server::ServerOptions) {
        slow_client_limits(
            [self.write_timeout_secs, self.command_timeout_secs],
            self.min_input_rate,
            [&mut o.write_timeout, &mut o.command_timeout],
            &mut o.min_input_rate,
        );
        if let Some(v) = self.idle_timeout_secs {
            o.idle_timeout = std::time::Duration::from_secs(v);
        }
        macro_rules! set {
            ($($f:ident => $($path:ident).+),*) => { $( if let Some(v) = self.$f { o.$($path).+ = v; } )* };
        }
        set!(
            max_connections => max_connections,
            max_recipients => session.max_recipients,
            max_errors => session.max_errors,
            max_commands => session.max_commands,
            max_command_line => session.max_command_line,
            max_pending_output => max_pending_output
        );
    }
}

/// The POP3 server's named limits, as `[pop3-limits]` in the `--config` file (defaults on
/// [`mailwire_pop3::server::ServerOptions`] and [`mailwire_pop3::proto::ServerConfig`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pop3Limits {
    /// Idle seconds allowed while waiting for a command (RFC 1939 §3: at least 600).
    pub idle_timeout_secs: Option<u64>,
    /// Connections served at once on each listener (POP3, POP3S); one more is answered
    /// `-ERR [SYS/TEMP]` and closed.
    pub max_connections: Option<usize>,
    /// Failed authentications before the connection is closed.
    pub max_auth_failures: Option<u32>,
    /// Errors before the connection is closed.
    pub max_errors: Option<u32>,
    /// Commands per connection.
    pub max_commands: Option<u64>,
    /// The longest command line, in octets.
    pub max_command_line: Option<usize>,
    /// Seconds one write to the client may take (a client that stops reading is cut off).
    pub write_timeout_secs: Option<u64>,
    /// Seconds a started command may stay unanswered before it must arrive at
    /// `min-input-rate` (slow clients).
    pub command_timeout_secs: Option<u64>,
    /// Octets per second a slow command must average.
    pub min_input_rate: Option<u64>,
}

impl Pop3Limits {
    /// Applies the limits that are set to `o`.
    pub fn apply(&self, o: &mut mailwire_pop3::server::ServerOptions) {
        slow_client_limits(
            [self.write_timeout_secs, self.command_timeout_secs],
            self.min_input_rate,
            [&mut o.write_timeout, &mut o.command_timeout],
            &mut o.min_input_rate,
        );
        if let Some(v) = self.idle_timeout_secs {
            o.idle_timeout = std::time::Duration::from_secs(v);
        }
        macro_rules! set {
            ($($f:ident => $($path:ident).+),*) => { $( if let Some(v) = self.$f { o.$($path).+ = v; } )* };
        }
        set!(
            max_connections => max_connections,
            max_auth_failures => session.max_auth_failures,
            max_errors => session.max_errors,
            max_commands => session.max_commands,
            max_command_line => session.max_command_line
        );
    }
}

impl ServeConfig {
    /// Reads a TOML file with the same settings.
    pub fn from_file(path: &Path) -> Result<Self, ServeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServeError::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))
    }

    /// Lays `over` (the command line) over `self` (the file): options given in `over` win,
    /// flags that are set stay set, users are added.
    pub fn merge(mut self, over: ServeConfig) -> Self {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            smtp,
            smtps,
            submission,
            lmtp,
            imap,
            imaps,
            pop3,
            pop3s,
            tls_cert,
            tls_key,
            store,
            ready_file,
            max_message_size,
            shutdown_grace_secs,
            expunge_history,
            http,
            http_auth,
            exit_after
        );
        self.print |= over.print;
        self.users.extend(over.users);
        self.fault.extend(over.fault);
        // The command line has no IMAP limits: the file's stay.
        self.accept_any_auth |= over.accept_any_auth;
        self.accept_any_recipient |= over.accept_any_recipient;
        self.allow_insecure_auth |= over.allow_insecure_auth;
        self
    }

    /// The address given for `protocol`, if any.
    pub fn address_of(&self, protocol: Protocol) -> Option<&String> {
        match protocol {
            Protocol::Smtp => self.smtp.as_ref(),
            Protocol::Smtps => self.smtps.as_ref(),
            Protocol::Submission => self.submission.as_ref(),
            Protocol::Lmtp => self.lmtp.as_ref(),
            Protocol::Imap => self.imap.as_ref(),
            Protocol::Imaps => self.imaps.as_ref(),
            Protocol::Pop3 => self.pop3.as_ref(),
            Protocol::Pop3s => self.pop3s.as_ref(),
        }
    }

    /// The listeners to start: those named, or every default when none is named.
    /// The HTTP listener's address, if it is on.
    pub fn http_address(&self) -> Option<String> {
        match self.http.as_deref() {
            Some(a) if a.eq_ignore_ascii_case("off") => None,
            Some(a) => Some(a.to_owned()),
            None if Protocol::ALL
                .into_iter()
                .all(|p| self.address_of(p).is_none()) =>
            {
                Some(DEFAULT_HTTP.to_owned())
            }
            None => None,
        }
    }

    fn listeners(&self) -> Vec<(Protocol, String)> {
        let named: Vec<_> = Protocol::ALL
            .into_iter()
            .filter_map(|p| self.address_of(p).map(|a| (p, a.clone())))
            .collect();
        if !named.is_empty() {
            return named;
        }
        Protocol::ALL
            .into_iter()
            .filter_map(|p| p.default_address().map(|a| (p, a.to_owned())))
            .collect()
    }
}

/// Why `serve` could not start. Each says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A bad setting (flag or config file).
    #[error("configuration: {0}")]
    Config(String),
    /// The HTTP listener could not bind.
    #[error("cannot listen on {addr} for http: {source}")]
    HttpBind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A listener could not bind.
    #[error("cannot listen on {addr} for {protocol}: {source}")]
    Bind {
        /// The protocol.
        protocol: Protocol,
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] mailwire_store::StoreError),
    /// TLS set-up failed (unreadable or invalid certificate or key).
    #[error("TLS: {0}")]
    Tls(#[from] mailwire_tls::Error),
    /// The ready file could not be written.
    #[error("cannot write the ready file {}: {source}", path.display())]
    ReadyFile {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A running `serve`: its listeners and the way to stop it.
pub struct Server {
    addresses: BTreeMap<String, SocketAddr>,
    ca: Option<PathBuf>,
    store: Store,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    grace: Duration,
    /// The generated certificate's folder, removed on drop.
    _tls_dir: Option<tempfile::TempDir>,
    api: std::sync::OnceLock<crate::http::Api>,
    faults: crate::http::Faults,
    /// How many messages were stored, once `exit_after` is reached.
    done: watch::Receiver<Option<u64>>,
}

impl Server {
    /// Opens the store, registers the users, sets up TLS, binds every listener and starts
    /// serving. The ready file (if asked for) is written once every listener is bound.
    pub async fn start(config: ServeConfig) -> Result<Self, ServeError> {
        let listeners = config.listeners();
        let store_spec = config.store.clone().unwrap_or_else(|| "memory".to_owned());
        let mut options = mailwire_store::StoreOptions::default();
        if let Some(n) = config.expunge_history {
            options = options.expunge_history(n);
        }
        options = options.quota(config.quota.into());
        let store = Store::open_with(&store_spec, options)?;
        for user in &config.users {
            let Some((login, password)) = user.split_once(':') else {
                return Err(ServeError::Config(format!(
                    "--user {user:?}: expected LOGIN:PASSWORD"
                )));
            };
            if login.is_empty() {
                return Err(ServeError::Config(format!(
                    "--user {user:?}: the login is empty"
                )));
            }
            store
                .add_user(login, password)
                .await
                .map_err(|e| ServeError::Config(format!("--user {login}: {e}")))?;
        }
        for (login, q) in &config.user_quota {
            store.set_quota(login, (*q).into()).map_err(|e| {
                ServeError::Config(format!("[user-quota.{login}]: {e} (add it with --user)"))
            })?;
        }
        store.set_accept_any_password(config.accept_any_auth);
        // Before any listener: no stored message escapes --print or --exit-after.
        let stored = store.watch();

        // TLS: the operator's certificate, or a self-signed one for localhost and 127.0.0.1.
        let (acceptor, ca, tls_dir) = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = mailwire_tls::server_config_from_pem_files(cert, key)?;
                (
                    mailwire_tls::TlsAcceptor::from(tls),
                    Some(cert.clone()),
                    None,
                )
            }
            (None, None) => {
                let cert = mailwire_tls::SelfSigned::localhost()?;
                // A fresh folder of an unpredictable name, only ours to read (mode 0700).
                let mut builder = tempfile::Builder::new();
                builder.prefix("mailwire-serve-");
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    builder.permissions(std::fs::Permissions::from_mode(0o700));
                }
                let dir = builder.tempdir().map_err(|e| {
                    ServeError::Config(format!("cannot make a folder for the certificate: {e}"))
                })?;
                let files = cert.write_to_dir(dir.path())?;
                (cert.acceptor(), Some(files.cert), Some(dir))
            }
            _ => {
                return Err(ServeError::Config(
                    "--tls-cert and --tls-key go together".into(),
                ));
            }
        };

        // Bind everything before serving anything, so a port in use fails the whole start.
        let http_listener = match config.http_address() {
            Some(addr) => {
                let l = TcpListener::bind(addr.as_str()).await.map_err(|source| {
                    ServeError::HttpBind {
                        addr: addr.clone(),
                        source,
                    }
                })?;
                let local = l.local_addr().map_err(|source| ServeError::HttpBind {
                    addr: addr.clone(),
                    source,
                })?;
                if !local.ip().is_loopback() && config.http_auth.is_none() {
                    return Err(ServeError::Config(format!(
                        "the HTTP API on {local} (not loopback) needs --http-auth USER:PASSWORD or a token"
                    )));
                }
                Some((l, local))
            }
            None => None,
        };
        let mut bound = Vec::new();
        for (protocol, addr) in &listeners {
            let l = TcpListener::bind(addr.as_str())
                .await
                .map_err(|source| ServeError::Bind {
                    protocol: *protocol,
                    addr: addr.clone(),
                    source,
                })?;
            bound.push((*protocol, l));
        }

        let grace = Duration::from_secs(config.shutdown_grace_secs.unwrap_or(10));
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut addresses = BTreeMap::new();
        let auth: Arc<dyn mailwire_sasl::Authenticator + Send + Sync> = Arc::new(store.clone());
        let mut smtp_options = SmtpOptions::default();
        smtp_options.session.allow_insecure_auth = config.allow_insecure_auth;
        if let Some(max) = config.max_message_size {
            smtp_options.session.max_message_size = max;
        }
        let throttle = config.auth_throttle.throttle();
        smtp_options.auth_throttle = throttle.clone();
        config.smtp_limits.apply(&mut smtp_options);
        let faults = crate::http::Faults::default();
        for rule in &config.fault {
            faults
                .add(rule.clone())
                .map_err(|e| ServeError::Config(format!("[[fault]]: {e}")))?;
        }
        let smtp = mailwire_smtp::server::Server::new(
            smtp_options,
            crate::http::FaultPolicy::new(
                StorePolicy::new(store.clone(), config.accept_any_recipient),
                faults.clone(),
            ),
            StoreSink::new(store.clone()),
            Arc::clone(&auth),
            Some(acceptor.clone()),
        );
        let mut pop3_options = mailwire_pop3::server::ServerOptions::default();
        pop3_options.session.allow_insecure_auth = config.allow_insecure_auth;
        pop3_options.auth_throttle = throttle.clone();
        config.pop3_limits.apply(&mut pop3_options);
        let pop3 = mailwire_pop3::server::Server::with_login_faults(
            pop3_options,
            mailwire_pop3::server::StoreMaildrops::new(store.clone()),
            Arc::clone(&auth),
            Some(acceptor.clone()),
            Some(faults.pop3_hook()),
        );
        let mut imap_options = mailwire_imap::server::ServerOptions::default();
        imap_options.session.allow_insecure_auth = config.allow_insecure_auth;
        if let Some(max) = config.max_message_size {
            imap_options.session.max_literal_len = max;
        }
        imap_options.auth_throttle = throttle.clone();
        config.imap_limits.apply(&mut imap_options);
        let imap = mailwire_imap::server::Server::with_login_faults(
            imap_options,
            store.clone(),
            Some(acceptor.clone()),
            Some(faults.imap_hook()),
        );
        for (protocol, listener) in bound {
            let local = listener.local_addr().map_err(|source| ServeError::Bind {
                protocol,
                addr: String::new(),
                source,
            })?;
            addresses.insert(protocol.name().to_owned(), local);
            let rx = stop_rx.clone();
            match protocol.served() {
                Served::Smtp(kind) => {
                    let server = Arc::clone(&smtp);
                    tasks.spawn(async move {
                        if let Err(e) = server.serve(listener, kind, rx, grace).await {
                            tracing::error!(error = %e, "SMTP listener failed");
                        }
                    });
                }
                Served::Pop3(kind) => {
                    let server = Arc::clone(&pop3);
                    tasks.spawn(async move {
                        if let Err(e) = server.serve(listener, kind, rx, grace).await {
                            tracing::error!(error = %e, "POP3 listener failed");
                        }
                    });
                }
                Served::Imap(kind) => {
                    let server = Arc::clone(&imap);
                    tasks.spawn(async move {
                        if let Err(e) = server.serve(listener, kind, rx, grace).await {
                            tracing::error!(error = %e, "IMAP listener failed");
                        }
                    });
                }
            }
        }

        let api = std::sync::OnceLock::new();
        if let Some((listener, local)) = http_listener {
            addresses.insert("http".to_owned(), local);
            let a = crate::http::Api::with_faults(store.clone(), faults.clone());
            let _ = api.set(a.clone());
            let options = crate::http::HttpOptions {
                auth: config.http_auth.clone(),
                local: Some(local),
            };
            let rx = stop_rx.clone();
            tasks.spawn(async move {
                if let Err(e) = crate::http::serve(listener, a, options, rx).await {
                    tracing::error!(error = %e, "HTTP listener failed");
                }
            });
        }
        let (done_tx, done) = watch::channel(None);
        tokio::spawn(ci_modes(
            store.clone(),
            stored,
            config.exit_after,
            config.print,
            done_tx,
        ));
        let server = Self {
            addresses,
            ca,
            store,
            stop,
            tasks,
            grace,
            _tls_dir: tls_dir,
            api,
            faults,
            done,
        };
        if let Some(path) = &config.ready_file {
            write_ready_file(path, &server.ready_json()).map_err(|source| {
                ServeError::ReadyFile {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        Ok(server)
    }

    /// The bound address of each listener, by protocol name.
    pub fn addresses(&self) -> &BTreeMap<String, SocketAddr> {
        &self.addresses
    }

    /// The PEM file of the certificate in use (generated or given).
    pub fn ca(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The store behind every listener.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The test server's operations (list, wait, read, mark, purge) as a Rust API: what
    /// the HTTP API serves, without HTTP. Made on first use when HTTP is off.
    pub fn api(&self) -> &crate::http::Api {
        self.api
            .get_or_init(|| crate::http::Api::with_faults(self.store.clone(), self.faults.clone()))
    }

    /// Resolves once `exit_after` messages have been stored (never without it), with how
    /// many were.
    pub async fn exited(&self) -> u64 {
        let mut rx = self.done.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(n) => n.unwrap_or(0),
            Err(_) => std::future::pending().await,
        }
    }

    /// The ready-file JSON: `{"smtp":"127.0.0.1:41234",...,"ca":"/path/cert.pem"}`.
    pub fn ready_json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (p, a) in &self.addresses {
            map.insert(p.clone(), serde_json::Value::String(a.to_string()));
        }
        if let Some(ca) = &self.ca {
            map.insert(
                "ca".into(),
                serde_json::Value::String(ca.display().to_string()),
            );
        }
        serde_json::Value::Object(map).to_string()
    }

    /// Stops accepting, lets transactions in flight finish within the grace period, and
    /// returns when every listener has stopped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let grace = self.grace + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}

/// `--print` and `--exit-after`: one JSON line per stored message, and the signal to exit.
async fn ci_modes(
    store: Store,
    mut stored: tokio::sync::broadcast::Receiver<mailwire_store::StoreEvent>,
    exit_after: Option<u64>,
    print: bool,
    done: watch::Sender<Option<u64>>,
) {
    use mailwire_store::StoreEventKind;
    if exit_after.is_none() && !print {
        return;
    }
    let mut count = 0u64;
    loop {
        let ev = match stored.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "--print fell behind");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let StoreEventKind::Added { uidvalidity, uids } = ev.kind else {
            continue;
        };
        for uid in uids {
            count += 1;
            if print {
                let line =
                    print_line(&store, &ev.login, ev.mailbox.as_str(), uidvalidity, uid).await;
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
        if exit_after.is_some_and(|n| count >= n) {
            let _ = done.send(Some(count));
            return;
        }
    }
}

/// The `--print` line of one stored message.
async fn print_line(
    store: &Store,
    login: &str,
    mailbox: &str,
    uidvalidity: u32,
    uid: u32,
) -> String {
    let mb = match store.user(login) {
        Some(u) => u.mailbox(mailbox).await.ok(),
        None => None,
    };
    let mut s = crate::http::summarize(b"");
    if let Some(mb) = &mb {
        if let Ok(head) = mb.fetch_range(uid, 0..64 * 1024).await {
            s = crate::http::summarize(&head);
        }
        if let Ok(meta) = mb.message(uid).await {
            s.size = meta.size;
            s.received_unix = meta.internal_date.timestamp;
            s.received = crate::http::rfc3339(meta.internal_date.timestamp);
        }
    }
    s.user = login.to_owned();
    s.mailbox = mailbox.to_owned();
    s.uidvalidity = uidvalidity;
    s.uid = uid;
    let mut v = serde_json::to_value(&s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        // Ids belong to the HTTP index; a printed line names the message as IMAP does.
        o.remove("id");
        o.remove("seen");
    }
    v.to_string()
}

/// Writes the ready file atomically (temporary file, then rename).
fn write_ready_file(path: &Path, json: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{json}\n"))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip_and_defaults() {
        for p in Protocol::ALL {
            assert_eq!(p.name().parse::<Protocol>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        assert!("smtpx".parse::<Protocol>().is_err());
        assert_eq!(Protocol::Lmtp.default_address(), None);
        assert_eq!(Protocol::Pop3s.default_address(), Some("127.0.0.1:3995"));
        // Defaults: every protocol with a default address.
        let chosen = ServeConfig::default().listeners();
        let names: Vec<_> = chosen.iter().map(|(p, _)| p.name()).collect();
        assert_eq!(
            names,
            [
                "smtp",
                "smtps",
                "submission",
                "pop3",
                "pop3s",
                "imap",
                "imaps"
            ]
        );
        // Named protocols only, when any is named.
        let config = ServeConfig {
            imap: Some("127.0.0.1:0".into()),
            smtp: Some("127.0.0.1:0".into()),
            ..ServeConfig::default()
        };
        let names: Vec<_> = config.listeners().iter().map(|(p, _)| p.name()).collect();
        assert_eq!(names, ["smtp", "imap"]);
    }

    /// The generated certificate lives in a fresh folder of an unpredictable name, readable
    /// only by its owner, removed when the server stops.
    #[tokio::test]
    async fn self_signed_certificate_folder() {
        let config = ServeConfig {
            smtp: Some("127.0.0.1:0".into()),
            ..ServeConfig::default()
        };
        let server = Server::start(config).await.unwrap();
        let ca = server.ca().unwrap().to_owned();
        let dir = ca.parent().unwrap().to_owned();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("mailwire-serve-"), "{name}");
        assert_ne!(name, format!("mailwire-serve-{}", std::process::id()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        }
        assert!(ca.exists());
        server.shutdown().await;
        assert!(!dir.exists());
    }
}
