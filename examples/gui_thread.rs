//! A GUI-style main loop driving async work on a background [`Runtime`].
//!
//! The main thread stands in for a GUI toolkit's event loop: it ticks every
//! ~10 ms and "renders" a frame, and never blocks on network or timers.
//! Async work (timers, a TCP echo over loopback) and blocking work run on
//! the runtime; every result comes back through one channel that the loop
//! drains with `try_recv` once per tick.
//!
//! Run with `cargo run --example gui_thread`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use mailwire::{Runtime, RuntimeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the background work reports to the "GUI".
#[derive(Debug)]
enum Event {
    Timer(Result<Duration, RuntimeError>),
    Echo(Result<std::io::Result<String>, RuntimeError>),
    Blocking(Result<u64, RuntimeError>),
}

/// Starts a one-shot echo server on 127.0.0.1:0, connects to it and returns
/// what came back.
async fn loopback_echo(message: &'static str) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0u8; 1024];
        let n = socket.read(&mut buf).await?;
        socket.write_all(&buf[..n]).await?;
        socket.shutdown().await
    });
    let mut client = TcpStream::connect(addr).await?;
    client.write_all(message.as_bytes()).await?;
    client.shutdown().await?;
    let mut reply = String::new();
    client.read_to_string(&mut reply).await?;
    server.await.map_err(std::io::Error::other)??;
    Ok(format!("{reply} (via {addr})"))
}

fn main() -> Result<(), RuntimeError> {
    let rt = Runtime::builder()
        .worker_threads(2)
        .thread_name("gui-net")
        .build()?;
    let (tx, rx) = mpsc::channel::<Event>();
    let started = Instant::now();

    // Submit work from the "GUI" thread; nothing here blocks.
    let mut expected = 0;
    for ms in [50u64, 150, 300] {
        let tx = tx.clone();
        rt.spawn_with_callback(
            async move {
                let begun = Instant::now();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                begun.elapsed()
            },
            move |result| {
                let _ = tx.send(Event::Timer(result));
            },
        );
        expected += 1;
    }
    {
        let tx = tx.clone();
        rt.spawn_with_callback(loopback_echo("hello, loopback"), move |result| {
            let _ = tx.send(Event::Echo(result));
        });
        expected += 1;
    }
    {
        // deferToThread: blocking work on the runtime's blocking pool.
        let tx = tx.clone();
        rt.spawn_blocking_with_callback(
            || {
                std::thread::sleep(Duration::from_millis(100));
                (1..=20u64).product::<u64>()
            },
            move |result| {
                let _ = tx.send(Event::Blocking(result));
            },
        );
        expected += 1;
    }
    drop(tx);

    // The "event loop".
    let tick = Duration::from_millis(10);
    let mut frames = 0u64;
    let mut received = 0;
    while received < expected {
        let frame_start = Instant::now();
        while let Ok(event) = rx.try_recv() {
            received += 1;
            let at = started.elapsed().as_millis();
            match event {
                Event::Timer(Ok(slept)) => println!("[{at:>4} ms] timer fired after {slept:?}"),
                Event::Echo(Ok(Ok(reply))) => println!("[{at:>4} ms] echo: {reply}"),
                Event::Blocking(Ok(value)) => println!("[{at:>4} ms] blocking work: 20! = {value}"),
                other => println!("[{at:>4} ms] failed: {other:?}"),
            }
        }
        frames += 1; // "render" a frame
        if let Some(rest) = tick.checked_sub(frame_start.elapsed()) {
            std::thread::sleep(rest);
        }
        if started.elapsed() > Duration::from_secs(10) {
            eprintln!("giving up: only {received} of {expected} results arrived");
            break;
        }
    }

    println!(
        "received {received}/{expected} results, rendered {frames} frames in {:?}",
        started.elapsed()
    );
    rt.shutdown(Duration::from_secs(1))?;
    println!("runtime shut down");
    Ok(())
}
