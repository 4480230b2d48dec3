//! Replays the committed cargo-fuzz corpora (`fuzz/corpus/<target>/`) through the same
//! functions the fuzz targets call, so every CI run re-checks every input found so far.

fn replay(target: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    mailwire_codec::fuzzing::replay_corpus(&dir, run);
}

#[test]
fn line_framer() {
    replay("line_framer", mailwire_codec::fuzzing::line_framer);
}

#[test]
fn literal_framer() {
    replay("literal_framer", mailwire_codec::fuzzing::literal_framer);
}

#[test]
fn data_receiver() {
    replay("data_receiver", mailwire_codec::fuzzing::data_receiver);
}

#[test]
fn dot_stuff_roundtrip() {
    replay(
        "dot_stuff_roundtrip",
        mailwire_codec::fuzzing::dot_stuff_roundtrip,
    );
}

/// Inputs the fuzzer found (each once made the result depend on chunking); kept here because
/// `cargo fuzz cmin` may drop them from the corpora.
#[test]
fn fuzzer_findings_stay_fixed() {
    // Line limit and message limit crossed by the same read: the first crossed wins.
    let mut a = vec![0x3c];
    a.extend(vec![b'a'; 128]);
    mailwire_codec::fuzzing::literal_framer(&a);
    // The tag of a too-large message is read from what fits, however the input is split.
    let mut b = b"\x3ca ".to_vec();
    b.extend(vec![b'a'; 123]);
    mailwire_codec::fuzzing::literal_framer(&b);
    // The message-limit path must not consume input past the LF-free window.
    let c = [
        &b"=+\x811 \x0f;L{{"[..],
        &[b'd'; 23],
        b"t+} {0}[]\xa9\0t\x93 l",
        &[b'd'; 32],
        &[b'Z'; 80],
        &[b'd'; 13],
        b"t+}\x81t {0}\r= {0+}\r\n\r\nd]\xa9\0t\x93 lt\xcc\0+}  lt\0\n",
    ]
    .concat();
    mailwire_codec::fuzzing::literal_framer(&c);
    // DATA: the line limit and the size limit crossed in one run.
    let d = b"\x07aaa\r\naa\r\naaaaa\r\naaaaa\r\naa\r\naa\r\naaa\r\naa\r\naa\r\naaaaa\r\naa\r\naaaaaa\r\n.\r\n";
    mailwire_codec::fuzzing::data_receiver(d);
}
