//! Twisted's ESMTP, POP3 and IMAP4 servers over one in-memory store.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::Result;
use crate::peer::{Kind, Running};

static KIND: Kind = Kind {
    name: "twisted",
    script: "twisted.sh",
    install: "python3 -m pip install 'twisted[tls]'",
    log: "twisted.log",
};

/// Twisted's mail servers started by `tests/peers/twisted.sh` (server
/// `tests/peers/twisted_mail.py`); stopped on drop.
///
/// One in-memory store for alice and bob (password `secret`): mail sent over SMTP to
/// `alice@any.domain` is read back over IMAP and POP3 (unknown recipients get 550).
/// SMTP: AUTH CRAM-MD5, PLAIN and LOGIN, optional; no PIPELINING, SIZE or 8BITMIME.
/// IMAP: LOGIN and AUTHENTICATE CRAM-MD5/PLAIN/LOGIN; IDLE and NAMESPACE; no LITERAL+.
/// POP3: USER/PASS, APOP, AUTH CRAM-MD5/PLAIN/LOGIN; never STLS.
/// With TLS, STARTTLS is offered on SMTP and IMAP with the self-signed
/// [`cert_pem_path`](Self::cert_pem_path), and IMAP then says LOGINDISABLED and refuses LOGIN
/// until STARTTLS (AUTHENTICATE still works).
///
/// ```no_run
/// let twisted = mailwire_testkit::Twisted::start(false).unwrap();
/// // ... send to alice over twisted.smtp(), read back over twisted.imap() or twisted.pop3() ...
/// # let _ = twisted;
/// ```
pub struct Twisted {
    running: Running,
    base: u16,
    tls: bool,
}

impl Twisted {
    /// Ports relative to the base port: SMTP, POP3, IMAP.
    pub const OFFSETS: [u16; 3] = [25, 110, 143];

    /// Starts the servers on free ports of 127.0.0.1, with STARTTLS on SMTP and IMAP if `with_tls`.
    ///
    /// # Errors
    /// [`crate::Error::NotInstalled`] if python3, Twisted or (with TLS) pyOpenSSL is missing;
    /// [`crate::Error::Start`] if it did not come up.
    pub fn start(with_tls: bool) -> Result<Twisted> {
        let (running, base) = Running::start(
            &KIND,
            &Self::OFFSETS,
            |base| {
                let mut args = vec![base.to_string()];
                if !with_tls {
                    args.push("--no-tls".to_owned());
                }
                args
            },
            &[],
        )?;
        Ok(Twisted {
            running,
            base,
            tls: with_tls,
        })
    }

    fn addr(&self, offset: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.base + offset))
    }

    /// IMAP4rev1.
    pub fn imap(&self) -> SocketAddr {
        self.addr(143)
    }

    /// POP3.
    pub fn pop3(&self) -> SocketAddr {
        self.addr(110)
    }

    /// ESMTP (mail for local users, from anyone).
    pub fn smtp(&self) -> SocketAddr {
        self.addr(25)
    }

    /// The certificate (PEM) used for STARTTLS, if started with TLS: trust it as a CA.
    pub fn cert_pem_path(&self) -> Option<PathBuf> {
        self.tls.then(|| self.running.dir().join("cert.pem"))
    }

    /// Twisted's log so far (connections, tracebacks).
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

impl std::fmt::Debug for Twisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twisted")
            .field("pid", &self.pid())
            .field("imap", &self.imap())
            .field("pop3", &self.pop3())
            .field("smtp", &self.smtp())
            .field("tls", &self.tls)
            .finish()
    }
}
