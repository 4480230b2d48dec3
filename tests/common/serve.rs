//! `mailwire serve` as a child process for the tests: started with a ready file, read back,
//! killed on drop so a failing test never leaves a server holding its ports.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Serve {
    pub child: Child,
    pub ready: serde_json::Value,
    pub dir: tempfile::TempDir,
}

impl Serve {
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ready_file = dir.path().join("ready.json");
        let child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .arg("serve")
            .args(args)
            .arg("--ready-file")
            .arg(&ready_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready_file.exists() {
            assert!(Instant::now() < deadline, "serve did not become ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        let ready = serde_json::from_str(&std::fs::read_to_string(&ready_file).unwrap()).unwrap();
        Self { child, ready, dir }
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
