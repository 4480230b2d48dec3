//! Property tests: arbitrary input never panics.

use mailwire_sasl::{
    ClientCredentials, ClientSession, Mechanism, ServerParams, ServerSession, StaticAuthenticator,
    anonymous, cram, external, oauth, plain, wire,
};
use proptest::prelude::*;

fn auth() -> StaticAuthenticator {
    StaticAuthenticator::new()
        .with_user("user", "pencil")
        .with_token("tok", "user")
        .with_anonymous(true)
}

fn params() -> ServerParams {
    ServerParams::new("h")
        .with_tls(true)
        .with_external_identity("user")
}

/// Some structured prefixes so the fuzzer gets past the first parse.
fn message() -> impl Strategy<Value = Option<Vec<u8>>> {
    let prefixes = prop::sample::select(vec![
        &b""[..],
        b"n,,n=user,r=",
        b"c=biws,r=",
        b"\0user\0",
        b"user ",
        b"n,,\x01auth=Bearer ",
        b"user=user\x01auth=Bearer ",
    ]);
    prop::option::weighted(
        0.9,
        (prefixes, prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(p, tail)| {
            let mut v = p.to_vec();
            v.extend(tail);
            v
        }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn server_mechanisms_never_panic(steps in prop::collection::vec(message(), 1..5)) {
        let auth = auth();
        for mech in Mechanism::ALL {
            let mut s = ServerSession::new(mech, &auth, params()).unwrap();
            for step in &steps {
                let _ = s.step(step.as_deref());
            }
        }
    }

    #[test]
    fn server_base64_never_panics(lines in prop::collection::vec(prop::option::of(".{0,60}"), 1..4)) {
        let auth = auth();
        for mech in Mechanism::ALL {
            let mut s = ServerSession::new(mech, &auth, params()).unwrap();
            for line in &lines {
                let _ = s.step_base64(line.as_deref());
            }
        }
    }

    #[test]
    fn clients_never_panic(challenges in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 1..4), text in ".{0,40}") {
        for mech in Mechanism::ALL {
            let creds = ClientCredentials::password("user", "pencil").with_token("tok");
            let mut c = ClientSession::new(mech, creds).unwrap();
            let _ = c.initial_response();
            for ch in &challenges {
                let _ = c.step(ch);
            }
            let _ = c.step_base64(&text);
            let _ = c.finish(challenges.first().map(Vec::as_slice));
        }
    }

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..120), text in ".{0,80}") {
        let _ = plain::parse(&bytes);
        let _ = cram::parse_response(&bytes);
        let _ = oauth::parse_oauthbearer(&bytes);
        let _ = oauth::parse_xoauth2(&bytes);
        let _ = anonymous::parse_trace(&bytes);
        let _ = external::parse_authzid(&bytes);
        let _ = wire::decode(&text);
        let _ = mailwire_sasl::ScramVerifier::parse(&text);
        let _ = mailwire_sasl::parse_mechanism_list(&text);
        let _ = mailwire_sasl::apop::verify_apop(&text, "s", &text);
    }

    #[test]
    fn plain_round_trips(authzid in "[^\0]{0,20}", authcid in "[^\0]{1,20}", pw in "[^\0]{1,20}") {
        let msg = plain::encode(Some(&authzid), &authcid, &pw).unwrap();
        let parsed = plain::parse(&msg).unwrap();
        prop_assert_eq!(parsed.authzid, authzid.as_str());
        prop_assert_eq!(parsed.authcid, authcid.as_str());
        prop_assert_eq!(parsed.password, pw.as_str());
    }

    #[test]
    fn base64_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        prop_assert_eq!(wire::decode(&wire::encode(&bytes)).unwrap(), bytes.clone());
        prop_assert_eq!(wire::decode(&wire::encode_initial_response(&bytes)).unwrap(), bytes);
    }
}
