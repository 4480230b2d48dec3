//! Dovecot: IMAP, IMAPS, POP3, POP3S and LMTP.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::peer::{Kind, Running};
use crate::{Error, Result};

static KIND: Kind = Kind {
    name: "dovecot",
    script: "dovecot.sh",
    install: "apt-get install -y --no-install-recommends dovecot-imapd dovecot-pop3d dovecot-lmtpd",
    log: "dovecot.log",
};

/// A Dovecot started by `tests/peers/dovecot.sh` in a fresh temporary folder; stopped on drop.
///
/// Users [`USERS`](crate::USERS) (alice and bob, password `secret`, stored in cleartext so
/// that CRAM-MD5 and APOP work). Mechanisms PLAIN, LOGIN, CRAM-MD5 and APOP; cleartext logins are
/// allowed; STARTTLS and STLS are offered, never required; IMAPS and POP3S are implicit TLS with
/// the self-signed certificate at [`cert_pem_path`](Self::cert_pem_path) (for `localhost` and
/// `127.0.0.1`: trust it as the CA). LMTP delivers `alice@any.domain` to alice and refuses unknown
/// users with `550 5.1.1`. Mail is a Maildir per user at [`maildir`](Self::maildir).
/// Dovecot treats connections from 127.0.0.1 as secure, so it never says LOGINDISABLED here.
///
/// ```no_run
/// use std::io::{BufRead, BufReader};
/// let dovecot = mailwire_testkit::Dovecot::start().unwrap();
/// let mut greeting = String::new();
/// BufReader::new(std::net::TcpStream::connect(dovecot.imap()).unwrap())
///     .read_line(&mut greeting)
///     .unwrap();
/// assert!(greeting.starts_with("* OK"));
/// ```
pub struct Dovecot {
    running: Running,
    base: u16,
}

impl Dovecot {
    /// Ports relative to the base port: LMTP, POP3, IMAP, IMAPS, POP3S.
    pub const OFFSETS: [u16; 5] = [24, 110, 143, 993, 995];

    /// Starts Dovecot on free ports of 127.0.0.1 and waits until it greets.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] naming the Debian packages if Dovecot (or one of its protocol
    /// packages) is missing; [`Error::Start`] with the log's tail if it did not come up.
    pub fn start() -> Result<Dovecot> {
        Self::start_with_config("")
    }

    /// Like [`start`](Self::start), with `extra` appended to the generated `dovecot.conf`
    /// (the script's `DOVECOT_EXTRA`), e.g. `"mail_fsync = never"` or a `protocol imap { ... }` block.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_config(extra: &str) -> Result<Dovecot> {
        let (running, base) = Running::start(
            &KIND,
            &Self::OFFSETS,
            |base| vec![base.to_string()],
            &[("DOVECOT_EXTRA", extra)],
        )?;
        Ok(Dovecot { running, base })
    }

    fn addr(&self, offset: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.base + offset))
    }

    /// IMAP (STARTTLS offered).
    pub fn imap(&self) -> SocketAddr {
        self.addr(143)
    }

    /// IMAP over implicit TLS.
    pub fn imaps(&self) -> SocketAddr {
        self.addr(993)
    }

    /// POP3 (STLS offered).
    pub fn pop3(&self) -> SocketAddr {
        self.addr(110)
    }

    /// POP3 over implicit TLS.
    pub fn pop3s(&self) -> SocketAddr {
        self.addr(995)
    }

    /// LMTP over TCP.
    pub fn lmtp(&self) -> SocketAddr {
        self.addr(24)
    }

    /// The base port: IMAP is `base + 143` and so on.
    pub fn base_port(&self) -> u16 {
        self.base
    }

    /// The self-signed certificate (PEM) for `localhost` and `127.0.0.1`, to trust as a CA.
    pub fn cert_pem_path(&self) -> PathBuf {
        self.running.dir().join("cert.pem")
    }

    /// The certificate's private key (PEM).
    pub fn key_pem_path(&self) -> PathBuf {
        self.running.dir().join("key.pem")
    }

    /// The user's Maildir (`new/`, `cur/`, `tmp/` appear once Dovecot or
    /// [`add_message`](Self::add_message) first touches it).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.running.dir().join("mail").join(user)
    }

    /// Puts `raw` (a whole message, CRLF line ends) into `user`'s INBOX as a new message, byte for
    /// byte (LMTP would add Return-Path, Delivered-To and Received). Returns the file's path.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn add_message(&self, user: &str, raw: &[u8]) -> Result<PathBuf> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let maildir = self.maildir(user);
        // Dovecot reads and writes mail as the owner of DIR/mail (nobody, when run as root).
        let top = self.running.dir().join("mail");
        let meta = std::fs::metadata(&top).map_err(|e| Error::io(&top, e))?;
        let own = |p: &Path| -> Result<()> {
            std::os::unix::fs::chown(p, Some(meta.uid()), Some(meta.gid()))
                .map_err(|e| Error::io(p, e))
        };
        for sub in ["", "new", "cur", "tmp"] {
            let d = maildir.join(sub);
            if !d.exists() {
                std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
                own(&d)?;
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = format!(
            "{now}.M{}P{}.mailwire,S={}",
            SEQ.fetch_add(1, Ordering::Relaxed),
            std::process::id(),
            raw.len()
        );
        let tmp = maildir.join("tmp").join(&name);
        std::fs::write(&tmp, raw).map_err(|e| Error::io(&tmp, e))?;
        own(&tmp)?;
        let new = maildir.join("new").join(&name);
        std::fs::rename(&tmp, &new).map_err(|e| Error::io(&new, e))?;
        Ok(new)
    }

    /// The contents of `dovecot.log` so far (logins, deliveries, errors).
    pub fn log(&self) -> String {
        self.running.log()
    }

    /// The folder holding everything of this instance (config, log, mail, certificate).
    pub fn dir(&self) -> &Path {
        self.running.dir()
    }

    /// The Dovecot master's pid.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Stops Dovecot now and reports problems (dropping the handle stops it too, silently).
    ///
    /// # Errors
    /// If the stop script failed or the process would not go away.
    pub fn stop(mut self) -> Result<()> {
        self.running.stop()
    }
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("pid", &self.pid())
            .field("imap", &self.imap())
            .field("dir", &self.dir())
            .finish()
    }
}
