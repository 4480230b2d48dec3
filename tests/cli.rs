//! The command-line contract: subcommands and flags exist, and parts not built yet say so
//! plainly with exit status 2 rather than pretending to work.

use std::process::Command;

fn mailwire(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .args(args)
        .output()
        .expect("the mailwire binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_contract() {
    let (code, stdout, _) = mailwire(&["--help"]);
    assert_eq!(code, 0);
    for sub in ["serve", "send", "fetch", "imap", "pop3", "parse"] {
        assert!(stdout.contains(sub), "{sub} missing from --help:\n{stdout}");
    }
    let (code, stdout, _) = mailwire(&["serve", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--smtp",
        "--smtps",
        "--submission",
        "--lmtp",
        "--imap",
        "--imaps",
        "--pop3",
        "--pop3s",
        "--user",
        "--accept-any-auth",
        "--accept-any-recipient",
        "--allow-insecure-auth",
        "--tls-cert",
        "--tls-key",
        "--store",
        "--ready-file",
        "--config",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from serve --help");
    }
}

#[test]
fn unbuilt_clients_fail_plainly() {
    // `send` is built (tests/cli_send.rs): nothing listens on port 1, so it fails to connect
    // (status 1), it does not claim to be unbuilt.
    let (code, _, stderr) = mailwire(&[
        "send",
        "--server",
        "smtp://127.0.0.1:1",
        "--from",
        "a@b",
        "--to",
        "c@d",
        "/dev/null",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(!stderr.contains("not built yet"), "{stderr}");
    // A bad flag is a usage error, not a crash.
    let (code, _, stderr) = mailwire(&["serve", "--tls-cert", "x.pem"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

fn parse(kind: &str, input: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .args(["parse", kind])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn parse_smtp_transcripts() {
    let (code, out, _) = parse(
        "smtp-command",
        b"EHLO x\r\nMAIL FROM:<a@b.c> SIZE=10\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("encoded: \"MAIL FROM:<a@b.c> SIZE=10\\r\\n\""),
        "{out}"
    );
    let (code, _, err) = parse("smtp-command", b"EHLO x\r\nRCPT TO:<a@b.c>>\r\n");
    assert_eq!(code, 1);
    assert!(err.contains("byte offset 8"), "{err}");
    let (code, out, _) = parse("smtp-reply", b"250-mx\r\n250 PIPELINING\r\n");
    assert_eq!(code, 0);
    assert!(out.contains("parsed:"));
}

#[test]
fn parse_imap_transcripts() {
    let (code, out, err) = parse(
        "imap-command",
        b"a1 LOGIN {5}\r\nalice secret\r\na2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER])\r\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("=> a1 LOGIN alice secret\\r\\n"), "{out}");
    assert!(
        out.contains("@28 "),
        "the second message starts at octet 28: {out}"
    );
    let (code, out, err) = parse(
        "imap-response",
        b"* OK [CAPABILITY IMAP4rev1] hi\r\n* 1 FETCH (BODY[] {3}\r\nabc)\r\na2 OK done\r\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("=> * 1 FETCH (BODY[] \\\"abc\\\")\\r\\n"),
        "{out}"
    );
    let (code, _, err) = parse("imap-command", b"a1 NOOP\r\na2 FROB\r\n");
    assert_eq!(code, 1);
    assert!(err.contains("byte offset 9"), "{err}");
}
