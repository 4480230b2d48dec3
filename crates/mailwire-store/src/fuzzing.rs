//! The body of the `mime_index` cargo-fuzz target (`fuzz/fuzz_targets/mime_index.rs`), kept
//! here so that the ordinary test run replays the committed corpus and the property tests
//! through the same code. It panics only when an invariant breaks.

use std::ops::Range;

use crate::mime::{MAX_DEPTH, MimeIndex, MimePart, SectionKind};

/// Builds the MIME index of any input and checks it: every range lies inside the message, a
/// header ends where its body starts, fields lie inside their header, parts lie inside their
/// parent's body (encapsulated messages inside their part's body), nesting stays within
/// [`MAX_DEPTH`], and every section the index names can be cut from the input.
pub fn mime_index(data: &[u8]) {
    let index = MimeIndex::parse(data);
    assert_eq!(index.size, data.len());
    check_index(&index, data);
}

/// The invariants of [`mime_index`], for an index already made from `raw`.
pub fn check_index(index: &MimeIndex, raw: &[u8]) {
    let root = &index.root;
    assert_eq!(root.header.start, 0, "the root header starts the message");
    check_part(root, 0..raw.len(), raw, 0);
    // Every path the tree has resolves, and its sections are inside the message.
    let mut paths = Vec::new();
    collect_paths(root, &mut Vec::new(), &mut paths, 0);
    for path in paths {
        for kind in [
            SectionKind::Full,
            SectionKind::Header,
            SectionKind::Text,
            SectionKind::Mime,
        ] {
            if let Some(r) = index.section(&path, kind) {
                assert!(
                    r.start <= r.end && r.end <= raw.len(),
                    "{path:?} {kind:?} {r:?}"
                );
                assert!(index.section_bytes(raw, &path, kind).is_some());
            }
        }
        assert!(
            index.part(&path).is_some(),
            "path {path:?} of the tree resolves"
        );
    }
}

fn inside(inner: &Range<usize>, outer: &Range<usize>) -> bool {
    inner.start <= inner.end && outer.start <= inner.start && inner.end <= outer.end
}

fn check_part(part: &MimePart, parent: Range<usize>, raw: &[u8], depth: usize) {
    assert!(depth <= MAX_DEPTH + 1, "nesting beyond MAX_DEPTH");
    assert!(
        inside(&part.header, &parent),
        "header {:?} outside {parent:?}",
        part.header
    );
    assert!(
        inside(&part.body, &parent),
        "body {:?} outside {parent:?}",
        part.body
    );
    assert_eq!(
        part.header.end, part.body.start,
        "the body follows the header"
    );
    assert!(!part.media_type.is_empty() && !part.media_subtype.is_empty());
    for f in &part.fields {
        assert!(
            inside(&f.name, &part.header),
            "field name outside its header"
        );
        assert!(
            inside(&f.value, &part.header),
            "field value outside its header"
        );
        assert!(
            f.name.end <= f.value.start,
            "a field's name precedes its value"
        );
    }
    let lines = raw[part.body.clone()]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    assert!(part.lines as usize >= lines, "line count");
    let mut last = part.body.start;
    for child in &part.children {
        assert!(
            child.header.start >= last,
            "parts in order, not overlapping"
        );
        check_part(child, part.body.clone(), raw, depth + 1);
        last = child.body.end;
    }
    if let Some(m) = &part.message {
        assert!(part.children.is_empty(), "a message part has no children");
        check_part(m, part.body.clone(), raw, depth + 1);
    }
}

fn collect_paths(part: &MimePart, at: &mut Vec<u32>, out: &mut Vec<Vec<u32>>, depth: usize) {
    if depth > 8 || out.len() > 256 {
        return;
    }
    if part.is_multipart() {
        for (i, child) in part.children.iter().enumerate() {
            at.push(i as u32 + 1);
            out.push(at.clone());
            let below = child.message.as_deref().unwrap_or(child);
            if child.message.is_some() || child.is_multipart() {
                collect_paths(below, at, out, depth + 1);
            }
            at.pop();
        }
    } else {
        at.push(1);
        out.push(at.clone());
        if let Some(m) = &part.message {
            collect_paths(m, at, out, depth + 1);
        }
        at.pop();
    }
}
