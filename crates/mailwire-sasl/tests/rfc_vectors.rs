//! The RFC test vectors.

use mailwire_sasl::scram::{ScramClient, ScramServer};
use mailwire_sasl::{
    ClientCredentials, ClientOptions, ClientSession, Credentials, Error, Mechanism, ScramConfig,
    ScramHash, ScramVerifier, ServerParams, ServerSession, ServerStep, StaticAuthenticator, apop,
    cram, wire,
};

struct ScramVector {
    hash: ScramHash,
    client_nonce: &'static str,
    server_nonce: &'static str,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

/// RFC 5802 §5.
const SHA1: ScramVector = ScramVector {
    hash: ScramHash::Sha1,
    client_nonce: "fyko+d2lbbFgONRv9qkxdawL",
    server_nonce: "3rfcNHYJY1ZVvWVs7j",
    client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

/// RFC 7677 §3.
const SHA256: ScramVector = ScramVector {
    hash: ScramHash::Sha256,
    client_nonce: "rOprNGfwEbeRWgbNEkqO",
    server_nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

fn salt_of(v: &ScramVector) -> Vec<u8> {
    let s = v
        .server_first
        .split(",s=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    wire::decode(s).unwrap()
}

fn check_client(v: &ScramVector) {
    let mut c = ScramClient::new(
        v.hash,
        "user",
        "pencil",
        None,
        Some(v.client_nonce.to_owned()),
        ScramConfig::default(),
    )
    .unwrap();
    assert_eq!(c.client_first().unwrap(), v.client_first.as_bytes());
    assert_eq!(
        c.handle_server_first(v.server_first.as_bytes()).unwrap(),
        v.client_final.as_bytes()
    );
    c.handle_server_final(v.server_final.as_bytes()).unwrap();
    assert!(c.is_complete());
}

fn check_session_client(v: &ScramVector) {
    let options = ClientOptions::default().with_scram_nonce(v.client_nonce);
    let mut c = ClientSession::with_options(
        v.hash.mechanism(),
        ClientCredentials::password("user", "pencil"),
        options,
    )
    .unwrap();
    assert_eq!(
        c.initial_response().unwrap().unwrap(),
        v.client_first.as_bytes()
    );
    assert_eq!(
        c.step(v.server_first.as_bytes()).unwrap(),
        v.client_final.as_bytes()
    );
    assert_eq!(c.step(v.server_final.as_bytes()).unwrap(), b"");
    c.finish(None).unwrap();
    assert!(c.is_complete());
}

fn check_server(v: &ScramVector, credentials: Credentials) {
    let mut auth = StaticAuthenticator::new();
    auth.add_credentials("user", credentials);
    let mut s = ScramServer::with_nonce(v.hash, ScramConfig::default(), v.server_nonce.to_owned());
    assert_eq!(
        s.handle_client_first(&auth, v.client_first.as_bytes())
            .unwrap(),
        v.server_first.as_bytes()
    );
    let (fin, outcome) = s
        .handle_client_final(&auth, v.client_final.as_bytes())
        .unwrap();
    assert_eq!(fin, v.server_final.as_bytes());
    assert_eq!(outcome.authcid, "user");
    assert_eq!(outcome.mechanism, v.hash.mechanism());
}

#[test]
fn rfc5802_scram_sha1_client() {
    check_client(&SHA1);
    check_session_client(&SHA1);
}

#[test]
fn rfc7677_scram_sha256_client() {
    check_client(&SHA256);
    check_session_client(&SHA256);
}

#[test]
fn rfc5802_scram_sha1_server_from_verifier() {
    let verifier = ScramVerifier::derive(ScramHash::Sha1, "pencil", &salt_of(&SHA1), 4096).unwrap();
    check_server(
        &SHA1,
        Credentials::Scram {
            sha1: Some(verifier),
            sha256: None,
        },
    );
}

#[test]
fn rfc7677_scram_sha256_server_from_verifier() {
    let verifier =
        ScramVerifier::derive(ScramHash::Sha256, "pencil", &salt_of(&SHA256), 4096).unwrap();
    check_server(
        &SHA256,
        Credentials::Scram {
            sha1: None,
            sha256: Some(verifier),
        },
    );
}

#[test]
fn scram_verifier_round_trips_through_text() {
    let v = ScramVerifier::derive(ScramHash::Sha256, "pencil", &salt_of(&SHA256), 4096).unwrap();
    let (hash, parsed) = ScramVerifier::parse(&v.encode(ScramHash::Sha256)).unwrap();
    assert_eq!(hash, ScramHash::Sha256);
    check_server(
        &SHA256,
        Credentials::Scram {
            sha1: None,
            sha256: Some(parsed),
        },
    );
}

#[test]
fn rfc2195_cram_md5() {
    let challenge = "<1896.697170952@postoffice.reston.mci.net>";
    assert_eq!(
        wire::encode(challenge.as_bytes()),
        "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
    );
    let response = cram::response("tim", b"tanstaaftanstaaf", challenge.as_bytes());
    assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");
    assert_eq!(
        wire::encode(&response),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    );

    let mut client = ClientSession::new(
        Mechanism::CramMd5,
        ClientCredentials::password("tim", "tanstaaftanstaaf"),
    )
    .unwrap();
    assert_eq!(client.initial_response().unwrap(), None);
    assert_eq!(
        client
            .step_base64("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
            .unwrap(),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    );
}

#[test]
fn rfc2195_cram_md5_server_session() {
    let auth = StaticAuthenticator::new().with_user("tim", "tanstaaftanstaaf");
    let params = ServerParams::new("postoffice.reston.mci.net").with_timestamp(697170952);
    let mut server = ServerSession::new(Mechanism::CramMd5, &auth, params).unwrap();
    let ServerStep::Challenge(challenge) = server.step(None).unwrap() else {
        panic!()
    };
    let text = String::from_utf8(challenge.clone()).unwrap();
    assert!(
        text.starts_with('<') && text.ends_with(".697170952@postoffice.reston.mci.net>"),
        "{text}"
    );
    let answer = cram::response("tim", b"tanstaaftanstaaf", &challenge);
    match server.step(Some(&answer)).unwrap() {
        ServerStep::Success { authenticated, .. } => assert_eq!(authenticated.authcid, "tim"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc1939_apop() {
    let ts = "<1896.697170952@dbc.mtview.ca.us>";
    assert_eq!(
        apop::apop_digest(ts, "tanstaaf"),
        "c4c9334bac560ecc979e58001b3e22fb"
    );
    assert!(apop::verify_apop(
        ts,
        "tanstaaf",
        "c4c9334bac560ecc979e58001b3e22fb"
    ));
    assert!(!apop::verify_apop(
        ts,
        "tanstaa",
        "c4c9334bac560ecc979e58001b3e22fb"
    ));
    assert_eq!(
        cram::make_challenge(1896, 697170952, "dbc.mtview.ca.us"),
        ts
    );
}

#[test]
fn rfc4616_plain_examples() {
    let auth = StaticAuthenticator::new()
        .with_user("tim", "tanstaaftanstaaf")
        .with_user("Kurt", "xipj3plmq")
        .with_proxy("Kurt", "Ursel");
    let params = ServerParams::default().with_tls(true);
    for (msg, authcid, authzid) in [
        (&b"\0tim\0tanstaaftanstaaf"[..], "tim", "tim"),
        (b"Ursel\0Kurt\0xipj3plmq", "Kurt", "Ursel"),
    ] {
        let mut s = ServerSession::new(Mechanism::Plain, &auth, params.clone()).unwrap();
        match s.step(Some(msg)).unwrap() {
            ServerStep::Success {
                authenticated,
                additional_data,
            } => {
                assert_eq!(additional_data, None);
                assert_eq!(authenticated.authcid, authcid);
                assert_eq!(authenticated.authzid, authzid);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn rfc7628_successful_and_failed_exchange() {
    let token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
    let auth = StaticAuthenticator::new()
        .with_token(token, "user@example.com")
        .with_oauth_scope("example_scope");
    let params = ServerParams::new("server.example.com").with_tls(true);

    // §4.1
    let mut s = ServerSession::new(Mechanism::OAuthBearer, &auth, params.clone()).unwrap();
    let ir = "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
    match s.step_base64(Some(ir)).unwrap() {
        ServerStep::Success { authenticated, .. } => {
            assert_eq!(authenticated.authcid, "user@example.com");
            assert_eq!(authenticated.authzid, "user@example.com");
        }
        other => panic!("{other:?}"),
    }

    // §4.3: empty auth= gets the JSON error, the client answers AQ== (\x01).
    let mut s = ServerSession::new(Mechanism::OAuthBearer, &auth, params).unwrap();
    let ir = "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=";
    let ServerStep::Challenge(json) = s.step_base64(Some(ir)).unwrap() else {
        panic!()
    };
    let json: serde_json::Value = serde_json::from_slice(&wire::decode(&json).unwrap()).unwrap();
    assert_eq!(json["scope"], "example_scope");
    assert_eq!(
        s.step_base64(Some("AQ==")),
        Err(Error::AuthenticationFailed)
    );
    assert!(s.is_finished());
}
