//! Client ↔ server exchanges for every mechanism.

use mailwire_sasl::{
    Authenticated, Authenticator, ClientCredentials, ClientSession, Credentials, Error, Mechanism,
    ScramHash, ScramVerifier, ServerParams, ServerSession, ServerStep, StaticAuthenticator,
};

/// Drives a full exchange over base64 text. `sasl_ir`: send the initial
/// response with the command (otherwise the server's empty challenge asks
/// for it).
fn run<A: Authenticator>(
    mechanism: Mechanism,
    auth: A,
    params: ServerParams,
    creds: ClientCredentials,
    sasl_ir: bool,
) -> Result<(Authenticated, ClientSession), Error> {
    let mut server = ServerSession::new(mechanism, auth, params)?;
    let mut client = ClientSession::new(mechanism, creds)?;
    let mut line = if sasl_ir {
        client.initial_response_base64()?
    } else {
        None
    };
    for _ in 0..10 {
        match server.step_base64(line.as_deref())? {
            ServerStep::Challenge(c) => line = Some(client.step_base64(&c)?),
            ServerStep::Success {
                additional_data,
                authenticated,
            } => {
                client.finish_base64(additional_data.as_deref())?;
                assert!(server.is_finished());
                assert!(matches!(
                    server.step(Some(b"")),
                    Err(Error::InvalidState(_))
                ));
                return Ok((authenticated, client));
            }
        }
    }
    panic!("exchange did not terminate");
}

fn users() -> StaticAuthenticator {
    StaticAuthenticator::new()
        .with_user("tim", "tanstaaftanstaaf")
        .with_user("ünïcode", "pâsswörd")
        .with_token("good-token", "tim")
        .with_proxy("tim", "shared@example.com")
        .with_anonymous(true)
}

fn tls() -> ServerParams {
    ServerParams::new("mail.example").with_tls(true)
}

const PASSWORD_MECHS: [Mechanism; 5] = [
    Mechanism::ScramSha256,
    Mechanism::ScramSha1,
    Mechanism::CramMd5,
    Mechanism::Plain,
    Mechanism::Login,
];

#[test]
fn password_mechanisms_succeed_with_and_without_initial_response() {
    let auth = users();
    for mech in PASSWORD_MECHS {
        for ir in [true, false] {
            let (outcome, client) = run(
                mech,
                &auth,
                tls(),
                ClientCredentials::password("tim", "tanstaaftanstaaf"),
                ir,
            )
            .unwrap_or_else(|e| panic!("{mech} ir={ir}: {e}"));
            assert_eq!(outcome.mechanism, mech);
            assert_eq!(outcome.authcid, "tim");
            assert_eq!(outcome.authzid, "tim");
            assert!(!outcome.is_proxy());
            assert!(client.is_complete());
        }
    }
}

#[test]
fn password_mechanisms_fail_with_wrong_password_or_unknown_user() {
    let auth = users();
    for mech in PASSWORD_MECHS {
        for creds in [
            ClientCredentials::password("tim", "wrong"),
            ClientCredentials::password("nobody", "tanstaaftanstaaf"),
        ] {
            let err = run(mech, &auth, tls(), creds, true).unwrap_err();
            assert_eq!(err, Error::AuthenticationFailed, "{mech}");
        }
    }
}

#[test]
fn non_ascii_credentials() {
    let auth = users();
    for mech in PASSWORD_MECHS {
        let (outcome, _) = run(
            mech,
            &auth,
            tls(),
            ClientCredentials::password("ünïcode", "pâsswörd"),
            true,
        )
        .unwrap_or_else(|e| panic!("{mech}: {e}"));
        assert_eq!(outcome.authcid, "ünïcode");
    }
}

#[test]
fn scram_with_stored_verifiers_only() {
    let mut auth = StaticAuthenticator::new();
    let mut rng = rand::thread_rng();
    auth.add_credentials(
        "user",
        Credentials::Scram {
            sha1: Some(ScramVerifier::generate(ScramHash::Sha1, "pencil", 4096, &mut rng).unwrap()),
            sha256: Some(
                ScramVerifier::generate(ScramHash::Sha256, "pencil", 8192, &mut rng).unwrap(),
            ),
        },
    );
    for mech in [
        Mechanism::ScramSha1,
        Mechanism::ScramSha256,
        Mechanism::Plain,
        Mechanism::Login,
    ] {
        run(
            mech,
            &auth,
            tls(),
            ClientCredentials::password("user", "pencil"),
            true,
        )
        .unwrap_or_else(|e| panic!("{mech}: {e}"));
        assert_eq!(
            run(
                mech,
                &auth,
                tls(),
                ClientCredentials::password("user", "pen"),
                true
            )
            .unwrap_err(),
            Error::AuthenticationFailed
        );
    }
    // No plaintext-equivalent secret: CRAM-MD5 is neither advertised nor accepted.
    assert!(!tls().mechanisms(&auth).contains(&Mechanism::CramMd5));
    assert!(!auth.supports_apop());
    assert_eq!(
        ServerSession::new(Mechanism::CramMd5, &auth, tls()).unwrap_err(),
        Error::MechanismNotAllowed(Mechanism::CramMd5)
    );
}

#[test]
fn scram_with_additional_data_on_success() {
    let auth = users();
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let params = tls().with_success_data(true);
        let mut server = ServerSession::new(mech, &auth, params).unwrap();
        let mut client =
            ClientSession::new(mech, ClientCredentials::password("tim", "tanstaaftanstaaf"))
                .unwrap();
        let ir = client.initial_response().unwrap();
        let ServerStep::Challenge(first) = server.step(ir.as_deref()).unwrap() else {
            panic!()
        };
        let fin = client.step(&first).unwrap();
        let ServerStep::Success {
            additional_data: Some(v),
            ..
        } = server.step(Some(&fin)).unwrap()
        else {
            panic!()
        };
        assert!(v.starts_with(b"v="));
        client.finish(Some(&v)).unwrap();
        assert!(client.is_complete());
    }
}

#[test]
fn authzid_reaches_the_outcome() {
    let auth = users();
    for mech in [
        Mechanism::Plain,
        Mechanism::ScramSha1,
        Mechanism::ScramSha256,
    ] {
        let creds = ClientCredentials::password("tim", "tanstaaftanstaaf")
            .with_authzid("shared@example.com");
        let (outcome, _) = run(mech, &auth, tls(), creds, true).unwrap();
        assert_eq!(outcome.authcid, "tim");
        assert_eq!(outcome.authzid, "shared@example.com");
        assert!(outcome.is_proxy());

        let creds = ClientCredentials::password("tim", "tanstaaftanstaaf").with_authzid("root");
        assert_eq!(
            run(mech, &auth, tls(), creds, true).unwrap_err(),
            Error::AuthorizationFailed,
            "{mech}"
        );
    }
    // OAUTHBEARER a= and EXTERNAL authzid.
    let creds = ClientCredentials::oauth("tim", "good-token").with_authzid("shared@example.com");
    let (outcome, _) = run(Mechanism::OAuthBearer, &auth, tls(), creds, true).unwrap();
    assert_eq!(
        (outcome.authcid.as_str(), outcome.authzid.as_str()),
        ("tim", "shared@example.com")
    );
    let params = tls().with_external_identity("tim");
    let creds = ClientCredentials::external().with_authzid("shared@example.com");
    let (outcome, _) = run(Mechanism::External, &auth, params, creds, true).unwrap();
    assert_eq!(
        (outcome.authcid.as_str(), outcome.authzid.as_str()),
        ("tim", "shared@example.com")
    );
}

#[test]
fn oauth_mechanisms() {
    let auth = users();
    for mech in [Mechanism::OAuthBearer, Mechanism::XOAuth2] {
        for ir in [true, false] {
            let creds =
                ClientCredentials::oauth("tim", "good-token").with_host_port("mail.example", 993);
            let (outcome, client) = run(mech, &auth, tls(), creds, ir).unwrap();
            assert_eq!(outcome.authcid, "tim");
            assert_eq!(outcome.authzid, "tim");
            assert_eq!(client.server_error(), None);
        }
        // A bad token: JSON error challenge, client acknowledges, server fails.
        let mut server = ServerSession::new(mech, &auth, tls()).unwrap();
        let mut client =
            ClientSession::new(mech, ClientCredentials::oauth("tim", "bad-token")).unwrap();
        let ir = client.initial_response().unwrap();
        let ServerStep::Challenge(json) = server.step(ir.as_deref()).unwrap() else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let status = if mech == Mechanism::OAuthBearer {
            "invalid_token"
        } else {
            "401"
        };
        assert_eq!(v["status"], status);
        assert_eq!(v["schemes"], "bearer");
        let ack = client.step(&json).unwrap();
        assert_eq!(
            ack,
            if mech == Mechanism::OAuthBearer {
                &b"\x01"[..]
            } else {
                b""
            }
        );
        assert!(client.server_error().unwrap().contains(status));
        assert_eq!(server.step(Some(&ack)), Err(Error::AuthenticationFailed));
        // Token valid but for someone else than the claimed user.
        let auth2 = users().with_token("other-token", "bob");
        let err = run(
            mech,
            &auth2,
            tls(),
            ClientCredentials::oauth("tim", "other-token"),
            true,
        )
        .unwrap_err();
        assert_eq!(err, Error::AuthorizationFailed);
    }
    // No validator: not offered.
    let plain_only = StaticAuthenticator::new().with_user("tim", "x");
    assert_eq!(
        ServerSession::new(Mechanism::XOAuth2, &plain_only, tls()).unwrap_err(),
        Error::MechanismNotAllowed(Mechanism::XOAuth2)
    );
}

#[test]
fn anonymous() {
    let auth = users();
    for ir in [true, false] {
        let (outcome, _) = run(
            Mechanism::Anonymous,
            &auth,
            ServerParams::default(),
            ClientCredentials::anonymous(Some("sirhc".into())),
            ir,
        )
        .unwrap();
        assert_eq!(outcome.authcid, "anonymous");
        assert_eq!(outcome.trace.as_deref(), Some("sirhc"));
    }
    let (outcome, _) = run(
        Mechanism::Anonymous,
        &auth,
        ServerParams::default(),
        ClientCredentials::anonymous(None),
        true,
    )
    .unwrap();
    assert_eq!(outcome.trace, None);
    let closed = StaticAuthenticator::new().with_user("a", "b");
    assert_eq!(
        run(
            Mechanism::Anonymous,
            &closed,
            ServerParams::default(),
            ClientCredentials::anonymous(None),
            true
        )
        .unwrap_err(),
        Error::MechanismNotAllowed(Mechanism::Anonymous)
    );
}

#[test]
fn external() {
    let auth = users();
    let params = ServerParams::default().with_external_identity("tim");
    for ir in [true, false] {
        let (outcome, _) = run(
            Mechanism::External,
            &auth,
            params.clone(),
            ClientCredentials::external(),
            ir,
        )
        .unwrap();
        assert_eq!(
            (outcome.authcid.as_str(), outcome.authzid.as_str()),
            ("tim", "tim")
        );
    }
    let creds = ClientCredentials::external().with_authzid("root");
    assert_eq!(
        run(Mechanism::External, &auth, params, creds, true).unwrap_err(),
        Error::AuthorizationFailed
    );
    assert_eq!(
        run(
            Mechanism::External,
            &auth,
            ServerParams::default(),
            ClientCredentials::external(),
            true
        )
        .unwrap_err(),
        Error::MechanismNotAllowed(Mechanism::External)
    );
}

#[test]
fn login_with_username_as_initial_response() {
    let auth = users();
    let mut server = ServerSession::new(Mechanism::Login, &auth, tls()).unwrap();
    let ServerStep::Challenge(c) = server.step_base64(Some("dGlt")).unwrap() else {
        panic!()
    };
    assert_eq!(c, "UGFzc3dvcmQ6"); // "Password:"
    let ServerStep::Success { authenticated, .. } = server
        .step_base64(Some("dGFuc3RhYWZ0YW5zdGFhZg=="))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(authenticated.authcid, "tim");
}

#[test]
fn cancellation() {
    let auth = users();
    for mech in [
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::ScramSha256,
        Mechanism::Plain,
    ] {
        let mut server = ServerSession::new(mech, &auth, tls()).unwrap();
        let mut client = ClientSession::new(mech, ClientCredentials::password("tim", "x")).unwrap();
        let ServerStep::Challenge(_) = server.step_base64(None).unwrap() else {
            panic!()
        };
        let star = client.cancel();
        assert_eq!(star, "*");
        assert!(!client.is_complete());
        assert!(client.step(b"").is_err());
        assert_eq!(server.step_base64(Some("*\r\n")), Err(Error::Cancelled));
        assert!(server.is_finished());
        assert!(matches!(
            server.step_base64(Some("")),
            Err(Error::InvalidState(_))
        ));
    }
    // Cancelling the SASL-IR itself.
    let mut server = ServerSession::new(Mechanism::Plain, &auth, tls()).unwrap();
    assert_eq!(server.step_base64(Some("*")), Err(Error::Cancelled));
    let mut server = ServerSession::new(Mechanism::Plain, &auth, tls()).unwrap();
    assert_eq!(server.cancel(), Error::Cancelled);
    assert!(server.is_finished());
}

#[test]
fn plaintext_needs_tls_unless_allowed() {
    let auth = users();
    let clear = ServerParams::default();
    for mech in [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
    ] {
        assert_eq!(
            ServerSession::new(mech, &auth, clear.clone()).unwrap_err(),
            Error::MechanismNotAllowed(mech)
        );
        assert!(ServerSession::new(mech, &auth, clear.clone().with_insecure_auth(true)).is_ok());
    }
    assert_eq!(
        clear.mechanisms(&auth),
        vec![
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::CramMd5,
            Mechanism::Anonymous
        ]
    );
    assert_eq!(
        tls().with_external_identity("x").mechanisms(&auth),
        vec![
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::CramMd5,
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::OAuthBearer,
            Mechanism::XOAuth2,
            Mechanism::External,
            Mechanism::Anonymous,
        ]
    );
    assert_eq!(
        mailwire_sasl::server_mechanisms(&auth, false, false),
        clear.mechanisms(&auth)
    );
    assert_eq!(
        ServerSession::from_name("plain", &auth, tls())
            .unwrap()
            .mechanism(),
        Mechanism::Plain
    );
    assert!(matches!(
        ServerSession::from_name("GSSAPI", &auth, tls()),
        Err(Error::UnknownMechanism(_))
    ));
}

#[test]
fn accept_any_password_mode() {
    let auth = StaticAuthenticator::new().with_accept_any_password(true);
    assert_eq!(
        tls().mechanisms(&auth),
        vec![Mechanism::Plain, Mechanism::Login]
    );
    for mech in [Mechanism::Plain, Mechanism::Login] {
        let (outcome, _) = run(
            mech,
            &auth,
            tls(),
            ClientCredentials::password("who", "ever"),
            true,
        )
        .unwrap();
        assert_eq!(outcome.authcid, "who");
    }
    assert!(ServerSession::new(Mechanism::ScramSha256, &auth, tls()).is_err());
}

#[test]
fn negotiation_end_to_end() {
    let auth = users();
    let offered = tls().mechanisms(&auth);
    let creds = ClientCredentials::password("tim", "tanstaaftanstaaf");
    let mech = mailwire_sasl::choose_mechanism(&offered, creds.available(), true, false).unwrap();
    assert_eq!(mech, Mechanism::ScramSha256);
    run(mech, &auth, tls(), creds, true).unwrap();
    let listed = mailwire_sasl::parse_mechanism_list("AUTH=PLAIN AUTH=LOGIN AUTH=XOAUTH2");
    let tok = ClientCredentials::oauth("tim", "good-token");
    assert_eq!(
        mailwire_sasl::choose_mechanism(&listed, tok.available(), true, false),
        Some(Mechanism::XOAuth2)
    );
}

#[test]
fn owned_and_shared_authenticators() {
    let shared = std::sync::Arc::new(users());
    let creds = ClientCredentials::password("tim", "tanstaaftanstaaf");
    run(Mechanism::Plain, shared.clone(), tls(), creds.clone(), true).unwrap();
    run(Mechanism::Plain, users(), tls(), creds.clone(), true).unwrap();
    let boxed: Box<dyn Authenticator> = Box::new(users());
    run(Mechanism::CramMd5, boxed, tls(), creds, true).unwrap();
}

#[test]
fn sessions_are_send_and_sync_where_it_matters() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<ClientSession>();
    sync::<ClientSession>();
    send::<ServerSession<&StaticAuthenticator>>();
    send::<ServerSession<std::sync::Arc<StaticAuthenticator>>>();
    send::<Error>();
    sync::<Error>();
}
