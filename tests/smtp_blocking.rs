//! `mailwire::smtp::blocking::Client` against a scripted server, from plain threads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use mailwire::smtp::blocking::{Client, Error};
use mailwire::smtp::client::{ClientOptions, Timeouts};
use mailwire::smtp::proto::Envelope;
use mailwire::tls::TlsPolicy;
use mailwire::{Runtime, RuntimeError};

/// Accepts one connection and answers everything positively; returns the messages.
fn fake_server() -> (u16, thread::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut messages = Vec::new();
        w.write_all(b"220 fake\r\n").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return messages;
            }
            let reply: &[u8] = match &line[..4] {
                "EHLO" => b"250-fake\r\n250 PIPELINING\r\n",
                "DATA" => {
                    w.write_all(b"354 go\r\n").unwrap();
                    let mut m = Vec::new();
                    while !m.ends_with(b"\r\n.\r\n") {
                        let mut b = [0u8];
                        r.read_exact(&mut b).unwrap();
                        m.push(b[0]);
                    }
                    messages.push(m);
                    b"250 stored\r\n"
                }
                "QUIT" => {
                    w.write_all(b"221 bye\r\n").unwrap();
                    return messages;
                }
                _ => b"250 ok\r\n",
            };
            w.write_all(reply).unwrap();
        }
    });
    (port, h)
}

fn options(port: u16) -> ClientOptions {
    ClientOptions::new("127.0.0.1", port)
        .tls_policy(TlsPolicy::Disabled)
        .timeouts(Timeouts::uniform(Duration::from_secs(10)))
}

fn env() -> Envelope {
    Envelope::new(
        "a@example.org".parse().unwrap(),
        ["b@example.org".parse().unwrap()],
    )
}

#[test]
fn connect_send_many_quit() {
    let (port, server) = fake_server();
    let mut c = Client::connect_with(options(port)).unwrap();
    assert!(!c.is_tls());
    assert!(c.extensions().is_some_and(|e| e.pipelining()));
    let r = c
        .send(env(), b"Subject: 1\r\n\r\none\r\n".to_vec())
        .unwrap();
    assert!(r.is_delivered_to_all());
    let rs = c
        .send_many(vec![
            (env(), b"two\r\n".to_vec()),
            (env(), b"three\r\n".to_vec()),
        ])
        .unwrap();
    assert!(
        rs.iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.is_delivered_to_all()))
    );
    c.quit().unwrap();
    let got = server.join().unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], b"three\r\n.\r\n");
}

#[test]
fn on_a_shared_runtime_and_never_from_inside_it() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let (port, server) = fake_server();
    let mut c = Client::connect_on(&rt, options(port)).unwrap();
    c.send(env(), b"x\r\n".to_vec()).unwrap();
    // Blocking from one of the runtime's own threads would deadlock: it is refused, and the
    // client survives the refusal.
    let mut c = rt
        .spawn_blocking(move || {
            let r = c.send(env(), b"y\r\n".to_vec());
            assert!(r.is_ok(), "spawn_blocking work may block: {r:?}");
            c
        })
        .wait()
        .unwrap();
    let (mut c, r) = rt
        .block_on(async move {
            let r = c.send(env(), b"z\r\n".to_vec());
            (c, r)
        })
        .unwrap();
    assert!(
        matches!(r, Err(Error::Runtime(RuntimeError::InsideRuntime))),
        "{r:?}"
    );
    // Refused, not lost: the client still works from an ordinary thread.
    assert!(
        c.send(env(), b"z\r\n".to_vec())
            .unwrap()
            .is_delivered_to_all()
    );
    c.quit().unwrap();
    assert_eq!(server.join().unwrap().len(), 3);
}
