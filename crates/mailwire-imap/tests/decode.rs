//! Known answers: what the parser makes of specific messages (the round-trip tests alone would
//! not notice a field read into the wrong place by both directions), plus the streaming
//! contract (`Incomplete`, `NeedLiteral`, errors that carry the tag) and encoder choices.

use std::num::NonZeroU32;

use mailwire_imap::proto::*;

fn cmd(wire: &[u8]) -> CommandBody {
    let (c, n) = Command::decode(wire).unwrap_or_else(|e| panic!("{}: {e:?}", wire.escape_ascii()));
    assert_eq!(n, wire.len());
    c.body
}

fn resp(wire: &[u8]) -> Response {
    let (r, n) =
        Response::decode(wire).unwrap_or_else(|e| panic!("{}: {e:?}", wire.escape_ascii()));
    assert_eq!(n, wire.len());
    r
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

#[test]
fn fetch_sections_and_partials() {
    let CommandBody::Fetch { set, items, uid, .. } =
        cmd(b"a UID FETCH 1:*,7 (BODY.PEEK[1.2.HEADER.FIELDS (From \"To\")]<0.100> BINARY[3]<5.6> BINARY.SIZE[] RFC822.SIZE)\r\n")
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(set.to_string(), "1:*,7");
    let FetchItems::Items(items) = items else {
        panic!()
    };
    let FetchItem::BodySection {
        peek,
        section,
        partial,
    } = &items[0]
    else {
        panic!()
    };
    assert!(*peek);
    let Section::Part(part, Some(PartText::Msg(MsgText::HeaderFields(names)))) = section else {
        panic!("{section:?}")
    };
    assert_eq!(part.as_slice(), [nz(1), nz(2)]);
    assert_eq!(
        names.iter().map(|n| n.as_bytes()).collect::<Vec<_>>(),
        [&b"From"[..], b"To"]
    );
    assert_eq!(
        *partial,
        Some(Partial {
            origin: 0,
            count: nz(100)
        })
    );
    assert_eq!(
        items[1],
        FetchItem::Binary {
            peek: false,
            part: vec![nz(3)],
            partial: Some(Partial {
                origin: 5,
                count: nz(6)
            })
        }
    );
    assert_eq!(items[2], FetchItem::BinarySize { part: vec![] });
    assert_eq!(items[3], FetchItem::Rfc822Size);
}

#[test]
fn search_keys_form_a_tree() {
    let CommandBody::Search { returns, charset, criteria, uid } =
        cmd(b"a SEARCH RETURN (MIN COUNT SAVE) CHARSET UTF-8 OR (FROM smith SINCE 1-Feb-1994) NOT $ UNSEEN\r\n")
    else {
        panic!()
    };
    assert!(!uid);
    assert_eq!(
        returns,
        Some(vec![
            SearchReturnOption::Min,
            SearchReturnOption::Count,
            SearchReturnOption::Save
        ])
    );
    assert_eq!(charset.as_ref().map(AString::as_bytes), Some(&b"UTF-8"[..]));
    assert_eq!(criteria.len(), 2);
    let SearchKey::Or(a, b) = &criteria[0] else {
        panic!()
    };
    let SearchKey::And(inner) = &**a else {
        panic!()
    };
    assert_eq!(inner[0], SearchKey::From(AString::new("smith").unwrap()));
    assert_eq!(inner[1], SearchKey::Since(Date::new(1994, 2, 1).unwrap()));
    assert_eq!(
        **b,
        SearchKey::Not(Box::new(SearchKey::SequenceSet(SequenceSet::Saved)))
    );
    assert_eq!(criteria[1], SearchKey::Unseen);
}

#[test]
fn select_qresync_and_store_unchangedsince() {
    let CommandBody::Select { mailbox, params } =
        cmd(b"a SELECT inbox (QRESYNC (67890007 20050715194045000 41,43:211 (1:5 7:11)))\r\n")
    else {
        panic!()
    };
    assert_eq!(mailbox, Mailbox::Inbox);
    let [
        SelectParam::QResync {
            uid_validity,
            mod_seq,
            known_uids,
            seq_match,
        },
    ] = params.as_slice()
    else {
        panic!()
    };
    assert_eq!(
        (uid_validity.get(), *mod_seq),
        (67890007, 20050715194045000)
    );
    assert_eq!(
        known_uids.as_ref().map(ToString::to_string).as_deref(),
        Some("41,43:211")
    );
    assert!(seq_match.is_some());
    let CommandBody::Store {
        kind,
        silent,
        flags,
        unchanged_since,
        ..
    } = cmd(b"a STORE 1 (UNCHANGEDSINCE 12345) -FLAGS.SILENT \\Seen $Junk\r\n")
    else {
        panic!()
    };
    assert_eq!(
        (kind, silent, unchanged_since),
        (StoreKind::Remove, true, Some(12345))
    );
    assert_eq!(
        flags,
        [Flag::Seen, Flag::Keyword(Atom::new("$Junk").unwrap())]
    );
}

#[test]
fn append_multi_binary_and_utf8() {
    let CommandBody::Append { mailbox, messages } =
        cmd(b"a APPEND Sent (\\Seen) \" 5-Mar-2024 10:00:00 +0100\" {3+}\r\nabc ~{2+}\r\n\0\x01 UTF8 (~{1+}\r\n\xff)\r\n")
    else {
        panic!()
    };
    assert_eq!(mailbox.as_bytes(), b"Sent");
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].flags, Some(vec![Flag::Seen]));
    assert_eq!(messages[0].date.map(|d| d.zone_minutes()), Some(60));
    assert_eq!(messages[0].data, AppendData::Literal(b"abc".to_vec()));
    assert_eq!(messages[1].data, AppendData::Binary(b"\0\x01".to_vec()));
    assert_eq!(messages[2].data, AppendData::Utf8(b"\xff".to_vec()));
}

#[test]
fn list_extended_command_and_response() {
    let CommandBody::List { select, reference, patterns, returns } =
        cmd(b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"foo/%\") RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n")
    else {
        panic!()
    };
    assert_eq!(
        select,
        [
            ListSelectOption::Subscribed,
            ListSelectOption::RecursiveMatch
        ]
    );
    assert_eq!(reference.as_bytes(), b"");
    assert_eq!(
        patterns
            .iter()
            .map(ListMailbox::as_bytes)
            .collect::<Vec<_>>(),
        [&b"INBOX"[..], b"foo/%"]
    );
    assert_eq!(
        returns[1],
        ListReturnOption::Status(
            Vec1::try_from(vec![StatusItem::Messages, StatusItem::Size]).unwrap()
        )
    );
    let Response::Data(Data::List(l)) = resp(
        b"* LIST (\\Subscribed \\Sent) \"/\" \"Sent Items\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
    ) else {
        panic!()
    };
    assert_eq!(l.attributes, [MailboxAttr::Subscribed, MailboxAttr::Sent]);
    assert_eq!(l.delimiter.map(QuotedChar::as_char), Some('/'));
    assert_eq!(l.mailbox.as_bytes(), b"Sent Items");
    assert_eq!(l.extended[0].0.as_bytes(), b"CHILDINFO");
    assert_eq!(
        l.extended[0].1,
        ExtValue::List(vec![ExtValue::String(IString::new("SUBSCRIBED").unwrap())])
    );
}

#[test]
fn status_esearch_vanished_namespace_quota_thread() {
    let Response::Data(Data::Status { items, .. }) =
        resp(b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 MAILBOXID (F2212ea87-6097) APPENDLIMIT NIL)\r\n")
    else {
        panic!()
    };
    assert_eq!(items[0], StatusValue::Number(StatusItem::Messages, 231));
    assert_eq!(
        items[2],
        StatusValue::MailboxId(ObjectId::new("F2212ea87-6097").unwrap())
    );
    assert_eq!(items[3], StatusValue::NoAppendLimit);
    let Response::Data(Data::ESearch(es)) =
        resp(b"* ESEARCH (TAG \"A285\") UID MIN 7 ALL 7,9:11 COUNT 3\r\n")
    else {
        panic!()
    };
    assert_eq!(es.tag.as_ref().map(Tag::as_str), Some("A285"));
    assert!(es.uid);
    assert_eq!(es.data[0], ESearchData::Min(nz(7)));
    assert_eq!(es.data[2], ESearchData::Count(3));
    assert!(matches!(
        resp(b"* VANISHED (EARLIER) 41,43:116\r\n"),
        Response::Data(Data::Vanished { earlier: true, .. })
    ));
    let Response::Data(Data::Namespace { personal, other, shared }) =
        resp(b"* NAMESPACE ((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\" \"X-PARAM\" (\"FLAG1\" \"FLAG2\")))\r\n")
    else {
        panic!()
    };
    assert_eq!(personal.len(), 1);
    assert!(other.is_empty());
    assert_eq!(shared[0].extensions[0].1.len(), 2);
    let Response::Data(Data::Quota { resources, .. }) =
        resp(b"* QUOTA \"\" (STORAGE 10 512 MESSAGE 3 100)\r\n")
    else {
        panic!()
    };
    assert_eq!(resources[1].name.as_str(), "MESSAGE");
    assert_eq!((resources[1].usage, resources[1].limit), (3, 100));
    let Response::Data(Data::Thread(t)) = resp(b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n") else {
        panic!()
    };
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].members, [nz(3), nz(6)]);
    assert_eq!(t[1].children.len(), 2);
    assert_eq!(t[1].children[1].members, [nz(44), nz(7), nz(96)]);
}

#[test]
fn body_structure_fields_land_in_place() {
    let Response::Data(Data::Fetch { items, .. }) = resp(
        b"* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") \"<id>\" \"desc\" \"7BIT\" 1152 23 \"md5\" (\"inline\" NIL) (\"en\" \"de\") \"loc\" 7 (\"x\" 1))\
(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 500 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"HTML\" NIL NIL NIL \"8BIT\" 40 2) 12) \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL))\r\n",
    ) else {
        panic!()
    };
    let MessageData::BodyStructure(b) = &items[0] else {
        panic!()
    };
    let BodyStructure::Multi {
        bodies,
        subtype,
        extension,
    } = &**b
    else {
        panic!()
    };
    assert_eq!(subtype.as_bytes(), b"MIXED");
    assert_eq!(extension.as_ref().map(|e| e.parameters.len()), Some(1));
    let BodyStructure::Single {
        body,
        extension: Some(ext),
    } = &bodies[0]
    else {
        panic!()
    };
    assert_eq!(
        body.fields.id.as_ref().map(IString::as_bytes),
        Some(&b"<id>"[..])
    );
    assert_eq!(
        body.fields.description.as_ref().map(IString::as_bytes),
        Some(&b"desc"[..])
    );
    assert_eq!(
        (body.fields.encoding.as_bytes(), body.fields.octets),
        (&b"7BIT"[..], 1152)
    );
    assert!(matches!(
        &body.specific,
        SpecificFields::Text { lines: 23, .. }
    ));
    assert_eq!(ext.md5.as_ref().map(IString::as_bytes), Some(&b"md5"[..]));
    let dsp = ext.tail.as_ref().expect("disposition");
    assert_eq!(
        dsp.disposition.as_ref().map(|d| d.0.as_bytes()),
        Some(&b"inline"[..])
    );
    let lang = dsp.tail.as_ref().expect("language");
    assert_eq!(lang.language.len(), 2);
    let loc = lang.tail.as_ref().expect("location");
    assert_eq!(
        loc.location.as_ref().map(IString::as_bytes),
        Some(&b"loc"[..])
    );
    assert_eq!(loc.extensions[0], BodyExtension::Number(7));
    let BodyStructure::Single { body, .. } = &bodies[1] else {
        panic!()
    };
    let SpecificFields::Message {
        envelope,
        body: inner,
        lines,
        ..
    } = &body.specific
    else {
        panic!()
    };
    assert_eq!(
        envelope.subject.as_ref().map(IString::as_bytes),
        Some(&b"inner"[..])
    );
    assert_eq!(*lines, 12);
    assert!(
        matches!(&**inner, BodyStructure::Single { body, .. } if matches!(body.specific, SpecificFields::Text { lines: 2, .. }))
    );
}

#[test]
fn response_codes() {
    let Response::Tagged(t) = resp(b"A003 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n")
    else {
        panic!()
    };
    assert_eq!(
        t.code,
        Some(Code::CopyUid {
            uid_validity: nz(38505),
            source: SequenceSet::new(vec![
                SeqRange::Single(SeqNum::Value(nz(304))),
                SeqRange::Range(SeqNum::Value(nz(319)), SeqNum::Value(nz(320)))
            ])
            .unwrap(),
            destination: SequenceSet::range(3956, 3958).unwrap(),
        })
    );
    let Response::Untagged(u) = resp(b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n")
    else {
        panic!()
    };
    assert_eq!(
        u.code,
        Some(Code::PermanentFlags(vec![
            FlagPerm::Flag(Flag::Deleted),
            FlagPerm::Flag(Flag::Seen),
            FlagPerm::Asterisk
        ]))
    );
    assert_eq!(u.text.as_bytes(), b"Limited");
    for (wire, code) in [
        (
            &b"a NO [AUTHENTICATIONFAILED] x\r\n"[..],
            Code::AuthenticationFailed,
        ),
        (b"a NO [OVERQUOTA] x\r\n", Code::OverQuota),
        (
            b"a OK [HIGHESTMODSEQ 715194045007] x\r\n",
            Code::HighestModSeq(715194045007),
        ),
        (b"a NO [TRYCREATE] x\r\n", Code::TryCreate),
        (b"a OK [CLOSED] x\r\n", Code::Closed),
    ] {
        let Response::Tagged(t) = resp(wire) else {
            panic!()
        };
        assert_eq!(t.code, Some(code));
    }
}

#[test]
fn streaming_contract() {
    assert_eq!(
        Command::decode(b"a1 LOGIN {5}\r\n"),
        Err(DecodeError::NeedLiteral(LiteralAnnouncement {
            size: 5,
            mode: LiteralMode::Sync,
            binary: false
        }))
    );
    assert_eq!(
        Command::decode(b"a1 LOGIN {5+}\r\nali"),
        Err(DecodeError::Incomplete)
    );
    assert_eq!(
        Response::decode(b"* 1 FETCH (BODY[] {10}\r\n"),
        Err(DecodeError::NeedLiteral(LiteralAnnouncement {
            size: 10,
            mode: LiteralMode::Sync,
            binary: false
        }))
    );
    // A pipelined buffer: the first command is returned with its length.
    let (c, n) = Command::decode(b"a1 NOOP\r\na2 CAPA").expect("first command");
    assert_eq!((c.tag.as_str(), n), ("a1", 9));
    // Errors carry the tag and know their reply.
    let Err(DecodeError::Syntax(e)) = Command::decode(b"a7 SELECT\r\n") else {
        panic!()
    };
    assert_eq!(e.tag().map(Tag::as_str), Some("a7"));
    let reply = e.response().to_bytes();
    assert!(reply.starts_with(b"a7 BAD "), "{}", reply.escape_ascii());
    let Err(DecodeError::Syntax(e)) = Command::decode(b"(bad\r\n") else {
        panic!()
    };
    assert!(e.tag().is_none());
    assert!(e.response().to_bytes().starts_with(b"* BAD "));
}

#[test]
fn encoder_chooses_forms_and_fragments() {
    let c = Command {
        tag: Tag::new("a1").unwrap(),
        body: CommandBody::Create {
            mailbox: Mailbox::from_utf8("Entwürfe", false).unwrap(),
            special_use: vec![MailboxAttr::Drafts],
        },
    };
    assert_eq!(c.to_bytes(), b"a1 CREATE Entw&APw-rfe (USE (\\Drafts))\r\n");
    let c = Command {
        tag: Tag::new("a2").unwrap(),
        body: CommandBody::Rename {
            from: Mailbox::new("a b").unwrap(),
            to: Mailbox::new("Grüße").unwrap(),
        },
    };
    let enc = c.encode(&EncodeOptions::default());
    assert!(enc.has_sync_literal());
    let frags: Vec<_> = enc.fragments().collect();
    assert_eq!(frags[0], Fragment::Line(b"a2 RENAME \"a b\" {7}\r\n"));
    assert_eq!(
        frags[1],
        Fragment::Literal {
            data: "Grüße".as_bytes(),
            mode: LiteralMode::Sync
        }
    );
    let utf8 = c.encode(&EncodeOptions {
        utf8: true,
        ..EncodeOptions::default()
    });
    assert_eq!(
        utf8.as_bytes(),
        "a2 RENAME \"a b\" \"Grüße\"\r\n".as_bytes()
    );
    assert!(!utf8.has_sync_literal());
}

#[test]
fn constructors_refuse_what_the_grammar_forbids() {
    assert!(Tag::new("a\r\n").is_err());
    assert!(Atom::new("a b").is_err());
    assert!(Text::new("x\ny").is_err());
    assert!(AString::new(&b"a\0"[..]).is_err());
    assert!(Mailbox::new(&b"\0"[..]).is_err());
    assert!(ObjectId::new("a b").is_err());
    assert!(Date::new(2023, 2, 29).is_err());
    assert!(Date::new(2024, 2, 29).is_ok());
    assert!(SequenceSet::single(0).is_err());
    assert!(Flag::new("\\Recent").is_err());
    assert!(QuotedChar::new('\n').is_err());
    assert!(Vec1::<u8>::try_from(vec![]).is_err());
}

/// RFC 3516 §4.2: `BINARY[part]<origin>` in a FETCH response (a partial binary fetch), with a
/// `literal8` that holds a NUL; the origin lands in place and the value re-encodes to the
/// same bytes.
#[test]
fn binary_response_with_origin() {
    let wire = b"* 3 FETCH (BINARY[1.2]<1024> ~{4}\r\na\0bc BINARY[] NIL BINARY[3]<0> \"xy\")\r\n";
    let r = resp(wire);
    let Response::Data(Data::Fetch { seq, items }) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(*seq, nz(3));
    let items: Vec<&MessageData> = items.iter().collect();
    assert_eq!(
        items,
        [
            &MessageData::Binary {
                part: vec![nz(1), nz(2)],
                origin: Some(1024),
                data: Some(b"a\0bc".to_vec()),
            },
            &MessageData::Binary {
                part: vec![],
                origin: None,
                data: None,
            },
            &MessageData::Binary {
                part: vec![nz(3)],
                origin: Some(0),
                data: Some(b"xy".to_vec()),
            },
        ]
    );
    assert_eq!(r.to_bytes(), wire.to_vec());
    // An origin that is not a number, or not closed, is an error, not a guess.
    for bad in [
        &b"* 3 FETCH (BINARY[1]<x> \"a\")\r\n"[..],
        b"* 3 FETCH (BINARY[1]<5 \"a\")\r\n",
    ] {
        assert!(Response::decode(bad).is_err(), "{}", bad.escape_ascii());
    }
}
