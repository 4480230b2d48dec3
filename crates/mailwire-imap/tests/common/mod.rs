//! Helpers shared by the integration tests: framing a byte stream into messages and checking
//! that each parses and round-trips (parse → encode → parse gives an equal value).

#![allow(dead_code)]

use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig};
use mailwire_imap::proto::{
    AuthenticateData, Command, DecodeError, EncodeOptions, Greeting, Response, decode_idle_done,
};

/// Octets shown with escapes, for failure messages.
pub fn escape(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// Splits a byte stream into whole messages with the project's framer.
pub fn frame(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut framer = ImapFramer::new(ImapFramerConfig::default());
    let mut input = stream;
    let mut out = Vec::new();
    while let Some(f) = framer.next_frame(&mut input) {
        match f {
            ImapFrame::Message(m) => out.push(m.to_vec()),
            ImapFrame::LiteralAnnounced(_) => {}
            ImapFrame::Error { error, .. } => panic!("framing error {error} in {}", escape(stream)),
        }
    }
    assert!(
        framer.is_idle(),
        "stream ends mid-message: {}",
        escape(stream)
    );
    out
}

/// Parses a command, checks it consumed the whole message and round-trips.
pub fn command_round_trip(msg: &[u8]) -> Result<Command, String> {
    let (cmd, n) = Command::decode(msg).map_err(|e| format!("{e:?}"))?;
    if n != msg.len() {
        return Err(format!("consumed {n} of {} octets", msg.len()));
    }
    for opts in [
        EncodeOptions::default(),
        EncodeOptions {
            literal_plus: true,
            utf8: true,
            ..Default::default()
        },
    ] {
        let wire = cmd.encode(&opts).into_bytes();
        let (again, m) = Command::decode(&wire)
            .map_err(|e| format!("re-encoding {} does not parse: {e:?}", escape(&wire)))?;
        if m != wire.len() || again != cmd {
            return Err(format!(
                "round trip differs: {} -> {again:?} vs {cmd:?}",
                escape(&wire)
            ));
        }
    }
    Ok(cmd)
}

/// A server message: the greeting (when it is not also a response) or a response.
#[derive(Debug, PartialEq)]
pub enum ServerMessage {
    /// `* PREAUTH` (only a greeting).
    Greeting(Greeting),
    /// Anything else.
    Response(Response),
}

/// Parses a server message, checks it consumed everything and round-trips.
pub fn response_round_trip(msg: &[u8]) -> Result<ServerMessage, String> {
    match Response::decode(msg) {
        Ok((r, n)) => {
            if n != msg.len() {
                return Err(format!("consumed {n} of {} octets", msg.len()));
            }
            let wire = r.to_bytes();
            let (again, m) = Response::decode(&wire)
                .map_err(|e| format!("re-encoding {} does not parse: {e:?}", escape(&wire)))?;
            if m != wire.len() || again != r {
                return Err(format!(
                    "round trip differs: {} -> {again:?} vs {r:?}",
                    escape(&wire)
                ));
            }
            Ok(ServerMessage::Response(r))
        }
        Err(e) => {
            let Ok((g, n)) = Greeting::decode(msg) else {
                return Err(format!("{e:?}"));
            };
            if n != msg.len() {
                return Err(format!("greeting consumed {n} of {} octets", msg.len()));
            }
            let wire = g.to_bytes();
            let (again, _) = Greeting::decode(&wire).map_err(|e| format!("{e:?}"))?;
            if again != g {
                return Err(format!("greeting round trip differs: {}", escape(&wire)));
            }
            Ok(ServerMessage::Greeting(g))
        }
    }
}

/// Parses an AUTHENTICATE continuation line and round-trips it.
pub fn auth_round_trip(msg: &[u8]) -> Result<AuthenticateData, String> {
    let (d, n) = AuthenticateData::decode(msg).map_err(|e| format!("{e:?}"))?;
    if n != msg.len() {
        return Err(format!("consumed {n} of {} octets", msg.len()));
    }
    let wire = d.to_bytes();
    let (again, _) = AuthenticateData::decode(&wire).map_err(|e| format!("{e:?}"))?;
    if again != d {
        return Err("authenticate data round trip differs".into());
    }
    Ok(d)
}

/// Checks `DONE`.
pub fn done(msg: &[u8]) -> Result<(), String> {
    match decode_idle_done(msg) {
        Ok(n) if n == msg.len() => Ok(()),
        Ok(n) => Err(format!("consumed {n}")),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Whether `e` is a syntax error (not a lack of input).
pub fn is_syntax(e: &DecodeError) -> bool {
    matches!(e, DecodeError::Syntax(_))
}

/// Checks that proper prefixes of `msg` are `Incomplete` or `NeedLiteral`, never an error:
/// every prefix of short messages, and a stride of them (plus the last 64) of long ones.
pub fn check_prefixes(
    msg: &[u8],
    decode: impl Fn(&[u8]) -> Result<usize, DecodeError>,
) -> Result<(), String> {
    let n = msg.len();
    let stride = if n <= 1500 { 1 } else { n / 500 };
    let ends = (0..n).step_by(stride.max(1)).chain(n.saturating_sub(64)..n);
    for end in ends {
        match decode(&msg[..end]) {
            Err(DecodeError::Incomplete | DecodeError::NeedLiteral(_)) => {}
            other => return Err(format!("prefix of {end} octets gave {other:?}")),
        }
    }
    Ok(())
}

/// [`check_prefixes`] for a command.
pub fn command_prefixes(msg: &[u8]) -> Result<(), String> {
    check_prefixes(msg, |p| Command::decode(p).map(|(_, n)| n))
}

/// [`check_prefixes`] for a response (or, when it is one, the greeting).
pub fn response_prefixes(msg: &[u8]) -> Result<(), String> {
    if Response::decode(msg).is_ok() {
        check_prefixes(msg, |p| Response::decode(p).map(|(_, n)| n))
    } else {
        check_prefixes(msg, |p| Greeting::decode(p).map(|(_, n)| n))
    }
}
