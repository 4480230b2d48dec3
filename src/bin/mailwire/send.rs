//! `mailwire send`: one message over SMTP, SMTPS or LMTP, with per-recipient results.
//!
//! Exit status: 0 when every recipient was accepted, 1 when any was refused or the session
//! failed, 2 for a usage error (bad URL, address, flags).

use std::io::Read;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use mailwire::Secret;
use mailwire::smtp::blocking::Client;
use mailwire::smtp::client::ClientOptions;
use mailwire::smtp::proto::{Envelope, ForwardPath, ReversePath};
use mailwire::tls::Security;
use mailwire_smtp::server::rfc5322_date;

use super::SendArgs;

/// Runs `mailwire send`.
pub(crate) fn run(args: &SendArgs) -> ExitCode {
    let usage = |msg: String| {
        eprintln!("mailwire send: {msg}");
        ExitCode::from(2)
    };
    let mut options = match ClientOptions::from_url(&args.server) {
        Ok(o) => o,
        Err(e) => return usage(e.to_string()),
    };
    if let Security::StartTls(_) = options.security {
        options = options.tls_policy(args.tls.policy());
    }
    if let Some(ca) = &args.ca_file {
        options = options.ca_file(ca);
    }
    match (&args.user, &args.password) {
        (Some(user), Some(password)) => {
            options = options.credentials(user, Secret::new(password.clone()));
        }
        (Some(_), None) => return usage("--user needs --password (or MAILWIRE_PASSWORD)".into()),
        (None, Some(_)) => return usage("--password needs --user".into()),
        (None, None) => {}
    }
    let from: ReversePath = match args.from.parse() {
        Ok(f) => f,
        Err(e) => return usage(format!("--from {:?}: {e}", args.from)),
    };
    let (to_args, file) = split_file(&args.to, &args.file);
    let mut to = Vec::new();
    for t in to_args {
        match t.parse::<ForwardPath>() {
            Ok(p) => to.push(p),
            Err(e) => return usage(format!("--to {t:?}: {e}")),
        }
    }
    let message = match read_message(file) {
        Ok(m) => m,
        Err(e) => return usage(format!("cannot read {file}: {e}")),
    };
    let domain = from
        .address()
        .map_or_else(|| "localhost".to_owned(), |a| a.domain().to_owned());
    let message = add_missing_headers(message, SystemTime::now(), &domain);

    let result = Client::connect_with(options).and_then(|mut client| {
        let report = client.send(Envelope::new(from, to), message)?;
        // The message is in; a failed QUIT changes nothing for it.
        if let Err(e) = client.quit() {
            eprintln!("mailwire send: QUIT: {e}");
        }
        Ok(report)
    });
    match result {
        Ok(report) => {
            for (rcpt, reply) in &report.recipients {
                let verdict = if reply.is_positive() {
                    "accepted"
                } else {
                    "refused"
                };
                println!("{verdict} {rcpt}: {reply}");
            }
            if report.dsn_dropped {
                eprintln!("mailwire send: the server does not support DSN; none requested");
            }
            if report.transactions > 1 {
                eprintln!(
                    "mailwire send: the server limits recipients per message; sent in {} transactions",
                    report.transactions
                );
            }
            if report.is_delivered_to_all() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("mailwire send: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--to` takes one or more values, so in `--to a@x b@y msg.eml` clap hands the file to
/// `--to`. When no FILE was given on its own (it is `-`), a last `--to` value that is `-` or
/// not an address is the FILE, as the documented `--to ADDR... [FILE|-]` means. (`--` before
/// the file also works.)
fn split_file<'a>(to: &'a [String], file: &'a str) -> (&'a [String], &'a str) {
    match to.split_last() {
        Some((last, rest))
            if file == "-"
                && !rest.is_empty()
                && (last == "-" || last.parse::<ForwardPath>().is_err()) =>
        {
            (rest, last)
        }
        _ => (to, file),
    }
}

fn read_message(file: &str) -> std::io::Result<Vec<u8>> {
    if file == "-" {
        let mut m = Vec::new();
        std::io::stdin().lock().read_to_end(&mut m)?;
        Ok(m)
    } else {
        std::fs::read(file)
    }
}

/// Prepends `Date` and `Message-ID` when the header section lacks them (RFC 5322 §3.6: both
/// should be present; submission servers add them otherwise, relays do not).
fn add_missing_headers(message: Vec<u8>, now: SystemTime, domain: &str) -> Vec<u8> {
    let (has_date, has_id) = header_names(&message).fold((false, false), |(d, i), name| {
        (
            d || name.eq_ignore_ascii_case(b"date"),
            i || name.eq_ignore_ascii_case(b"message-id"),
        )
    });
    if has_date && has_id {
        return message;
    }
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut head = String::new();
    if !has_date {
        head.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
    }
    if !has_id {
        head.push_str(&format!(
            "Message-ID: <{:x}.{:x}.{:x}@{domain}>\r\n",
            since.as_secs(),
            since.subsec_nanos(),
            std::process::id()
        ));
    }
    let mut out = head.into_bytes();
    out.extend_from_slice(&message);
    out
}

/// The field names of the header section (up to the first empty line).
fn header_names(message: &[u8]) -> impl Iterator<Item = &[u8]> {
    message
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with(b" ") && !l.starts_with(b"\t"))
        .filter_map(|l| l.iter().position(|&b| b == b':').map(|i| &l[..i]))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn file_after_the_recipients() {
        let to = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = to(&["a@x.org", "m.eml"]);
        assert_eq!(split_file(&a, "-"), (&a[..1], "m.eml"));
        let b = to(&["a@x.org", "-"]);
        assert_eq!(split_file(&b, "-"), (&b[..1], "-"));
        let c = to(&["a@x.org", "b@x.org"]);
        assert_eq!(split_file(&c, "-"), (&c[..], "-"));
        // A lone bad address stays an address (and is reported as one).
        let d = to(&["m.eml"]);
        assert_eq!(split_file(&d, "-"), (&d[..], "-"));
        assert_eq!(split_file(&a, "f.eml"), (&a[..], "f.eml"));
    }

    #[test]
    fn headers_added_only_when_missing() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let out = add_missing_headers(b"Subject: x\r\n\r\nDate: no\r\n".to_vec(), now, "ex.org");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <"));
        assert!(text.contains("@ex.org>\r\nSubject: x\r\n"));
        let m = b"DATE: Mon, 1 Jan 2024 00:00:00 +0000\nmessage-id: <a@b>\n\nbody\n".to_vec();
        assert_eq!(add_missing_headers(m.clone(), now, "ex.org"), m);
    }
}
