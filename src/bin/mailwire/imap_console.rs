//! `mailwire imap imap(s)://HOST:PORT`: an interactive IMAP console with line editing and
//! history. Type commands without tags (`SELECT INBOX`, `UID FETCH 1:* (FLAGS)`): the tag is
//! added, a literal (`{n}` at the end of a line) is collected from the lines that follow and
//! sent for you (waiting for `+` where the server wants it), and every response is printed as
//! the server sent it (`S:`), unsolicited ones as they arrive. `IDLE` idles until Enter.
//! `--user` logs in with the strongest mechanism the server offers; without it, type LOGIN.
//!
//! With standard input not a terminal it reads commands line by line, and exits with the
//! status of the last command (0 for OK, 1 otherwise).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use mailwire_imap::client::{Client, ClientConfig, Error, ImapUrl, Login, Reply, Unsolicited};
use mailwire_imap::proto::{EncodeOptions, Response, Tagged};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::ImapArgs;

fn show(r: &Response) -> String {
    let bytes = r.encode(&EncodeOptions::default()).as_bytes().to_vec();
    let text = String::from_utf8_lossy(&bytes);
    text.trim_end_matches("\r\n").replace("\r\n", "\n   ")
}

fn show_reply(r: &Reply) {
    for u in &r.status {
        println!("S: {}", show(&Response::Untagged(u.clone())));
    }
    for d in &r.data {
        println!("S: {}", show(&Response::Data(d.clone())));
    }
    println!("S: {}", show(&Response::Tagged(r.done.clone())));
}

fn show_tagged(t: &Tagged) {
    println!("S: {}", show(&Response::Tagged(t.clone())));
}

/// Where lines come from: the line editor on a terminal, else standard input.
enum Input {
    Editor(Box<DefaultEditor>),
    Piped(std::io::Lines<std::io::StdinLock<'static>>),
}

impl Input {
    fn line(&mut self, prompt: &str) -> Option<String> {
        match self {
            Input::Editor(e) => match e.readline(prompt) {
                Ok(l) => {
                    let _ = e.add_history_entry(l.as_str());
                    Some(l)
                }
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => None,
                Err(_) => None,
            },
            Input::Piped(lines) => lines.next().and_then(Result::ok),
        }
    }
}

/// `n` from a line ending in `{n}` or `{n+}` / `{n-}`.
fn literal_len(line: &str) -> Option<usize> {
    let l = line.trim_end();
    let inner = l.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches(['+', '-']).parse().ok()
}

/// A whole command from the first line and, for each literal, the lines after it.
fn read_command(first: String, input: &mut Input) -> Option<String> {
    let mut text = first;
    while let Some(n) = literal_len(&text) {
        text.push_str("\r\n");
        let mut data = String::new();
        while data.len() < n {
            let l = input.line("literal> ")?;
            data.push_str(&l);
            if data.len() < n {
                // The CRLF the user typed is part of the literal.
                if data.len() + 2 <= n {
                    data.push_str("\r\n");
                } else {
                    break;
                }
            }
        }
        let rest = if data.len() > n {
            data.split_off(n)
        } else {
            String::new()
        };
        text.push_str(&data);
        text.push_str(rest.trim_start_matches("\r\n"));
    }
    Some(text)
}

/// Runs the console.
pub(crate) fn run(args: &ImapArgs) -> ExitCode {
    let url = match ImapUrl::parse(&args.url) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("mailwire imap: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = ClientConfig::new(url.host.clone(), url.port, url.security);
    args.tls
        .apply(&mut config.endpoint, args.ca_file.as_deref());
    let rt = match super::client_runtime("imap") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let connected = match (&args.user, &args.password) {
        (Some(user), Some(pass)) => {
            let login = Login::password(user, pass)
                .allow_plaintext_without_tls(args.tls.allows_plaintext());
            rt.block_on(Client::connect(config, &login))
        }
        (Some(_), None) => {
            eprintln!("mailwire imap: --user needs --password or MAILWIRE_PASSWORD");
            return ExitCode::from(2);
        }
        _ => rt.block_on(Client::connect_without_login(config)),
    };
    let client = match connected {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailwire imap: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "# connected to {}:{}{}{}",
        url.host,
        url.port,
        if client.is_tls() { " (TLS)" } else { "" },
        if args.user.is_some() {
            ", logged in"
        } else {
            ""
        }
    );
    // Unsolicited responses are printed as they come.
    let mut events = client.events();
    rt.spawn(async move {
        while let Ok(ev) = events.recv().await {
            match ev {
                Unsolicited::Data(d) => println!("S: {}", show(&Response::Data(d))),
                Unsolicited::Status(u) => println!("S: {}", show(&Response::Untagged(u))),
                Unsolicited::Closed => {
                    println!("# connection closed");
                    break;
                }
                _ => {}
            }
        }
    });
    let mut input = if std::io::stdin().is_terminal() {
        match DefaultEditor::new() {
            Ok(e) => Input::Editor(Box::new(e)),
            Err(e) => {
                eprintln!("mailwire imap: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        Input::Piped(std::io::stdin().lock().lines())
    };
    let mut last_ok = true;
    while let Some(line) = input.line("imap> ") {
        let line = line.trim().to_owned();
        if line.is_empty() {
            continue;
        }
        if line.eq_ignore_ascii_case("IDLE") {
            println!("C: IDLE   (Enter ends it)");
            match rt.block_on(client.idle()) {
                Ok(idle) => {
                    let _ = input.line("");
                    match rt.block_on(idle.done()) {
                        Ok(r) => {
                            show_reply(&r);
                            last_ok = true;
                        }
                        Err(e) => {
                            println!("# {e}");
                            last_ok = false;
                        }
                    }
                }
                Err(e) => {
                    println!("# {e}");
                    last_ok = false;
                }
            }
            continue;
        }
        let Some(text) = read_command(line, &mut input) else {
            break;
        };
        let shown = if text.to_ascii_uppercase().starts_with("LOGIN ") {
            let user = text.split_whitespace().nth(1).unwrap_or("");
            format!("LOGIN {user} ********")
        } else {
            text.lines().next().unwrap_or("").to_owned()
        };
        println!("C: {shown}");
        let logout = text.eq_ignore_ascii_case("LOGOUT");
        match rt.block_on(client.command(&text)) {
            Ok(r) => {
                show_reply(&r);
                last_ok = true;
            }
            Err(Error::No(t) | Error::Bad(t)) => {
                show_tagged(&t);
                last_ok = false;
            }
            Err(Error::Command(e)) => {
                println!("# not sent: {e}");
                last_ok = false;
            }
            Err(e) => {
                println!("# {e}");
                last_ok = false;
                if matches!(e, Error::Closed) {
                    break;
                }
            }
        }
        if logout {
            break;
        }
    }
    // Let the event printer finish its last lines.
    rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(100)).await });
    if last_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
