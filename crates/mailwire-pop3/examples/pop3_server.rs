//! A POP3 test server over in-memory maildrops: `alice` / `secret`, a few messages, STLS on
//! the first port and implicit TLS on the second, a self-signed certificate for localhost.
//!
//! ```text
//! cargo run -p mailwire-pop3 --example pop3_server -- 127.0.0.1:3110 127.0.0.1:3995 /tmp/pop3-cert
//! ```
//! The certificate is written to `DIR/cert.pem` (trust it as the CA). Ctrl-C stops it.

use std::sync::Arc;
use std::time::Duration;

use mailwire_pop3::server::{Listener, MemoryMaildrops, Server, ServerOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pop3 = args.first().map_or("127.0.0.1:3110", String::as_str);
    let pop3s = args.get(1).map_or("127.0.0.1:3995", String::as_str);
    let dir = args
        .get(2)
        .map_or("/tmp/mailwire-pop3-example", String::as_str);
    let cert = mailwire_tls::SelfSigned::localhost()?;
    std::fs::create_dir_all(dir)?;
    cert.write_to_dir(dir)?;
    let drops = MemoryMaildrops::new();
    for i in 1..=3 {
        drops.add_message(
            "alice",
            format!("From: bob@example.com\r\nSubject: message {i}\r\n\r\n.hello {i}\r\n")
                .into_bytes(),
        );
    }
    let auth = Arc::new(mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret"));
    let server = Server::new(ServerOptions::default(), drops, auth, Some(cert.acceptor()));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let a = tokio::net::TcpListener::bind(pop3).await?;
    let b = tokio::net::TcpListener::bind(pop3s).await?;
    println!(
        "pop3 {} pop3s {} ca {dir}/cert.pem",
        a.local_addr()?,
        b.local_addr()?
    );
    let grace = Duration::from_secs(5);
    let t1 = tokio::spawn(Arc::clone(&server).serve(a, Listener::Pop3, shutdown.clone(), grace));
    let t2 = tokio::spawn(server.serve(b, Listener::Pop3s, shutdown, grace));
    tokio::signal::ctrl_c().await?;
    let _ = stop.send(true);
    let _ = (t1.await, t2.await);
    Ok(())
}
