//! SMTP command parsing: mailwire's `Command::parse` beside smtp-proto's `Request::parse` on
//! the same pipelined command stream (the framing cost is excluded from both: each gets whole
//! CRLF-terminated lines). Run: `cargo bench -p mailwire-bench --bench smtp_parse`.
//!
//! mailwire's commands borrow their text from the line (`Command<'line>`), as the server
//! session uses them; `mailwire-owned` adds `into_owned()` (a `Command<'static>`, every text
//! copied), for comparison with smtp-proto's owned `Request<String>`.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const COMMANDS: [&[u8]; 6] = [
    b"EHLO client.example.com\r\n",
    b"MAIL FROM:<sender.name@example.com> SIZE=10240 BODY=8BITMIME\r\n",
    b"RCPT TO:<recipient.number.one@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r1+40example.org\r\n",
    b"RCPT TO:<two@example.net>\r\n",
    b"DATA\r\n",
    b"RSET\r\n",
];

fn parse(c: &mut Criterion) {
    let lines: Vec<&[u8]> = COMMANDS.iter().cycle().take(6000).copied().collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    // Both parse every command successfully.
    for l in &lines {
        assert!(mailwire_smtp::proto::Command::parse(&l[..l.len() - 2]).is_ok());
        assert!(smtp_proto::Request::parse(&mut l.iter()).is_ok());
    }
    let mut group = c.benchmark_group("smtp_command_parse");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("mailwire", |b| {
        b.iter(|| {
            for l in &lines {
                let _ = black_box(mailwire_smtp::proto::Command::parse(black_box(
                    &l[..l.len() - 2],
                )));
            }
        })
    });
    group.bench_function("mailwire-owned", |b| {
        b.iter(|| {
            for l in &lines {
                let _ = black_box(
                    mailwire_smtp::proto::Command::parse(black_box(&l[..l.len() - 2]))
                        .map(mailwire_smtp::proto::Command::into_owned),
                );
            }
        })
    });
    group.bench_function("smtp-proto", |b| {
        b.iter(|| {
            for l in &lines {
                let _ = black_box(smtp_proto::Request::parse(&mut black_box(l).iter()));
            }
        })
    });
    group.finish();

    // Each command alone (1000 times), to see where either parser spends its time.
    let mut group = c.benchmark_group("smtp_command_parse_each");
    for (i, cmd) in COMMANDS.iter().enumerate() {
        let verb = String::from_utf8_lossy(&cmd[..4]).to_string();
        group.throughput(Throughput::Bytes(cmd.len() as u64 * 1000));
        group.bench_function(format!("mailwire/{i}-{verb}"), |b| {
            b.iter(|| {
                for _ in 0..1000 {
                    let _ = black_box(mailwire_smtp::proto::Command::parse(black_box(
                        &cmd[..cmd.len() - 2],
                    )));
                }
            })
        });
        group.bench_function(format!("smtp-proto/{i}-{verb}"), |b| {
            b.iter(|| {
                for _ in 0..1000 {
                    let _ = black_box(smtp_proto::Request::parse(&mut black_box(*cmd).iter()));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
