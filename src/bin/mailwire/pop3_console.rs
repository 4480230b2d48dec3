//! `mailwire pop3 pop3(s)://HOST:PORT`: an interactive POP3 console with line editing and
//! history. Every byte on the wire is shown (`C:` sent, `S:` received; passwords and SASL
//! responses masked). `STLS` upgrades the connection, `AUTH MECH` runs the SASL exchange and
//! `APOP [USER]` computes the digest, asking for the user name and password when they were not
//! given on the command line. Other commands are checked locally, then sent.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use mailwire::pop3::client::{AuthMethod, Client, ClientConfig, Direction, Login};
use mailwire::pop3::proto::Command;
use mailwire::sasl::Mechanism;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::Pop3Args;

/// What the trace shows of one line the client sent: PASS and SASL answers are masked.
fn shown_sent(line: &str, in_auth: bool) -> String {
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("PASS ") {
        "PASS ********".to_owned()
    } else if upper.starts_with("AUTH ") && line.split(' ').count() > 2 {
        let mut w = line.splitn(3, ' ');
        format!(
            "{} {} ********",
            w.next().unwrap_or(""),
            w.next().unwrap_or("")
        )
    } else if in_auth && line != "*" {
        "******** (SASL response)".to_owned()
    } else {
        line.to_owned()
    }
}

/// Runs the console.
pub(crate) fn run(args: &Pop3Args) -> ExitCode {
    let mut config = match ClientConfig::from_url(&args.url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailwire pop3: {e}");
            return ExitCode::from(2);
        }
    };
    args.tls
        .apply(&mut config.endpoint, args.ca_file.as_deref());
    let rt = match super::client_runtime("pop3") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // The trace prints complete lines; a partial one waits for its end.
    let in_auth = Arc::new(Mutex::new(false));
    let trace_auth = Arc::clone(&in_auth);
    let mut partial = Vec::new();
    let trace = Box::new(move |dir: Direction, bytes: &[u8]| {
        let mut auth = trace_auth.lock().unwrap_or_else(|e| e.into_inner());
        match dir {
            Direction::Sent => {
                for line in String::from_utf8_lossy(bytes).split_terminator("\r\n") {
                    println!(
                        "C: {}",
                        shown_sent(line, *auth && !line.starts_with("AUTH"))
                    );
                }
            }
            Direction::Received => {
                partial.extend_from_slice(bytes);
                while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=i).collect();
                    let text = String::from_utf8_lossy(&line);
                    if text.starts_with("+OK") || text.starts_with("-ERR") {
                        // The AUTH exchange (if any) is over.
                        *auth = false;
                    }
                    println!("S: {}", text.trim_end_matches(['\r', '\n']));
                }
            }
        }
    });
    let mut client = match rt.block_on(Client::connect_with_trace(config, Some(trace))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailwire pop3: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "# connected{}; type POP3 commands (STLS, AUTH MECH and APOP are handled for you), Ctrl-D to QUIT",
        if client.is_tls() {
            " with TLS"
        } else {
            " in cleartext"
        }
    );
    let mut editor = match DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mailwire pop3: {e}");
            return ExitCode::from(1);
        }
    };
    let history = std::env::var_os("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".mailwire_pop3_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut user = args.user.clone();
    let mut password = args.password.clone();
    let mut status = ExitCode::SUCCESS;
    loop {
        let line = match editor.readline("pop3> ") {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => "QUIT".to_owned(),
            Err(e) => {
                eprintln!("mailwire pop3: {e}");
                status = ExitCode::from(1);
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // Never keep passwords in the history file.
        if !line.to_ascii_uppercase().starts_with("PASS ") {
            let _ = editor.add_history_entry(line);
        }
        let words: Vec<&str> = line.split(' ').collect();
        let keyword = words[0].to_ascii_uppercase();
        let result = match (keyword.as_str(), words.as_slice()) {
            ("STLS", [_]) => rt.block_on(client.stls()).map(|()| {
                println!("# TLS established; capabilities asked again");
            }),
            ("AUTH", [_, mech]) | ("APOP", [_, mech]) | ("APOP", [mech]) => {
                let method = if keyword == "APOP" {
                    if words.len() == 2 {
                        user = Some((*mech).to_owned());
                    }
                    AuthMethod::Apop
                } else {
                    match Mechanism::from_name(mech) {
                        Some(m) => AuthMethod::Sasl(m),
                        None => {
                            println!("# unknown SASL mechanism {mech}");
                            continue;
                        }
                    }
                };
                let u = match user.clone().or_else(|| ask(&mut editor, "user: ")) {
                    Some(u) => u,
                    None => continue,
                };
                let p = match password
                    .clone()
                    .or_else(|| ask(&mut editor, "password (echoed): "))
                {
                    Some(p) => p,
                    None => continue,
                };
                user = Some(u.clone());
                password = Some(p.clone());
                *in_auth.lock().unwrap_or_else(|e| e.into_inner()) = true;
                let login = Login::password(u, p)
                    .with_method(method)
                    .allow_plaintext_without_tls(args.tls.allows_plaintext());
                let r = rt.block_on(client.login(&login));
                *in_auth.lock().unwrap_or_else(|e| e.into_inner()) = false;
                r.map(|()| println!("# logged in"))
            }
            _ => match Command::parse(line.as_bytes()) {
                Err(e) => {
                    println!("# not sent: {e}");
                    continue;
                }
                Ok(cmd) => {
                    let quit = cmd == Command::Quit;
                    let r = rt.block_on(client.execute(&cmd)).map(drop);
                    if quit {
                        if let Err(e) = r {
                            eprintln!("mailwire pop3: {e}");
                            status = ExitCode::from(1);
                        }
                        break;
                    }
                    r
                }
            },
        };
        if let Err(e) = result {
            println!("# {e}");
            if matches!(
                e,
                mailwire::pop3::client::Error::Closed
                    | mailwire::pop3::client::Error::Io(_)
                    | mailwire::pop3::client::Error::Tls(_)
                    | mailwire::pop3::client::Error::Protocol(_)
            ) {
                status = ExitCode::from(1);
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    status
}

fn ask(editor: &mut DefaultEditor, prompt: &str) -> Option<String> {
    editor.readline(prompt).ok().filter(|s| !s.is_empty())
}
