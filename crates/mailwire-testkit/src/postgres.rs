//! PostgreSQL: a throw-away cluster for the postgres store.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::Result;
use crate::peer::{Kind, Running};

static KIND: Kind = Kind {
    name: "postgres",
    script: "postgres.sh",
    install: "apt-get install -y --no-install-recommends postgresql",
    log: "postgres.log",
};

/// A PostgreSQL cluster made by `tests/peers/postgres.sh` (initdb in a fresh temporary folder)
/// and served on a free port of 127.0.0.1 only; stopped on drop.
///
/// The superuser `mailwire` (password `secret`, SCRAM over TCP) owns the database `mailwire`;
/// fsync is on. Debian's `postgresql` package provides the binaries; as root the server runs as
/// the `postgres` user.
///
/// ```no_run
/// let pg = mailwire_testkit::Postgres::start().unwrap();
/// assert!(pg.url().starts_with("postgres://mailwire:secret@127.0.0.1:"));
/// assert_eq!(pg.psql("select 1").unwrap().trim(), "1");
/// ```
pub struct Postgres {
    running: Running,
    port: u16,
}

impl Postgres {
    /// Makes a cluster and starts the server; returns once it accepts connections.
    ///
    /// # Errors
    /// [`Error::NotInstalled`](crate::Error::NotInstalled) naming the Debian package if
    /// PostgreSQL is missing; [`Error::Start`](crate::Error::Start) with the log's tail if it
    /// did not come up.
    pub fn start() -> Result<Postgres> {
        let (running, port) = Running::start(&KIND, &[0], |port| vec![port.to_string()], &[])?;
        Ok(Postgres { running, port })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `postgres://mailwire:secret@127.0.0.1:PORT/mailwire`.
    pub fn url(&self) -> String {
        format!(
            "postgres://mailwire:secret@127.0.0.1:{}/mailwire",
            self.port
        )
    }

    /// The cluster's folder (`data/`, `postgres.log`, `run/` with the Unix socket).
    pub fn dir(&self) -> &Path {
        self.running.dir()
    }

    /// The server's pid (the postmaster).
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Runs `sql` with `psql` over TCP as `mailwire` on the `mailwire` database; its output
    /// (unaligned, tuples only).
    ///
    /// # Errors
    /// [`Error::Start`](crate::Error::Start) with psql's message when it fails.
    pub fn psql(&self, sql: &str) -> Result<String> {
        let port = self.port.to_string();
        let mut c = std::process::Command::new("psql");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "mailwire",
            "-d",
            "mailwire",
        ])
        .args(["-Atqc", sql])
        .env("PGPASSWORD", "secret");
        let out = crate::run_command(&mut c, None, std::time::Duration::from_secs(60))?;
        if !out.status.success() {
            return Err(crate::Error::Start {
                peer: "postgres",
                status: format!("psql {sql:?}: {}", out.status),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s).
    ///
    /// # Errors
    /// If the stop script fails.
    pub fn stop(mut self) -> Result<()> {
        self.running.stop()
    }
}
