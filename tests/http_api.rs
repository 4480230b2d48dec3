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
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ]);
    let http = srv.ready["http"].as_str().unwrap().to_owned();
    let mut curl = Command::new("curl")
        .args([
            "-sN",
            "--max-time",
            "20",
            &format!("http://{http}/api/v1/events"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl (tests/peers/install.sh)");
    let mut lines = BufReader::new(curl.stdout.take().unwrap()).lines();
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
                let ok = Command::new("curl")
                    .args(["-sf", "-X", "PATCH", "-H", "Content-Type: application/json"])
                    .args(["-d", r#"{"seen":true}"#, &base])
                    .status()
                    .unwrap();
                assert!(ok.success());
                let ok = Command::new("curl")
                    .args(["-sf", "-X", "DELETE", &base])
                    .status()
                    .unwrap();
                assert!(ok.success());
            } else if v.get("subject").is_none() {
                assert_eq!(v["id"].as_u64(), id, "{v}");
                break;
            }
        } else if let Some(ev) = line.strip_prefix("event: ") {
            seen.push((ev.to_owned(), serde_json::Value::Null));
        }
    }
    let _ = curl.kill();
    let _ = curl.wait();
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
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
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
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ]);
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
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ]);
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
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
        "--config",
        config.to_str().unwrap(),
    ]);
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
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl").arg("-s").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // 1. The rule from the config file: swaks sees the reply at RCPT.
    let (code, out) = swaks(&[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("<** 452 4.3.1 injected: mailbox full"),
        "{out}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&curl(&[&format!("{http}/faults")])).unwrap();
    assert_eq!(listed["faults"][0]["stage"], "rcpt", "{listed}");
    // 2. Cleared through the API: delivery works again.
    assert_eq!(
        curl(&[
            "-X",
            "DELETE",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{http}/faults")
        ]),
        "204"
    );
    let (code, out) = swaks(&["--header", "Subject: after clearing"]);
    assert_eq!(code, 0, "{out}");
    // 3. DATA refused through the API, seen by smtplib; nothing stored.
    let add = |rule: &str| {
        let r = curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            rule,
            "-w",
            " %{http_code}",
            &format!("{http}/faults"),
        ]);
        assert!(r.ends_with(" 201"), "{r}");
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
        serde_json::from_str(&curl(&[&format!("{http}/messages")])).unwrap();
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
    let r = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"protocol":"smtp","stage":"rcpt","reply":"250 fine"}"#,
        &format!("{http}/faults"),
    ]);
    assert!(r.contains("4xx or 5xx") && r.contains("422"), "{r}");
}

/// Relay: a captured message released to aiosmtpd through mailwire's SMTP client, byte for
/// byte, to the message's own recipients and to ones given; bad requests and an unreachable
/// server get clear errors.
#[test]
fn relay_to_aiosmtpd() {
    let aio = mailwire_testkit::Aiosmtpd::start(Default::default())
        .expect("aiosmtpd (tests/peers/install.sh)");
    let srv = Serve::start(&[
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
    ]);
    let http = format!("http://{}/api/v1", srv.ready["http"].as_str().unwrap());
    send(srv.port("smtp"), "to be relayed");
    let curl = |args: &[&str]| -> (String, String) {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (body.to_owned(), code.to_owned())
    };
    let (m, _) = curl(&[&format!("{http}/messages/wait?subject=relayed&timeout=10s")]);
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    let id = m["id"].as_u64().unwrap();
    let (raw, _) = curl(&[&format!("{http}/messages/{id}/raw")]);
    let post = |body: String| {
        curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            &format!("{http}/messages/{id}/relay"),
        ])
    };
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
