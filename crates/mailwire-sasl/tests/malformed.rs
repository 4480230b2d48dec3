//! Hostile and broken input yields errors, never panics.

use mailwire_sasl::scram::{ScramClient, ScramServer};
use mailwire_sasl::{
    ClientCredentials, ClientOptions, ClientSession, Error, Mechanism, ScramConfig, ScramHash,
    ServerParams, ServerSession, ServerStep, StaticAuthenticator, wire,
};

fn auth() -> StaticAuthenticator {
    StaticAuthenticator::new()
        .with_user("user", "pencil")
        .with_user("tim", "tanstaaftanstaaf")
}

fn tls() -> ServerParams {
    ServerParams::default().with_tls(true)
}

fn first_response(mech: Mechanism, resp: &[u8]) -> Result<ServerStep, Error> {
    let auth = auth();
    let mut s = ServerSession::new(mech, &auth, tls()).unwrap();
    s.step(Some(resp))
}

#[test]
fn bad_base64() {
    let auth = auth();
    for mech in [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::Login] {
        let mut s = ServerSession::new(mech, &auth, tls()).unwrap();
        assert_eq!(s.step_base64(Some("%%%not base64")), Err(Error::Base64));
        assert!(s.is_finished());
    }
    let mut c =
        ClientSession::new(Mechanism::CramMd5, ClientCredentials::password("tim", "x")).unwrap();
    assert_eq!(c.step_base64("@@@"), Err(Error::Base64));
    assert_eq!(wire::decode("YQ=x"), Err(Error::Base64));
}

#[test]
fn plain_missing_nuls_and_overlong_fields() {
    for msg in [
        &b"user pencil"[..],
        b"\0user",
        b"\0user\0",
        b"\0\0pencil",
        b"a\0b\0c\0d",
        b"\0us\xc3er\0pencil",
    ] {
        assert!(
            matches!(
                first_response(Mechanism::Plain, msg),
                Err(Error::Malformed(_))
            ),
            "{msg:?}"
        );
    }
    let long = "x".repeat(256);
    for msg in [
        format!("\0{long}\0pencil"),
        format!("\0user\0{long}"),
        format!("{long}\0user\0pencil"),
    ] {
        assert!(matches!(
            first_response(Mechanism::Plain, msg.as_bytes()),
            Err(Error::FieldTooLong { max: 255, .. })
        ));
    }
    assert!(matches!(
        ClientSession::new(
            Mechanism::Plain,
            ClientCredentials::password("user", &*long)
        ),
        Err(Error::FieldTooLong { .. })
    ));
}

#[test]
fn login_malformed() {
    let auth = auth();
    let mut s = ServerSession::new(Mechanism::Login, &auth, tls()).unwrap();
    s.step(None).unwrap();
    assert!(matches!(s.step(Some(b"")), Err(Error::Malformed(_))));
    let mut s = ServerSession::new(Mechanism::Login, &auth, tls()).unwrap();
    s.step(None).unwrap();
    assert!(matches!(
        s.step(Some(&[b'x'; 300])),
        Err(Error::FieldTooLong { .. })
    ));
}

#[test]
fn cram_malformed() {
    let auth = auth();
    for resp in [
        &b""[..],
        b"tim",
        b"tim nothex",
        b"tim 0123",
        b"\xff 00000000000000000000000000000000",
    ] {
        let mut s = ServerSession::new(Mechanism::CramMd5, &auth, tls()).unwrap();
        s.step(None).unwrap();
        assert!(
            matches!(s.step(Some(resp)), Err(Error::Malformed(_))),
            "{resp:?}"
        );
    }
    let mut s = ServerSession::new(Mechanism::CramMd5, &auth, tls()).unwrap();
    assert!(matches!(
        s.step(Some(b"unexpected")),
        Err(Error::Malformed(_))
    ));
    let mut s = ServerSession::new(Mechanism::CramMd5, &auth, tls()).unwrap();
    s.step(None).unwrap();
    assert_eq!(
        s.step(Some(b"tim 00000000000000000000000000000000")),
        Err(Error::AuthenticationFailed)
    );
}

/// Runs SCRAM up to the client-final message, returns the pieces.
fn scram_until_final(
    hash: ScramHash,
) -> (
    StaticAuthenticator,
    ServerSession<StaticAuthenticator>,
    ClientSession,
    Vec<u8>,
    Vec<u8>,
) {
    let auth = auth();
    let mut server = ServerSession::new(hash.mechanism(), auth.clone(), tls()).unwrap();
    let mut client = ClientSession::new(
        hash.mechanism(),
        ClientCredentials::password("user", "pencil"),
    )
    .unwrap();
    let ir = client.initial_response().unwrap();
    let ServerStep::Challenge(first) = server.step(ir.as_deref()).unwrap() else {
        panic!()
    };
    let fin = client.step(&first).unwrap();
    (auth, server, client, first, fin)
}

#[test]
fn scram_nonce_mismatch_and_bad_proof() {
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        // Tampered nonce in client-final.
        let (_, mut server, _, _, fin) = scram_until_final(hash);
        let text = String::from_utf8(fin).unwrap();
        let tampered = text.replacen(",r=", ",r=X", 1);
        assert_eq!(
            server.step(Some(tampered.as_bytes())),
            Err(Error::NonceMismatch)
        );

        // Tampered proof.
        let (_, mut server, _, _, fin) = scram_until_final(hash);
        let text = String::from_utf8(fin).unwrap();
        let (head, proof) = text.rsplit_once(",p=").unwrap();
        let mut bytes = wire::decode(proof).unwrap();
        bytes[0] ^= 1;
        let tampered = format!("{head},p={}", wire::encode(&bytes));
        assert_eq!(
            server.step(Some(tampered.as_bytes())),
            Err(Error::AuthenticationFailed)
        );

        // Proof of the wrong length, missing proof, bad channel binding.
        for bad in [
            format!("{head},p=AAAA"),
            head.to_owned(),
            format!("{},p={proof}", head.replacen("c=biws", "c=eSws", 1)),
            format!("{head},p=***"),
        ] {
            let (_, mut server, _, _, _) = scram_until_final(hash);
            assert!(server.step(Some(bad.as_bytes())).is_err(), "{bad}");
        }
    }
}

#[test]
fn scram_client_rejects_bad_server_first() {
    let new_client = || {
        let mut c = ScramClient::new(
            ScramHash::Sha256,
            "user",
            "pencil",
            None,
            Some("abc".into()),
            ScramConfig::default(),
        )
        .unwrap();
        c.client_first().unwrap();
        c
    };
    type Check = fn(&Error) -> bool;
    let cases: [(&str, Check); 9] = [
        ("r=xyz123,s=c2FsdA==,i=4096", |e| *e == Error::NonceMismatch),
        ("r=abc,s=c2FsdA==,i=4096", |e| *e == Error::NonceMismatch),
        ("r=abcdef,s=c2FsdA==,i=1000", |e| {
            matches!(e, Error::IterationCount { got: 1000, .. })
        }),
        ("r=abcdef,s=c2FsdA==,i=4294967295", |e| {
            matches!(e, Error::IterationCount { .. })
        }),
        ("r=abcdef,s=c2FsdA==,i=x", |e| {
            matches!(e, Error::Malformed(_))
        }),
        ("r=abcdef,s=!!,i=4096", |e| *e == Error::Base64),
        ("m=x,r=abcdef,s=c2FsdA==,i=4096", |e| {
            *e == Error::UnsupportedExtension
        }),
        ("e=other-error", |e| {
            *e == Error::ServerError("other-error".into())
        }),
        ("r=abcdef,i=4096", |e| matches!(e, Error::Malformed(_))),
    ];
    for (msg, check) in cases {
        let err = new_client()
            .handle_server_first(msg.as_bytes())
            .unwrap_err();
        assert!(check(&err), "{msg}: {err:?}");
    }
}

#[test]
fn scram_client_checks_server_final() {
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        // e= from the server.
        let (_, _, mut client, _, _) = scram_until_final(hash);
        assert_eq!(
            client.step(b"e=invalid-proof"),
            Err(Error::ServerError("invalid-proof".into()))
        );

        // Tampered v=.
        let (_, mut server, mut client, _, fin) = scram_until_final(hash);
        let ServerStep::Challenge(v) = server.step(Some(&fin)).unwrap() else {
            panic!()
        };
        let mut sig =
            wire::decode(std::str::from_utf8(&v).unwrap().strip_prefix("v=").unwrap()).unwrap();
        sig[3] ^= 0x80;
        let tampered = format!("v={}", wire::encode(&sig));
        assert_eq!(
            client.step(tampered.as_bytes()),
            Err(Error::ServerSignatureMismatch)
        );
        assert!(client.finish(None).is_err());

        // Garbage v= and a missing v=.
        let (_, _, mut client, _, _) = scram_until_final(hash);
        assert_eq!(client.step(b"v=???"), Err(Error::ServerSignatureMismatch));
        let (_, _, mut client, _, _) = scram_until_final(hash);
        assert!(matches!(client.step(b"x=1"), Err(Error::Malformed(_))));

        // Server claims success without proving itself.
        let (_, _, mut client, _, _) = scram_until_final(hash);
        assert_eq!(client.finish(None), Err(Error::MissingServerSignature));

        // Server signature of a different password (an impostor server).
        let (_, _, mut client, first, _) = scram_until_final(hash);
        let _ = first;
        let mut impostor = ScramServer::new(hash, ScramConfig::default());
        let other = StaticAuthenticator::new().with_user("user", "not-pencil");
        let mut c2 = ClientSession::new(
            hash.mechanism(),
            ClientCredentials::password("user", "pencil"),
        )
        .unwrap();
        let ir = c2.initial_response().unwrap().unwrap();
        let sf = impostor.handle_client_first(&other, &ir).unwrap();
        let cf = c2.step(&sf).unwrap();
        assert_eq!(
            impostor.handle_client_final(&other, &cf).unwrap_err(),
            Error::AuthenticationFailed
        );
        assert_eq!(
            client.finish(Some(b"v=AAAA")),
            Err(Error::ServerSignatureMismatch)
        );
    }
}

#[test]
fn scram_server_rejects_bad_client_first() {
    for msg in [
        &b""[..],
        b"n",
        b"n,,",
        b"n,,n=user",
        b"n,,r=abc,n=user",
        b"n,,n=,r=abc",
        b"n,,n=us=er,r=abc",
        b"n,,n=user,r=",
        b"n,,n=user,r=a\x01b",
        b"p=tls-server-end-point,,n=user,r=abc",
        b"n,b=x,n=user,r=abc",
        b"n,a=,n=user,r=abc",
        b"n,,m=ext,n=user,r=abc",
        b"n,,n=us\xffer,r=abc",
        b"q,,n=user,r=abc",
    ] {
        let r = first_response(Mechanism::ScramSha256, msg);
        assert!(r.is_err(), "{msg:?}: {r:?}");
    }
    assert_eq!(
        first_response(Mechanism::ScramSha1, b"p=tls-unique,,n=user,r=abc"),
        Err(Error::ChannelBindingUnsupported)
    );
}

#[test]
fn scram_client_refuses_low_iteration_setting() {
    let options = ClientOptions::default()
        .with_scram_nonce("abc")
        .with_scram_config(ScramConfig {
            min_iterations: 10_000,
            ..ScramConfig::default()
        });
    let mut c = ClientSession::with_options(
        Mechanism::ScramSha1,
        ClientCredentials::password("user", "pencil"),
        options,
    )
    .unwrap();
    c.initial_response().unwrap();
    assert!(matches!(
        c.step(b"r=abcdef,s=c2FsdA==,i=4096"),
        Err(Error::IterationCount {
            got: 4096,
            min: 10_000,
            ..
        })
    ));
}

#[test]
fn client_misuse_is_an_error() {
    assert_eq!(
        ClientSession::new(Mechanism::Plain, ClientCredentials::default()).unwrap_err(),
        Error::MissingCredential("password")
    );
    assert_eq!(
        ClientSession::new(Mechanism::XOAuth2, ClientCredentials::password("a", "b")).unwrap_err(),
        Error::MissingCredential("OAuth token")
    );
    assert!(
        ClientSession::new(Mechanism::ScramSha1, ClientCredentials::password("", "b")).is_err()
    );
    assert!(matches!(
        ClientSession::new(
            Mechanism::ScramSha1,
            ClientCredentials::password("a\u{7}", "b")
        ),
        Err(Error::Saslprep(_))
    ));
    let mut c =
        ClientSession::new(Mechanism::Plain, ClientCredentials::password("a", "b")).unwrap();
    c.initial_response().unwrap();
    assert!(c.initial_response().is_err());
    assert!(c.step(b"unexpected").is_err());
    let mut c =
        ClientSession::new(Mechanism::Plain, ClientCredentials::password("a", "b")).unwrap();
    assert!(c.step(b"non-empty first challenge").is_err());
    let mut c =
        ClientSession::new(Mechanism::CramMd5, ClientCredentials::password("a", "b")).unwrap();
    c.step(b"<1.2@h>").unwrap();
    assert!(c.step(b"<1.2@h>").is_err());
    let mut c =
        ClientSession::new(Mechanism::Login, ClientCredentials::password("a", "b")).unwrap();
    assert_eq!(c.step(b"Username:").unwrap(), b"a");
    assert_eq!(c.step(b"Password:").unwrap(), b"b");
    assert!(c.step(b"Password:").is_err());
    c.finish(None).unwrap();
    assert!(c.finish(None).is_err());
}

#[test]
fn oauth_malformed() {
    let auth = StaticAuthenticator::new().with_token("t", "user");
    for mech in [Mechanism::OAuthBearer, Mechanism::XOAuth2] {
        for msg in [
            &b""[..],
            b"\x01",
            b"garbage",
            b"n,,\x01auth=Basic x\x01\x01",
            b"user=a\x01auth=Bearer t\x01",
        ] {
            let mut s = ServerSession::new(mech, &auth, tls()).unwrap();
            assert!(s.step(Some(msg)).is_err(), "{mech} {msg:?}");
        }
    }
    let mut s = ServerSession::new(Mechanism::OAuthBearer, &auth, tls()).unwrap();
    assert_eq!(
        s.step(Some(b"p=tls-unique,,\x01auth=Bearer t\x01\x01")),
        Err(Error::ChannelBindingUnsupported)
    );
}

#[test]
fn anonymous_and_external_malformed() {
    let auth = StaticAuthenticator::new().with_anonymous(true);
    let long = "é".repeat(256);
    for msg in [long.as_bytes(), b"\xff", b"bad\ncontrol"] {
        let mut s =
            ServerSession::new(Mechanism::Anonymous, &auth, ServerParams::default()).unwrap();
        assert!(s.step(Some(msg)).is_err());
    }
    let params = ServerParams::default().with_external_identity("cn=x");
    for msg in [&b"\xff"[..], b"a\0b"] {
        let mut s = ServerSession::new(Mechanism::External, &auth, params.clone()).unwrap();
        assert!(s.step(Some(msg)).is_err());
    }
}

#[test]
fn final_ack_must_be_empty() {
    let (_, mut server, mut client, _, fin) = scram_until_final(ScramHash::Sha256);
    let ServerStep::Challenge(v) = server.step(Some(&fin)).unwrap() else {
        panic!()
    };
    assert_eq!(client.step(&v).unwrap(), b"");
    assert!(matches!(
        server.step(Some(b"junk")),
        Err(Error::Malformed(_))
    ));
}
