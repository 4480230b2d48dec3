//! The blocking IMAP client: calls that wait, events a plain thread polls, errors passed on,
//! and a clear error when called from inside an async runtime.

use std::time::{Duration, Instant};

use mailwire::imap::blocking::{Client, Error};
use mailwire::imap::client::{ClientConfig, Login, Unsolicited};
use mailwire::imap::proto::{
    Data, FetchItem, FetchItems, Flag, SearchKey, SequenceSet, StatusItem, StatusValue, StoreKind,
    Vec1,
};
use mailwire::imap::server::{Listener, Server, ServerOptions};
use mailwire::tls::{Security, TlsPolicy};
use mailwire::{Runtime, RuntimeError};

fn server(runtime: &Runtime, store: mailwire_store::Store) -> u16 {
    runtime
        .block_on(async move {
            store.add_user("alice", "secret").await.unwrap();
            let mut options = ServerOptions::default();
            options.session.allow_insecure_auth = true;
            let server = Server::new(options, store, None);
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            let (stop, shutdown) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _stop = stop;
                let _ = server
                    .serve(l, Listener::Imap, shutdown, Duration::from_secs(1))
                    .await;
            });
            port
        })
        .unwrap()
}

#[test]
fn blocking_calls_events_and_errors() {
    let runtime = Runtime::builder().worker_threads(1).build().unwrap();
    let store = mailwire_store::Store::memory();
    let port = server(&runtime, store.clone());
    let config = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
    let login = Login::password("alice", "secret").allow_plaintext_without_tls(true);
    let client = Client::connect_on(&runtime, config.clone(), &login).unwrap();
    let uid = client
        .append("INBOX", &[], b"Subject: a\r\n\r\nb\r\n".to_vec())
        .unwrap()
        .expect("APPENDUID")
        .1;
    assert_eq!(client.select("INBOX").unwrap().exists, 1);
    assert_eq!(client.search(SearchKey::All, true).unwrap(), [uid]);
    let st = client.status("INBOX", &[StatusItem::Messages]).unwrap();
    assert_eq!(st, [StatusValue::Number(StatusItem::Messages, 1)]);
    // A refused command is an error with the server's words; the client goes on.
    assert!(matches!(
        client.select("Nowhere"),
        Err(Error::Imap(mailwire::imap::client::Error::No(_)))
    ));
    client.select("INBOX").unwrap();

    // Mailbox management, copy, move, expunge and a streamed fetch, all blocking.
    client.create("Work").unwrap();
    client.subscribe("Work", true).unwrap();
    let all = SequenceSet::all();
    let copied = client.copy(&all, "Work", false).unwrap();
    assert_eq!(copied.len(), 1, "{copied:?}");
    let listing = client
        .list_status("", "*", &[StatusItem::Messages])
        .unwrap();
    let work = listing
        .mailboxes
        .iter()
        .find(|l| l.mailbox.as_bytes() == b"Work")
        .expect("Work listed");
    assert_eq!(
        listing.status_of(&work.mailbox),
        Some(&[StatusValue::Number(StatusItem::Messages, 1)][..])
    );
    client.rename("Work", "Done").unwrap();
    client.select("Done").unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let n = client
        .fetch_each(
            &all,
            FetchItems::Items(Vec1::one(FetchItem::Uid)),
            false,
            move |seq, _| s2.lock().unwrap().push(seq),
        )
        .unwrap();
    assert_eq!((n, seen.lock().unwrap().clone()), (1, vec![1]));
    assert!(client.uid_of(1).is_some());
    let moved = client.r#move(&all, "INBOX", false).unwrap();
    assert_eq!(moved.len(), 1, "{moved:?}");
    client.select("INBOX").unwrap();
    client
        .store(
            &SequenceSet::single(2).unwrap(),
            StoreKind::Add,
            &[Flag::Deleted],
            false,
        )
        .unwrap();
    client.expunge(None).unwrap();
    assert_eq!(client.select("INBOX").unwrap().exists, 1);
    client.subscribe("Done", false).unwrap();
    client.delete("Done").unwrap();
    assert!(client.status("Done", &[StatusItem::Messages]).is_err());

    let events = client.events();
    let idle = client.idle().unwrap();
    let s = store.clone();
    let _ = runtime.spawn(async move {
        s.deliver("alice@example.com", &b"Subject: c\r\n\r\nd\r\n"[..])
            .await
    });
    let start = Instant::now();
    let got = loop {
        if let Ok(e) = events.try_recv() {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no event");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(got, Unsolicited::Data(Data::Exists(2)));
    idle.done().unwrap();

    // From inside the runtime, a blocking call says so instead of deadlocking.
    let c = client.clone();
    let inside = runtime.block_on(async move { c.noop() }).unwrap();
    assert!(matches!(
        inside,
        Err(Error::Runtime(RuntimeError::InsideRuntime))
    ));
    client.logout().unwrap();
    let closed = loop {
        match events.recv_timeout(Duration::from_secs(5)) {
            Ok(Unsolicited::Closed) => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    assert!(closed);
}
