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
fn serve_says_what_is_not_built() {
    let (code, _, stderr) = mailwire(&["serve", "--smtp", "127.0.0.1:0", "--user", "alice:secret"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not built yet"), "{stderr}");
    assert!(stderr.contains("smtp"), "{stderr}");
}

#[test]
fn unbuilt_clients_fail_plainly() {
    let (code, _, stderr) = mailwire(&[
        "send",
        "--server",
        "smtp://127.0.0.1:1",
        "--from",
        "a@b",
        "--to",
        "c@d",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not built yet"));
    let (code, _, _) = mailwire(&["parse", "imap-command"]);
    assert_eq!(code, 2);
    // A bad flag is a usage error, not a crash.
    let (code, _, stderr) = mailwire(&["serve", "--tls-cert", "x.pem"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}
