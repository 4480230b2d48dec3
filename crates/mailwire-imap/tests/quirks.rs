//! The server quirks the client's response parser accepts, one test each (the list, with the
//! servers seen sending them, is in `rfc-notes/rfc3501.md`, "Client quirks accepted"). The
//! command parser (servers) stays strict: the last tests show it refuses the same liberties.

mod common;

use common::response_round_trip;
use mailwire_imap::proto::{
    BodyStructure, Code, Command, Completion, Data, DecodeError, MessageData, Response,
    SpecificFields, UntaggedKind,
};

fn parse(wire: &[u8]) -> Response {
    let (r, n) =
        Response::decode(wire).unwrap_or_else(|e| panic!("{}: {e:?}", wire.escape_ascii()));
    assert_eq!(n, wire.len());
    // Whatever a quirk let through re-encodes to something strict and round-trips.
    response_round_trip(wire).unwrap_or_else(|e| panic!("{}: {e}", wire.escape_ascii()));
    r
}

fn body_of(r: &Response) -> &BodyStructure {
    let Response::Data(Data::Fetch { items, .. }) = r else {
        panic!("{r:?}")
    };
    items
        .iter()
        .find_map(|i| match i {
            MessageData::BodyStructure(b) | MessageData::Body(b) => Some(&**b),
            _ => None,
        })
        .expect("a body structure")
}

/// Q1 trailing-space: a space before CRLF (Dovecot's `* SEARCH` with no results, Gmail's
/// `* SEARCH 1 2 `, servers that pad FETCH lists).
#[test]
fn q1_trailing_space() {
    assert!(
        matches!(parse(b"* SEARCH 1 2 \r\n"), Response::Data(Data::Search { nums, .. }) if nums.len() == 2)
    );
    assert!(
        matches!(parse(b"* SEARCH \r\n"), Response::Data(Data::Search { nums, .. }) if nums.is_empty())
    );
    assert!(matches!(
        parse(b"* FLAGS (\\Seen) \r\n"),
        Response::Data(Data::Flags(_))
    ));
    let r = parse(b"* 1 FETCH (UID 7 FLAGS (\\Seen ) )\r\n");
    assert!(matches!(r, Response::Data(Data::Fetch { items, .. }) if items.len() == 2));
}

/// Q2 nil-as-string: `NIL` where the grammar wants a string (Exchange's NIL
/// Content-Transfer-Encoding, NIL parameter values): read as the empty string.
#[test]
fn q2_nil_where_a_string_is_expected() {
    let r = parse(
        b"* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" NIL) NIL NIL NIL 10 1))\r\n",
    );
    let BodyStructure::Single { body, .. } = body_of(&r) else {
        panic!()
    };
    assert_eq!(body.fields.encoding.as_bytes(), b"");
    assert_eq!(body.fields.parameters[0].1.as_bytes(), b"");
}

/// Q3 lower-case keywords (IMAP keywords are case-insensitive; some servers use lower case).
#[test]
fn q3_lower_case_keywords() {
    assert!(matches!(
        parse(b"* ok [uidnext 5] predicted\r\n"),
        Response::Untagged(u) if u.kind == UntaggedKind::Ok && matches!(u.code, Some(Code::UidNext(n)) if n.get() == 5)
    ));
    assert!(matches!(parse(b"a1 ok done\r\n"), Response::Tagged(t) if t.kind == Completion::Ok));
    assert!(matches!(
        parse(b"* 3 exists\r\n"),
        Response::Data(Data::Exists(3))
    ));
    assert!(matches!(
        parse(b"* 1 fetch (flags (\\seen) uid 4)\r\n"),
        Response::Data(Data::Fetch { .. })
    ));
    assert!(matches!(
        parse(b"* list (\\noselect) \"/\" foo\r\n"),
        Response::Data(Data::List(_))
    ));
}

/// Q4 twisted-nil-media-type: Twisted's IMAP4Server sends NIL type and subtype in
/// BODYSTRUCTURE for a message without Content-Type.
#[test]
fn q4_twisted_nil_media_type() {
    let r =
        parse(b"* 1 FETCH (BODYSTRUCTURE (NIL NIL NIL NIL NIL \"7BIT\" 12 NIL NIL NIL NIL))\r\n");
    let BodyStructure::Single { body, .. } = body_of(&r) else {
        panic!()
    };
    assert!(
        matches!(&body.specific, SpecificFields::Basic { r#type, subtype } if r#type.as_bytes().is_empty() && subtype.as_bytes().is_empty())
    );
}

/// Q5 unquoted `]` in response text (after a code, or in text without a code).
#[test]
fn q5_unquoted_bracket_in_text() {
    assert!(
        matches!(parse(b"* OK [ALERT] system ] going down\r\n"), Response::Untagged(u) if u.code == Some(Code::Alert))
    );
    assert!(matches!(parse(b"a1 NO quota] exceeded\r\n"), Response::Tagged(t) if t.code.is_none()));
    // "[" that opens no valid code is text.
    assert!(
        matches!(parse(b"* OK [unterminated text\r\n"), Response::Untagged(u) if u.code.is_none())
    );
}

/// Q6 empty parameter list `()` instead of NIL (seen from Exchange and some Java servers).
#[test]
fn q6_empty_parameter_list() {
    let r = parse(b"* 1 FETCH (BODY (\"text\" \"plain\" () NIL NIL \"7bit\" 5 1))\r\n");
    let BodyStructure::Single { body, .. } = body_of(&r) else {
        panic!()
    };
    assert!(body.fields.parameters.is_empty());
}

/// Q7 missing text: `a1 OK` with nothing after it, a code with no text, a bare `+`.
#[test]
fn q7_missing_text() {
    assert!(matches!(parse(b"a1 OK\r\n"), Response::Tagged(t) if t.text.is_empty()));
    assert!(
        matches!(parse(b"* OK [READ-WRITE]\r\n"), Response::Untagged(u) if u.code == Some(Code::ReadWrite))
    );
    assert!(matches!(parse(b"+\r\n"), Response::Continue(_)));
    assert!(matches!(parse(b"+ \r\n"), Response::Continue(_)));
}

/// Q8 a known code with bad arguments (`[UIDNEXT 0]`, `[UNSEEN 0]` from buggy servers) is
/// kept as [`Code::Other`] rather than failing the whole response.
#[test]
fn q8_bad_code_arguments_are_kept() {
    let r = parse(b"* OK [UNSEEN 0] no unseen\r\n");
    assert!(
        matches!(r, Response::Untagged(u) if matches!(&u.code, Some(Code::Other(a, Some(t))) if a.as_str() == "UNSEEN" && t == b"0"))
    );
}

/// Q9 spaces between the addresses of an ENVELOPE list and between the parts of a multipart
/// BODYSTRUCTURE (some Java and PHP servers).
#[test]
fn q9_spaces_between_list_elements() {
    let r = parse(b"* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL \"a\" \"b\") (NIL NIL \"c\" \"d\")) NIL NIL NIL NIL NIL NIL NIL))\r\n");
    let Response::Data(Data::Fetch { items, .. }) = r else {
        panic!()
    };
    let MessageData::Envelope(e) = &items[0] else {
        panic!()
    };
    assert_eq!(e.from.len(), 2);
    let r = parse(b"* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1) (\"text\" \"html\" NIL NIL NIL \"7bit\" 1 1) \"alternative\"))\r\n");
    assert!(matches!(body_of(&r), BodyStructure::Multi { bodies, .. } if bodies.len() == 2));
}

/// Q10 an empty delimiter `""` for a flat namespace (read as NIL).
#[test]
fn q10_empty_delimiter() {
    assert!(
        matches!(parse(b"* LIST () \"\" foo\r\n"), Response::Data(Data::List(l)) if l.delimiter.is_none())
    );
}

/// Q11 untagged data of unknown extensions (`* XPIG-LATIN ...`, RFC 3501 §7.5 example) are
/// delivered as [`Data::Other`], never an error: clients must ignore what they do not know.
#[test]
fn q11_unknown_untagged_data() {
    assert!(matches!(
        parse(b"* XPIG-LATIN ow-nay\r\n"),
        Response::Data(Data::Other { .. })
    ));
}

/// Q12 a message without a MIME type line count (`TEXT` part missing `body-fld-lines`), as
/// some servers send for empty parts: read as a basic part.
#[test]
fn q12_text_part_without_line_count() {
    let r = parse(b"* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0))\r\n");
    let BodyStructure::Single { body, .. } = body_of(&r) else {
        panic!()
    };
    assert!(matches!(body.specific, SpecificFields::Basic { .. }));
}

/// Q13 Twisted echoes the partial range of the request, `BODY[TEXT]<0.50>`, where RFC 3501
/// has only the origin: the count is dropped (and Twisted sends the whole section anyway).
#[test]
fn q13_twisted_partial_range_echo() {
    let r = parse(b"* 1 FETCH (BODY[TEXT]<0.50> {3}\r\nabc)\r\n");
    let Response::Data(Data::Fetch { items, .. }) = r else {
        panic!()
    };
    assert!(
        matches!(&items[0], MessageData::BodySection { origin: Some(0), data: Some(d), .. } if d.as_bytes() == b"abc")
    );
}

/// Q14 Twisted writes the address of an empty group (`undisclosed-recipients:;`) with three
/// fields, `(NIL NIL "")`: the missing ones read as NIL.
#[test]
fn q14_twisted_short_address() {
    let r =
        parse(b"* 4 FETCH (ENVELOPE (NIL \"s\" NIL NIL NIL ((NIL NIL \"\")) NIL NIL NIL NIL))\r\n");
    let Response::Data(Data::Fetch { items, .. }) = r else {
        panic!()
    };
    let MessageData::Envelope(e) = &items[0] else {
        panic!()
    };
    assert_eq!(
        e.to[0].mailbox.as_ref().map(|m| m.as_bytes().len()),
        Some(0)
    );
    assert!(e.to[0].host.is_none());
}

/// The command parser does not take the same liberties.
#[test]
fn the_command_parser_is_strict() {
    for bad in [
        &b"a1 NOOP \r\n"[..],                // trailing space
        b"a1 SELECT  INBOX\r\n",             // double space
        b"a1 FETCH 1 (FLAGS )\r\n",          // space before )
        b"a1 LOGIN alice\r\n",               // missing argument
        b"a1 STORE 1 +FLAGS (\\Recent)\r\n", // \Recent cannot be stored
        b"a1 FETCH 0 FLAGS\r\n",             // zero
        b"a1 SEARCH CHARSET UTF-8\r\n",      // no key
        b"a1 LOGIN \"a\\b\" c\r\n",          // bad escape
        b"a1 LOGIN {2}\r\na\0 b\r\n",        // NUL in a literal
        b"a+1 NOOP\r\n",                     // + in a tag
    ] {
        match Command::decode(bad) {
            Err(DecodeError::Syntax(_)) => {}
            other => panic!("{} gave {other:?}", bad.escape_ascii()),
        }
    }
}
