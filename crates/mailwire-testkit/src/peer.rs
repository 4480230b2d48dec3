//! What every peer handle shares: its scripts folder, temporary state folder, start with retries,
//! and stop by pid on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::tools::run_command;
use crate::{Error, Result};

/// How long a start script may take (it gives up on its own after 20 s of waiting for the port).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a stop script may take (it sends SIGKILL itself after 10 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at starting a peer when another process took one of its ports first.
const PORT_RETRIES: usize = 5;

/// The folder holding the peer scripts (`dovecot.sh`, `smtp-sink.sh`, ...): `tests/peers/` at the
/// root of the mailwire repository, found from this crate's manifest folder.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers")
}

/// Whether a process with this pid exists and is not a zombie.
///
/// Peers are started in their own session and outlive the shell that started them, so once killed
/// they can linger as zombies until init reaps them: those count as gone.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command name, which is in parentheses.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(
                stat[i + 1..].trim_start().chars().next(),
                Some('Z' | 'X') | None
            ),
            None => true,
        },
        Err(_) => false,
    }
}

/// Static facts about one kind of peer.
pub(crate) struct Kind {
    /// Name used by the script: its pid file is `DIR/NAME.pid`.
    pub name: &'static str,
    /// Script file in [`peers_dir`].
    pub script: &'static str,
    /// What to install when the script reports (exit status 3) that the peer is missing.
    pub install: &'static str,
    /// The peer's log, relative to its folder.
    pub log: &'static str,
}

/// A running peer: its temporary folder and pid. Stopping it (explicitly or on drop) runs the
/// script's `stop`, and kills the pid if it is still there afterwards.
pub(crate) struct Running {
    kind: &'static Kind,
    dir: Option<TempDir>,
    path: PathBuf,
    pid: u32,
    stopped: bool,
}

impl Running {
    /// Makes a fresh folder and runs `SCRIPT start DIR args(base)...`, where `base` comes from
    /// [`crate::free_port_base`] with `offsets`; retries with a new base when a port turned out to
    /// be taken. Returns the peer and the base it got.
    pub fn start(
        kind: &'static Kind,
        offsets: &[u16],
        args: impl Fn(u16) -> Vec<String>,
        env: &[(&str, &str)],
    ) -> Result<(Running, u16)> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("mailwire-{}.", kind.name))
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let path = dir.path().to_path_buf();
        let script = peers_dir().join(kind.script);
        if !script.is_file() {
            return Err(Error::io(
                &script,
                std::io::Error::new(std::io::ErrorKind::NotFound, "peer script missing"),
            ));
        }
        let mut last = None;
        for _ in 0..PORT_RETRIES {
            let base = crate::free_port_base(offsets)?;
            let mut cmd = Command::new("bash");
            cmd.arg(&script).arg("start").arg(&path).args(args(base));
            cmd.env("PEER_OWNER_PID", std::process::id().to_string());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = run_command(&mut cmd, None, START_TIMEOUT).map_err(|e| match e {
                Error::Timeout { stdout, stderr, .. } => Error::Start {
                    peer: kind.name,
                    status: format!("start script still running after {START_TIMEOUT:?}"),
                    output: format!("{stderr}{stdout}"),
                },
                other => other,
            })?;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
            if out.status.success() {
                let pid_file = path.join(format!("{}.pid", kind.name));
                let pid = std::fs::read_to_string(&pid_file)
                    .map_err(|e| Error::io(&pid_file, e))?
                    .trim()
                    .parse()
                    .map_err(|e| Error::Parse {
                        path: pid_file.clone(),
                        message: format!("not a pid: {e}"),
                    })?;
                let running = Running {
                    kind,
                    dir: Some(dir),
                    path,
                    pid,
                    stopped: false,
                };
                return Ok((running, base));
            }
            if out.status.code() == Some(3) {
                return Err(Error::NotInstalled {
                    peer: kind.name,
                    install: kind.install,
                    detail: text.trim().to_owned(),
                });
            }
            let error = Error::Start {
                peer: kind.name,
                status: out.status.to_string(),
                output: text.clone(),
            };
            if !text.to_ascii_lowercase().contains("address already in use") {
                return Err(error);
            }
            last = Some(error); // another process took a port: try another base
        }
        Err(last.expect("at least one attempt"))
    }

    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path.join(self.kind.log)).unwrap_or_default()
    }

    /// Runs the stop script and makes sure the pid is gone.
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let mut cmd = Command::new("bash");
        cmd.arg(peers_dir().join(self.kind.script))
            .arg("stop")
            .arg(&self.path);
        let result = run_command(&mut cmd, None, STOP_TIMEOUT);
        if pid_alive(self.pid) {
            // The script failed or timed out: no mercy.
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(self.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let out = result?;
        if !out.status.success() {
            return Err(Error::ToolFailed {
                cmd: format!("{} stop {}", self.kind.script, self.path.display()),
                status: out.status.to_string(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        if pid_alive(self.pid) {
            return Err(Error::Start {
                peer: self.kind.name,
                status: format!("pid {} still alive after stop and SIGKILL", self.pid),
                output: String::new(),
            });
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("mailwire-testkit: stopping {}: {e}", self.kind.name);
        }
        if std::env::var_os("MAILWIRE_KEEP_PEER_DIRS").is_some()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!(
                "mailwire-testkit: {} state kept in {}",
                self.kind.name,
                kept.display()
            );
        }
    }
}
