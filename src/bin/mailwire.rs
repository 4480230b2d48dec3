//! The `mailwire` command line: test mail servers, a sender, a fetcher, protocol consoles and
//! a transcript parser. The flags are a contract (see the README); parts not built yet say so
//! and exit with status 2 instead of pretending.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Serve(ServeArgs),
    /// Send a message over SMTP or SMTPS.
    Send(SendArgs),
    /// Download a mailbox over IMAP or POP3, one .eml file per message.
    Fetch(FetchArgs),
    /// An interactive IMAP console.
    Imap {
        /// imap://HOST:PORT or imaps://HOST:PORT
        url: String,
    },
    /// An interactive POP3 console.
    Pop3 {
        /// pop3://HOST:PORT or pop3s://HOST:PORT
        url: String,
    },
    /// Parse a protocol transcript from stdin, printing each message and its re-encoding.
    Parse {
        /// Which grammar to parse with.
        kind: ParseKind,
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
    #[arg(long, value_name = "memory|maildir:DIR", default_value = "memory")]
    store: String,
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
    /// Directory for the .eml files.
    #[arg(long)]
    out: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum TlsArg {
    Required,
    Opportunistic,
    Off,
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

/// Exit status for "this part of mailwire is not built yet".
const NOT_BUILT: u8 = 2;

fn not_built(what: &str, issue: &str) -> ExitCode {
    eprintln!("mailwire: {what} is not built yet ({issue}); nothing was done.");
    ExitCode::from(NOT_BUILT)
}

fn serve(args: &ServeArgs) -> ExitCode {
    let named: Vec<&str> = [
        ("smtp", &args.smtp),
        ("smtps", &args.smtps),
        ("submission", &args.submission),
        ("lmtp", &args.lmtp),
        ("imap", &args.imap),
        ("imaps", &args.imaps),
        ("pop3", &args.pop3),
        ("pop3s", &args.pop3s),
    ]
    .iter()
    .filter(|(_, addr)| addr.is_some())
    .map(|(name, _)| *name)
    .collect();
    eprintln!("mailwire serve: no listener can start yet.");
    eprintln!(
        "  the embedded store (--store {}) is not built yet: issue 4",
        args.store
    );
    eprintln!("  SMTP, SMTPS, Submission and LMTP are not built yet: issue 5");
    eprintln!("  POP3 and POP3S are not built yet: issue 6");
    eprintln!("  IMAP and IMAPS are not built yet: issue 7 and the IMAP server issue");
    if !named.is_empty() {
        eprintln!("  requested listeners not started: {}", named.join(", "));
    }
    ExitCode::from(NOT_BUILT)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve(args) => serve(args),
        Command::Send(_) => not_built("`mailwire send` (the SMTP client)", "issue 5"),
        Command::Fetch(args) if args.url.starts_with("pop3") => {
            not_built("`mailwire fetch pop3://` (the POP3 client)", "issue 6")
        }
        Command::Fetch(_) => not_built(
            "`mailwire fetch imap://` (the IMAP client)",
            "the IMAP client issue",
        ),
        Command::Imap { .. } => not_built(
            "`mailwire imap` (the IMAP console)",
            "the IMAP client issue",
        ),
        Command::Pop3 { .. } => not_built("`mailwire pop3` (the POP3 console)", "issue 6"),
        Command::Parse { kind } => {
            let issue = match kind {
                ParseKind::ImapCommand | ParseKind::ImapResponse => "issue 7",
                ParseKind::SmtpCommand | ParseKind::SmtpReply => "issue 5",
                ParseKind::Pop3Command | ParseKind::Pop3Response => "issue 6",
            };
            not_built("this `mailwire parse` grammar", issue)
        }
    }
}
