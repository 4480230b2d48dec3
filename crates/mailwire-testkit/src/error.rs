//! The test kit's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used throughout the test kit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while starting a peer or running a tool.
///
/// Every message is meant to be read by a person looking at a failed test: it says which peer or
/// tool, what happened, and (for [`Error::NotInstalled`]) which package to install.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer (or one of its parts) is not installed on this machine.
    #[error(
        "{peer} is not installed: {detail}\n  install: {install}\n  (tests/peers/install.sh installs every peer)"
    )]
    NotInstalled {
        /// The peer, e.g. `"dovecot"`.
        peer: &'static str,
        /// Which packages provide it, e.g. `apt-get install dovecot-imapd ...`.
        install: &'static str,
        /// What the start script reported.
        detail: String,
    },
    /// The peer's start script failed; `output` holds its messages and the tail of the peer's log.
    #[error("{peer} did not start ({status}):\n{output}")]
    Start {
        /// The peer, e.g. `"dovecot"`.
        peer: &'static str,
        /// The script's exit status, as text.
        status: String,
        /// The script's stderr and stdout.
        output: String,
    },
    /// An external tool could not be run at all (usually: not installed).
    #[error("cannot run {cmd}: {source}{hint}")]
    Spawn {
        /// The command.
        cmd: String,
        /// Extra advice, e.g. the package that provides the command.
        hint: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external tool exited unsuccessfully.
    #[error("{cmd} failed ({status})\n--- stderr:\n{stderr}\n--- stdout:\n{stdout}")]
    ToolFailed {
        /// The command line, shortened.
        cmd: String,
        /// Its exit status, as text.
        status: String,
        /// What it printed on stdout (lossy UTF-8).
        stdout: String,
        /// What it printed on stderr (lossy UTF-8).
        stderr: String,
    },
    /// An external tool or a wait did not finish in time (the tool has been killed).
    #[error("{what} did not finish within {after:?}\n--- stderr:\n{stderr}\n--- stdout:\n{stdout}")]
    Timeout {
        /// The command line, or what was waited for.
        what: String,
        /// The time limit.
        after: Duration,
        /// What the tool had printed on stdout until then.
        stdout: String,
        /// What the tool had printed on stderr until then.
        stderr: String,
    },
    /// No set of free ports was found on 127.0.0.1.
    #[error("no free port range for offsets {offsets:?} on 127.0.0.1 after {tries} tries")]
    NoFreePorts {
        /// The offsets that had to be free together.
        offsets: Vec<u16>,
        /// How many random bases were tried.
        tries: u32,
    },
    /// Reading a file the peer wrote (or the peer scripts folder) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file the peer wrote did not have the expected form.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
