//! The `mailwire` command line: test mail servers, a sender, a fetcher, protocol consoles and
//! a transcript parser. The flags are a contract (see the README); parts not built yet say so
//! and exit with status 2 instead of pretending.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod imap_console;
mod imap_fetch;
mod pop3_console;
mod pop3_fetch;
mod send;

#[derive(Parser, Debug)]
#[command(
    name = "mailwire",
    version,
    about = "IMAP, POP3 and SMTP clients and test servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run SMTP, Submission, LMTP, POP3 and IMAP servers over one embedded store.
    Serve(Box<ServeArgs>),
    /// Send a message over SMTP or SMTPS.
    Send(SendArgs),
    /// Download a mailbox over IMAP or POP3, one .eml file per message.
    Fetch(FetchArgs),
    /// An interactive IMAP console.
    Imap(ImapArgs),
    /// An interactive POP3 console.
    Pop3(Pop3Args),
    /// Parse a protocol transcript from stdin, printing each message and its re-encoding.
    Parse {
        /// Which grammar to parse with.
        kind: ParseKind,
    },
    /// Manage a store: `store migrate postgres://USER[:PASSWORD]@HOST[:PORT]/DB` creates or
    /// upgrades the PostgreSQL store's schema (the password may come from PGPASSWORD).
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
}

#[derive(Subcommand, Debug)]
enum StoreAction {
    /// Create or upgrade the schema of a PostgreSQL store; refuses a newer schema.
    Migrate {
        /// postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or postgresql://).
        url: String,
    },
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// SMTP listener (STARTTLS), e.g. 127.0.0.1:3025.
    #[arg(long, value_name = "ADDR")]
    smtp: Option<String>,
    /// SMTPS listener (implicit TLS), e.g. 127.0.0.1:3465.
    #[arg(long, value_name = "ADDR")]
    smtps: Option<String>,
    /// Submission listener (AUTH required), e.g. 127.0.0.1:3587.
    #[arg(long, value_name = "ADDR")]
    submission: Option<String>,
    /// LMTP listener (off unless named).
    #[arg(long, value_name = "ADDR")]
    lmtp: Option<String>,
    /// HTTP API and web page, e.g. 127.0.0.1:3080 (the default when no listener is named), or
    /// `off`.
    #[arg(long, value_name = "ADDR|off")]
    http: Option<String>,
    /// Credentials the HTTP API requires: USER:PASSWORD (Basic) or a token (Bearer). Needed
    /// when --http is not a loopback address.
    #[arg(
        long,
        value_name = "USER:PASSWORD|TOKEN",
        env = "MAILWIRE_HTTP_AUTH",
        hide_env_values = true
    )]
    http_auth: Option<String>,
    /// Exit with status 0 once N messages have been stored, printing a summary.
    #[arg(long, value_name = "N")]
    exit_after: Option<u64>,
    /// Print one JSON line per stored message on stdout (status lines go to stderr).
    #[arg(long)]
    print: bool,
    /// IMAP listener (STARTTLS), e.g. 127.0.0.1:3143.
    #[arg(long, value_name = "ADDR")]
    imap: Option<String>,
    /// IMAPS listener (implicit TLS), e.g. 127.0.0.1:3993.
    #[arg(long, value_name = "ADDR")]
    imaps: Option<String>,
    /// POP3 listener (STLS), e.g. 127.0.0.1:3110.
    #[arg(long, value_name = "ADDR")]
    pop3: Option<String>,
    /// POP3S listener (implicit TLS), e.g. 127.0.0.1:3995.
    #[arg(long, value_name = "ADDR")]
    pop3s: Option<String>,
    /// A user, LOGIN:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "LOGIN:PASSWORD")]
    users: Vec<String>,
    /// Accept every password.
    #[arg(long)]
    accept_any_auth: bool,
    /// Create a user for every unknown recipient instead of answering 550 5.1.1.
    #[arg(long)]
    accept_any_recipient: bool,
    /// Allow PLAIN, LOGIN, USER/PASS and IMAP LOGIN without TLS.
    #[arg(long)]
    allow_insecure_auth: bool,
    /// Server certificate chain (PEM); a self-signed one is generated when absent.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The store: `memory` (default) or `maildir:DIR`.
    #[arg(long, value_name = "memory|maildir:DIR")]
    store: Option<String>,
    /// Write a JSON object of the bound addresses here once every listener is up.
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// A TOML file with the same settings (flags override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct SendArgs {
    /// smtp://HOST:PORT or smtps://HOST:PORT
    #[arg(long)]
    server: String,
    /// Login name for AUTH.
    #[arg(long)]
    user: Option<String>,
    /// Password for AUTH.
    #[arg(long, env = "MAILWIRE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// STARTTLS policy for smtp://.
    #[arg(long, value_enum, default_value_t = TlsArg::Required)]
    tls: TlsArg,
    /// An extra CA certificate (PEM) to trust.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Envelope sender.
    #[arg(long)]
    from: String,
    /// Envelope recipients.
    #[arg(long, required = true, num_args = 1..)]
    to: Vec<String>,
    /// The message file, or - for stdin.
    #[arg(default_value = "-")]
    file: String,
}

#[derive(Args, Debug)]
struct FetchArgs {
    /// imap://…/MAILBOX, imaps://…/MAILBOX, pop3://… or pop3s://…
    url: String,
    /// Login name.
    #[arg(long)]
    user: String,
    /// Password.
    #[arg(long, env = "MAILWIRE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// An extra CA certificate (PEM) to trust.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Where to save: .eml files (POP3), a Maildir with the flags in the names (IMAP).
    #[arg(long)]
    out: PathBuf,
    /// Remove the fetched messages from the server once they are safely on disk (POP3 DELE,
    /// IMAP \Deleted and EXPUNGE).
    #[arg(long)]
    delete: bool,
    /// STLS/STARTTLS policy for pop3:// and imap://.
    #[arg(long, value_enum, default_value_t = TlsArg::Required)]
    tls: TlsArg,
}

#[derive(Args, Debug)]
struct ImapArgs {
    /// imap://HOST:PORT or imaps://HOST:PORT
    url: String,
    /// Log in as this user with the strongest mechanism offered (else type LOGIN yourself).
    #[arg(long)]
    user: Option<String>,
    /// Password for --user.
    #[arg(long, env = "MAILWIRE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// STARTTLS policy for imap://.
    #[arg(long, value_enum, default_value_t = TlsArg::Required)]
    tls: TlsArg,
    /// An extra CA certificate (PEM) to trust.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct Pop3Args {
    /// pop3://HOST:PORT or pop3s://HOST:PORT
    url: String,
    /// Login name for AUTH and APOP typed at the prompt (asked for when absent).
    #[arg(long)]
    user: Option<String>,
    /// Password for AUTH and APOP (asked for when absent).
    #[arg(long, env = "MAILWIRE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// STLS policy for pop3:// (`off` lets you type STLS yourself).
    #[arg(long, value_enum, default_value_t = TlsArg::Required)]
    tls: TlsArg,
    /// An extra CA certificate (PEM) to trust.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
}

/// `--tls`: the STARTTLS/STLS policy of every client subcommand.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum TlsArg {
    Required,
    Opportunistic,
    Off,
}

impl TlsArg {
    /// The library's policy for this flag.
    fn policy(self) -> mailwire::tls::TlsPolicy {
        use mailwire::tls::TlsPolicy;
        match self {
            Self::Required => TlsPolicy::Required,
            Self::Opportunistic => TlsPolicy::Opportunistic,
            Self::Off => TlsPolicy::Disabled,
        }
    }

    /// `--tls off` also allows passwords in cleartext (the user asked for no TLS).
    fn allows_plaintext(self) -> bool {
        matches!(self, Self::Off)
    }

    /// Applies `--tls` (to STARTTLS URLs) and `--ca-file` to a client's endpoint.
    fn apply(self, endpoint: &mut mailwire::tls::Endpoint, ca_file: Option<&std::path::Path>) {
        endpoint.set_tls_policy(self.policy());
        if let Some(ca) = ca_file {
            endpoint.ca_file = Some(ca.to_path_buf());
        }
    }
}

/// The runtime of one client subcommand (`cmd` names it in the error): exit 1 when it
/// cannot start.
fn client_runtime(cmd: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("mailwire {cmd}: cannot start: {e}");
            ExitCode::from(1)
        })
}

/// The end of `mailwire fetch`: the summary line and exit 0, or the error and exit 1.
fn fetch_outcome(outcome: anyhow::Result<String>) -> ExitCode {
    match outcome {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailwire fetch: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `mailwire fetch`'s usage errors: exit 2.
fn fetch_usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("mailwire fetch: {msg}");
    ExitCode::from(2)
}

/// `--password` (or MAILWIRE_PASSWORD), which `mailwire fetch` needs.
fn fetch_password(args: &FetchArgs) -> Result<String, ExitCode> {
    args.password
        .clone()
        .ok_or_else(|| fetch_usage("a password is needed: --password or MAILWIRE_PASSWORD"))
}

/// Makes a directory's entries (a rename into it) durable.
fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ParseKind {
    ImapCommand,
    ImapResponse,
    SmtpCommand,
    SmtpReply,
    Pop3Command,
    Pop3Response,
}

fn serve(args: &ServeArgs) -> ExitCode {
    use mailwire::serve::{ServeConfig, Server};
    let mut config = ServeConfig::default();
    if let Some(file) = &args.config {
        match ServeConfig::from_file(file) {
            Ok(c) => config = c,
            Err(e) => {
                eprintln!("mailwire serve: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let flags = ServeConfig {
        smtp: args.smtp.clone(),
        smtps: args.smtps.clone(),
        submission: args.submission.clone(),
        lmtp: args.lmtp.clone(),
        http: args.http.clone(),
        http_auth: args.http_auth.clone(),
        exit_after: args.exit_after,
        print: args.print,
        imap: args.imap.clone(),
        imaps: args.imaps.clone(),
        pop3: args.pop3.clone(),
        pop3s: args.pop3s.clone(),
        users: args.users.clone(),
        accept_any_auth: args.accept_any_auth,
        accept_any_recipient: args.accept_any_recipient,
        allow_insecure_auth: args.allow_insecure_auth,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        store: args.store.clone(),
        ready_file: args.ready_file.clone(),
        ..ServeConfig::default()
    };
    let config = config.merge(flags);
    let config_auth = config.http_auth.is_some();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailwire serve: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let server = match Server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mailwire serve: {e}");
                return ExitCode::from(1);
            }
        };
        // With --print, stdout carries only the JSON lines.
        let say = |line: String| {
            if args.print {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        };
        for (protocol, addr) in server.addresses() {
            say(format!("mailwire serve: {protocol} listening on {addr}"));
        }
        if let Some(addr) = server.addresses().get("http") {
            let guard = if args.http_auth.is_some() || config_auth {
                "authentication required"
            } else {
                "no authentication (loopback only)"
            };
            say(format!(
                "mailwire serve: web page and API at http://{addr}/ ({guard})"
            ));
        }
        if let Some(ca) = server.ca() {
            say(format!(
                "mailwire serve: TLS certificate (use it as the CA) {}",
                ca.display()
            ));
        }
        let exited = tokio::select! {
            () = wait_for_signal() => None,
            n = server.exited() => Some(n),
        };
        if let Some(n) = exited {
            eprintln!("mailwire serve: {n} message(s) stored (--exit-after); exiting");
        } else {
            say("mailwire serve: shutting down".to_owned());
        }
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// `mailwire parse`: reads a transcript from stdin, prints each message and its re-encoding,
/// and exits 1 at the first failure, naming its byte offset.
fn parse(kind: ParseKind) -> ExitCode {
    use mailwire::pop3::proto::transcript as pop3;
    use mailwire_imap::proto::transcript as imap;
    use mailwire_smtp::proto::transcript as smtp;
    let mut input = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input) {
        eprintln!("mailwire parse: cannot read stdin: {e}");
        return ExitCode::from(1);
    }
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    let result = match kind {
        ParseKind::SmtpCommand => {
            smtp::parse_transcript(smtp::Side::Commands, &input, out).map_err(|e| e.to_string())
        }
        ParseKind::SmtpReply => {
            smtp::parse_transcript(smtp::Side::Replies, &input, out).map_err(|e| e.to_string())
        }
        ParseKind::ImapCommand => {
            imap::parse_transcript(imap::TranscriptKind::Command, &input, out)
                .map_err(|e| e.to_string())
        }
        ParseKind::ImapResponse => {
            imap::parse_transcript(imap::TranscriptKind::Response, &input, out)
                .map_err(|e| e.to_string())
        }
        ParseKind::Pop3Command => {
            pop3::parse_transcript(pop3::Side::Commands, &input, out).map_err(|e| e.to_string())
        }
        ParseKind::Pop3Response => {
            pop3::parse_transcript(pop3::Side::Responses, &input, out).map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(n) => {
            eprintln!("mailwire parse: {n} messages parsed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailwire parse: {e}");
            ExitCode::from(1)
        }
    }
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `mailwire store migrate URL`: 0 migrated (or already current), 1 refused or failed.
fn store_migrate(url: &str) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailwire store: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(mailwire_store::postgres::migrate(url)) {
        Ok(m) if m.from == m.to => {
            println!("schema already at version {}", m.to);
            ExitCode::SUCCESS
        }
        Ok(m) => {
            println!("schema migrated from version {} to {}", m.from, m.to);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailwire store migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colours on a terminal only: a log file or pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match &cli.command {
        Command::Serve(args) => serve(args),
        Command::Store {
            action: StoreAction::Migrate { url },
        } => store_migrate(url),
        Command::Send(args) => send::run(args),
        Command::Fetch(args) if args.url.starts_with("pop3") => pop3_fetch::run(args),
        Command::Fetch(args) if args.url.starts_with("imap") => imap_fetch::run(args),
        Command::Fetch(args) => {
            eprintln!(
                "mailwire fetch: {}: the URL must start with imap://, imaps://, pop3:// or pop3s://",
                args.url
            );
            ExitCode::from(2)
        }
        Command::Imap(args) => imap_console::run(args),
        Command::Pop3(args) => pop3_console::run(args),
        Command::Parse { kind } => parse(*kind),
    }
}
