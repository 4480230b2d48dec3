//! Postfix smtp-sink: an SMTP or LMTP server that accepts, counts and discards.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::peer::{Kind, Running};
use crate::{Error, Result};

static KIND: Kind = Kind {
    name: "smtp-sink",
    script: "smtp-sink.sh",
    install: "echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections; \
              apt-get install -y --no-install-recommends postfix",
    log: "smtp-sink.out",
};

/// smtp-sink's running counters (`-c`), all zero until something happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounters {
    /// Finished connections (any TCP connection counts, even one that never said a word).
    pub sessions: u64,
    /// QUIT commands received.
    pub quits: u64,
    /// Messages accepted (one per DATA/BDAT transaction, whatever the number of recipients).
    pub messages: u64,
}

/// Postfix's smtp-sink started by `tests/peers/smtp-sink.sh`; stopped on drop.
///
/// It accepts any sender, recipient and AUTH, advertises PIPELINING, 8BITMIME, AUTH PLAIN LOGIN,
/// XCLIENT, XFORWARD, ENHANCEDSTATUSCODES and DSN (then an empty `250 ` line), and counts what it
/// gets: see [`counters`](Self::counters). The fastest SMTP server around, a yardstick for
/// client throughput. In LMTP mode it answers each RCPT once more after the data, as LMTP requires.
///
/// ```no_run
/// let sink = mailwire_testkit::SmtpSink::start(false).unwrap();
/// // ... send 10 messages to sink.addr() ...
/// let counters = sink.wait_for_messages(10, std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(counters.messages, 10);
/// ```
pub struct SmtpSink {
    running: Running,
    port: u16,
}

impl SmtpSink {
    /// Starts smtp-sink on a free port of 127.0.0.1, speaking LMTP if `lmtp` (smtp-sink `-L`).
    ///
    /// # Errors
    /// [`Error::NotInstalled`] if Postfix is missing, [`Error::Start`] if it did not come up.
    pub fn start(lmtp: bool) -> Result<SmtpSink> {
        Self::start_with_flags(if lmtp { &["-L"] } else { &[] })
    }

    /// Starts smtp-sink with extra flags (see `man smtp-sink`), e.g. `["-L"]` for LMTP, `["-p"]`
    /// to not announce PIPELINING, `["-a"]` for no AUTH, `["-e"]` for no ESMTP at all,
    /// `["-f", "rcpt"]` to answer RCPT with a hard error. `-c` (counters) and, as root,
    /// `-u nobody` are always given.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_flags(flags: &[&str]) -> Result<SmtpSink> {
        let (running, port) = Running::start(
            &KIND,
            &[0],
            |port| {
                let mut args = vec![port.to_string()];
                args.extend(flags.iter().map(|s| s.to_string()));
                args
            },
            &[],
        )?;
        Ok(SmtpSink { running, port })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The latest counters from `DIR/smtp-sink.out`. smtp-sink updates them when a session ends,
    /// a QUIT is received or a message's final `.` is accepted, so they may lag the client by a
    /// moment: see [`wait_for_messages`](Self::wait_for_messages).
    ///
    /// # Panics
    /// If the counters file cannot be read or parsed (a broken peer, not a failed test).
    pub fn counters(&self) -> SinkCounters {
        match self.try_counters() {
            Ok(c) => c,
            Err(e) => panic!("smtp-sink counters: {e}"),
        }
    }

    /// Like [`counters`](Self::counters), returning errors instead of panicking.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Parse`].
    pub fn try_counters(&self) -> Result<SinkCounters> {
        let path = self.running.dir().join("smtp-sink.out");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        parse_counters(&text).map_err(|message| Error::Parse { path, message })
    }

    /// Waits until at least `messages` messages were counted, and returns the counters then.
    ///
    /// # Errors
    /// [`Error::Timeout`] (with the last counters) if that takes longer than `timeout`.
    pub fn wait_for_messages(&self, messages: u64, timeout: Duration) -> Result<SinkCounters> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.try_counters()?;
            if c.messages >= messages {
                return Ok(c);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("smtp-sink counting {messages} messages (last: {c:?})"),
                    after: timeout,
                    stdout: String::new(),
                    stderr: String::new(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The folder holding its pid and counters files.
    pub fn dir(&self) -> &Path {
        self.running.dir()
    }

    /// smtp-sink's pid.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// smtp-sink's output so far (counters and any warning).
    pub fn log(&self) -> String {
        self.running.log()
    }

    /// Stops it now and reports problems (dropping the handle stops it too, silently).
    ///
    /// # Errors
    /// If the stop script failed or the process would not go away.
    pub fn stop(mut self) -> Result<()> {
        self.running.stop()
    }
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("pid", &self.pid())
            .field("addr", &self.addr())
            .finish()
    }
}

/// Parses smtp-sink's `-c` output: CR-separated records `sess=N quit=N mesg=N`; the last complete
/// one wins, and no record at all means zero.
fn parse_counters(text: &str) -> std::result::Result<SinkCounters, String> {
    let Some(record) = text
        .split(['\r', '\n'])
        .rev()
        .find(|r| r.contains("sess=") && r.contains("mesg="))
    else {
        return Ok(SinkCounters::default());
    };
    let mut counters = SinkCounters::default();
    for field in record.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let slot = match key {
            "sess" => &mut counters.sessions,
            "quit" => &mut counters.quits,
            "mesg" => &mut counters.messages,
            _ => continue,
        };
        *slot = value
            .parse()
            .map_err(|e| format!("bad counter in {record:?}: {e}"))?;
    }
    Ok(counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_last_record() {
        let text = "sess=0 quit=0 mesg=1\rsess=1 quit=1 mesg=1\rsess=2 quit=1 mesg=12\r";
        assert_eq!(
            parse_counters(text).unwrap(),
            SinkCounters {
                sessions: 2,
                quits: 1,
                messages: 12
            }
        );
    }

    #[test]
    fn empty_means_zero_and_partial_records_are_skipped() {
        assert_eq!(parse_counters("").unwrap(), SinkCounters::default());
        let text = "sess=3 quit=3 mesg=4\rsess=4 qu";
        assert_eq!(parse_counters(text).unwrap().messages, 4);
    }
}
