//! The test server's HTTP API over real HTTP: Python's urllib for every endpoint and error
//! (`tests/http/api_check.py`), curl for the event stream, the CI modes (`--exit-after`,
//! `--print`) and the authentication a non-loopback listener requires.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/serve.rs"]
mod common;
use common::Serve;

fn python_script(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(format!(
            "{}/tests/http/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(args)
        .output()
        .expect("python3 (tests/peers/install.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed:\n{text}");
    text
}

fn send(port: u16, subject: &str) {
    let code = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port})\n\
         s.sendmail('b@example.org', ['alice@example.com'], b'From: b@example.org\\r\\nTo: alice@example.com\\r\\nSubject: {subject}\\r\\n\\r\\nhi\\r\\n')\ns.quit()\n"
    );
    mailwire_testkit::python(&code, Duration::from_secs(30)).expect("smtplib");
}

/// `mailwire serve` with SMTP and the HTTP API on free loopback ports, user alice, and `extra`.
fn serve_with_http(extra: &[&str]) -> Serve {
    let mut args = vec![
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ];
    args.extend_from_slice(extra);
    Serve::start(&args)
}

/// curl with `args`: the body and the HTTP status code.
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl (tests/peers/install.sh)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.to_owned(), code.to_owned())
}

/// curl sending `body` as JSON with `method` to `url`: the body and the status code.
fn curl_json(method: &str, url: &str, body: &str) -> (String, String) {
    curl(&[
        "-X",
        method,
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        url,
    ])
}

#[test]
fn every_endpoint_and_error_through_urllib_smtplib_and_imaplib() {
    for store in ["memory", "maildir"] {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("maildir:{}", dir.path().display());
        let store_arg = if store == "memory" { "memory" } else { &spec };
        let srv = Serve::start(&[
            "--smtp",
            "127.0.0.1:0",
            "--lmtp",
            "127.0.0.1:0",
            "--imap",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--allow-insecure-auth",
            "--user",
            "alice:secret",
            "--user",
            "bob:secret",
            "--store",
            store_arg,
        ]);
        let out = python_script("api_check.py", &[&srv.ready.to_string()]);
        assert!(out.contains("all checks passed"), "{store}: {out}");
    }
}

#[test]
fn event_stream_reports_stored_changed_and_deleted() {
    let srv = serve_with_http(&[]);
    let http = srv.ready["http"].as_str().unwrap().to_owned();
    let mut stream = Command::new("curl")
        .args([
            "-sN",
            "--max-time",
            "20",
            &format!("http://{http}/api/v1/events"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl (tests/peers/install.sh)");
    let mut lines = BufReader::new(stream.stdout.take().unwrap()).lines();
    std::thread::sleep(Duration::from_millis(300));
    send(srv.port("smtp"), "streamed");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut id = None;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(data) = line.strip_prefix("data: ") {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            seen.push((seen_event(&seen), v.clone()));
            if id.is_none() {
                assert_eq!(v["subject"], "streamed", "{v}");
                id = v["id"].as_u64();
                // Mark it read, then delete it: both come down the stream.
                let base = format!("http://{http}/api/v1/messages/{}", id.unwrap());
                let (r, code) = curl_json("PATCH", &base, r#"{"seen":true}"#);
                assert_eq!(code, "200", "{r}");
                let (r, code) = curl(&["-X", "DELETE", &base]);
                assert_eq!(code, "204", "{r}");
            } else if v.get("subject").is_none() {
                assert_eq!(v["id"].as_u64(), id, "{v}");
                break;
            }
        } else if let Some(ev) = line.strip_prefix("event: ") {
            seen.push((ev.to_owned(), serde_json::Value::Null));
        }
    }
    let _ = stream.kill();
    let _ = stream.wait();
    let events: Vec<&str> = seen
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(e, _)| e.as_str())
        .collect();
    assert_eq!(events, ["stored", "changed", "deleted"], "{seen:?}");
}

fn seen_event(seen: &[(String, serde_json::Value)]) -> String {
    seen.last().map(|(e, _)| e.clone()).unwrap_or_default()
}

#[test]
fn exit_after_and_print_without_the_http_listener() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
        .args(["serve", "--smtp", "127.0.0.1:0", "--user", "alice:secret"])
        .args(["--exit-after", "2", "--print", "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    assert!(
        r.get("http").is_none(),
        "HTTP is off when listeners are named: {r}"
    );
    let port: u16 = r["smtp"]
        .as_str()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    send(port, "first");
    send(port, "second");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["subject"], "first");
    assert_eq!(lines[1]["subject"], "second");
    assert_eq!(lines[0]["user"], "alice");
    assert_eq!(lines[0]["mailbox"], "INBOX");
    assert!(lines[0]["size"].as_u64().unwrap() > 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 message(s) stored"), "{stderr}");
}

#[test]
fn a_non_loopback_api_needs_credentials_and_checks_them() {
    let (code, err) = {
        let out = Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .args(["serve", "--smtp", "127.0.0.1:0", "--http", "0.0.0.0:0"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--http-auth"), "{err}");

    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "0.0.0.0:0",
        "--http-auth",
        "admin:s3cret",
    ]);
    let url = format!("http://127.0.0.1:{}/api/v1/health", srv.port("http"));
    let status = |args: &[&str]| -> String {
        let mut args = args.to_vec();
        args.push(&url);
        curl(&args).1
    };
    assert_eq!(status(&[]), "401");
    assert_eq!(status(&["-u", "admin:wrong"]), "401");
    assert_eq!(status(&["-u", "admin:s3cret"]), "200");
    assert_eq!(status(&["-H", "Authorization: Bearer admin:s3cret"]), "200");
    assert_eq!(status(&["-H", "Authorization: Bearer nope"]), "401");
}

/// The web page in headless Chromium (`tests/http/browser_check.py`): live list, message view,
/// the sandboxed HTML frame with its script not run, delete. The screenshot is kept in
/// `target/http-page.png` and named in the output.
#[test]
fn web_page_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            && std::path::Path::new("/usr/bin/chromedriver").exists(),
        "chromium and chromium-driver are needed (tests/peers/install.sh)"
    );
    let srv = serve_with_http(&[]);
    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/http-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = python_script(
        "browser_check.py",
        &[&srv.ready.to_string(), shot.to_str().unwrap()],
    );
    assert!(out.contains("all checks passed"), "{out}");
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    println!("screenshot of the web page: {}", shot.display());
}

/// `docs/openapi.json` is what the server does: every documented operation answers with a
/// documented status and schema (`tests/http/openapi_check.py`), and every route the server
/// has is documented (and the other way round).
#[test]
fn the_server_matches_its_openapi_document() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/docs/openapi.json")).unwrap(),
    )
    .unwrap();
    let documented: std::collections::BTreeSet<String> =
        doc["paths"].as_object().unwrap().keys().cloned().collect();
    let routes_rs = std::fs::read_to_string(format!("{root}/src/http/routes.rs")).unwrap();
    let served: std::collections::BTreeSet<String> = routes_rs
        .split(".route(")
        .skip(1)
        .filter_map(|s| s.trim_start().strip_prefix('"')?.split('"').next())
        .filter(|p| p.starts_with("/api/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(served, documented);
    let srv = serve_with_http(&[]);
    let out = python_script(
        "openapi_check.py",
        &[&srv.ready.to_string(), &format!("{root}/docs/openapi.json")],
    );
    assert!(out.contains("calls matched the document"), "{out}");
}

/// Faults on request, seen by swaks and smtplib as the configured replies: from `--config`
/// (`[[fault]]`) at start, then added, listed and cleared through the API; a dropped
/// connection and a delay; nothing is stored when DATA is refused.
#[test]
fn faults_seen_by_swaks_and_smtplib() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "[[fault]]\nprotocol = \"smtp\"\nstage = \"rcpt\"\nreply = \"452 4.3.1 injected: mailbox full\"\n",
    )
    .unwrap();
    let srv = serve_with_http(&["--config", config.to_str().unwrap()]);
    let smtp = srv.port("smtp").to_string();
    let http = format!("http://{}/api/v1", srv.ready["http"].as_str().unwrap());
    let swaks = |extra: &[&str]| -> (i32, String) {
        let out = Command::new("swaks")
            .args([
                "--server",
                "127.0.0.1",
                "--port",
                &smtp,
                "--to",
                "alice@example.com",
            ])
            .args(["--from", "b@example.org", "--timeout", "10"])
            .args(extra)
            .output()
            .expect("swaks (tests/peers/install.sh)");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // 1. The rule from the config file: swaks sees the reply at RCPT.
    let (code, out) = swaks(&[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("<** 452 4.3.1 injected: mailbox full"),
        "{out}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&curl(&[&format!("{http}/faults")]).0).unwrap();
    assert_eq!(listed["faults"][0]["stage"], "rcpt", "{listed}");
    // 2. Cleared through the API: delivery works again.
    assert_eq!(curl(&["-X", "DELETE", &format!("{http}/faults")]).1, "204");
    let (code, out) = swaks(&["--header", "Subject: after clearing"]);
    assert_eq!(code, 0, "{out}");
    // 3. DATA refused through the API, seen by smtplib; nothing stored.
    let add = |rule: &str| {
        let (r, code) = curl_json("POST", &format!("{http}/faults"), rule);
        assert_eq!(code, "201", "{r}");
    };
    add(r#"{"protocol":"smtp","stage":"data","reply":"554 5.7.1 injected at data"}"#);
    let out = mailwire_testkit::python(
        &format!(
            "import smtplib\ns = smtplib.SMTP('127.0.0.1', {smtp})\ntry:\n    s.sendmail('b@example.org', ['alice@example.com'], b'Subject: refused\\r\\n\\r\\nx\\r\\n')\n    print('accepted')\nexcept smtplib.SMTPDataError as e:\n    print('refused', e.smtp_code, e.smtp_error.decode())\n"
        ),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(out.trim(), "refused 554 5.7.1 injected at data", "{out}");
    let stored: serde_json::Value =
        serde_json::from_str(&curl(&[&format!("{http}/messages")]).0).unwrap();
    assert_eq!(
        stored["total"], 1,
        "only the message sent after clearing: {stored}"
    );
    // 4. A dropped connection at MAIL, and a delay at connect.
    curl(&["-X", "DELETE", &format!("{http}/faults")]);
    add(r#"{"protocol":"smtp","stage":"mail","drop":true}"#);
    let (code, out) = swaks(&[]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("<-  250 2.1.0"), "{out}");
    curl(&["-X", "DELETE", &format!("{http}/faults")]);
    add(r#"{"protocol":"smtp","stage":"connect","delay_ms":700}"#);
    let t = Instant::now();
    let (code, out) = swaks(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    // 5. A bad rule is refused with what is wrong.
    let (r, code) = curl_json(
        "POST",
        &format!("{http}/faults"),
        r#"{"protocol":"smtp","stage":"rcpt","reply":"250 fine"}"#,
    );
    assert_eq!(code, "422", "{r}");
    assert!(r.contains("4xx or 5xx"), "{r}");
}

/// Relay: a captured message released to aiosmtpd through mailwire's SMTP client, byte for
/// byte, to the message's own recipients and to ones given; bad requests and an unreachable
/// server get clear errors.
#[test]
fn relay_to_aiosmtpd() {
    let aio = mailwire_testkit::Aiosmtpd::start(Default::default())
        .expect("aiosmtpd (tests/peers/install.sh)");
    let srv = serve_with_http(&[]);
    let http = format!("http://{}/api/v1", srv.ready["http"].as_str().unwrap());
    send(srv.port("smtp"), "to be relayed");
    let (m, _) = curl(&[&format!("{http}/messages/wait?subject=relayed&timeout=10s")]);
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    let id = m["id"].as_u64().unwrap();
    let (raw, _) = curl(&[&format!("{http}/messages/{id}/raw")]);
    let post = |body: String| curl_json("POST", &format!("{http}/messages/{id}/relay"), &body);
    let server = format!("smtp://{}", aio.addr());
    // To its own recipients (To:), STARTTLS opportunistic against aiosmtpd's self-signed cert
    // would fail verification: plain SMTP here.
    let (r, code) = post(format!(r#"{{"server":"{server}","tls":"off"}}"#));
    assert_eq!(code, "200", "{r}");
    let r: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r["delivered"], true, "{r}");
    let (r, code) = post(format!(
        r#"{{"server":"{server}","tls":"off","to":["x@example.net","y@example.net"],"from":"relay@example.com"}}"#
    ));
    assert_eq!(code, "200", "{r}");
    let envs = aio.envelopes().unwrap();
    assert_eq!(envs.len(), 2, "{envs:?}");
    assert_eq!(envs[0].rcpt_to, ["alice@example.com"]);
    assert_eq!(envs[0].mail_from, "b@example.org");
    assert_eq!(envs[1].rcpt_to, ["x@example.net", "y@example.net"]);
    assert_eq!(envs[1].mail_from, "relay@example.com");
    assert_eq!(envs[0].data, raw.as_bytes(), "relayed byte for byte");
    // Errors.
    let (r, code) = post(r#"{"server":"ftp://nowhere","tls":"off"}"#.into());
    assert_eq!(code, "422", "{r}");
    let (r, code) = post(format!(r#"{{"server":"{server}","tls":"maybe"}}"#));
    assert_eq!(code, "422", "{r}");
    let (r, code) = post(format!(
        r#"{{"server":"{server}","to":["not an address"],"tls":"off"}}"#
    ));
    assert_eq!(code, "422", "{r}");
    let (r, code) = post(r#"{"server":"smtp://127.0.0.1:1","tls":"off"}"#.into());
    assert_eq!(code, "502", "{r}");
    let (r, code) = post(r#"{"tls":"off"}"#.into());
    assert_eq!(code, "422", "{r}");
    // Without tls:"off", STARTTLS is required and aiosmtpd's self-signed certificate is
    // not trusted: refused, nothing sent.
    let (r, code) = post(format!(r#"{{"server":"{server}"}}"#));
    assert_eq!(code, "502", "{r}");
    assert_eq!(aio.envelopes().unwrap().len(), 2);
}

/// Faults at SMTP AUTH and at the IMAP and POP3 logins, set through the API: swaks sees the
/// AUTH reply, imaplib and poplib the login refusal (in the configured words), a dropped
/// connection and a delay; a login with the fault cleared works on the same server.
#[test]
fn login_faults_seen_by_swaks_imaplib_and_poplib() {
    let srv = serve_with_http(&[
        "--imap",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        "--allow-insecure-auth",
    ]);
    let http = format!("http://{}/api/v1", srv.ready["http"].as_str().unwrap());
    let set = |rule: &str| {
        let (r, code) = curl(&["-X", "DELETE", &format!("{http}/faults")]);
        assert_eq!(code, "204", "{r}");
        let (r, code) = curl_json("POST", &format!("{http}/faults"), rule);
        assert_eq!(code, "201", "{r}");
    };
    let smtp = srv.port("smtp").to_string();
    let swaks_auth = || -> (i32, String) {
        let out = Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", &smtp])
            .args(["--to", "alice@example.com", "--from", "b@example.org"])
            .args(["--auth", "PLAIN", "--auth-user", "alice"])
            .args(["--auth-password", "secret", "--timeout", "10"])
            .output()
            .expect("swaks (tests/peers/install.sh)");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // SMTP AUTH: the configured reply instead of 235; nothing sent.
    set(r#"{"protocol":"smtp","stage":"auth","reply":"454 4.7.0 injected: auth later"}"#);
    let (code, out) = swaks_auth();
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("<** 454 4.7.0 injected: auth later"), "{out}");
    assert!(!out.contains("235"), "{out}");
    set(r#"{"protocol":"smtp","stage":"auth","drop":true}"#);
    let (code, out) = swaks_auth();
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("235"), "{out}");

    // IMAP and POP3 logins, seen by imaplib and poplib.
    let script = |imap_or_pop: &str| {
        let (imap, pop3) = (srv.port("imap"), srv.port("pop3"));
        let code = if imap_or_pop == "imap" {
            format!(
                "import imaplib, time\nt = time.monotonic()\ntry:\n    c = imaplib.IMAP4('127.0.0.1', {imap})\n    c.login('alice', 'secret')\n    print('ok', round(time.monotonic() - t, 2))\n    c.logout()\nexcept imaplib.IMAP4.abort as e:\n    print('abort', e)\nexcept imaplib.IMAP4.error as e:\n    print('no', e)\n"
            )
        } else {
            format!(
                "import poplib, time\nt = time.monotonic()\ntry:\n    c = poplib.POP3('127.0.0.1', {pop3})\n    c.user('alice')\n    c.pass_('secret')\n    print('ok', round(time.monotonic() - t, 2))\n    c.quit()\nexcept poplib.error_proto as e:\n    a = e.args[0]\n    print('err', a.decode() if isinstance(a, bytes) else a)\nexcept (EOFError, OSError) as e:\n    print('closed', type(e).__name__)\n"
            )
        };
        mailwire_testkit::python(&code, Duration::from_secs(30))
            .unwrap()
            .trim()
            .to_owned()
    };
    set(
        r#"{"protocol":"imap","stage":"login","reply":"NO [AUTHENTICATIONFAILED] injected: not today"}"#,
    );
    let out = script("imap");
    assert!(
        out.starts_with("no ") && out.contains("[AUTHENTICATIONFAILED] injected: not today"),
        "{out}"
    );
    set(r#"{"protocol":"imap","stage":"login","drop":true}"#);
    let out = script("imap");
    assert!(out.starts_with("abort"), "{out}");
    set(r#"{"protocol":"imap","stage":"login","delay_ms":800}"#);
    let out = script("imap");
    let secs: f64 = out.strip_prefix("ok ").expect(&out).parse().unwrap();
    assert!(secs >= 0.8, "{out}");

    set(r#"{"protocol":"pop3","stage":"login","reply":"-ERR [SYS/TEMP] injected: try later"}"#);
    assert_eq!(script("pop3"), "err -ERR [SYS/TEMP] injected: try later");
    set(r#"{"protocol":"pop3","stage":"login","drop":true}"#);
    // poplib's own words for a connection closed under it.
    let out = script("pop3");
    assert!(out == "err -ERR EOF" || out.starts_with("closed"), "{out}");
    set(r#"{"protocol":"pop3","stage":"login","delay_ms":800}"#);
    let out = script("pop3");
    let secs: f64 = out.strip_prefix("ok ").expect(&out).parse().unwrap();
    assert!(secs >= 0.8, "{out}");

    // Cleared: every login works again.
    let (r, code) = curl(&["-X", "DELETE", &format!("{http}/faults")]);
    assert_eq!(code, "204", "{r}");
    assert!(script("imap").starts_with("ok "));
    assert!(script("pop3").starts_with("ok "));
    let (code, out) = swaks_auth();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("<~  235") || out.contains("<-  235"), "{out}");
}

/// No credential and no message body reaches the log, even at `trace`: passwords given to
/// SMTP AUTH, IMAP LOGIN, POP3 PASS (right and wrong), the HTTP API's own credentials and a
/// user created through it, and the text of a message that was stored, read over IMAP and
/// POP3 and opened through the API. The log is not empty: the logins are in it.
#[test]
fn no_credential_or_message_body_in_the_trace_log() {
    let srv = Serve::start_logged(
        &[
            "--smtp",
            "127.0.0.1:0",
            "--imap",
            "127.0.0.1:0",
            "--pop3",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--http-auth",
            "admin:Http-Secret-3",
            "--allow-insecure-auth",
            "--user",
            "alice:Pw-Alice-1",
        ],
        "trace",
    );
    let (smtp, imap, pop3) = (srv.port("smtp"), srv.port("imap"), srv.port("pop3"));
    let http = format!("http://{}/api/v1", srv.ready["http"].as_str().unwrap());
    let out = mailwire_testkit::python(
        &format!(
            r#"
import smtplib, imaplib, poplib
s = smtplib.SMTP('127.0.0.1', {smtp})
try:
    s.login('alice', 'Wrong-Pw-4')
except smtplib.SMTPAuthenticationError:
    pass
s.login('alice', 'Pw-Alice-1')
s.sendmail('b@example.org', ['alice@example.com'],
           b'Subject: private\r\n\r\nBODY-MARKER-q7 the secret text\r\n')
s.quit()
c = imaplib.IMAP4('127.0.0.1', {imap})
try:
    c.login('alice', 'Wrong-Pw-4')
except imaplib.IMAP4.error:
    pass
c.login('alice', 'Pw-Alice-1')
c.select('INBOX')
typ, data = c.fetch('1', '(BODY[])')
assert b'BODY-MARKER-q7' in data[0][1], data
c.logout()
p = poplib.POP3('127.0.0.1', {pop3})
p.user('alice')
p.pass_('Pw-Alice-1')
assert any(b'BODY-MARKER-q7' in l for l in p.retr(1)[1])
p.quit()
print('done')
"#
        ),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(out.trim(), "done");
    // The other SASL mechanisms: CRAM-MD5 and LOGIN from swaks; SCRAM-SHA-256 from
    // mailwire's own clients (send, fetch imap://, fetch pop3://), right and wrong.
    for auth in ["CRAM-MD5", "LOGIN"] {
        let o = std::process::Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{smtp}"), "--auth", auth])
            .args(["--auth-user", "alice", "--auth-password", "Pw-Alice-1"])
            .args(["--from", "b@example.org", "--to", "alice@example.com"])
            .args(["--body", "BODY-MARKER-q7 by swaks", "--quit-after", "AUTH"])
            .output()
            .expect("swaks (tests/peers/install.sh)");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("235"), "swaks {auth}: {text}");
    }
    let bin = env!("CARGO_BIN_EXE_mailwire");
    let out_dir = tempfile::tempdir().unwrap();
    for password in ["Wrong-Pw-4", "Pw-Alice-1"] {
        let ok = password == "Pw-Alice-1";
        let mut send = std::process::Command::new(bin)
            .args(["send", "--server", &format!("smtp://127.0.0.1:{smtp}")])
            .args(["--user", "alice", "--password", password, "--tls", "off"])
            .args(["--from", "b@example.org", "--to", "alice@example.com", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        send.stdin
            .take()
            .unwrap()
            .write_all(b"Subject: scram\r\n\r\nBODY-MARKER-q7 by SCRAM\r\n")
            .unwrap();
        let o = send.wait_with_output().unwrap();
        assert_eq!(o.status.success(), ok, "send {password}: {o:?}");
        for url in [
            format!("imap://127.0.0.1:{imap}/INBOX"),
            format!("pop3://127.0.0.1:{pop3}"),
        ] {
            let o = std::process::Command::new(bin)
                .args(["fetch", &url, "--user", "alice", "--password", password])
                .args(["--tls", "off", "--out"])
                .arg(out_dir.path().join(url.split(':').next().unwrap()))
                .output()
                .unwrap();
            assert_eq!(o.status.success(), ok, "fetch {url} {password}: {o:?}");
        }
    }
    let (r, code) = curl(&[
        "-u",
        "admin:Http-Secret-3",
        &format!("{http}/messages/wait?subject=private&timeout=10s"),
    ]);
    assert_eq!(code, "200", "{r}");
    let id = serde_json::from_str::<serde_json::Value>(&r).unwrap()["id"]
        .as_u64()
        .unwrap();
    let (r, code) = curl(&[
        "-u",
        "admin:Http-Secret-3",
        &format!("{http}/messages/{id}"),
    ]);
    assert_eq!(code, "200", "{r}");
    assert!(r.contains("BODY-MARKER-q7"), "{r}");
    let (r, code) = curl(&[
        "-u",
        "admin:Http-Secret-3",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"login":"carol","password":"Pw-Carol-5"}"#,
        &format!("{http}/users"),
    ]);
    assert_eq!(code, "201", "{r}");
    let (_, code) = curl(&["-u", "admin:Wrong-Http-6", &format!("{http}/health")]);
    assert_eq!(code, "401");
    let log = std::sync::Arc::clone(srv.log.as_ref().unwrap());
    let (status, _) = srv.terminate();
    assert_eq!(status, 0);
    std::thread::sleep(Duration::from_millis(200));
    let log = log.lock().unwrap().clone();
    assert!(log.contains("logged in"), "the log is on: {log}");
    // SMTP names the mechanism each login used: all three were exercised.
    for mechanism in ["SCRAM-SHA-256", "CRAM-MD5", "LOGIN"] {
        assert!(
            log.contains(&format!("mechanism=\"{mechanism}\""))
                || log.contains(&format!("mechanism={mechanism}")),
            "no SMTP {mechanism} login in the log"
        );
    }
    for secret in [
        "Pw-Alice-1",
        "Wrong-Pw-4",
        "Http-Secret-3",
        "Wrong-Http-6",
        "Pw-Carol-5",
        "BODY-MARKER-q7",
    ] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
    // Nor in base64 (AUTH PLAIN and HTTP Basic carry them so).
    use base64::Engine as _;
    for encoded in [
        base64::engine::general_purpose::STANDARD.encode("\0alice\0Pw-Alice-1"),
        base64::engine::general_purpose::STANDARD.encode("admin:Http-Secret-3"),
    ] {
        assert!(!log.contains(&encoded), "{encoded} is in the log");
    }
    // Every line about a session says which connection and which peer it is about.
    let session_lines: Vec<&str> = log.lines().filter(|l| l.contains("logged in")).collect();
    assert!(!session_lines.is_empty());
    for l in session_lines {
        assert!(
            l.contains("conn{id=") && l.contains("peer=127.0.0.1:"),
            "a session's line without its connection and peer: {l}"
        );
    }
}
