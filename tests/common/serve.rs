//! `mailwire serve` as a child process for the tests: started with a ready file, read back,
//! killed on drop so a failing test never leaves a server holding its ports.

#![allow(dead_code)]

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Serve {
    pub child: Child,
    pub ready: serde_json::Value,
    pub dir: tempfile::TempDir,
    /// Everything written to stdout and stderr, when started by [`Serve::start_logged`].
    pub log: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl Serve {
    pub fn start(args: &[&str]) -> Self {
        Self::spawn(args, None, None)
    }

    /// Started with `RUST_LOG=<level>`; its output is kept (read as it comes, so the pipe
    /// never fills) in [`Serve::log`].
    pub fn start_logged(args: &[&str], level: &str) -> Self {
        Self::spawn(args, Some(level), None)
    }

    /// Started under `prlimit --nofile=N:N` (util-linux): at most `nofile` descriptors; the
    /// output is kept as with [`Serve::start_logged`] at `level`.
    pub fn start_with_nofile(args: &[&str], level: &str, nofile: u32) -> Self {
        Self::spawn(args, Some(level), Some(nofile))
    }

    fn spawn(args: &[&str], log_level: Option<&str>, nofile: Option<u32>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ready_file = dir.path().join("ready.json");
        let mut command = match nofile {
            // prlimit sets the limit on itself and then executes serve (same process).
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_mailwire"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_mailwire")),
        };
        command
            .arg("serve")
            .args(args)
            .arg("--ready-file")
            .arg(&ready_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(level) = log_level {
            command.env("RUST_LOG", level);
        }
        let mut child = command.spawn().unwrap();
        let log = log_level.map(|_| {
            let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
            let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
            for mut pipe in [out, err] {
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    while let Ok(n @ 1..) = pipe.read(&mut buf) {
                        log.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                });
            }
            log
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready_file.exists() {
            assert!(Instant::now() < deadline, "serve did not become ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        let ready = serde_json::from_str(&std::fs::read_to_string(&ready_file).unwrap()).unwrap();
        Self {
            child,
            ready,
            dir,
            log,
        }
    }

    pub fn port(&self, protocol: &str) -> u16 {
        let addr = self.ready[protocol]
            .as_str()
            .unwrap_or_else(|| panic!("no {protocol} in {}", self.ready));
        addr.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    pub fn terminate(mut self) -> (i32, Duration) {
        let t = Instant::now();
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), t.elapsed())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
