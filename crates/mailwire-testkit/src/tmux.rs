//! A tmux server on a private socket, for driving interactive programs as a person would:
//! start a command in a detached session, send keys, read the screen.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::tools::run_tool;

const T: Duration = Duration::from_secs(30);

/// A tmux server on `socket` with one session, `mw`; killed on drop (also when the test
/// fails).
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `command` (run by tmux's shell) in a detached 120×40 session; fails (naming the
    /// install command) if tmux is missing.
    pub fn start(socket: impl Into<PathBuf>, command: &str) -> Tmux {
        let t = Tmux {
            socket: socket.into(),
        };
        let out = t.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "mw",
            "-x",
            "120",
            "-y",
            "40",
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    /// Runs a tmux command against this server.
    pub fn cmd(&self, args: &[&str]) -> Output {
        let mut all = vec!["-S", self.socket.to_str().unwrap_or("")];
        all.extend(args);
        run_tool("tmux", all, None, T).unwrap_or_else(|e| panic!("{e} (apt-get install tmux)"))
    }

    /// Types `keys` (tmux key names: `Enter`, `q`, or literal text) into the session.
    pub fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "mw"];
        args.extend(keys);
        self.cmd(&args);
    }

    /// What the screen shows now.
    pub fn pane(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "mw"]).stdout).into_owned()
    }

    /// Waits up to 20 s until the screen shows every one of `want`; fails with the screen.
    pub fn wait_for(&self, want: &[&str], what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pane = self.pane();
            if want.iter().all(|w| pane.contains(w)) {
                return pane;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the pane never showed {want:?}:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether the session still runs (its command has not exited).
    pub fn running(&self) -> bool {
        self.cmd(&["has-session", "-t", "mw"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = run_tool(
            "tmux",
            ["-S", self.socket.to_str().unwrap_or(""), "kill-server"],
            None,
            T,
        );
    }
}
