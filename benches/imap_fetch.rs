//! `mailwire fetch imap://` beside mbsync and getmail6: the same Dovecot, the same 2000
//! messages of 10 KiB, each program downloading all of them into an empty Maildir, in
//! messages/s. Cleartext on 127.0.0.1 for all three (TLS would measure rustls against OpenSSL).
//! Each program runs `ROUNDS` times into a fresh directory; its best round counts.
//!
//! Every program fsyncs as it normally does: mailwire fsyncs each file and the directory once
//! (it must, before `--delete`); mbsync fsyncs by default (`FSync yes`); getmail6's Maildir
//! destination fsyncs each message.
//!
//! ```text
//! cargo bench --bench imap_fetch
//! MAILWIRE_BENCH_MESSAGES=500 MAILWIRE_BENCH_ROUNDS=2 cargo bench --bench imap_fetch
//! ```

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mailwire_bench::env_usize;
use mailwire_testkit::Dovecot;

const SIZE: usize = 10 * 1024;

fn count_files(maildir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|d| std::fs::read_dir(maildir.join(d)).map_or(0, |r| r.count()))
        .sum()
}

fn run(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("start the program");
    let d = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn mailwire(port: u16, work: &Path) -> Duration {
    run(Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .arg("fetch")
        .arg(format!("imap://127.0.0.1:{port}/INBOX"))
        .args([
            "--user",
            "alice",
            "--password",
            "secret",
            "--tls",
            "off",
            "--out",
        ])
        .arg(work.join("mailwire")))
}

fn mbsync(port: u16, work: &Path) -> Duration {
    let inbox = work.join("mbsync");
    let rc = work.join("mbsyncrc");
    std::fs::create_dir_all(work.join("folders")).expect("mbsync store folder");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount dovecot\nHost 127.0.0.1\nPort {port}\nUser alice\nPass secret\n\
             SSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore far\nAccount dovecot\n\n\
             MaildirStore near\nPath {work}/folders/\nInbox {inbox}\n\n\
             Channel inbox\nFar :far:INBOX\nNear :near:INBOX\nCreate Near\nSync Pull\n\
             SyncState *\n",
            work = work.display(),
            inbox = inbox.display(),
        ),
    )
    .expect("mbsyncrc");
    run(Command::new("mbsync")
        .args(["-q", "-c"])
        .arg(&rc)
        .arg("-a")
        .env("HOME", work))
}

fn getmail(port: u16, work: &Path) -> Duration {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let maildir = work.join("getmail");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    // getmail refuses to deliver to a Maildir as root: it switches to `user` for that.
    let as_root = std::fs::metadata("/proc/self").expect("proc").uid() == 0;
    let user_line = if as_root {
        std::fs::set_permissions(work, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        let ok = Command::new("chown")
            .args(["-R", "nobody"])
            .arg(&maildir)
            .status()
            .expect("chown");
        assert!(ok.success());
        "user = nobody\n"
    } else {
        ""
    };
    let rc = work.join("getmailrc");
    std::fs::write(
        &rc,
        format!(
            "[retriever]\ntype = SimpleIMAPRetriever\nserver = 127.0.0.1\nport = {port}\n\
             username = alice\npassword = secret\nmailboxes = (\"INBOX\",)\n\
             record_mailbox = false\n\
             [destination]\ntype = Maildir\npath = {maildir}/\n{user_line}\
             [options]\nread_all = true\ndelete = false\nreceived = false\ndelivered_to = false\n\
             message_log_syslog = false\nverbose = 0\n",
            maildir = maildir.display(),
        ),
    )
    .expect("getmailrc");
    run(Command::new("getmail")
        .arg(format!("--getmaildir={}", work.display()))
        .arg(format!("--rcfile={}", rc.display())))
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let messages = env_usize("MAILWIRE_BENCH_MESSAGES", 2000);
    let rounds = env_usize("MAILWIRE_BENCH_ROUNDS", 3);
    let dovecot = Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    for i in 0..messages {
        dovecot
            .add_message("alice", &mailwire_bench::sample_message(i, SIZE))
            .expect("seed Dovecot");
    }
    let port = dovecot.imap().port();
    let names = ["mailwire fetch", "mbsync", "getmail6"];
    let mut best = [Duration::MAX; 3];
    for round in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            let work = tempfile::tempdir().expect("tempdir");
            let (d, dir) = match i {
                0 => (mailwire(port, work.path()), work.path().join("mailwire")),
                1 => (mbsync(port, work.path()), work.path().join("mbsync")),
                _ => (getmail(port, work.path()), work.path().join("getmail")),
            };
            assert_eq!(count_files(&dir), messages, "{name}: messages saved");
            best[i] = best[i].min(d);
        }
        eprintln!("round {round}: {best:?}");
    }
    println!(
        "\n{messages} x {SIZE} B from Dovecot into an empty Maildir, best of {rounds} (whole program run):"
    );
    for (i, name) in names.iter().enumerate() {
        println!(
            "  {name:<16} {:>8.0} messages/s   mailwire is {:.1}x",
            messages as f64 / best[i].as_secs_f64(),
            best[i].as_secs_f64() / best[0].as_secs_f64()
        );
    }
}
