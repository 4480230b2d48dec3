//! The in-process IMAP server the interop tests drive real clients against: a store with
//! [`messages`] delivered to alice (password `secret`), IMAP and IMAPS listeners on 127.0.0.1
//! and a self-signed certificate for `localhost` and `127.0.0.1`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mailwire_imap::server::{Listener, Server, ServerOptions};
use mailwire_store::Store;
use mailwire_testkit::python;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Time allowed for one Python script.
const PY_TIMEOUT: Duration = Duration::from_secs(120);

/// The messages delivered to alice: plain, 8-bit, and a large multipart one.
pub fn messages() -> Vec<Vec<u8>> {
    vec![
        b"From: Ann <ann@example.com>\r\nTo: alice@example.com\r\nSubject: first\r\n\r\nHello there\r\n"
            .to_vec(),
        "From: b@example.com\r\nSubject: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n"
            .as_bytes()
            .to_vec(),
        [
            b"Subject: big\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".as_slice(),
            &b"QUJD\r\n".repeat(40_000),
            b"--zz--\r\n",
        ]
        .concat(),
    ]
}

/// A running server; stopped when dropped.
pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub store: Store,
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
    /// cert.pem, key.pem and, for a maildir store, `store/`.
    pub dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

impl TestServer {
    /// An in-memory store with [`messages`] delivered to alice.
    pub fn memory() -> TestServer {
        let srv = TestServer::start(tempfile::tempdir().unwrap(), Store::memory());
        srv.deliver_all();
        srv
    }

    /// A maildir store in `dir/store` with [`messages`] delivered to alice.
    pub fn maildir() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::maildir(dir.path().join("store")).unwrap();
        let srv = TestServer::start(dir, store);
        srv.deliver_all();
        srv
    }

    /// Serves `store` (user alice, password secret, added here) from IMAP and IMAPS listeners.
    pub fn start(dir: tempfile::TempDir, store: Store) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(store.add_user("alice", "secret")).unwrap();
        let cert = mailwire_tls::SelfSigned::localhost().unwrap();
        cert.write_to_dir(dir.path()).unwrap();
        let server = Server::new(
            ServerOptions::default(),
            store.clone(),
            Some(cert.acceptor()),
        );
        let (stop, rx) = watch::channel(false);
        let mut addrs = Vec::new();
        for kind in [Listener::Imap, Listener::Imaps] {
            let l = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            addrs.push(l.local_addr().unwrap());
            rt.spawn(Arc::clone(&server).serve(l, kind, rx.clone(), Duration::from_secs(1)));
        }
        TestServer {
            rt,
            store,
            imap: addrs[0],
            imaps: addrs[1],
            dir,
            _stop: stop,
        }
    }

    /// Like [`TestServer::start`] with these driver and session settings (for instance
    /// `session.allow_insecure_auth`, so that LOGIN works on the cleartext port).
    pub fn start_with(dir: tempfile::TempDir, store: Store, options: ServerOptions) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(store.add_user("alice", "secret")).unwrap();
        let cert = mailwire_tls::SelfSigned::localhost().unwrap();
        cert.write_to_dir(dir.path()).unwrap();
        let server = Server::new(options, store.clone(), Some(cert.acceptor()));
        let (stop, rx) = watch::channel(false);
        let mut addrs = Vec::new();
        for kind in [Listener::Imap, Listener::Imaps] {
            let l = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            addrs.push(l.local_addr().unwrap());
            rt.spawn(Arc::clone(&server).serve(l, kind, rx.clone(), Duration::from_secs(1)));
        }
        TestServer {
            rt,
            store,
            imap: addrs[0],
            imaps: addrs[1],
            dir,
            _stop: stop,
        }
    }

    pub fn deliver_all(&self) {
        self.rt.block_on(async {
            for m in messages() {
                self.store.deliver("alice@example.com", m).await.unwrap();
            }
        });
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// alice's folder of a maildir store.
    pub fn user_dir(&self) -> PathBuf {
        self.dir.path().join("store").join("alice")
    }
}

/// Runs a Python script with `imaplib`, `ssl`, `sys`, `base64` and `CA`, `PLAIN`, `TLS`
/// (the server's ports) and `ctx` (trusting the server's certificate) set.
pub fn py(srv: &TestServer, body: &str) -> String {
    let code = format!(
        "import imaplib, ssl, sys, base64\nCA = {:?}\nPLAIN = {}\nTLS = {}\nctx = ssl.create_default_context(cafile=CA)\n{body}\n",
        srv.ca().display().to_string(),
        srv.imap.port(),
        srv.imaps.port(),
    );
    python(&code, PY_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}
