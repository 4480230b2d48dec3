//! A GUI-style main loop with an IMAP client in IDLE beside it: the main thread ticks every
//! ~10 ms and "renders", and learns of new mail from a channel it polls with `try_recv`,
//! never blocking on the network. The IMAP server is mailwire's own, in this process, on
//! 127.0.0.1 (a memory store with one user); a delivery arrives while the client idles.
//!
//! Run with `cargo run --example imap_gui`.

use std::time::{Duration, Instant};

use mailwire::Runtime;
use mailwire::imap::blocking::Client;
use mailwire::imap::client::{ClientConfig, Login, Unsolicited};
use mailwire::imap::proto::Data;
use mailwire::imap::server::{Listener, Server, ServerOptions};
use mailwire::tls::{Security, TlsPolicy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder().worker_threads(2).build()?;

    // The server: a memory store with alice, cleartext LOGIN allowed on 127.0.0.1.
    let store = mailwire_store::Store::memory();
    let s = store.clone();
    let addr = runtime
        .block_on(async move {
            s.add_user("alice", "secret").await?;
            let mut options = ServerOptions::default();
            options.session.allow_insecure_auth = true;
            let server = Server::new(options, s, None);
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = l.local_addr()?;
            let (stop, shutdown) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _stop = stop;
                let _ = server
                    .serve(l, Listener::Imap, shutdown, Duration::from_secs(1))
                    .await;
            });
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(addr)
        })?
        .map_err(|e| e.to_string())?;

    // The client, on the same runtime; its calls block the caller, its events do not.
    let config = ClientConfig::new(
        "127.0.0.1",
        addr.port(),
        Security::StartTls(TlsPolicy::Disabled),
    );
    let login = Login::password("alice", "secret").allow_plaintext_without_tls(true);
    let client = Client::connect_on(&runtime, config, &login)?;
    let inbox = client.select("INBOX")?;
    println!("INBOX: {} messages", inbox.exists);
    let events = client.events();
    let idle = client.idle()?;

    // Mail arrives 100 ms from now, delivered by "another program".
    let _ = runtime.spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        store
            .deliver(
                "alice@example.com",
                &b"Subject: hello\r\n\r\nnew mail\r\n"[..],
            )
            .await
    });

    let start = Instant::now();
    let mut frames = 0u32;
    let news = loop {
        frames += 1; // draw a frame
        match events.try_recv() {
            Ok(Unsolicited::Data(Data::Exists(n))) => break n,
            Ok(_) | Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(e) => return Err(e.into()),
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err("no news within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    println!(
        "{frames} frames drawn; then the server said: {news} messages ({:?} after start)",
        start.elapsed()
    );
    idle.done()?;
    client.logout()?;
    runtime.shutdown(Duration::from_secs(1))?;
    assert_eq!(news, 1);
    Ok(())
}
