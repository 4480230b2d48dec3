//! A raw IMAP connection for the wire tests: send exact command text, read lines.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use mailwire_imap::server::{Listener, Server, ServerOptions};
use mailwire_store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

/// Serves `store` with alice (password `secret`, added here) on a cleartext listener on
/// 127.0.0.1; it stops when the sender is dropped.
pub async fn serve(options: ServerOptions, store: Store) -> (SocketAddr, watch::Sender<bool>) {
    store.add_user("alice", "secret").await.unwrap();
    let server = Server::new(options, store, None);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    tokio::spawn(server.serve(l, Listener::Imap, rx, Duration::from_secs(1)));
    (addr, stop)
}

/// Server options with LOGIN allowed in cleartext.
pub fn insecure() -> ServerOptions {
    let mut o = ServerOptions::default();
    o.session.allow_insecure_auth = true;
    o
}

/// One connection, split into a buffered reader and a writer.
pub struct Client {
    pub r: BufReader<OwnedReadHalf>,
    pub w: OwnedWriteHalf,
}

impl Client {
    /// Connects and returns the client with the greeting line.
    pub async fn connect(addr: SocketAddr) -> (Client, String) {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut c = Client {
            r: BufReader::new(r),
            w,
        };
        let greeting = c.line().await;
        (c, greeting)
    }

    /// Connects and logs in with LOGIN (the server must allow it in cleartext).
    pub async fn login(addr: SocketAddr, user: &str, pass: &str) -> Client {
        let (mut c, _) = Client::connect(addr).await;
        let r = c.cmd("L", &format!("LOGIN {user} {pass}")).await;
        assert!(r.last().unwrap().starts_with("L OK"), "{r:?}");
        c
    }

    /// The next line, CRLF included ("" at end of stream); fails after 10 s.
    pub async fn line(&mut self) -> String {
        let mut l = String::new();
        tokio::time::timeout(Duration::from_secs(10), self.r.read_line(&mut l))
            .await
            .expect("a line within 10 s")
            .unwrap();
        l
    }

    /// Writes raw octets.
    pub async fn send(&mut self, raw: &[u8]) {
        self.w.write_all(raw).await.unwrap();
    }

    /// Sends a command and returns every line up to its tagged completion.
    pub async fn cmd(&mut self, tag: &str, text: &str) -> Vec<String> {
        self.send(format!("{tag} {text}\r\n").as_bytes()).await;
        self.until(tag).await
    }

    /// Reads every line up to the tagged completion of `tag`.
    pub async fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            assert!(!l.is_empty(), "connection closed; got {out:?}");
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }
}
