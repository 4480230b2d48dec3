//! Every command and response example of RFC 3501, RFC 9051 and the extension RFCs (extracted
//! by `tests/data/extract_rfc_examples.py`) parses, consumes its whole message and round-trips,
//! and each of its proper prefixes is `Incomplete` or `NeedLiteral`.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{
    auth_round_trip, command_prefixes, command_round_trip, done, escape, frame, response_prefixes,
    response_round_trip,
};
use mailwire_imap::proto::Command;

#[derive(Default, Debug)]
struct Counts {
    commands: usize,
    responses: usize,
    auth: usize,
    done: usize,
    invalid: usize,
    skipped: usize,
}

fn check_file(name: &str, failures: &mut Vec<String>) -> Counts {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut counts = Counts::default();
    for block in text.split("\n# ").skip(1) {
        let (origin, body) = block.split_once('\n').unwrap_or((block, ""));
        let mut streams: BTreeMap<char, Vec<u8>> = BTreeMap::new();
        for line in body.lines() {
            let Some((kind, rest)) = line.split_once(':') else {
                continue;
            };
            let Some(kind) = kind.chars().next() else {
                continue;
            };
            let stream = streams.entry(kind).or_default();
            stream.extend_from_slice(rest.strip_prefix(' ').unwrap_or(rest).as_bytes());
            stream.extend_from_slice(b"\r\n");
        }
        for (kind, stream) in &streams {
            if matches!(kind, 'E' | 'U') {
                // Editorial elisions and out-of-scope extensions: counted, not parsed.
                counts.skipped += stream.split(|&b| b == b'\n').count() - 1;
                continue;
            }
            let messages = if *kind == 'X' {
                // Invalid on purpose (a refused literal never arrives): one line each.
                stream
                    .split_inclusive(|&b| b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect()
            } else {
                frame(stream)
            };
            for msg in messages {
                let result = match kind {
                    'C' => command_round_trip(&msg)
                        .and_then(|_| command_prefixes(&msg))
                        .map(|_| counts.commands += 1),
                    'S' => response_round_trip(&msg)
                        .and_then(|_| response_prefixes(&msg))
                        .map(|_| counts.responses += 1),
                    'A' => auth_round_trip(&msg).map(|_| counts.auth += 1),
                    'D' => done(&msg).map(|_| counts.done += 1),
                    'X' => match Command::decode(&msg) {
                        Err(e) if common::is_syntax(&e) => {
                            counts.invalid += 1;
                            Ok(())
                        }
                        other => Err(format!("an invalid example parsed: {other:?}")),
                    },
                    _ => Err(format!("unknown kind {kind}")),
                };
                if let Err(e) = result {
                    failures.push(format!("{origin} {kind}: {}\n    {e}", escape(&msg)));
                }
            }
        }
    }
    counts
}

fn check(names: &[&str], min_commands: usize, min_responses: usize) {
    let mut failures = Vec::new();
    let mut total = Counts::default();
    for name in names {
        let c = check_file(name, &mut failures);
        eprintln!("{name}: {c:?}");
        total.commands += c.commands;
        total.responses += c.responses;
        total.auth += c.auth;
        total.done += c.done;
        total.invalid += c.invalid;
        total.skipped += c.skipped;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total.commands >= min_commands, "{total:?}");
    assert!(total.responses >= min_responses, "{total:?}");
}

#[test]
fn rfc3501_examples() {
    check(&["rfc3501-examples.txt"], 55, 150);
}

#[test]
fn rfc9051_examples() {
    check(&["rfc9051-examples.txt"], 190, 490);
}

#[test]
fn extension_rfc_examples() {
    check(
        &[
            "rfc2177-examples.txt",
            "rfc2342-examples.txt",
            "rfc2971-examples.txt",
            "rfc3348-examples.txt",
            "rfc3516-examples.txt",
            "rfc3691-examples.txt",
            "rfc4315-examples.txt",
            "rfc4731-examples.txt",
            "rfc4959-examples.txt",
            "rfc4978-examples.txt",
            "rfc5161-examples.txt",
            "rfc5182-examples.txt",
            "rfc5258-examples.txt",
            "rfc5530-examples.txt",
            "rfc5819-examples.txt",
            "rfc6154-examples.txt",
            "rfc6851-examples.txt",
            "rfc7162-examples.txt",
            "rfc7888-examples.txt",
            "rfc7889-examples.txt",
        ],
        100,
        100,
    );
}

/// The §8 sample sessions of both RFCs are in the data and parse (as part of the tests above);
/// this pins that the extraction found them whole.
#[test]
fn section_8_sample_sessions_are_extracted() {
    for (file, origin, commands, responses) in [
        ("rfc3501-examples.txt", "# rfc3501.txt:4436\n", 6, 16),
        ("rfc9051-examples.txt", "# rfc9051.txt:6207\n", 8, 20),
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(file);
        let text = std::fs::read_to_string(path).expect("examples");
        let start = text
            .find(origin)
            .unwrap_or_else(|| panic!("{origin} missing"));
        let block = text[start + origin.len()..]
            .split("\n# ")
            .next()
            .unwrap_or("");
        let mut client = Vec::new();
        let mut server = Vec::new();
        for line in block.lines() {
            let (kind, rest) = line.split_at(2.min(line.len()));
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            let target = match kind {
                "C:" => &mut client,
                "S:" => &mut server,
                _ => continue,
            };
            target.extend_from_slice(rest.as_bytes());
            target.extend_from_slice(b"\r\n");
        }
        let c = frame(&client);
        let s = frame(&server);
        assert_eq!((c.len(), s.len()), (commands, responses), "{file}");
        for m in &c {
            command_round_trip(m).unwrap_or_else(|e| panic!("{}: {e}", escape(m)));
        }
        for m in &s {
            response_round_trip(m).unwrap_or_else(|e| panic!("{}: {e}", escape(m)));
        }
    }
}
