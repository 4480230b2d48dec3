//! aiosmtpd: a Python SMTP server that keeps every message it accepts as a file.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::peer::{Kind, Running};
use crate::{Error, Result};

static KIND: Kind = Kind {
    name: "aiosmtpd",
    script: "aiosmtpd.sh",
    install: "python3 -m pip install aiosmtpd",
    log: "aiosmtpd.log",
};

/// How to start [`Aiosmtpd`]. The default: keep messages, STARTTLS offered, no AUTH.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AiosmtpdOptions {
    /// Accept and forget every message (aiosmtpd's Sink), for load tests: nothing is stored.
    pub discard: bool,
    /// Offer AUTH PLAIN and LOGIN for alice/secret and bob/secret; only after STARTTLS unless
    /// [`auth_cleartext`](Self::auth_cleartext) (aiosmtpd's `auth_require_tls`).
    pub auth: bool,
    /// With [`auth`](Self::auth): offer AUTH before STARTTLS too.
    pub auth_cleartext: bool,
    /// With [`auth`](Self::auth): refuse MAIL FROM until the client has authenticated.
    pub auth_required: bool,
    /// Refuse everything but EHLO, NOOP, QUIT and STARTTLS until STARTTLS.
    pub require_starttls: bool,
    /// Advertise SMTPUTF8.
    pub smtputf8: bool,
    /// Refuse every recipient past this many in one transaction with `452 4.5.3` (as
    /// Postfix's `smtpd_recipient_limit` does).
    pub max_recipients: Option<usize>,
}

impl AiosmtpdOptions {
    fn args(&self) -> Vec<String> {
        [
            (self.discard, "--discard"),
            (self.auth, "--auth"),
            (self.auth_cleartext, "--auth-cleartext"),
            (self.auth_required, "--auth-required"),
            (self.require_starttls, "--require-starttls"),
            (self.smtputf8, "--smtputf8"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, flag)| flag.to_owned())
        .chain(self.max_recipients.map(|n| format!("--max-recipients={n}")))
        .collect()
    }
}

/// The SMTP envelope of one stored message, with the message itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The MAIL FROM address (empty for the null sender `<>`).
    pub mail_from: String,
    /// The RCPT TO addresses, in order.
    pub rcpt_to: Vec<String>,
    /// MAIL FROM parameters, e.g. `BODY=8BITMIME`, `SIZE=123`.
    pub mail_options: Vec<String>,
    /// RCPT TO parameters.
    pub rcpt_options: Vec<String>,
    /// The EHLO/HELO name.
    pub helo: String,
    /// The user that authenticated, if any.
    pub auth: Option<String>,
    /// Whether the message came over TLS (after STARTTLS).
    pub tls: bool,
    /// The message, exactly as received (CRLF line ends, dot-stuffing undone).
    pub data: Vec<u8>,
}

/// aiosmtpd started by `tests/peers/aiosmtpd.sh` (server `tests/peers/aiosmtpd_server.py`);
/// stopped on drop.
///
/// Every accepted message is kept byte for byte (nothing added): read them with
/// [`messages`](Self::messages) or, with their envelopes, [`envelopes`](Self::envelopes).
/// STARTTLS is always offered with the self-signed [`cert_pem_path`](Self::cert_pem_path);
/// aiosmtpd advertises SIZE 33554432 and 8BITMIME, never PIPELINING or CHUNKING.
///
/// ```no_run
/// use mailwire_testkit::{Aiosmtpd, AiosmtpdOptions};
/// let aio = Aiosmtpd::start(AiosmtpdOptions { auth: true, ..Default::default() }).unwrap();
/// // ... STARTTLS, AUTH PLAIN alice/secret, send one message to aio.addr() ...
/// let messages = aio.wait_for_messages(1, std::time::Duration::from_secs(5)).unwrap();
/// assert!(messages[0].starts_with(b"From: "));
/// ```
pub struct Aiosmtpd {
    running: Running,
    port: u16,
    options: AiosmtpdOptions,
}

impl Aiosmtpd {
    /// Starts aiosmtpd on a free port of 127.0.0.1 and waits until it greets.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] if python3 or its aiosmtpd package is missing, [`Error::Start`] if
    /// it did not come up.
    pub fn start(options: AiosmtpdOptions) -> Result<Aiosmtpd> {
        let (running, port) = Running::start(
            &KIND,
            &[0],
            |port| {
                let mut args = vec![port.to_string()];
                args.extend(options.args());
                args
            },
            &[],
        )?;
        Ok(Aiosmtpd {
            running,
            port,
            options,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The options it was started with.
    pub fn options(&self) -> AiosmtpdOptions {
        self.options
    }

    /// The self-signed certificate (PEM) for `localhost` and `127.0.0.1`, to trust as a CA.
    pub fn cert_pem_path(&self) -> PathBuf {
        self.running.dir().join("cert.pem")
    }

    /// The Maildir the messages are written to (`new/` holds them).
    pub fn maildir(&self) -> PathBuf {
        self.running.dir().join("maildir")
    }

    /// Every message stored so far, in arrival order, byte for byte.
    ///
    /// # Panics
    /// If the Maildir cannot be read (a broken peer, not a failed test): see
    /// [`try_messages`](Self::try_messages).
    pub fn messages(&self) -> Vec<Vec<u8>> {
        match self.try_messages() {
            Ok(m) => m,
            Err(e) => panic!("aiosmtpd messages: {e}"),
        }
    }

    /// Like [`messages`](Self::messages), returning errors instead of panicking.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn try_messages(&self) -> Result<Vec<Vec<u8>>> {
        self.names()?
            .into_iter()
            .map(|name| {
                let path = self.maildir().join("new").join(name);
                std::fs::read(&path).map_err(|e| Error::io(&path, e))
            })
            .collect()
    }

    /// Every message stored so far with its envelope, in arrival order.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Parse`] if the files cannot be read.
    pub fn envelopes(&self) -> Result<Vec<Envelope>> {
        self.names()?
            .into_iter()
            .map(|name| {
                let data_path = self.maildir().join("new").join(&name);
                let data = std::fs::read(&data_path).map_err(|e| Error::io(&data_path, e))?;
                let path = self
                    .running
                    .dir()
                    .join("envelopes")
                    .join(format!("{name}.json"));
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                parse_envelope(&text, data).map_err(|message| Error::Parse { path, message })
            })
            .collect()
    }

    /// Waits until at least `count` messages are stored and returns them all.
    ///
    /// # Errors
    /// [`Error::Timeout`] if fewer arrived within `timeout`; [`Error::Io`].
    pub fn wait_for_messages(&self, count: usize, timeout: Duration) -> Result<Vec<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let have = self.names()?.len();
            if have >= count {
                return self.try_messages();
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("aiosmtpd storing {count} messages (have {have})"),
                    after: timeout,
                    stdout: String::new(),
                    stderr: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// File names in `new/`, sorted: the server names them so that this is arrival order.
    fn names(&self) -> Result<Vec<String>> {
        let new = self.maildir().join("new");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&new).map_err(|e| Error::io(&new, e))? {
            let entry = entry.map_err(|e| Error::io(&new, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// The server's log so far (connections, commands, stored files).
    pub fn log(&self) -> String {
        self.running.log()
    }

    /// The folder holding its state.
    pub fn dir(&self) -> &Path {
        self.running.dir()
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Stops it now and reports problems (dropping the handle stops it too, silently).
    ///
    /// # Errors
    /// If the stop script failed or the process would not go away.
    pub fn stop(mut self) -> Result<()> {
        self.running.stop()
    }
}

impl std::fmt::Debug for Aiosmtpd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aiosmtpd")
            .field("pid", &self.pid())
            .field("addr", &self.addr())
            .field("options", &self.options)
            .finish()
    }
}

fn parse_envelope(text: &str, data: Vec<u8>) -> std::result::Result<Envelope, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let string = |key: &str| v.get(key).and_then(|s| s.as_str()).map(str::to_owned);
    let list = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(|l| l.as_array())
            .map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Envelope {
        mail_from: string("mail_from").ok_or("no mail_from")?,
        rcpt_to: list("rcpt_tos"),
        mail_options: list("mail_options"),
        rcpt_options: list("rcpt_options"),
        helo: string("helo").unwrap_or_default(),
        auth: string("auth"),
        tls: v.get("tls").and_then(|t| t.as_bool()).unwrap_or(false),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flags() {
        let o = AiosmtpdOptions {
            auth: true,
            auth_cleartext: true,
            ..Default::default()
        };
        assert_eq!(o.args(), ["--auth", "--auth-cleartext"]);
        assert!(AiosmtpdOptions::default().args().is_empty());
    }

    #[test]
    fn parses_an_envelope() {
        let e = parse_envelope(
            r#"{"mail_from": "a@x", "rcpt_tos": ["b@y", "c@z"], "mail_options": ["BODY=8BITMIME"],
                "rcpt_options": [], "helo": "h", "auth": null, "tls": true}"#,
            b"x".to_vec(),
        )
        .unwrap();
        assert_eq!(e.rcpt_to, ["b@y", "c@z"]);
        assert_eq!(e.auth, None);
        assert!(e.tls);
    }
}
