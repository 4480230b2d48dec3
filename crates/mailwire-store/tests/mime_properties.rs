//! Property tests of the MIME index: for any input (arbitrary bytes, and generated MIME trees
//! cut and corrupted at random places) the index is made without a panic, its offsets are
//! inside the message and every part is inside its parent (`mailwire_store::fuzzing` holds
//! the checks the fuzz target runs too). Generated trees that are left intact also come back
//! with the structure and the exact part bodies they were made with.

use mailwire_store::{MimeIndex, SectionKind, fuzzing};
use proptest::prelude::*;

/// A MIME tree to render.
#[derive(Debug, Clone)]
enum Tree {
    Leaf {
        subtype: &'static str,
        body: Vec<u8>,
    },
    Multi {
        boundary: String,
        parts: Vec<Tree>,
    },
    Message(Box<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = (
        prop::sample::select(vec!["plain", "html", "x-other"]),
        prop::collection::vec(
            prop::sample::select(vec![b'a', b' ', b'\r', b'\n', b'-', b'=', 0xc3]),
            0..40,
        ),
    )
        .prop_map(|(subtype, body)| Tree::Leaf { subtype, body });
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            (
                "[a-zA-Z0-9'()+_,./:=?-]{1,20}",
                prop::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(boundary, parts)| Tree::Multi { boundary, parts }),
            inner.prop_map(|t| Tree::Message(Box::new(t))),
        ]
    })
}

/// Renders `t` as an entity (header, blank line, body). Leaf bodies never hold a line that
/// starts with `--`, so a boundary cannot occur inside them.
fn render(t: &Tree, out: &mut Vec<u8>) {
    match t {
        Tree::Leaf { subtype, body } => {
            out.extend_from_slice(format!("Content-Type: text/{subtype}\r\n\r\n").as_bytes());
            out.extend_from_slice(&escaped(body));
        }
        Tree::Multi { boundary, parts } => {
            out.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n")
                    .as_bytes(),
            );
            for p in parts {
                out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
                render(p, out);
            }
            out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        }
        Tree::Message(inner) => {
            out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
            render(inner, out);
        }
    }
}

/// A leaf body as rendered: no line of it starts with `-`.
fn escaped(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line_start = true;
    for &b in body {
        if line_start && b == b'-' {
            out.push(b'x');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out
}

fn boundaries(t: &Tree, out: &mut Vec<String>) {
    match t {
        Tree::Leaf { .. } => {}
        Tree::Multi { boundary, parts } => {
            out.push(boundary.clone());
            parts.iter().for_each(|p| boundaries(p, out));
        }
        Tree::Message(inner) => boundaries(inner, out),
    }
}

/// The tree as types and leaf bodies, to compare with what the index found.
fn shape(t: &Tree) -> String {
    match t {
        Tree::Leaf { subtype, body } => format!("text/{subtype}:{:?}", escaped(body)),
        Tree::Multi { parts, .. } => {
            let inner: Vec<String> = parts.iter().map(shape).collect();
            format!("multipart[{}]", inner.join(","))
        }
        Tree::Message(inner) => format!("message({})", shape(inner)),
    }
}

fn index_shape(p: &mailwire_store::MimePart, raw: &[u8]) -> String {
    if let Some(m) = &p.message {
        format!("message({})", index_shape(m, raw))
    } else if p.is_multipart() {
        let inner: Vec<String> = p.children.iter().map(|c| index_shape(c, raw)).collect();
        format!("multipart[{}]", inner.join(","))
    } else {
        format!(
            "{}/{}:{:?}",
            p.media_type,
            p.media_subtype,
            &raw[p.body.clone()]
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::mime_index(&data);
    }

    #[test]
    fn generated_trees_keep_their_structure(t in tree()) {
        let mut b = Vec::new();
        boundaries(&t, &mut b);
        let distinct = b.iter().enumerate().all(|(i, x)| {
            b.iter().skip(i + 1).all(|y| !x.starts_with(y.as_str()) && !y.starts_with(x.as_str()))
        });
        let mut raw = b"Subject: top\r\n".to_vec();
        render(&t, &mut raw);
        let index = MimeIndex::parse(&raw);
        fuzzing::check_index(&index, &raw);
        if distinct {
            prop_assert_eq!(index_shape(&index.root, &raw), shape(&t));
        }
        prop_assert_eq!(index.section_bytes(&raw, &[], SectionKind::Full), Some(&raw[..]));
    }

    #[test]
    fn cut_and_corrupted_trees(t in tree(), cut in any::<prop::sample::Index>(),
                               noise in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)) {
        let mut raw = Vec::new();
        render(&t, &mut raw);
        for (at, byte) in noise {
            let i = at.index(raw.len() + 1);
            raw.insert(i, byte);
        }
        let keep = cut.index(raw.len() + 1);
        raw.truncate(keep);
        fuzzing::mime_index(&raw);
    }
}
