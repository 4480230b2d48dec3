//! Running external client tools (swaks, curl, python3, ...) with a time limit.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Runs `cmd args...` with `stdin` fed to it (or an empty stdin), captures stdout and stderr, and
/// kills it if it has not finished after `timeout`.
///
/// A non-zero exit status is *not* an error here: look at [`Output::status`] (or use
/// [`run_tool_ok`]). The environment is inherited.
///
/// ```no_run
/// use std::time::Duration;
/// let out = mailwire_testkit::run_tool(
///     "swaks",
///     ["--server", "127.0.0.1", "--port", "2525", "--to", "alice@example.com"],
///     None,
///     Duration::from_secs(30),
/// )
/// .unwrap();
/// assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
/// ```
///
/// # Errors
/// [`Error::Spawn`] if the program cannot be started (the message names the package that provides
/// the usual tools), [`Error::Timeout`] (with what it printed so far) if it ran out of time.
pub fn run_tool<I, S>(cmd: &str, args: I, stdin: Option<&[u8]>, timeout: Duration) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(cmd);
    command.args(args);
    run_command(&mut command, stdin, timeout)
}

/// Like [`run_tool`], but a non-zero exit status is an [`Error::ToolFailed`] holding its output.
///
/// # Errors
/// As [`run_tool`], plus [`Error::ToolFailed`].
pub fn run_tool_ok<I, S>(
    cmd: &str,
    args: I,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(cmd);
    command.args(args);
    let out = run_command(&mut command, stdin, timeout)?;
    check_success(&command, out)
}

/// Runs `python3 -c CODE` and returns what it printed on stdout.
///
/// The Python peers' packages (aiosmtpd, twisted, imapclient) and the standard library's
/// `smtplib`, `imaplib` and `poplib` are there to use as reference clients.
///
/// ```no_run
/// use std::time::Duration;
/// let out = mailwire_testkit::python("print(1 + 1)", Duration::from_secs(10)).unwrap();
/// assert_eq!(out.trim(), "2");
/// ```
///
/// # Errors
/// [`Error::ToolFailed`] (with the traceback in `stderr`) if the code raised or exited non-zero,
/// [`Error::Timeout`], or [`Error::Spawn`] if there is no `python3`.
pub fn python(code: &str, timeout: Duration) -> Result<String> {
    let mut command = Command::new("python3");
    command.arg("-c").arg(code);
    let out = run_command(&mut command, None, timeout)?;
    let out = check_success(&command, out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs an already configured [`Command`] like [`run_tool`] does (its stdio is replaced by pipes).
///
/// # Errors
/// As [`run_tool`].
pub fn run_command(
    command: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    let shown = show(command);
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            hint: hint_for(command.get_program()),
            cmd: shown.clone(),
            source,
        })?;
    let feeder = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => {
            let data = data.to_vec();
            // A tool that exits without reading everything closes the pipe: not our problem.
            Some(thread::spawn(move || {
                let _ = pipe.write_all(&data);
            }))
        }
        _ => None,
    };
    let out_reader = child.stdout.take().map(reader);
    let err_reader = child.stderr.take().map(reader);

    let deadline = Instant::now() + timeout;
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Spawn {
                    cmd: shown,
                    hint: String::new(),
                    source: e,
                });
            }
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    // Grandchildren that kept the pipes open would block these joins: only wait for them a little.
    let stdout = join_reader(out_reader);
    let stderr = join_reader(err_reader);
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(Error::Timeout {
            what: shown,
            after: timeout,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }),
    }
}

type Reader = (thread::JoinHandle<()>, std::sync::mpsc::Receiver<Vec<u8>>);

fn reader(mut pipe: impl Read + Send + 'static) -> Reader {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    (handle, rx)
}

fn join_reader(reader: Option<Reader>) -> Vec<u8> {
    let Some((handle, rx)) = reader else {
        return Vec::new();
    };
    match rx.recv_timeout(Duration::from_secs(2)) {
        Ok(buf) => {
            let _ = handle.join();
            buf
        }
        // Left running: it ends when the last holder of the pipe exits.
        Err(_) => b"[output still open after exit: not collected]".to_vec(),
    }
}

fn check_success(command: &Command, out: Output) -> Result<Output> {
    if out.status.success() {
        return Ok(out);
    }
    Err(Error::ToolFailed {
        cmd: show(command),
        status: out.status.to_string(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The command line for messages, with long arguments (inline scripts) shortened.
fn show(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        s.push(' ');
        match arg.char_indices().nth(60) {
            Some((cut, _)) => {
                s.push_str(&arg[..cut]);
                s.push_str("...");
            }
            None => s.push_str(&arg),
        }
    }
    s
}

/// Which package provides the tools tests usually run.
fn hint_for(program: &OsStr) -> String {
    let package = match program.to_str().unwrap_or("") {
        "swaks" => "the Debian package swaks (and libnet-ssleay-perl for its STARTTLS)",
        "curl" => "the Debian package curl",
        "python3" => "python3 (Debian package python3)",
        "fetchmail" => "the Debian package fetchmail",
        "mbsync" => "the Debian package isync",
        "getmail" | "getmail6" => "the Debian package getmail6",
        "offlineimap" | "offlineimap3" => "the Debian package offlineimap3",
        "neomutt" => "the Debian package neomutt",
        "tmux" => "the Debian package tmux",
        "smtp-source" | "smtp-sink" => "the Debian package postfix",
        "openssl" => "the Debian package openssl",
        _ => return String::new(),
    };
    format!("\n  install {package} (tests/peers/install.sh installs every peer)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = run_tool(
            "sh",
            ["-c", "cat; echo err >&2; exit 3"],
            Some(b"in"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn kills_on_timeout() {
        let started = Instant::now();
        let err = run_tool(
            "sh",
            ["-c", "echo partial; exec sleep 30"],
            None,
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        match err {
            Error::Timeout { stdout, .. } => assert_eq!(stdout, "partial\n"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run_tool(
            "no-such-tool-mailwire",
            [""; 0],
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err}");
    }

    #[test]
    fn failing_tool_is_tool_failed() {
        let err = run_tool_ok(
            "sh",
            ["-c", "echo oops >&2; exit 1"],
            None,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(err.to_string().contains("oops"), "{err}");
    }
}
